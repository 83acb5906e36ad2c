"""Client JWTs over HTTP, with the issuer's JWK Set served by a real server on loopback (CDS Hooks 2.0).

The service builds its verifier from the environment as `serve` does; malformed tokens of every shape get 401 with
no traceback and no token in the log; `typ` is required; a rotated key is fetched once the refetch interval (a
setting) has passed, and a stream of unknown kids cannot make the service hammer the JWKS endpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.auth import AuthConfig
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.storage import FeedbackStore
from tests.http_stub import StubRequest, StubResponse, StubServer, stub_server

ISS = "https://ehr.example.org/"
SERVICE = "http://testserver"
DISCOVERY = f"{SERVICE}/cds-services"
KEY = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})
ROTATED = ECKey.generate_key("P-384", parameters={"kid": "ec-2"})
STRANGER = ECKey.generate_key("P-384", parameters={"kid": "unknown"})
HEADER = {"alg": "ES384", "typ": "JWT", "kid": "ec-1"}


def claims(aud: str = DISCOVERY, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **overrides}


def token(key: ECKey = KEY, **header: Any) -> str:
    head = {**HEADER, "kid": key.kid, **header}
    return jwt.encode({k: v for k, v in head.items() if v is not None}, claims(), key, algorithms=["ES384"])


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header: Any, payload: Any = None, key: ECKey = KEY) -> str:
    """A correctly ES384-signed compact JWS of any header and payload, even ones joserfc would refuse to make."""
    signing_input = f"{_segment(json.dumps(header).encode())}.{_segment(json.dumps(payload or claims()).encode())}"
    r, s = decode_dss_signature(key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA384())))  # type: ignore[union-attr]
    return f"{signing_input}.{_segment(r.to_bytes(48, 'big') + s.to_bytes(48, 'big'))}"


class Jwks:
    """The issuer's JWK Set endpoint: serves `keys`, counts fetches."""

    def __init__(self) -> None:
        self.keys = [KEY]

    def __call__(self, request: StubRequest) -> StubResponse:
        return StubResponse(200, {"keys": [k.as_dict(private=False) for k in self.keys]})


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, StubServer]]:
    served = Jwks()
    with stub_server(served) as server:
        yield served, server


def service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: StubServer, *, refetch_s: str | None = None
) -> TestClient:
    monkeypatch.setenv("SMART_APP_CDS_TRUSTED_ISSUERS", json.dumps([{"iss": ISS, "jwks_url": server.url + "/jwks"}]))
    if refetch_s is not None:
        monkeypatch.setenv("SMART_APP_CDS_JWKS_REFETCH_INTERVAL_S", refetch_s)
    settings = ServiceSettings(auth_enabled=True, public_base_url=SERVICE)
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    return TestClient(create_app(settings, store=store))


def discover(c: TestClient, jwt_value: str) -> int:
    return c.get("/cds-services", headers={"Authorization": f"Bearer {jwt_value}".encode()}).status_code


def test_a_valid_token_is_accepted_with_the_key_from_the_loopback_jwks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwks: tuple[Jwks, StubServer]
) -> None:
    _, server = jwks
    with service(tmp_path, monkeypatch, server) as c:
        assert discover(c, token()) == 200
        assert discover(c, token()) == 200
    assert len(server.requests) == 1  # cached


def test_a_token_without_typ_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwks: tuple[Jwks, StubServer]
) -> None:
    _, server = jwks
    with service(tmp_path, monkeypatch, server) as c:
        assert discover(c, signed({"alg": "ES384", "kid": "ec-1"})) == 401  # joserfc's encode would add typ
        assert discover(c, signed({**HEADER, "typ": "at+jwt"})) == 401
        assert discover(c, signed({**HEADER, "typ": None})) == 401
        assert discover(c, signed({**HEADER, "typ": "jwt"})) == 200  # a media type: case-insensitive (RFC 7515 4.1.9)


MALFORMED = [
    "eyJhbGciOiBbXX0.e30.x",  # {"alg": []}
    _segment(b'{"alg": {}}') + ".e30.x",
    _segment(b'{"alg": null, "kid": 1}') + ".e30.x",
    signed({**HEADER, "crit": "exp"}),
    signed({**HEADER, "crit": 5}),
    signed({**HEADER, "crit": [[1]]}),
    signed({**HEADER, "crit": {"exp": 1}}),
    signed({**HEADER, "crit": ["zzz"], "zzz": 1}),
    signed({**HEADER, "kid": ["ec-1"]}),
    signed({**HEADER, "typ": ["JWT"]}),
    signed({**HEADER, "jku": {"url": "x"}}),
    signed({**HEADER, "x5c": 5}),
    signed({**HEADER, "b64": False}),
    signed([HEADER]),
    signed(HEADER, [1, 2]),
    signed(HEADER, claims(iss=[ISS])),
    signed(HEADER, claims(aud={"a": 1})),
    signed(HEADER, claims(exp="tomorrow")),
    signed(HEADER, claims(exp=10**30, iat=-(10**30))),
    signed(HEADER, claims(jti=["a"])),
    "é.é.é",
    "....",
    "a.b",
    "AAAA.AAAA.AAAA",
    _segment(bytes([255, 254])) + ".e30.x",
    token() + "x",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_tokens_get_401_without_a_traceback_or_the_token_in_the_log(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jwks: tuple[Jwks, StubServer],
    caplog: pytest.LogCaptureFixture,
    value: str,
) -> None:
    _, server = jwks
    caplog.set_level(logging.DEBUG)
    with service(tmp_path, monkeypatch, server) as c:
        assert discover(c, value) == 401
        response = c.post(
            "/cds-services/ketamine-safety-order-sign", headers={"Authorization": f"Bearer {value}".encode()}, json={}
        )
        assert response.status_code == 401 and response.content == b""
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert value not in caplog.text or len(value) < 8


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "bearer  " + "e30.e30.e30", "Basic dXNlcjpwYXNz", "Bearer a b c", "\t", "Bearer \u00e9"],
)
def test_malformed_authorization_headers_get_401(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwks: tuple[Jwks, StubServer], header: str
) -> None:
    _, server = jwks
    with service(tmp_path, monkeypatch, server) as c:
        assert c.get("/cds-services", headers={"Authorization": header.encode("utf-8")}).status_code == 401  # type: ignore[dict-item]


def test_a_rotated_key_is_accepted_once_the_refetch_interval_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwks: tuple[Jwks, StubServer]
) -> None:
    served, server = jwks
    with service(tmp_path, monkeypatch, server, refetch_s="1") as c:
        assert discover(c, token()) == 200
        served.keys = [KEY, ROTATED]  # the client adds a key
        assert discover(c, token(ROTATED)) == 401  # within the interval: not refetched yet
        assert len(server.requests) == 1
        time.sleep(1.1)
        assert discover(c, token(ROTATED)) == 200  # one refetch finds it
        assert len(server.requests) == 2
        for _ in range(5):  # a stream of unknown kids right after: no further fetches within the interval
            assert discover(c, token(STRANGER)) == 401
        assert len(server.requests) == 2


def test_the_refetch_interval_is_a_setting_with_a_short_default() -> None:
    assert AuthConfig().jwks_refetch_interval_s == 10
    configured = AuthConfig.from_env({"SMART_APP_CDS_JWKS_REFETCH_INTERVAL_S": "3"})
    assert configured.jwks_refetch_interval_s == 3
