"""The app's sign-in against a real authorization server (authlib's, in tests/smart/auth_server.py), for the three
client types: what the EHR's server-side validation accepts, not what our own mocks expect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from smart_app.smart.sessions import Session
from smart_app.smart.settings import ClientType
from smart_app.smart.web import create_smart_app
from tests.smart.auth_server import SimulatedEhr, running_test_ehr
from tests.smart.conftest_helpers import REDIRECT, ec_key, rsa_key, settings

CLIENT_ID = "ketamine-app"
UNUSED_FHIR = "http://127.0.0.1:9/fhir"  # sign-in never reaches the FHIR server


def _registration(client_type: ClientType, alg: str, wrong_key: bool) -> dict[str, Any]:
    if client_type == "confidential-symmetric":
        return {"client_secret": "s3cret"}
    if client_type == "confidential-asymmetric":
        key = rsa_key() if alg == "RS384" else ec_key()
        if wrong_key:
            key = type(key).generate_key("P-384" if alg == "ES384" else 2048, private=True)  # type: ignore[arg-type]
        return {"client_public_jwk": {**key.as_dict(private=False), "kid": "key-1"}}
    return {}


@contextmanager
def _app_and_ehr(
    client_type: ClientType, alg: str = "RS384", wrong_key: bool = False
) -> Iterator[tuple[TestClient, SimulatedEhr, FastAPI]]:
    with running_test_ehr(
        UNUSED_FHIR, client_id=CLIENT_ID, redirect_uri=REDIRECT, **_registration(client_type, alg, wrong_key)
    ) as ehr:
        extra: dict[str, Any] = {"signing_alg": alg} if client_type == "confidential-asymmetric" else {}
        smart = create_smart_app(settings(client_type, allowed_issuers=(ehr.fhir_base,), **extra))
        main = FastAPI()
        main.mount("/smart", smart)
        yield TestClient(main, base_url="https://app.example.org"), ehr, smart


def _sign_in(client: TestClient, ehr: SimulatedEhr) -> httpx.Response:
    launch = ehr.register_launch("patient-7", app_context='{"from": "card"}', banner=False)
    to_ehr = client.get("/smart/launch", params={"iss": ehr.fhir_base, "launch": launch}, follow_redirects=False)
    assert to_ehr.status_code == 302, to_ehr.text
    back = httpx.get(to_ehr.headers["location"], follow_redirects=False)  # the browser at the EHR (auto-approve)
    assert back.status_code == 302, back.text
    location = httpx.URL(back.headers["location"])
    assert str(location).startswith(REDIRECT)
    return client.get(f"/smart/callback?{location.query.decode()}", follow_redirects=False)


def _only_session(smart: Any) -> Session:
    (session,) = smart.state.sessions.live_sessions()
    assert isinstance(session, Session)
    return session


@pytest.mark.parametrize(
    ("client_type", "alg"),
    [
        ("public", "RS384"),
        ("confidential-symmetric", "RS384"),
        ("confidential-asymmetric", "RS384"),
        ("confidential-asymmetric", "ES384"),
    ],
)
def test_sign_in_is_accepted_by_the_authorization_server(client_type: ClientType, alg: str) -> None:
    with _app_and_ehr(client_type, alg) as (client, ehr, smart):
        response = _sign_in(client, ehr)
        assert response.status_code == 303, response.text
        assert response.headers["location"].endswith("/smart/")
        tokens = _only_session(smart).tokens
        assert tokens is not None
        assert tokens.access_token in ehr.tokens  # a token the EHR really issued
        assert tokens.context.patient == "patient-7"
        assert tokens.context.need_patient_banner is False
        assert tokens.context.app_context is not None and tokens.context.app_context.data == {"from": "card"}
        assert tokens.scope.can_write_medication_request


def test_assertion_signed_with_an_unregistered_key_is_refused() -> None:
    with _app_and_ehr("confidential-asymmetric", wrong_key=True) as (client, ehr, _):
        response = _sign_in(client, ehr)
        assert response.status_code == 502
        assert "invalid_client" in response.text
        assert not ehr.tokens


def test_narrowed_grant_turns_writing_off() -> None:
    with (
        running_test_ehr(
            UNUSED_FHIR, client_id=CLIENT_ID, redirect_uri=REDIRECT, granted_scope="launch patient/*.rs"
        ) as ehr,
    ):
        smart = create_smart_app(settings(allowed_issuers=(ehr.fhir_base,)))
        main = FastAPI()
        main.mount("/smart", smart)
        client = TestClient(main, base_url="https://app.example.org")
        assert _sign_in(client, ehr).status_code == 303
        mounted = next(r.app for r in main.routes if isinstance(r, Mount))
        tokens = _only_session(mounted).tokens
        assert tokens is not None
        assert not tokens.scope.can_write_medication_request
        assert tokens.scope.missing_read("Observation") is None
