"""Card suggestions: the test orders a fired outcome plans for (`any`), and the protocol order sets (`at-most-one`).

The core decides what to order (an outcome's `plans`, the protocol options of the assessment); the FHIR adapter
(`smart_app.fhir.orders`) writes it as draft R4 resources; this module only wraps them as CDS Hooks suggestions.
"""

from __future__ import annotations

from smart_app.cds_hooks import markdown as md
from smart_app.cds_hooks.cards import PROTOCOL_TOPIC, create_suggestion, new_uuid, source_for
from smart_app.cds_hooks.models import Card, Suggestion
from smart_app.cds_hooks.registry import ServiceCall
from smart_app.cds_hooks.services.common import links_for
from smart_app.core.assessment import Assessment
from smart_app.core.outcomes import PLAN_LABELS, Outcome, PlanKey, fit_summary
from smart_app.core.protocols import suggested_protocols
from smart_app.fhir.orders import TEST_PLANS, build_order_set, test_orders


def _patient(call: ServiceCall) -> str:
    return f"Patient/{call.request.patient_id}"


def test_suggestions(outcome: Outcome, call: ServiceCall) -> list[Suggestion]:
    reason = f"{outcome.rule_id}: {outcome.summary}"
    planned: dict[PlanKey, list[str]] = {key: [reason] for key in outcome.plans if key in TEST_PLANS}
    if not planned:
        return []
    orders = test_orders(planned, patient_reference=_patient(call), on=call.on)
    return [create_suggestion(PLAN_LABELS[key], resources, recommended=True) for key, resources in orders.items()]


def protocol_card(assessment: Assessment, call: ServiceCall) -> Card | None:
    """An info card offering the suitable guideline protocols (at most one may be chosen) to replace the draft."""
    options = suggested_protocols(assessment.protocols)
    suggestions: list[Suggestion] = []
    lines: list[str] = []
    for option in options:
        order_set = build_order_set(
            option.protocol.id,
            weight_kg=assessment.weight_kg,
            age=assessment.age,
            outcomes=assessment.findings,
            intent="proposal",
            patient_reference=_patient(call),
            settings=call.defaults,
            on=call.on,
        )
        if not order_set.medication_requests:
            continue
        title = option.protocol.title
        resources = [*order_set.medication_requests, *order_set.service_requests]
        suggestions.append(create_suggestion(f"Order protocol: {title}", resources, recommended=not suggestions))
        caution = f" Caution: {'; '.join(option.reasons)}" if option.reasons else ""
        lines.append(f"- **{md.cell(title)}**: {md.cell(order_set.dose_summary + '.' + caution)}")
    if not suggestions:
        waiting = any(a.protocol.endorsed and a.status == "cannot-compute" for a in assessment.protocols)
        return _weight_needed_card(assessment, call) if waiting and assessment.weight_kg is None else None
    first = options[0].protocol.citations[0]
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(f"{len(suggestions)} guideline ketamine protocol(s) fit this patient; choose one to order"),
        indicator="info",
        detail="Protocol order sets computed for this patient's weight and findings (each replaces the draft "
        "only if you accept it):\n\n" + "\n".join(lines),
        source=source_for(first, PROTOCOL_TOPIC),
        suggestions=suggestions,
        selection_behavior="at-most-one",
        links=links_for(call) or None,
    )


def _weight_needed_card(assessment: Assessment, call: ServiceCall) -> Card:
    """The protocols are weight-based: with no usable weight the clinician must record one before choosing."""
    limits = "; ".join(dict.fromkeys(a.dose_problem for a in assessment.protocols if a.dose_problem))
    return Card(
        uuid=new_uuid(),
        summary=fit_summary("Record a current body weight: the guideline ketamine protocols are dosed per kg"),
        indicator="info",
        detail=f"No protocol dose can be computed for this patient. {md.text(limits)} No weight is assumed.",
        source=source_for(assessment.protocols[0].protocol.citations[0], PROTOCOL_TOPIC),
        links=links_for(call) or None,
    )
