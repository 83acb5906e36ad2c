"""Which medications are current enough to list, and with what setting label.

- MedicationRequest: listed when status is `active` and intent is an order or plan (order, original-order,
  reflex-order, filler-order, instance-order, plan). `proposal` and `option` are not orders and are left out.
  Draft orders from a CDS Hooks context are the order being signed: always listed and counted.
- MedicationStatement: listed when `active`; `intended` (not yet taken) is listed as excluded; a statement
  whose effective period ended before the calculation date is left out.
- Completed, stopped, cancelled, on-hold, entered-in-error, draft (not from the hook), not-taken: left out
  entirely; they are not current medications.
- Missing or `unknown` status: listed as not computable ("status unknown"), never silently counted or dropped.
- MedicationAdministration records events, not ongoing use: left out.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Literal

from smart_app.core.model import MedicationUse
from smart_app.mappings import read_json

ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order", "plan"})

Listing = Literal["count", "skip", "intended", "status-unknown"]


def listing(med: MedicationUse, on: datetime | None) -> Listing:
    if med.is_draft_order:
        return "count"
    if med.resource_type == "MedicationAdministration":
        return "skip"
    if med.status in (None, "unknown"):
        return "status-unknown"
    if med.resource_type == "MedicationRequest":
        if med.status != "active" or (med.intent is not None and med.intent not in ORDER_INTENTS):
            return "skip"
        return "count"
    if med.status == "intended":
        return "intended"
    if med.status != "active":
        return "skip"
    ended = med.effective.end if med.effective else None
    if on is not None and ended is not None and ended < on:
        return "skip"
    return "count"


@cache
def _categories() -> tuple[frozenset[str], dict[str, str]]:
    data = read_json("medication_categories.json")
    return frozenset(data["systems"]), dict(data["codes"])


def setting(med: MedicationUse) -> str | None:
    systems, codes = _categories()
    for category in med.category:
        for coding in category.codings:
            if coding.system in systems and coding.code in codes:
                return codes[coding.code]
    return None


def source_label(med: MedicationUse) -> str:
    return f"{med.resource_type} (draft order)" if med.is_draft_order else med.resource_type
