"""SMART app settings from the environment (`SMART_APP_SMART_*`).

Security-relevant choices made here:
- the session secret is required unless `SMART_APP_SMART_DEV_MODE=true`; in dev mode a random one is generated at
  start (sessions then do not survive a restart) and a warning says so;
- EHR launches are accepted only from issuers on `allowed_issuers` (an arbitrary `iss` would let anyone use the
  app as an open redirect and phish tokens). In dev mode an EMPTY allowlist allows any issuer, with a warning;
  in production an empty allowlist is a configuration error.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ClientType = Literal["public", "confidential-symmetric", "confidential-asymmetric"]
SigningAlg = Literal["RS384", "ES384"]

log = logging.getLogger(__name__)
# A CSP host source: an origin with a scheme (optionally a *. wildcard host and a port), or 'self'.
_CSP_SOURCE = re.compile(r"'self'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?")

# Read scopes, one per resource type the safety checks use (v2 syntax; the types of
# cds_hooks.prefetch.KETAMINE_QUERIES); writing adds WRITE_SCOPE and FOLLOW_UP_WRITE_SCOPE.
READ_SCOPES = (
    "patient/Patient.r",
    "patient/Condition.rs",
    "patient/MedicationStatement.rs",
    "patient/MedicationRequest.rs",
    "patient/Observation.rs",
    "patient/MedicationAdministration.rs",
    "patient/AllergyIntolerance.rs",
    "patient/Consent.rs",
    "patient/QuestionnaireResponse.rs",
)
WRITE_SCOPE = "patient/MedicationRequest.c"
# A protocol's order set also holds ServiceRequests (pain score, monitoring, tests) and Tasks (follow-up); the
# ketamine order needs WRITE_SCOPE, the others are written when these are granted and reported when not.
WRITE_SCOPES = (WRITE_SCOPE, "patient/ServiceRequest.c", "patient/Task.c")
FOLLOW_UP_WRITE_SCOPE = "patient/QuestionnaireResponse.c"  # the follow-up questionnaire (ANZCA PS12 1.3)
IDENTITY_SCOPES = ("openid", "fhirUser")


class SmartConfigError(ValueError):
    """The SMART app is misconfigured; the message says which setting to fix."""


class SmartSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMART_APP_SMART_", extra="ignore", frozen=True)

    client_id: str = Field(..., min_length=1, description="client_id registered with the EHR")
    client_type: ClientType = "public"
    client_secret: str | None = Field(None, description="for confidential-symmetric clients (HTTP Basic)")
    private_key: str | None = Field(None, description="private JWK as JSON, or a path to a JSON file holding it")
    key_id: str | None = Field(None, description="kid of the registered public key (required for asymmetric)")
    signing_alg: SigningAlg = "RS384"
    redirect_uri: str = Field(..., description="absolute URL of /smart/callback as registered with the EHR")
    write_orders: bool = Field(
        True,
        description="request patient/MedicationRequest.c, ServiceRequest.c and Task.c to write draft order sets",
    )
    write_follow_ups: bool = Field(
        True, description="request patient/QuestionnaireResponse.c to write follow-up questionnaires"
    )
    refresh: bool = Field(True, description="request online_access so expired tokens can be refreshed")
    session_secret: str | None = Field(None, description="key signing the session cookie; required unless dev_mode")
    session_ttl_seconds: int = Field(3600, gt=0, description="idle time after which a session expires")
    allowed_issuers: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="FHIR base URLs allowed as `iss` (comma-separated in the environment)"
    )
    # Embedding (README "Embedded in the EHR"): most EHRs open the app in a frame of their own site. The browser
    # keeps a cookie in a cross-site frame only if it is SameSite=None and Secure; Partitioned (CHIPS) keeps a
    # separate copy per top-level site, so a page of another site that frames the app never gets this session.
    cookie_same_site: Literal["auto", "lax", "none"] = Field(
        "auto", description="session cookie SameSite: auto = none over https (embeddable), lax over plain http"
    )
    cookie_partitioned: bool = Field(True, description="mark a SameSite=None session cookie Partitioned (CHIPS)")
    frame_ancestors: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="origins allowed to show the app in a frame (CSP frame-ancestors, comma-separated); empty: any",
    )
    dev_mode: bool = False
    http_timeout_s: float = Field(10.0, gt=0, description="timeout for discovery and token requests")
    fhir_budget_s: float = Field(8.0, gt=0, description="time budget for reading the patient's data")

    @field_validator("allowed_issuers", mode="before")
    @classmethod
    def _split_issuers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("frame_ancestors", mode="before")
    @classmethod
    def _split_ancestors(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("frame_ancestors")
    @classmethod
    def _check_ancestors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for source in value:
            if not _CSP_SOURCE.fullmatch(source):
                raise SmartConfigError(
                    f"SMART_APP_SMART_FRAME_ANCESTORS: {source!r} is not an origin such as https://ehr.example.org"
                )
        return value

    @field_validator("allowed_issuers")
    @classmethod
    def _normalise_issuers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalise_issuer(v) for v in value)

    @model_validator(mode="after")
    def _check_consistency(self) -> SmartSettings:
        if self.client_type == "confidential-symmetric" and not self.client_secret:
            raise SmartConfigError("SMART_APP_SMART_CLIENT_SECRET is required for a confidential-symmetric client")
        if self.client_type == "confidential-asymmetric":
            if not self.private_key or not self.key_id:
                raise SmartConfigError(
                    "SMART_APP_SMART_PRIVATE_KEY and SMART_APP_SMART_KEY_ID are required for a "
                    "confidential-asymmetric client"
                )
            self.signing_key()  # fail at start, not at the first token request
        if self.cookie_same_site == "none" and not self.cookie_secure:
            raise SmartConfigError(
                "SMART_APP_SMART_COOKIE_SAME_SITE=none needs an https redirect URI: browsers keep a SameSite=None "
                "cookie only when it is Secure"
            )
        if not self.dev_mode:
            if not self.session_secret:
                raise SmartConfigError("SMART_APP_SMART_SESSION_SECRET is required outside dev mode")
            if not self.allowed_issuers:
                raise SmartConfigError("SMART_APP_SMART_ALLOWED_ISSUERS is required outside dev mode")
        return self

    @cached_property
    def effective_session_secret(self) -> str:
        if self.session_secret:
            return self.session_secret
        log.warning("SMART app: no session secret set; generated a random one (dev mode, sessions end at restart)")
        return secrets.token_urlsafe(32)

    def signing_key(self) -> dict[str, Any]:
        """The private JWK (dict) for private_key_jwt, from inline JSON or a file."""
        raw = (self.private_key or "").strip()
        if not raw.startswith("{"):
            try:
                raw = Path(raw).read_text(encoding="utf-8")
            except OSError as exc:
                raise SmartConfigError(f"SMART_APP_SMART_PRIVATE_KEY: cannot read key file ({exc.strerror})") from exc
        try:
            jwk = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SmartConfigError("SMART_APP_SMART_PRIVATE_KEY is not a JSON Web Key") from exc
        expected = "RSA" if self.signing_alg == "RS384" else "EC"
        if not isinstance(jwk, dict) or jwk.get("kty") != expected or "d" not in jwk:
            raise SmartConfigError(
                f"SMART_APP_SMART_PRIVATE_KEY must be a private {expected} JWK for {self.signing_alg}"
            )
        return jwk

    def public_jwks(self) -> dict[str, Any] | None:
        """The JWKS to register with the EHR (public half of the signing key), for asymmetric clients."""
        if self.client_type != "confidential-asymmetric":
            return None
        private = {"d", "p", "q", "dp", "dq", "qi"}
        public = {k: v for k, v in self.signing_key().items() if k not in private}
        return {"keys": [{**public, "kid": self.key_id, "alg": self.signing_alg, "use": "sig"}]}

    def requested_scopes(self, *, ehr_launch: bool) -> str:
        """The scope string: `launch` for EHR launch, `launch/patient` for standalone; write only if configured."""
        scopes = ["launch" if ehr_launch else "launch/patient", *IDENTITY_SCOPES, *READ_SCOPES]
        if self.write_orders:
            scopes += WRITE_SCOPES
        if self.write_follow_ups:
            scopes.append(FOLLOW_UP_WRITE_SCOPE)
        if self.refresh:
            scopes.append("online_access" if ehr_launch else "offline_access")
        return " ".join(scopes)

    def issuer_allowed(self, iss: str) -> bool:
        if not self.allowed_issuers:
            return self.dev_mode
        return normalise_issuer(iss) in self.allowed_issuers

    @property
    def cookie_secure(self) -> bool:
        return self.redirect_uri.startswith("https://")

    @property
    def same_site(self) -> Literal["lax", "none"]:
        """The session cookie's SameSite: none (embeddable in a cross-site frame) needs https."""
        if self.cookie_same_site == "auto":
            return "none" if self.cookie_secure else "lax"
        return self.cookie_same_site

    @property
    def app_origin(self) -> str:
        """The app's public origin (scheme://host[:port]), from the registered redirect URI."""
        parts = urlsplit(self.redirect_uri)
        default = {"https": 443, "http": 80}.get(parts.scheme)
        port = f":{parts.port}" if parts.port and parts.port != default else ""
        return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def normalise_issuer(iss: str) -> str:
    """Issuers compare without a trailing slash (`https://ehr/fhir/` == `https://ehr/fhir`)."""
    return iss.strip().rstrip("/")
