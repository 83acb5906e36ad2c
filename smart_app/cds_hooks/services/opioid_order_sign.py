"""Opioid MME at order-sign: the total MME/day including the opioid draft(s), against the CDC thresholds."""

from __future__ import annotations

from dataclasses import replace

from smart_app.cds_hooks.mme_card import mme_card
from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.registry import CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.services.common import assessment_for, links_for
from smart_app.core.alerts import opioid_alert
from smart_app.core.mme import opioid_ingredient
from smart_app.core.model import MedicationUse


def is_opioid(med: MedicationUse) -> bool:
    return opioid_ingredient(med) is not None


def handle(call: ServiceCall) -> ServiceResult:
    # Silent below the first configured level, unless the total is not fully known (core/alerts.py). A draft
    # whose drug could not be identified may be an opioid: the total is then not known to be complete.
    assessment = assessment_for(call)
    level = assessment.mme_level
    if call.unchecked_drafts:
        level = replace(level, left_out=level.left_out + len(call.unchecked_drafts))
    if not (opioid_alert(assessment) or level.calls_for_attention):
        return ServiceResult([])
    card = mme_card(assessment.mme, level, call.defaults, links=links_for(call), unchecked=call.unchecked_drafts)
    return ServiceResult([card])


SERVICE = CdsService(
    id="opioid-mme-order-sign",
    hook="order-sign",
    title="Opioid dose (MME/day) at signing",
    description=(
        "Total opioid dose in morphine milligram equivalents per day including the opioid order being signed, "
        "with the derivation per medication, shown when the total reaches the CDC 2022 precaution level (50 MME/day; "
        "90 MME/day from CDC 2016; local defaults) or when part of it could not be computed. Other drafts and totals "
        "below the levels get no card."
    ),
    queries=OPIOID_QUERIES,
    handler=handle,
    usage_requirements="Needs the patient's active medication orders and statements (prefetch or FHIR access).",
    relevant=is_opioid,
    source_label="CDC opioid guideline 2022 (MME)",
)
