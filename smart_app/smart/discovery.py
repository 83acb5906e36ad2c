"""Discovery: `{iss}/.well-known/smart-configuration`, validated before any redirect to the EHR.

Refused (DiscoveryError) when the document is unreachable or not JSON, lacks the authorization or token endpoint,
or does not offer PKCE S256 (absent, or `plain` only): without S256 the code could be intercepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from smart_app.smart.settings import ClientType

# Token endpoint auth method each client type uses (SMART App Launch 2.2, client-*.md).
AUTH_METHOD: dict[ClientType, str] = {
    "public": "none",
    "confidential-symmetric": "client_secret_basic",
    "confidential-asymmetric": "private_key_jwt",
}


class DiscoveryError(Exception):
    """The EHR's SMART configuration cannot be used; the message is safe to show to the user."""


@dataclass(frozen=True, slots=True)
class SmartConfiguration:
    issuer: str  # the FHIR base URL (iss) the document was fetched from
    authorization_endpoint: str
    token_endpoint: str
    code_challenge_methods: tuple[str, ...]
    capabilities: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ()  # token_endpoint_auth_methods_supported; empty when not advertised
    signing_algs: tuple[str, ...] = ()


def _strings(doc: dict[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DiscoveryError(f"the EHR's SMART configuration has an invalid {name} (not a list of strings)")
    return tuple(value)


def _endpoint(doc: dict[str, Any], name: str, fhir_base: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DiscoveryError(f"the EHR's SMART configuration has no {name}")
    # URLs SHALL be absolute; relative ones are resolved against the FHIR base (conformance.md).
    url = urljoin(fhir_base.rstrip("/") + "/", value.strip())
    if not url.startswith(("https://", "http://")):
        raise DiscoveryError(f"the EHR's SMART configuration has an unusable {name}")
    return url


def parse_smart_configuration(doc: Any, fhir_base: str, client_type: ClientType) -> SmartConfiguration:
    if not isinstance(doc, dict):
        raise DiscoveryError("the EHR's SMART configuration is not a JSON object")
    methods = _strings(doc, "code_challenge_methods_supported")
    if "S256" not in methods:
        if "plain" in methods:
            raise DiscoveryError("the EHR supports only PKCE 'plain', which is insecure; S256 is required")
        raise DiscoveryError("the EHR does not advertise PKCE S256 (code_challenge_methods_supported)")
    config = SmartConfiguration(
        issuer=fhir_base,
        authorization_endpoint=_endpoint(doc, "authorization_endpoint", fhir_base),
        token_endpoint=_endpoint(doc, "token_endpoint", fhir_base),
        code_challenge_methods=methods,
        capabilities=_strings(doc, "capabilities"),
        auth_methods=_strings(doc, "token_endpoint_auth_methods_supported"),
        signing_algs=_strings(doc, "token_endpoint_auth_signing_alg_values_supported"),
    )
    method = AUTH_METHOD[client_type]
    if method != "none" and config.auth_methods and method not in config.auth_methods:
        raise DiscoveryError(f"the EHR does not accept this app's client authentication ({method})")
    return config


async def fetch_smart_configuration(
    fhir_base: str,
    client_type: ClientType,
    *,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SmartConfiguration:
    url = fhir_base.rstrip("/") + "/.well-known/smart-configuration"
    try:
        async with httpx.AsyncClient(timeout=timeout_s, transport=transport) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"the EHR's SMART configuration could not be fetched ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise DiscoveryError(f"the EHR's SMART configuration could not be fetched (HTTP {response.status_code})")
    try:
        doc = response.json()
    except ValueError as exc:
        raise DiscoveryError("the EHR's SMART configuration is not valid JSON") from exc
    return parse_smart_configuration(doc, fhir_base.rstrip("/"), client_type)
