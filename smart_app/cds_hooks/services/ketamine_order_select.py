"""Ketamine safety at order-select: contraindications and baseline tests as soon as ketamine is selected."""

from __future__ import annotations

from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.registry import CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.services.ketamine import SOURCE_LABEL, ketamine_cards
from smart_app.core.safety import is_ketamine


def handle(call: ServiceCall) -> ServiceResult:
    # A selection often has no dose yet: its dose rules wait for order-sign and the protocols are offered instead.
    return ketamine_cards(call, "order-select")


SERVICE = CdsService(
    id="ketamine-safety-order-select",
    hook="order-select",
    title="Ketamine safety check on selection (chronic non-cancer pain)",
    description=(
        "When ketamine is selected: contraindications and precautions (ANZCA FPM PS12(PM), ASRA/AAPM/ASA 2018) "
        "and baseline ECG/LFT needs. Dose checks run when the selection carries a dose, and always at order-sign."
    ),
    queries=KETAMINE_QUERIES,
    handler=handle,
    usage_requirements=(
        "Needs the patient's conditions, observations and medications, by prefetch or FHIR access; checks whose "
        "data is missing are named on an information card."
    ),
    relevant=is_ketamine,
    remembers_selection=True,
    selected_only=True,
    source_label=SOURCE_LABEL,
)
