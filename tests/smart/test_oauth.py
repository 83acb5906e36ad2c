"""Discovery, authorization request, code exchange and refresh for the three SMART client types (respx)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from joserfc import jwt

from smart_app.smart.discovery import DiscoveryError, fetch_smart_configuration, parse_smart_configuration
from smart_app.smart.oauth import (
    OAuthFlowError,
    PendingAuthorization,
    TokenSet,
    active_tokens,
    begin_authorization,
    client_assertion,
    exchange_code,
)
from smart_app.smart.settings import ClientType
from tests.smart.conftest_helpers import (
    AUTHORIZE,
    ISS,
    REDIRECT,
    TOKEN,
    ec_key,
    rsa_key,
    settings,
    smart_configuration,
    token_response,
)


def _config(client_type: ClientType = "public", **overrides: Any) -> Any:
    return parse_smart_configuration(smart_configuration(**overrides), ISS, client_type)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def _pending(client_type: ClientType = "public") -> PendingAuthorization:
    _, pending = begin_authorization(settings(client_type), _config(client_type), launch="launch-123")
    return pending


# -- discovery -------------------------------------------------------------------------------------------------


@respx.mock
def test_discovery_reads_the_well_known_document_under_iss() -> None:
    route = respx.get(f"{ISS}/.well-known/smart-configuration").respond(200, json=smart_configuration())
    config = asyncio.run(fetch_smart_configuration(ISS, "public", timeout_s=5))
    assert route.called
    assert config.authorization_endpoint == AUTHORIZE
    assert config.token_endpoint == TOKEN
    assert config.issuer == ISS


@pytest.mark.parametrize(
    ("methods", "message"),
    [(None, "S256"), (["plain"], "plain"), ([], "S256")],
)
def test_discovery_refuses_an_ehr_without_pkce_s256(methods: list[str] | None, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        _config(code_challenge_methods_supported=methods)


@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint"])
def test_discovery_refuses_a_document_without_an_endpoint(missing: str) -> None:
    doc = smart_configuration()
    del doc[missing]
    with pytest.raises(DiscoveryError, match=missing):
        parse_smart_configuration(doc, ISS, "public")


def test_relative_endpoints_are_resolved_against_the_fhir_base() -> None:
    config = _config(authorization_endpoint="auth/authorize", token_endpoint="/oauth/token")
    assert config.authorization_endpoint == f"{ISS}/auth/authorize"
    assert config.token_endpoint == "https://ehr.example.org/oauth/token"


def test_asymmetric_client_refused_when_ehr_does_not_accept_private_key_jwt() -> None:
    with pytest.raises(DiscoveryError, match="private_key_jwt"):
        _config("confidential-asymmetric", token_endpoint_auth_methods_supported=["client_secret_basic"])


@respx.mock
@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(404), "HTTP 404"),
        (httpx.Response(200, text="<html>login</html>"), "not valid JSON"),
        (httpx.Response(200, json=["not", "an", "object"]), "not a JSON object"),
    ],
)
def test_discovery_failures_are_reported(response: httpx.Response, message: str) -> None:
    respx.get(f"{ISS}/.well-known/smart-configuration").mock(return_value=response)
    with pytest.raises(DiscoveryError, match=message):
        asyncio.run(fetch_smart_configuration(ISS, "public", timeout_s=5))


@respx.mock
def test_discovery_unreachable_is_reported() -> None:
    respx.get(f"{ISS}/.well-known/smart-configuration").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(DiscoveryError, match="could not be fetched"):
        asyncio.run(fetch_smart_configuration(ISS, "public", timeout_s=5))


# -- authorization request ------------------------------------------------------------------------------------


def test_ehr_launch_authorization_url_carries_every_required_parameter() -> None:
    url, pending = begin_authorization(settings(), _config(), launch="launch-123")
    assert url.startswith(AUTHORIZE + "?")
    q = _query(url)
    assert q["response_type"] == "code"
    assert q["client_id"] == "ketamine-app"
    assert q["redirect_uri"] == REDIRECT
    assert q["launch"] == "launch-123"
    assert q["aud"] == ISS
    assert q["state"] == pending.state
    assert len(base64.urlsafe_b64decode(pending.state + "==")) * 8 >= 128
    scopes = q["scope"].split()
    assert "launch" in scopes and "launch/patient" not in scopes
    assert {"openid", "fhirUser", "patient/Patient.r", "patient/Observation.rs"} <= set(scopes)
    assert q["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert q["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_standalone_launch_asks_for_a_patient_and_sends_no_launch() -> None:
    url, _ = begin_authorization(settings(), _config(), launch=None)
    q = _query(url)
    assert "launch" not in q
    scopes = q["scope"].split()
    assert "launch/patient" in scopes and "launch" not in scopes
    assert q["aud"] == ISS


def test_write_scope_is_requested_only_when_writing_is_configured() -> None:
    with_write = _query(begin_authorization(settings(), _config(), launch="x")[0])["scope"].split()
    without = _query(begin_authorization(settings(write_orders=False), _config(), launch="x")[0])["scope"].split()
    assert "patient/MedicationRequest.c" in with_write
    assert "patient/MedicationRequest.c" not in without


def test_each_authorization_gets_a_fresh_state_and_verifier() -> None:
    first = _pending()
    second = _pending()
    assert first.state != second.state
    assert first.code_verifier != second.code_verifier


# -- token exchange, per client type --------------------------------------------------------------------------


@respx.mock
def test_public_client_sends_client_id_and_verifier_without_secret() -> None:
    route = respx.post(TOKEN).respond(200, json=token_response())
    pending = _pending("public")
    tokens = asyncio.run(exchange_code(settings("public"), pending, "code-1"))
    request = route.calls.last.request
    form = _form(request)
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "code-1"
    assert form["redirect_uri"] == REDIRECT
    assert form["code_verifier"] == pending.code_verifier
    assert form["client_id"] == "ketamine-app"
    assert "client_secret" not in form and "client_assertion" not in form
    assert "authorization" not in request.headers
    assert tokens.access_token == "at-1"
    assert tokens.context.patient == "pat-1"


@respx.mock
def test_symmetric_client_authenticates_with_http_basic_and_omits_client_id() -> None:
    route = respx.post(TOKEN).respond(200, json=token_response())
    pending = _pending("confidential-symmetric")
    asyncio.run(exchange_code(settings("confidential-symmetric"), pending, "code-1"))
    request = route.calls.last.request
    expected = base64.b64encode(b"ketamine-app:s3cret").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    form = _form(request)
    assert "client_id" not in form and "client_secret" not in form
    assert form["code_verifier"] == pending.code_verifier


@respx.mock
@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_asymmetric_client_sends_a_valid_private_key_jwt(alg: str) -> None:
    route = respx.post(TOKEN).respond(200, json=token_response())
    app_settings = settings("confidential-asymmetric", signing_alg=alg)
    config = _config("confidential-asymmetric")
    _, pending = begin_authorization(app_settings, config, launch="l")
    before = time.time()
    asyncio.run(exchange_code(app_settings, pending, "code-1"))
    form = _form(route.calls.last.request)
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_id" not in form and "authorization" not in route.calls.last.request.headers
    public = rsa_key() if alg == "RS384" else ec_key()
    token = jwt.decode(form["client_assertion"], public, algorithms=[alg])
    assert token.header == {"alg": alg, "kid": "key-1", "typ": "JWT"}
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "ketamine-app"
    assert claims["aud"] == TOKEN
    assert claims["exp"] <= before + 300 + 1
    assert claims["exp"] > before


def test_client_assertions_never_reuse_a_jti() -> None:
    app_settings = settings("confidential-asymmetric")
    jtis = {
        jwt.decode(client_assertion(app_settings, TOKEN), rsa_key(), algorithms=["RS384"]).claims["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


@respx.mock
def test_token_error_response_becomes_a_token_error() -> None:
    respx.post(TOKEN).respond(400, json={"error": "invalid_grant", "error_description": "code expired"})
    with pytest.raises(OAuthFlowError) as caught:
        asyncio.run(exchange_code(settings(), _pending(), "stale"))
    assert caught.value.kind == "token-error"
    assert "invalid_grant" in caught.value.message


@respx.mock
def test_token_endpoint_unreachable_is_a_token_error() -> None:
    respx.post(TOKEN).mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(OAuthFlowError) as caught:
        asyncio.run(exchange_code(settings(), _pending(), "c"))
    assert caught.value.kind == "token-error"


@respx.mock
@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"patient": None}, "no-patient"),
        ({"access_token": None}, "token-error"),
        ({"token_type": "mac"}, "token-error"),
        ({"scope": None}, "token-error"),
    ],
)
def test_unusable_token_responses_are_refused(overrides: dict[str, Any], kind: str) -> None:
    respx.post(TOKEN).respond(200, json=token_response(**overrides))
    with pytest.raises(OAuthFlowError) as caught:
        asyncio.run(exchange_code(settings(), _pending(), "c"))
    assert caught.value.kind == kind


@respx.mock
def test_granted_scope_is_the_one_the_server_returned() -> None:
    respx.post(TOKEN).respond(200, json=token_response(scope="launch patient/Patient.r patient/Observation.rs"))
    tokens = asyncio.run(exchange_code(settings(), _pending(), "c"))
    assert not tokens.scope.can_write_medication_request
    assert tokens.scope.missing_read("Condition") is not None


def test_token_set_repr_does_not_reveal_tokens() -> None:
    text = repr(_expired_tokens(refresh_token="rt-1"))
    assert "at-1" not in text and "rt-1" not in text


# -- refresh ---------------------------------------------------------------------------------------------------


def _expired_tokens(refresh_token: str | None = "rt-1", patient: str = "pat-1") -> TokenSet:
    from smart_app.smart.launch_context import LaunchContext
    from smart_app.smart.scopes import GrantedScopes

    return TokenSet(
        access_token="at-1",
        scope=GrantedScopes("launch patient/Patient.r"),
        context=LaunchContext(patient=patient, need_patient_banner=False),
        expires_at=time.time() - 10,
        refresh_token=refresh_token,
    )


@respx.mock
@pytest.mark.parametrize("client_type", ["public", "confidential-symmetric", "confidential-asymmetric"])
def test_expired_token_is_refreshed_keeping_the_launch_context(client_type: ClientType) -> None:
    route = respx.post(TOKEN).respond(
        200, json={"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600, "scope": "launch"}
    )
    app_settings = settings(client_type)
    tokens = asyncio.run(active_tokens(app_settings, _config(client_type), _expired_tokens()))
    form = _form(route.calls.last.request)
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "rt-1"
    assert "scope" not in form  # a refresh may only narrow the grant; ask for all of it
    assert tokens.access_token == "at-2"
    assert tokens.context.patient == "pat-1" and tokens.context.need_patient_banner is False
    assert tokens.refresh_token == "rt-1"  # kept when the server does not rotate it
    if client_type == "confidential-symmetric":
        assert route.calls.last.request.headers["authorization"].startswith("Basic ")
    if client_type == "confidential-asymmetric":
        assert "client_assertion" in form


@respx.mock
def test_valid_token_is_not_refreshed() -> None:
    route = respx.post(TOKEN).respond(200, json=token_response())
    fresh = _expired_tokens()
    fresh = TokenSet(fresh.access_token, fresh.scope, fresh.context, time.time() + 600, fresh.refresh_token)
    assert asyncio.run(active_tokens(settings(), _config(), fresh)) is fresh
    assert not route.called


@respx.mock
def test_refresh_that_switches_patient_is_refused() -> None:
    respx.post(TOKEN).respond(200, json=token_response(patient="someone-else"))
    with pytest.raises(OAuthFlowError, match="changed the patient"):
        asyncio.run(active_tokens(settings(), _config(), _expired_tokens()))


def test_expired_token_without_refresh_token_ends_the_session() -> None:
    with pytest.raises(OAuthFlowError) as caught:
        asyncio.run(active_tokens(settings(), _config(), _expired_tokens(refresh_token=None)))
    assert caught.value.kind == "session-expired"


@respx.mock
def test_refused_refresh_ends_the_session() -> None:
    respx.post(TOKEN).respond(400, json={"error": "invalid_grant"})
    with pytest.raises(OAuthFlowError) as caught:
        asyncio.run(active_tokens(settings(), _config(), _expired_tokens()))
    assert caught.value.kind == "session-expired"
