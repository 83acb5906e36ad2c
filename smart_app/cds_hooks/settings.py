"""Deployment settings of the CDS Hooks service (not clinical thresholds: those are `smart_app.config.LocalDefaults`).

Read from the environment with the `SMART_APP_` prefix, e.g. `SMART_APP_PUBLIC_BASE_URL=https://cds.example.org`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smart_app.fhir.origins import base_url

SelectionBehavior = Literal["at-most-one", "any"]


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
        description="FHIR base URLs the service may fetch from (the EHRs it serves); empty: any. A `fhirServer` is "
        "allowed when its origin (scheme, host, port; default ports normalised) equals an entry's and its path is "
        "the entry's path or below it at a `/` (see `smart_app.fhir.origins`). Set it in production: `fhirServer` "
        "comes from the caller, and the service sends the EHR's token there.",
    )
    fhir_budget_s: float = Field(
        3.0, gt=0, description="at most this many seconds for fetching missing data from fhirServer"
    )
    answer_deadline_s: float = Field(
        3.5,
        gt=0,
        description="seconds for the whole answer: fetching gets what is left of it after a reserve for reading "
        "and evaluating the data (`evaluation_reserve_s`), and the data read are bounded so that evaluation "
        "fits that reserve (what was left out is named on the data card)",
    )
    evaluation_reserve_s: float = Field(
        0.5, gt=0, description="part of the answer deadline kept for reading and evaluating the data"
    )
    retry_window_s: float = Field(
        60.0,
        ge=0,
        description="a retried call (same service, same client, byte-identical body, so the same hookInstance) "
        "within this many seconds gets the first call's answer; 0 evaluates every call anew (cds_hooks/retries.py)",
    )
    max_request_bytes: int = Field(5 * 1024 * 1024, gt=0, description="largest accepted request body")
    launch_url: str | None = Field(
        None,
        description="SMART app launch URL for card links. Set it when the SMART app runs elsewhere; unset, `serve` "
        "uses <public_base_url>/smart/launch when it mounts the SMART app, and otherwise cards carry no SMART link.",
    )
    database_url: str | None = Field(None, description="feedback store; unset: the store's own default (SQLite)")
    protocol_selection_behavior: SelectionBehavior = Field(
        "at-most-one",
        description="selectionBehavior of the protocol card. `at-most-one` (the spec's value for mutually "
        "exclusive choices) offers every suitable protocol; `any`, for EHRs that support only `any` (Epic), offers "
        "the recommended protocol alone, since two regimens must never both be accepted.",
    )

    @field_validator("fhir_server_allowlist")
    @classmethod
    def _allowlist_entries_are_base_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if base_url(entry) is None:
                raise ValueError(f"{entry!r} is not an http(s) base URL (no userinfo, query or fragment)")
        return value

    @field_validator("public_base_url", "launch_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and base_url(value) is None:
            raise ValueError(f"{value!r} is not an http(s) URL (no userinfo, query or fragment)")
        return value

    def with_smart_app(self, *, mounted: bool) -> ServiceSettings:
        """These settings with the launch URL cards link to: the configured one, else this server's own SMART app
        (`<public_base_url>/smart/launch`) when it is mounted here and the public URL is known, else none."""
        if self.launch_url is not None or not mounted or self.public_base_url is None:
            return self
        return self.model_copy(update={"launch_url": self.public_base_url.rstrip("/") + "/smart/launch"})

    def fetch_budget_s(self, elapsed_s: float = 0.0) -> float:
        """Seconds left for fetching from fhirServer: the FHIR budget, within what is left of the answer deadline
        after `elapsed_s` and the evaluation reserve (never less than a tenth of a second)."""
        left = self.answer_deadline_s - self.evaluation_reserve_s - elapsed_s
        return max(0.1, min(self.fhir_budget_s, left))
