"""Opioid MME at order-sign: the total MME/day including the opioid draft(s), against the CDC thresholds."""

from __future__ import annotations

from dataclasses import replace

from smart_app.cds_hooks.cards import outcome_card
from smart_app.cds_hooks.mme_card import mme_card
from smart_app.cds_hooks.models import Suggestion
from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.registry import CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.services.common import assessment_for, links_for
from smart_app.cds_hooks.services.ketamine import opioid_load_extension
from smart_app.cds_hooks.services.suggestions import plan_suggestions
from smart_app.core.alerts import MME_TOPIC, opioid_alert, opioid_alerts
from smart_app.core.mme import opioid_ingredient
from smart_app.core.model import MedicationUse
from smart_app.core.outcomes import Outcome


def is_opioid(med: MedicationUse) -> bool:
    return opioid_ingredient(med) is not None


def handle(call: ServiceCall) -> ServiceResult:
    # The MME card is silent below the first configured level, unless the total is not fully known (a draft whose
    # drug could not be identified may be an opioid: the total is then not known to be complete); the opioid rules
    # that judge this order (benzodiazepine, naloxone, post-taper) get a card each when they fire (core/alerts.py).
    assessment = assessment_for(call)
    level = assessment.mme_level
    if call.unchecked_drafts:
        level = replace(level, left_out=level.left_out + len(call.unchecked_drafts))
    links = links_for(call)
    alerts = opioid_alerts(assessment, call.defaults)

    def suggestions(topic: str, *outcomes: Outcome) -> list[Suggestion]:
        return [s for o in (*outcomes, *alerts.carried_by(topic)) for s in plan_suggestions(o, call)]

    cards = []
    if opioid_alert(assessment) or level.calls_for_attention:
        card = mme_card(
            assessment.mme,
            level,
            call.defaults,
            links=links,
            unchecked=call.unchecked_drafts,
            suggestions=suggestions(MME_TOPIC),
            carried=alerts.carried_by(MME_TOPIC),
        )
        cards.append(card)
    load = opioid_load_extension(assessment)
    cards += [
        outcome_card(
            o,
            call.defaults,
            suggestions=suggestions(o.rule_id, o),
            links=links,
            extension=load,
            carried=alerts.carried_by(o.rule_id),
        )
        for o in alerts.cards
    ]
    return ServiceResult(cards, alerts.unchecked)


SERVICE = CdsService(
    id="opioid-mme-order-sign",
    hook="order-sign",
    title="Opioid dose (MME/day) at signing",
    description=(
        "Total opioid dose in morphine milligram equivalents per day including the opioid order being signed, "
        "with the derivation per medication, shown when the total reaches the CDC 2022 precaution level (50 MME/day; "
        "90 MME/day from CDC 2016; local defaults) or when part of it could not be computed. Other drafts and totals "
        "below the levels get no card. An opioid with a benzodiazepine, naloxone to offer (CDC 2022) and an opioid "
        "re-introduced after a taper (ISCRR) get a card each."
    ),
    queries=OPIOID_QUERIES,
    handler=handle,
    usage_requirements="Needs the patient's active medication orders and statements (prefetch or FHIR access).",
    relevant=is_opioid,
    source_label="CDC opioid guideline 2022 (MME)",
)
