"""HTTP behaviour: client JWT verification (on by default), request size limit, CORS, errors, feedback storage."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.auth import AuthConfig, JwtVerifier, TrustedIssuer
from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.storage import FeedbackStore
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, client, order_sign, oxycodone_draft

BASE = "https://cds.example.org"
ISSUER = "https://ehr.example.org/"
OPIOID_SIGN = "/cds-services/opioid-mme-order-sign"
KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-key-1"})
OTHER_KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-key-1"})


def _token(aud: str, *, key: ECKey = KEY, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({"alg": "ES384", "kid": "ehr-key-1", "typ": "JWT"}, payload, key, algorithms=["ES384"])


def _secured(tmp_path: Path) -> TestClient:
    issuer = TrustedIssuer(ISSUER, jwks={"keys": [KEY.as_dict(private=False)]})
    verifier = JwtVerifier(AuthConfig(issuers=(issuer,)))
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    return TestClient(create_app(ServiceSettings(public_base_url=BASE), verifier=verifier, store=store))


def _opioid_call() -> dict[str, Any]:
    return order_sign([f.patient()], [oxycodone_draft(2, 4)], queries=OPIOID_QUERIES)  # 60 MME/day: one card


def test_auth_is_on_by_default() -> None:
    assert ServiceSettings().auth_enabled is True


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        f"Bearer {_token(BASE + '/cds-services/other-service')}",  # aud is another endpoint
        f"Bearer {_token(BASE + OPIOID_SIGN, key=OTHER_KEY)}",  # signed by a key the issuer does not hold
        f"Bearer {_token(BASE + OPIOID_SIGN, iss='https://attacker.example/')}",
        f"Bearer {_token(BASE + OPIOID_SIGN, exp=int(time.time()) - 3600)}",
    ],
)
def test_unauthenticated_calls_get_401_without_detail(tmp_path: Path, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with _secured(tmp_path) as c:
        response = c.post(OPIOID_SIGN, json=_opioid_call(), headers=headers)
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_valid_client_jwt_for_this_endpoint_is_accepted_and_cannot_be_replayed(tmp_path: Path) -> None:
    token = _token(BASE + OPIOID_SIGN)
    with _secured(tmp_path) as c:
        first = c.post(OPIOID_SIGN, json=_opioid_call(), headers={"Authorization": f"Bearer {token}"})
        replay = c.post(OPIOID_SIGN, json=_opioid_call(), headers={"Authorization": f"Bearer {token}"})
        discovery = c.get("/cds-services", headers={"Authorization": f"Bearer {_token(BASE + '/cds-services')}"})
    assert len(cards_of(first)) == 1
    assert replay.status_code == 401
    assert discovery.status_code == 200
    assert all("--no-auth" not in s["description"] for s in discovery.json()["services"])


def test_request_over_the_size_limit_is_413_with_an_operation_outcome(tmp_path: Path) -> None:
    with client(tmp_path, max_request_bytes=2_000) as c:
        response = c.post(OPIOID_SIGN, content=b'{"hook": "order-sign", "pad": "' + b"x" * 5_000 + b'"}')
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"


def test_cors_preflight_allows_configured_origins_only(tmp_path: Path) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with client(tmp_path, cors_origins=("https://sandbox.cds-hooks.org",)) as c:
        allowed = c.options(OPIOID_SIGN, headers={"Origin": "https://sandbox.cds-hooks.org", **preflight})
        denied = c.options(OPIOID_SIGN, headers={"Origin": "https://evil.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/cds-services/no-such-service", {}, 404),
        (OPIOID_SIGN, b"{not json", 400),
        (OPIOID_SIGN, {"hook": "order-sign", "context": {}}, 400),  # no hookInstance
        (OPIOID_SIGN, {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"}}, 400),
        (OPIOID_SIGN, {"hook": "order-sign", "hookInstance": "x", "context": {}}, 400),  # no patientId
        (
            OPIOID_SIGN,
            {
                "hook": "order-sign",
                "hookInstance": "x",
                "context": {"patientId": "p"},
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 1,
                    "scope": "s",
                    "subject": "c",
                },
            },
            400,
        ),  # token without fhirServer
    ],
)
def test_bad_requests_get_an_operation_outcome(tmp_path: Path, path: str, body: Any, status: int) -> None:
    with client(tmp_path) as c:
        response = c.post(path, content=body) if isinstance(body, bytes) else c.post(path, json=body)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_feedback_is_stored_before_200_and_survives_a_restart(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        (card,) = cards_of(
            c.post(OPIOID_SIGN, json=order_sign([f.patient()], [oxycodone_draft(4, 4)], queries=OPIOID_QUERIES))
        )
        feedback = {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "palliative"},
                    "outcomeTimestamp": "2026-11-21T10:05:31Z",
                }
            ]
        }
        response = c.post(f"{OPIOID_SIGN}/feedback", json=feedback)
        invalid = c.post(f"{OPIOID_SIGN}/feedback", json={"feedback": [{"card": "x", "outcome": "maybe"}]})
    assert response.status_code == 200
    assert invalid.status_code == 400
    restarted = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")  # a new process opening the same file
    (mme,) = [row for row in restarted.report() if row.rule_id == "MME"]
    assert mme.overridden == 1
