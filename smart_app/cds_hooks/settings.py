"""Deployment settings of the CDS Hooks service (not clinical thresholds: those are `smart_app.config.LocalDefaults`).

Read from the environment with the `SMART_APP_` prefix, e.g. `SMART_APP_PUBLIC_BASE_URL=https://cds.example.org`.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMART_APP_", extra="ignore", frozen=True)

    public_base_url: str | None = Field(
        None,
        description="public URL of the service (e.g. https://cds.example.org); the JWT `aud` is checked against it "
        "because behind a proxy the request URL differs. Unset: taken from the request.",
    )
    auth_enabled: bool = Field(True, description="verify the CDS client's JWT on every call")
    cors_origins: tuple[str, ...] = Field(
        ("https://sandbox.cds-hooks.org",), description="browser origins allowed to call the service"
    )
    fhir_server_allowlist: tuple[str, ...] = Field(
        (),
        description="base-URL prefixes of FHIR servers the service may fetch from (the EHRs it serves); empty: any. "
        "Set it in production: `fhirServer` comes from the caller, and the service sends requests there.",
    )
    fhir_budget_s: float = Field(3.0, gt=0, description="total seconds for fetching missing data from fhirServer")
    max_request_bytes: int = Field(5 * 1024 * 1024, gt=0, description="largest accepted request body")
    launch_url: str = Field("http://localhost:8000/smart/launch", description="SMART app launch URL for card links")
    database_url: str | None = Field(None, description="feedback store; unset: the store's own default (SQLite)")
