"""Ketamine safety at order-sign: contraindications, baseline tests, and the draft's dose, route and frequency."""

from __future__ import annotations

from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.registry import CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.services.ketamine import SOURCE_LABEL, ketamine_cards
from smart_app.core.safety import is_ketamine


def handle(call: ServiceCall) -> ServiceResult:
    return ketamine_cards(call, "order-sign")


SERVICE = CdsService(
    id="ketamine-safety-order-sign",
    hook="order-sign",
    title="Ketamine safety check at signing (chronic non-cancer pain)",
    description=(
        "Checks a draft ketamine order against the ANZCA FPM PS12(PM) and ASRA/AAPM/ASA 2018 guidance: "
        "contraindications and precautions, baseline ECG/LFT needs, mg/kg bolus and infusion rate, route, and "
        "treatments per year. Each card cites its guideline section and grade. Other drafts get no cards."
    ),
    queries=KETAMINE_QUERIES,
    handler=handle,
    usage_requirements=(
        "Needs the patient's conditions, observations (ECG, LFT, blood pressure, weight) and medications, by "
        "prefetch or FHIR access; checks whose data is missing are named on an information card."
    ),
    relevant=is_ketamine,
    remembers_selection=True,
    source_label=SOURCE_LABEL,
)
