"""Card suggestions: the test orders a fired outcome plans for (`any`), and the protocol order sets that replace
the draft being decided on.

The core decides what to order (an outcome's `plans`, the protocol options of the assessment) and which drafts a
protocol replaces (`Alerts.replace`); the FHIR adapter (`smart_app.fhir.orders`) writes it as draft R4 resources;
this module only wraps them as CDS Hooks suggestions.

A protocol suggestion replaces the draft: it deletes the draft (a `delete` action with its `resourceId`, the
spec's form) and creates the protocol's orders, all in one suggestion (the spec processes a suggestion's actions as
one transaction, deletes first). With `selectionBehavior` `at-most-one` every suitable protocol is offered; with
`any` (a deployment setting, for EHRs that support only `any`), which cannot say "choose one", the recommended
protocol alone is offered and the others are named for the SMART app, so no two regimens can both be accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smart_app.cds_hooks import markdown as md
from smart_app.cds_hooks.cards import PROTOCOL_TOPIC, create_suggestion, new_uuid, source_for
from smart_app.cds_hooks.context import sent_references
from smart_app.cds_hooks.models import Card, Suggestion
from smart_app.cds_hooks.registry import ServiceCall
from smart_app.cds_hooks.services.common import links_for
from smart_app.core.assessment import Assessment
from smart_app.core.outcomes import PLAN_LABELS, Outcome, PlanKey, fit_summary
from smart_app.core.protocols import suggested_protocols
from smart_app.core.safety.rules.sedation import rescue_caution
from smart_app.fhir.orders import MEDICATION_PLANS, TEST_PLANS, build_order_set, medication_orders, test_orders

_REQUESTER = re.compile(r"^(Practitioner|PractitionerRole)/[A-Za-z0-9\-.]{1,64}$")


def _patient(call: ServiceCall) -> str:
    return f"Patient/{call.request.patient_id}"


def _requester(call: ServiceCall) -> str | None:
    """The hook's `userId` when it names a practitioner: who would order the suggested resources."""
    user = call.request.context.get("userId")
    return user if isinstance(user, str) and _REQUESTER.fullmatch(user) else None


def test_suggestions(outcome: Outcome, call: ServiceCall) -> list[Suggestion]:
    reason = f"{outcome.rule_id}: {outcome.summary}"
    planned: dict[PlanKey, list[str]] = {key: [reason] for key in outcome.plans if key in TEST_PLANS}
    if not planned:
        return []
    orders = test_orders(planned, patient_reference=_patient(call), on=call.on)
    return [create_suggestion(PLAN_LABELS[key], resources, recommended=True) for key, resources in orders.items()]


def plan_suggestions(outcome: Outcome, call: ServiceCall) -> list[Suggestion]:
    """Every order a fired outcome plans for: its tests, and its medication orders (e.g. naloxone)."""
    reason = f"{outcome.rule_id}: {outcome.summary}"
    planned: dict[PlanKey, list[str]] = {key: [reason] for key in outcome.plans if key in MEDICATION_PLANS}
    orders = medication_orders(planned, patient_reference=_patient(call), on=call.on) if planned else {}
    medications = [create_suggestion(PLAN_LABELS[k], r, recommended=True) for k, r in orders.items()]
    return test_suggestions(outcome, call) + medications


def protocol_card(assessment: Assessment, call: ServiceCall, replace: Sequence[str] = ()) -> Card | None:
    """An info card offering the suitable guideline protocols, each replacing the drafts in `replace`."""
    options = suggested_protocols(assessment.protocols)
    behavior = call.settings.protocol_selection_behavior
    sent = sent_references(call.request)
    deletes = [
        (sent[ref], f"Remove the draft ketamine order {sent[ref]}: the protocol's orders replace it")
        for ref in replace
        if ref in sent
    ]
    unreferenced = [ref for ref in replace if ref not in sent]
    level = assessment.mme_level
    baseline = level.total if level.complete else None
    caution_note = rescue_caution(assessment.outcomes)
    suggestions: list[Suggestion] = []
    lines: list[str] = []
    elsewhere: list[str] = []
    for option in options:
        title = option.protocol.title
        if behavior == "any" and suggestions:
            elsewhere.append(title)
            continue
        order_set = build_order_set(
            option.protocol.id,
            weight_kg=assessment.weight_kg,
            age=assessment.age,
            outcomes=assessment.findings,
            intent="proposal",
            patient_reference=_patient(call),
            settings=call.defaults,
            on=call.on,
            requester=_requester(call),
            baseline_mme_per_day=baseline,
            rescue_caution=caution_note,
            assessed=option,  # assessed for the same weight, age, findings and settings: not assessed again
        )
        if not order_set.medication_requests:
            continue
        verb = "Replace the draft with" if deletes else "Order protocol"
        suggestions.append(
            create_suggestion(f"{verb}: {title}", order_set.resources, recommended=not suggestions, delete=deletes)
        )
        caution = f" Caution: {'; '.join(option.reasons)}" if option.reasons else ""
        lines.append(
            f"- **{md.cell(title)}**: "
            + md.cell(f"{order_set.dose_summary}. Studied regimen: {order_set.regimen.cumulative}{caution}")
        )
    if not suggestions:
        waiting = any(a.protocol.endorsed and a.status == "cannot-compute" for a in assessment.protocols)
        return _weight_needed_card(assessment, call) if waiting and assessment.weight_kg is None else None
    first = options[0].protocol.citations[0]
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(_summary(len(suggestions), behavior, bool(deletes))),
        indicator="info",
        detail=_detail(lines, deletes, unreferenced, elsewhere, assessment, app=bool(links_for(call))),
        source=source_for(first, PROTOCOL_TOPIC),
        suggestions=suggestions,
        selection_behavior=behavior,
        links=links_for(call) or None,
    )


def _summary(count: int, behavior: str, replaces: bool) -> str:
    if behavior == "any":
        what = "replace the draft with" if replaces else "order"
        return f"Recommended: {what} a guideline ketamine protocol dosed for this patient"
    what = "replace the draft" if replaces else "order"
    return f"{count} guideline ketamine protocol(s) fit this patient: choose one to {what}"


def _detail(
    lines: list[str],
    deletes: list[tuple[str, str]],
    unreferenced: list[str],
    elsewhere: list[str],
    assessment: Assessment,
    *,
    app: bool,
) -> str:
    parts = ["Protocol order sets computed for this patient's weight and findings:", "\n".join(lines)]
    if deletes:
        drafts = md.text(", ".join(ref for ref, _ in deletes))
        parts.append(
            f"Accepting a protocol **removes the draft ketamine order** ({drafts}) and creates the protocol's orders "
            "(ketamine, rescue medications, monitoring, a baseline pain score, the tests the patient needs and the "
            "follow-up tasks), in one step."
        )
    if unreferenced:
        parts.append(
            f"The draft ({md.text(', '.join(unreferenced))}) came without an id, so a suggestion cannot remove it: "
            "cancel the draft yourself if you accept a protocol, or two ketamine orders will stand."
        )
    if elsewhere:
        parts.append(
            (
                "Other protocols also fit (choose one in the app instead, not in addition): "
                if app
                else "Other protocols also fit (order one of them yourself instead, not in addition): "
            )
            + md.text("; ".join(elsewhere))
            + "."
        )
    if any(key in TEST_PLANS for o in assessment.findings for key in o.plans):
        parts.append(
            "The order sets include the baseline tests suggested on the other cards: accept them there or here, "
            "not both."
        )
    return "\n\n".join(parts)


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
