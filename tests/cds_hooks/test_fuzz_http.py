"""Property-based fuzzing of the HTTP endpoints: mutated real requests and malformed headers never get a 5xx.

Seeds are real bodies: the CDS Hooks 2.0 specification's example requests (fixtures/spec_examples.json), the
demo's sample patients and orders as order-sign/order-select/patient-view calls with prefetch, the same without
prefetch (so the FHIR fallback runs), and spec-shaped feedback. Hypothesis mutates them (a value anywhere replaced
by another JSON value, an extreme number, a long or odd string, a wrong type; keys deleted; lists duplicated;
the body cut short or not JSON) and sends them with Authorization variants to the FastAPI app in-process, with
client authentication on (a test issuer's key, valid tokens among the variants) and off.

Every answer must be below 500 and arrive within `ANSWER_S`. No request leaves the process: the FHIR fallback
goes to an in-memory transport, the issuer's JWK Set is configured statically.

`SMART_APP_FUZZ_EXAMPLES` sets the examples per test (default keeps the whole module well under a minute in CI).
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.auth import AuthConfig, JwtVerifier, TrustedIssuer
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.commands.demo import SCENARIOS
from smart_app.storage import FeedbackStore
from tests.cds_hooks.support import ketamine_infusion, patient_id, sample_order, sample_patient

EXAMPLES = int(os.environ.get("SMART_APP_FUZZ_EXAMPLES", "100"))
ANSWER_S = 5.0  # the FHIR budget (3 s) plus margin; in-memory FHIR answers at once, so this bounds our own work
SERVICE = "http://testserver"
ISS = "https://ehr.example.org/"
KEY = ECKey.generate_key("P-384", parameters={"kid": "fuzz-1"})
FHIR = "https://ehr.example.org/fhir"
SERVICES = (
    "ketamine-safety-order-sign",
    "ketamine-safety-order-select",
    "opioid-mme-order-sign",
    "ketamine-opioid-summary",
)
HOOK_OF = {
    "ketamine-safety-order-sign": "order-sign",
    "ketamine-safety-order-select": "order-select",
    "opioid-mme-order-sign": "order-sign",
    "ketamine-opioid-summary": "patient-view",
}


# -- seeds ----------------------------------------------------------------------------------------------------------


def _hook_seeds() -> list[dict[str, Any]]:
    spec = json.loads((Path(__file__).parent / "fixtures" / "spec_examples.json").read_text())
    seeds = [spec["order_sign_request"], spec["patient_view_request"]]
    for scenario in SCENARIOS:
        resources = sample_patient(scenario.patient)
        pid = patient_id(resources)
        order = sample_order(scenario.order)
        for hook in ("order-sign", "order-select", "patient-view"):
            drafts = [] if hook == "patient-view" else [order]
            prefetch = prefetch_for(resources, KETAMINE_QUERIES)
            seeds.append(hook_request(hook, patient_id=pid, drafts=drafts, prefetch=prefetch))
        seeds.append(  # no prefetch: every query goes to the (in-memory) FHIR server with a token
            hook_request("order-sign", patient_id=pid, drafts=[order], fhir_server=FHIR, access_token="fhir-token")
        )
        # A selection without a dose yet: weight-based protocol doses are computed from the record.
        bare = hook_request("order-select", patient_id=pid, drafts=[ketamine_infusion(None)], prefetch=prefetch)
        seeds.append(bare)
    for seed in seeds:  # the spec's examples name a real host: keep every request in this process
        if "fhirServer" in seed:
            seed["fhirServer"] = FHIR
    return seeds


HOOK_SEEDS = _hook_seeds()
FEEDBACK_SEEDS: list[dict[str, Any]] = [
    {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
                "outcomeTimestamp": "2026-11-20T10:00:00Z",
            }
        ]
    },
    {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "reason-code", "system": "https://smart-app.example/override", "display": "x"},
                    "userComment": "clinically not relevant",
                },
                "outcomeTimestamp": "2026-11-20T10:00:00+02:00",
            }
        ]
    },
]


# -- an EHR's FHIR server, in memory ---------------------------------------------------------------------------------


def _fhir_answer(request: httpx.Request) -> httpx.Response:
    resources = sample_patient("cardiac-uncontrolled-bp")
    kind = request.url.path.rstrip("/").rsplit("/", 2)
    if len(kind) == 3 and kind[1] == "Patient":
        return httpx.Response(200, json={**resources[0], "id": kind[2]})
    wanted = kind[-1]
    pid = request.url.params.get("patient", "")
    entries = [
        {"resource": {**r, "subject": {"reference": f"Patient/{pid}"}}}
        for r in resources
        if r["resourceType"] == wanted and "subject" in r
    ]
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries})


# -- mutations ------------------------------------------------------------------------------------------------------

EXTREME_NUMBERS = st.sampled_from(
    [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 10**30, 1e308, -1e308, 5e-324, -0.0, 0.1]
)
ODD_STRINGS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "null",
            "Patient/",
            "Patient/other",
            "https://other.example/fhir/Patient/x",
            "urn:uuid:x",
            "{{context.patientId}}",
            "<img src=x onerror=alert(1)>",
            "\u0000",
            "\ud7ff\ufeff\u202e",
            "ketamine " + "k" * 2000,
            "1e400",
            "9" * 400,
        ]
    ),
)
JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), EXTREME_NUMBERS, st.integers(), st.floats(allow_nan=False), ODD_STRINGS
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> bytes:
    body: Any = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["replace", "number", "number", "string", "delete", "duplicate", "wrap"]))
        paths = list(_paths(body))
        if action in ("number", "string"):  # aim at the leaves of that kind: a weight, a dose, a reference
            kind = (int, float) if action == "number" else (str,)
            leaves = [p for p in paths if isinstance(_get(body, p), kind) and not isinstance(_get(body, p), bool)]
            if action == "number" and draw(st.booleans()):  # quantities: weights, blood pressures, doses
                leaves = [p for p in leaves if p and p[-1] == "value"] or leaves
            paths = leaves or paths
        path = draw(st.sampled_from(paths))
        if not path:
            body = draw(JSON_VALUES) if action == "replace" else body
            continue
        parent, last = _get(body, path[:-1]), path[-1]
        if action == "delete":
            del parent[last]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif action == "wrap":
            parent[last] = [parent[last]]
        elif action == "number":
            parent[last] = draw(EXTREME_NUMBERS)
        elif action == "string":
            parent[last] = draw(ODD_STRINGS)
        else:
            parent[last] = draw(JSON_VALUES)
    raw = orjson.dumps(body) if _serialisable(body) else json.dumps(body).encode()
    framing = draw(st.sampled_from(["as-is"] * 8 + ["truncated", "not-json", "bom", "deep"]))
    if framing == "truncated":
        return raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    if framing == "not-json":
        return draw(st.binary(max_size=64))
    if framing == "bom":
        return b"\xef\xbb\xbf" + raw
    if framing == "deep":
        return b"[" * 5000 + b"]" * 5000
    return raw


def _serialisable(body: Any) -> bool:
    try:
        orjson.dumps(body)
    except TypeError:
        return False
    return True


def _token(audience: str, **header: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode({"alg": "ES384", "typ": "JWT", "kid": KEY.kid, **header}, claims, KEY, algorithms=["ES384"])


@st.composite
def authorization(draw: st.DrawFn, audience: str) -> bytes | None:
    choice = draw(
        st.sampled_from(["valid", "valid", "valid", "none", "wrong-aud", "alg-list", "crit", "garbage", "scheme"])
    )
    if choice == "valid":
        return f"Bearer {_token(audience)}".encode()
    if choice == "none":
        return None
    if choice == "wrong-aud":
        return f"Bearer {_token(SERVICE + '/cds-services/other')}".encode()
    if choice == "alg-list":
        return b"Bearer eyJhbGciOiBbXX0.e30.x"
    if choice == "crit":
        return b"Bearer eyJhbGciOiJFUzM4NCIsImNyaXQiOjV9.e30.x"
    if choice == "scheme":
        return draw(st.sampled_from([b"Basic Zm9vOmJhcg==", b"Bearer", b"bearer  ", b"Bearer a.b.c.d"]))
    return b"Bearer " + draw(st.binary(max_size=80)).replace(b"\r", b"").replace(b"\n", b"")


# -- the apps -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, TestClient]]:
    folder = tmp_path_factory.mktemp("fuzz")
    clients: dict[bool, TestClient] = {}
    for auth in (True, False):
        settings_ = ServiceSettings(
            auth_enabled=auth, public_base_url=SERVICE, launch_url="https://cds.example.org/smart/launch"
        )
        verifier = JwtVerifier(AuthConfig(issuers=(TrustedIssuer(ISS, jwks={"keys": [KEY.as_dict(private=False)]}),)))
        store = FeedbackStore(f"sqlite:///{folder / f'feedback-{auth}.sqlite3'}")
        app = create_app(settings_, verifier=verifier, store=store, fhir_transport=httpx.MockTransport(_fhir_answer))
        clients[auth] = TestClient(app, raise_server_exceptions=False).__enter__()
    yield clients
    for c in clients.values():
        c.__exit__(None, None, None)


def _send(c: TestClient, method: str, path: str, body: bytes | None, auth: bytes | None, ctype: bytes) -> None:
    headers: dict[str, bytes] = {"Content-Type": ctype}
    if auth is not None:
        headers["Authorization"] = auth
    started = time.monotonic()
    response = c.request(method, path, content=body, headers=headers)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert response.status_code < 500, (path, response.status_code, response.text[:500], body[:2000] if body else b"")
    assert elapsed < ANSWER_S, (path, elapsed)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # CI and every developer run the same bounded search; failures print their example
)
CONTENT_TYPES = st.sampled_from([b"application/json", b"application/json", b"text/plain", b"", b"application/x-\xff"])


@FUZZ
@given(data=st.data())
def test_service_calls_never_fail_with_5xx(apps: dict[bool, TestClient], data: st.DataObject) -> None:
    service = data.draw(st.sampled_from(SERVICES))
    seeds = [s for s in HOOK_SEEDS if s.get("hook") == HOOK_OF[service]] or HOOK_SEEDS
    body = data.draw(mutated(seeds))
    auth_on = data.draw(st.booleans())
    header = data.draw(authorization(f"{SERVICE}/cds-services/{service}")) if auth_on else None
    _send(apps[auth_on], "POST", f"/cds-services/{service}", body, header, data.draw(CONTENT_TYPES))


@FUZZ
@given(data=st.data())
def test_calls_of_the_wrong_hook_or_service_never_fail_with_5xx(
    apps: dict[bool, TestClient], data: st.DataObject
) -> None:
    service = data.draw(st.sampled_from([*SERVICES, "no-such-service", "ketamine-safety-order-sign%00", "..%2f"]))
    body = data.draw(mutated(HOOK_SEEDS))
    auth_on = data.draw(st.booleans())
    header = data.draw(authorization(f"{SERVICE}/cds-services/{service}")) if auth_on else None
    _send(apps[auth_on], "POST", f"/cds-services/{service}", body, header, b"application/json")


@FUZZ
@given(data=st.data())
def test_feedback_never_fails_with_5xx(apps: dict[bool, TestClient], data: st.DataObject) -> None:
    service = data.draw(st.sampled_from([*SERVICES, "no-such-service"]))
    body = data.draw(mutated(FEEDBACK_SEEDS))
    auth_on = data.draw(st.booleans())
    header = data.draw(authorization(f"{SERVICE}/cds-services/{service}/feedback")) if auth_on else None
    _send(apps[auth_on], "POST", f"/cds-services/{service}/feedback", body, header, b"application/json")


@FUZZ
@given(data=st.data())
def test_discovery_never_fails_with_5xx(apps: dict[bool, TestClient], data: st.DataObject) -> None:
    auth_on = data.draw(st.booleans())
    header = data.draw(authorization(f"{SERVICE}/cds-services")) if auth_on else None
    method = data.draw(st.sampled_from(["GET", "GET", "POST", "OPTIONS", "DELETE"]))
    _send(apps[auth_on], method, "/cds-services", None, header, b"application/json")
