"""Shared builders for the SMART app tests: settings per client type, EHR discovery documents, token responses."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from smart_app.smart.settings import ClientType, SmartSettings

ISS = "https://ehr.example.org/fhir"
AUTHORIZE = "https://ehr.example.org/oauth/authorize"
TOKEN = "https://ehr.example.org/oauth/token"
REDIRECT = "https://app.example.org/smart/callback"


@cache
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


@cache
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", private=True)


def settings(client_type: ClientType = "public", **overrides: Any) -> SmartSettings:
    values: dict[str, Any] = {
        "client_id": "ketamine-app",
        "client_type": client_type,
        "redirect_uri": REDIRECT,
        "session_secret": "test-secret-" + "x" * 32,
        "allowed_issuers": (ISS,),
    }
    if client_type == "confidential-symmetric":
        values["client_secret"] = "s3cret"
    if client_type == "confidential-asymmetric":
        alg = overrides.get("signing_alg", "RS384")
        key = rsa_key() if alg == "RS384" else ec_key()
        values["private_key"] = json.dumps(key.as_dict(private=True))
        values["key_id"] = "key-1"
    values.update(overrides)
    return SmartSettings(**values)


def smart_configuration(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": "https://ehr.example.org",
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "capabilities": ["launch-ehr", "launch-standalone", "client-public", "context-banner", "permission-v2"],
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def token_response(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "launch openid fhirUser patient/Patient.r patient/Observation.rs",
        "refresh_token": "rt-1",
        "patient": "pat-1",
        "need_patient_banner": True,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}
