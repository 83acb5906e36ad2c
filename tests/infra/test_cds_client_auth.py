"""CDS client JWT verification: the matrix of tokens a CDS service must accept or refuse (CDS Hooks 2.0)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from smart_app.cds_hooks.auth import (
    AuthConfig,
    AuthConfigError,
    AuthError,
    JwtVerifier,
    TrustedIssuer,
    VerifiedClient,
)

ISS = "https://ehr.example.org/"
AUD = "https://cds.example.org/cds-services/ketamine-order-select"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
JKU_ALLOWED = "https://ehr.example.org/jwk_uri"
JKU_FOREIGN = "https://attacker.example.net/jwks.json"

EC_KEY = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})
RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
ROTATED_KEY = ECKey.generate_key("P-384", parameters={"kid": "ec-2"})
IMPOSTOR_KEY = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})  # same kid, different key


def jwks(*keys: ECKey | RSAKey) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), "tenant": "hospital-7"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(
    key: ECKey | RSAKey | OctKey = EC_KEY, alg: str = "ES384", payload: dict[str, Any] | None = None, **header: Any
) -> str:
    head = {"alg": alg, "typ": "JWT", "kid": key.kid, **header}
    return jwt.encode({k: v for k, v in head.items() if v is not None}, payload or claims(), key, algorithms=[alg])


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def verifier(*issuers: TrustedIssuer) -> JwtVerifier:
    default = TrustedIssuer(ISS, jwks=jwks(EC_KEY, RSA_KEY))
    return JwtVerifier(AuthConfig(issuers=issuers or (default,)))


def verify(v: JwtVerifier, jwt_value: str | None, audience: str = AUD, scheme: str = "Bearer") -> VerifiedClient:
    header = None if jwt_value is None else f"{scheme} {jwt_value}"
    return asyncio.run(v.verify(header, audience=audience))


def refused(v: JwtVerifier, jwt_value: str | None, audience: str = AUD, scheme: str = "Bearer") -> str:
    with pytest.raises(AuthError) as raised:
        verify(v, jwt_value, audience, scheme)
    return str(raised.value)


def test_valid_es384_token_is_accepted() -> None:
    client = verify(verifier(), token())
    assert client.iss == ISS and client.tenant == "hospital-7" and client.sub is None and client.jti


def test_valid_rs384_token_is_accepted() -> None:
    client = verify(verifier(), token(RSA_KEY, "RS384", claims(sub="ehr-client")))
    assert client.sub == "ehr-client"


def test_aud_as_array_with_the_endpoint_is_accepted() -> None:
    assert verify(verifier(), token(payload=claims(aud=[AUD])))


def test_alg_none_is_refused() -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'ec-1'})}.{b64(claims())}."
    assert "algorithm" in refused(verifier(), unsigned)


def test_hmac_token_is_refused() -> None:
    shared = OctKey.generate_key(256, parameters={"kid": "ec-1"})
    assert "algorithm" in refused(verifier(), token(shared, "HS256"))


def test_hmac_keyed_with_the_public_key_is_refused() -> None:
    # The classic algorithm-confusion forgery: HS384 with the issuer's public key bytes as the shared secret.
    signing_input = f"{b64({'alg': 'HS384', 'typ': 'JWT', 'kid': 'ec-1'})}.{b64(claims())}"
    mac = hmac.new(EC_KEY.as_pem(private=False), signing_input.encode(), hashlib.sha384).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert "algorithm" in refused(verifier(), forged)


def test_es256_is_not_accepted() -> None:
    p256 = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    assert "algorithm" in refused(verifier(), token(p256, "ES256"))


def test_wrong_audience_is_refused() -> None:
    v = verifier()
    assert "aud" in refused(v, token(payload=claims(aud="https://cds.example.org/cds-services/other-service")))
    assert "aud" in refused(v, token(payload=claims(aud=AUD + "/")))  # exact string, no normalising


def test_expired_token_is_refused() -> None:
    now = int(time.time())
    assert "expired" in refused(verifier(), token(payload=claims(iat=now - 400, exp=now - 100)))


def test_iat_in_the_future_is_refused() -> None:
    now = int(time.time())
    assert "future" in refused(verifier(), token(payload=claims(iat=now + 600, exp=now + 900)))


def test_token_older_than_max_age_is_refused() -> None:
    now = int(time.time())
    assert "too old" in refused(verifier(), token(payload=claims(iat=now - 3600, exp=now + 3600)))


@pytest.mark.parametrize("claim", ["exp", "iat", "jti"])
def test_required_claims_must_be_present(claim: str) -> None:
    refused(verifier(), token(payload=claims(**{claim: None})))


def test_replayed_jti_is_refused() -> None:
    v = verifier()
    once = token()
    verify(v, once)
    assert "replayed" in refused(v, once)
    assert "replayed" in refused(
        v, token(RSA_KEY, "RS384", claims(jti=jwt.decode(once, EC_KEY, algorithms=["ES384"]).claims["jti"]))
    )


def test_unknown_kid_is_refused() -> None:
    stranger = ECKey.generate_key("P-384", parameters={"kid": "unknown"})
    assert "kid" in refused(verifier(), token(stranger))


def test_signature_by_another_key_with_a_known_kid_is_refused() -> None:
    assert "signature" in refused(verifier(), token(IMPOSTOR_KEY))


def test_untrusted_issuer_is_refused_without_fetching() -> None:
    with respx.mock(assert_all_called=False) as mock:
        anything = mock.get(url__regex=r".*")
        assert "issuer" in refused(
            verifier(), token(payload=claims(iss="https://other-ehr.example.com/"), jku=JKU_FOREIGN)
        )
        assert not anything.called


def test_missing_or_non_bearer_authorization_is_refused() -> None:
    v = verifier()
    refused(v, None)
    refused(v, token(), scheme="Basic")
    refused(v, "not.a.jwt.at.all")
    refused(v, "%%%.%%%.%%%")


def test_jku_off_the_allowlist_is_never_fetched() -> None:
    issuer = TrustedIssuer(ISS, jwks_url=JWKS_URL, jku_allowlist=(JKU_ALLOWED,))
    with respx.mock(assert_all_called=False) as mock:
        foreign = mock.get(JKU_FOREIGN).respond(200, json=jwks(EC_KEY))
        configured = mock.get(JWKS_URL).respond(200, json=jwks(EC_KEY))
        assert "allowlist" in refused(verifier(issuer), token(jku=JKU_FOREIGN))
        assert not foreign.called and not configured.called


def test_jku_on_the_allowlist_is_fetched_and_cached() -> None:
    issuer = TrustedIssuer(ISS, jku_allowlist=(JKU_ALLOWED,))
    v = verifier(issuer)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(JKU_ALLOWED).respond(200, json=jwks(EC_KEY, RSA_KEY))
        verify(v, token(jku=JKU_ALLOWED))
        verify(v, token(RSA_KEY, "RS384", jku=JKU_ALLOWED))
        assert route.call_count == 1


def test_configured_jwks_url_is_refetched_once_when_the_client_rotates_keys() -> None:
    issuer = TrustedIssuer(ISS, jwks_url=JWKS_URL)
    v = JwtVerifier(AuthConfig(issuers=(issuer,), jwks_refetch_interval_s=0))
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(JWKS_URL)
        route.side_effect = [httpx.Response(200, json=jwks(EC_KEY)), httpx.Response(200, json=jwks(ROTATED_KEY))]
        verify(v, token())
        assert verify(v, token(ROTATED_KEY)).iss == ISS
        assert route.call_count == 2


def test_unknown_kid_refetch_is_rate_limited() -> None:
    issuer = TrustedIssuer(ISS, jwks_url=JWKS_URL)
    v = JwtVerifier(AuthConfig(issuers=(issuer,), jwks_refetch_interval_s=3600))
    stranger = ECKey.generate_key("P-384", parameters={"kid": "unknown"})
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(JWKS_URL).respond(200, json=jwks(EC_KEY))
        verify(v, token())
        refused(v, token(stranger))
        refused(v, token(stranger))
        assert route.call_count == 1  # a stream of bad kids cannot make us hammer the client's JWKS endpoint


def test_unreachable_jwks_url_refuses_without_crashing() -> None:
    issuer = TrustedIssuer(ISS, jwks_url=JWKS_URL)
    with respx.mock(assert_all_called=False) as mock:
        mock.get(JWKS_URL).mock(side_effect=httpx.ConnectError("down"))
        assert "JWK Set" in refused(verifier(issuer), token())


def test_config_from_environment_json_and_file(tmp_path: Path) -> None:
    listed = [{"iss": ISS, "jwks_url": JWKS_URL, "jku_allowlist": [JKU_ALLOWED]}]
    from_json = AuthConfig.from_env(
        {"SMART_APP_CDS_TRUSTED_ISSUERS": json.dumps(listed), "SMART_APP_CDS_JWT_LEEWAY_S": "5"}
    )
    assert from_json.issuers == (TrustedIssuer(ISS, JWKS_URL, (JKU_ALLOWED,)),)
    assert from_json.leeway_s == 5 and from_json.enabled
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([{"iss": ISS, "jwks": jwks(EC_KEY)}]))
    from_file = AuthConfig.from_env({"SMART_APP_CDS_TRUSTED_ISSUERS_FILE": str(path)})
    assert verify(JwtVerifier(from_file), token()).iss == ISS
    assert AuthConfig.from_env({}).issuers == ()


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        json.dumps([{"jwks_url": JWKS_URL}]),  # no iss
        json.dumps([{"iss": ISS}]),  # no way to get keys
        json.dumps([{"iss": ISS, "jwks_url": "http://ehr.example.org/jwks"}]),  # plain http to a remote host
        json.dumps([{"iss": ISS, "jwks": {"keys": [{"kty": "EC", "kid": "x"}]}}]),  # broken key
    ],
)
def test_invalid_issuer_configuration_is_refused_at_start(raw: str) -> None:
    with pytest.raises(AuthConfigError):
        AuthConfig.from_env({"SMART_APP_CDS_TRUSTED_ISSUERS": raw})


def test_missing_issuers_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read"):
        AuthConfig.from_env({"SMART_APP_CDS_TRUSTED_ISSUERS_FILE": str(tmp_path / "absent.json")})
