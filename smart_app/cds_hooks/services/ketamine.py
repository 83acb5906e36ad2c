"""Ketamine safety: the assessment of the draft ketamine order(s) as cards, under the alert policy.

Both ketamine services (order-select and order-sign) assess the same way; `core/alerts.py` decides what each hook
shows, and this module only renders it: one card per fired outcome (with its test-order suggestions), the protocol
card when a regimen must be chosen, and the opioid load on the card that discusses opioids.
"""

from __future__ import annotations

from typing import Any

from smart_app.cds_hooks.cards import checklist_card, outcome_card
from smart_app.cds_hooks.registry import ServiceCall, ServiceResult
from smart_app.cds_hooks.services.common import assessment_for, links_for
from smart_app.cds_hooks.services.suggestions import plan_suggestions, protocol_card
from smart_app.core.alerts import Hook, ketamine_alerts
from smart_app.core.assessment import Assessment
from smart_app.core.outcomes import Outcome
from smart_app.core.safety.catalogue import spec

SOURCE_LABEL = "smart_app ketamine safety service"


def opioid_load_extension(assessment: Assessment) -> dict[str, Any]:
    """The opioid load for machines, on the card that discusses opioids (CDS Hooks `extension`)."""
    level = assessment.mme_level
    return {
        "total_mme_per_day": level.total,
        "mme_table": assessment.mme.table,
        "mme_level": level.level,
        "left_out": level.left_out,
        "complete": level.complete,
    }


def _extension(outcome: Outcome, assessment: Assessment) -> dict[str, Any] | None:
    return opioid_load_extension(assessment) if spec(outcome.rule_id).kind == "opioid" else None


def ketamine_cards(call: ServiceCall, hook: Hook) -> ServiceResult:
    assessment = assessment_for(call)
    memory = call.presented
    shown = memory.shown if memory is not None else (lambda _: False)
    alerts = ketamine_alerts(assessment, hook, call.defaults, shown_at_selection=shown)
    if memory is not None and hook == "order-select":
        # A carried outcome was shown too (on its host card): not repeated on a card of its own at order-sign.
        memory.remember((*alerts.cards, *(o for _, o in alerts.carried)))
    links = links_for(call)
    cards = [
        outcome_card(
            o,
            call.defaults,
            suggestions=[s for x in (o, *alerts.carried_by(o.rule_id)) for s in plan_suggestions(x, call)],
            links=links,
            extension=_extension(o, assessment),
            carried=alerts.carried_by(o.rule_id),
        )
        for o in alerts.cards
    ]
    if alerts.offer_protocols:
        protocol = protocol_card(assessment, call, alerts.replace)
        if protocol is not None:
            cards.append(protocol)
    if alerts.reminders:
        cards.append(checklist_card(alerts.reminders, SOURCE_LABEL))
    return ServiceResult(cards, alerts.unchecked)
