"""Launch context from the token response (SMART App Launch 2.2, scopes-and-launch-context.md).

`appContext` (from a CDS Hooks card's smart link) is UNTRUSTED: anyone who can make a card can put anything in it.
It is size-limited, parsed as JSON only when it looks like JSON, shown only escaped, and never used to choose a
patient: the patient is always the token's `patient`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

APP_CONTEXT_MAX_CHARS = 4096
_FHIR_CONTEXT_MAX_ITEMS = 20
_TEXT_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class AppContext:
    text: str  # as received, cut to APP_CONTEXT_MAX_CHARS
    data: Any = None  # parsed JSON, when the text was JSON
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class FhirContextItem:
    reference: str | None = None
    canonical: str | None = None
    identifier: str | None = None  # "system|value"
    type: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class LaunchContext:
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = True  # absent means the app cannot assume the EHR shows one
    smart_style_url: str | None = None
    fhir_context: tuple[FhirContextItem, ...] = ()
    intent: str | None = None
    tenant: str | None = None
    app_context: AppContext | None = None


def _short_text(value: Any) -> str | None:
    return value[:_TEXT_MAX_CHARS] if isinstance(value, str) and value.strip() else None


def parse_app_context(value: Any) -> AppContext | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    truncated = len(text) > APP_CONTEXT_MAX_CHARS
    text = text[:APP_CONTEXT_MAX_CHARS]
    data = None
    if not truncated and text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except ValueError:
            data = None  # not JSON after all: keep it as opaque text
    return AppContext(text=text, data=data, truncated=truncated)


def _fhir_context(value: Any) -> tuple[FhirContextItem, ...]:
    if not isinstance(value, list):
        return ()
    items = []
    for raw in value[:_FHIR_CONTEXT_MAX_ITEMS]:
        if not isinstance(raw, dict):
            continue
        identifier = raw.get("identifier")
        ident_text = None
        if isinstance(identifier, dict):
            ident_text = f"{_short_text(identifier.get('system')) or ''}|{_short_text(identifier.get('value')) or ''}"
        item = FhirContextItem(
            reference=_short_text(raw.get("reference")),
            canonical=_short_text(raw.get("canonical")),
            identifier=ident_text,
            type=_short_text(raw.get("type")),
            role=_short_text(raw.get("role")),
        )
        if item.reference or item.canonical or item.identifier:
            items.append(item)
    return tuple(items)


def parse_launch_context(token: dict[str, Any]) -> LaunchContext:
    banner = token.get("need_patient_banner")
    style = _short_text(token.get("smart_style_url"))
    return LaunchContext(
        patient=_short_text(token.get("patient")),
        encounter=_short_text(token.get("encounter")),
        need_patient_banner=banner if isinstance(banner, bool) else True,
        smart_style_url=style if style and style.startswith("https://") else None,
        fhir_context=_fhir_context(token.get("fhirContext")),
        intent=_short_text(token.get("intent")),
        tenant=_short_text(token.get("tenant")),
        app_context=parse_app_context(token.get("appContext")),
    )
