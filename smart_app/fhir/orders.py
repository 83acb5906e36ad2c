"""The FHIR adapter for plans: a chosen protocol, or the tests a rule asks for, as editable draft R4 orders.

`build_order_set` returns the ketamine MedicationRequest (the studied regimen for this patient, at the source's
concentration or the local standard one, with its cumulative dose and source), the rescue and pre-emptive
medication orders the guidelines name (doses left to the prescriber: no source gives them), a baseline pain score,
monitoring ServiceRequests, the baseline ECG/LFT and post-infusion LFT requests that fired safety outcomes plan
for (and, for every multi-day or serial course, baseline and post-course LFTs), the follow-up as FHIR Tasks
(telephone follow-up, response review), and the non-order items the clinician must see. `test_orders` gives the
same test requests on their own (card suggestions). The clinical core decides what to order; this module only
writes it as FHIR, and every resource is validated as FHIR R4: the ketamine order (this patient's doses) afresh
each time, the others mostly by filling an order template validated once per shape (fhir/order_templates.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, cast

from smart_app.config import LocalDefaults
from smart_app.core.model import RXNORM, Coding, Concept
from smart_app.core.outcomes import Citation, Outcome, PlanKey
from smart_app.core.protocols.catalogue import (
    Instruction,
    Protocol,
    Regimen,
    catalogue,
    citation_from,
    get_protocol,
    instruction_table,
)
from smart_app.core.protocols.dosing import DosePlan, InfusionPlan, OralPlan, fmt
from smart_app.core.protocols.eligibility import ProtocolAssessment, Status, assess_protocol
from smart_app.core.protocols.export import protocol_to_json
from smart_app.core.safety.terminology import value_set
from smart_app.fhir.order_templates import Slot, templated
from smart_app.fhir.resources import (
    annotation,
    coding,
    concept,
    dose_quantity,
    narrative,
    per_period,
    quantity,
    rate_quantity,
    validated,
)
from smart_app.mappings import read_json

Intent = Literal["proposal", "order"]
Resource = dict[str, Any]

TEST_PLANS: tuple[PlanKey, ...] = ("order-ecg", "order-lft-baseline", "order-lft-post")
MEDICATION_PLANS: tuple[PlanKey, ...] = ("order-naloxone",)  # mappings/medication_plans.json
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


@dataclass(frozen=True, slots=True)
class OrderSet:
    protocol: Protocol
    status: Status
    reasons: tuple[str, ...]  # why the protocol is marked for this patient
    medication_requests: tuple[Resource, ...]  # ketamine first, then rescue/pre-emptive
    service_requests: tuple[Resource, ...]  # pain score, monitoring, baseline ECG/LFT, then post-infusion LFT
    instructions: tuple[Instruction, ...]  # non-order items, each with its source
    dose_summary: str
    notes: tuple[str, ...] = ()  # how the dose was fitted (caps, lengthening, local defaults)
    tasks: tuple[Resource, ...] = ()  # follow-up: telephone call, response review
    plan: DosePlan | None = None
    override_reason: str | None = None  # the clinician's written reason for ordering a protocol marked against

    @property
    def resources(self) -> tuple[Resource, ...]:
        return self.medication_requests + self.service_requests + self.tasks

    @property
    def regimen(self) -> Regimen:
        return self.protocol.regimen

    @property
    def weight_basis(self) -> str:
        return self.protocol.weight_basis


@dataclass(frozen=True, slots=True)
class _Context:
    protocol: Protocol | None  # None: test orders suggested on their own, outside a protocol
    intent: Intent
    subject: dict[str, str]
    authored_on: str | None
    marked: tuple[str, ...]  # why the protocol is marked, for the ketamine order's note and narrative
    requester: str | None = None  # a reference ("Practitioner/123"): the launch's fhirUser
    override: str | None = None  # the note recording an override of "not recommended", on every resource

    def base(self, resource_type: str) -> Resource:
        resource: Resource = {"resourceType": resource_type, "status": "draft", "intent": self.intent}
        resource["for" if resource_type == "Task" else "subject"] = self.subject
        if self.authored_on:
            resource["authoredOn"] = self.authored_on
        if self.requester:
            resource["requester"] = {"reference": self.requester}
        return resource

    def notes(self, *extra: str, citations: Sequence[Citation] = (), marked: bool = False) -> list[dict[str, str]]:
        protocol = self.protocol
        lines: list[str] = []
        if protocol is not None:
            lines.append(f"Protocol: {protocol.title} ({protocol.kind_label}). Source: {protocol.source}.")
            if protocol.disclaimer:
                lines.append(protocol.disclaimer)
        lines += [f"Source: {c}." for c in citations]
        lines += [e for e in extra if e]
        if marked:
            lines += self.marked
        if self.override:
            lines.append(self.override)
        return [annotation(line) for line in lines]


def build_order_set(
    protocol_id: str,
    *,
    weight_kg: float | None,
    age: int | None,
    outcomes: Sequence[Outcome] = (),
    intent: Intent = "proposal",
    patient_reference: str,
    settings: LocalDefaults,
    on: datetime | None = None,
    monitored_setting: bool = False,
    requester: str | None = None,
    override_reason: str | None = None,
    baseline_mme_per_day: float | None = None,
    rescue_caution: str | None = None,
    assessed: ProtocolAssessment | None = None,
) -> OrderSet:
    """Draft orders for `protocol_id` (UnknownProtocolError, a KeyError, if there is none).

    `rescue_caution`: the core's note for a benzodiazepine rescue order when the patient takes opioids
    (core/safety/rules/sedation.py `rescue_caution`); it goes on every benzodiazepine companion order.

    Without a usable weight the status is "cannot-compute": no ketamine or companion medication orders, but the
    baseline tests and instructions are still returned. A protocol marked "not-recommended" still gets its orders,
    each noting why, so that a clinician who overrides has them; `override_reason` (the clinician's written reason)
    is then put on every resource, and `requester` (a reference, e.g. the launch's fhirUser) names who ordered.
    `baseline_mme_per_day` goes on the response-review Task as the opioid baseline. `assessed`: the core's
    assessment of this protocol for these same inputs (`Assessment.protocols`), so that it is not made twice."""
    if intent not in ("proposal", "order"):
        raise ValueError(f"intent must be 'proposal' or 'order', not {intent!r}")
    protocol = get_protocol(protocol_id)
    if assessed is not None and assessed.protocol is protocol:
        assessment = assessed
    else:
        assessment = assess_protocol(protocol, weight_kg, age, outcomes, settings, monitored_setting=monitored_setting)
    marked = () if assessment.status == "available" else (_marked_line(assessment),)
    reason = " ".join((override_reason or "").split()) or None
    override = _override_line(assessment, reason, requester) if reason else None
    ctx = _Context(
        protocol, intent, {"reference": patient_reference}, on.isoformat() if on else None, marked, requester, override
    )

    medications: list[Resource] = []
    requests: list[Resource] = []
    tasks: list[Resource] = []
    plan = assessment.plan
    planned = _planned_tests(outcomes)
    if plan is not None:
        # The ketamine order carries this patient's doses and reasons: built and validated afresh every time.
        summary = plan.summary()  # on the order's dosage text and the order set's dose summary
        medications.append(validated(_ketamine_request(ctx, plan, summary, assessment, settings)))
        for companion in protocol.companion_medications:
            benzodiazepine = _is_benzodiazepine(_companion(companion)["coding"])
            caution = rescue_caution if rescue_caution and benzodiazepine else None
            if caution:
                # The caution names this patient's opioids (and is written into the narrative too): a template per
                # caution would be one per opioid list, kept with those names. Built and validated afresh instead.
                medications.append(validated(_companion_request(ctx, companion, caution)))
            else:
                medications += _templated(("companion", companion), ctx, (), _companion_builder(companion))
        requests += _templated(("pain-score",), ctx, (), lambda c, _: [_pain_score_request(c)])
        if protocol.includes_monitoring:
            requests += _templated(("monitoring",), ctx, (), lambda c, _: _monitoring_requests(c))
        if protocol.dosing.multi_day_or_serial:
            course = str(catalogue()["service_requests"]["lft"]["course_reason"])
            for key in ("order-lft-baseline", "order-lft-post"):
                planned.setdefault(key, []).append(course)
        tasks = _follow_up_tasks(ctx, protocol, baseline_mme_per_day)
    requests += _test_requests(ctx, planned)
    return OrderSet(
        protocol=protocol,
        status=assessment.status,
        reasons=assessment.reasons,
        medication_requests=tuple(medications),
        service_requests=tuple(requests),
        instructions=protocol.instructions + _patient_instructions(age, settings),
        dose_summary=summary if plan else f"Dose not computed. {assessment.dose_problem}",
        notes=assessment.notes,
        tasks=tuple(tasks),
        plan=plan,
        override_reason=reason,
    )


# -- templates (fhir/order_templates.py): most resources are filled into a template validated once per shape -----

Builder = Callable[["_Context", list[Any]], list[Resource]]


def _templated(key: tuple[Hashable, ...], ctx: _Context, extra: Sequence[Slot], build: Builder) -> list[Resource]:
    """`build(ctx, values of extra)`, validated: from the order template of `key` when every varying value fits.

    The varying values are the context's subject, authoredOn, requester and override note, then `extra`; `key`
    names the builder and everything else it reads (the protocol and the intent are added here). The builder may
    use those values only as whole element values (order_templates.py says why)."""
    slots: tuple[Slot, ...] = (
        ("text", ctx.subject["reference"]),
        ("dateTime", ctx.authored_on),
        ("text", ctx.requester),
        ("text", ctx.override),
        *extra,
    )
    protocol = ctx.protocol
    full_key = (*key, protocol.id if protocol else None, ctx.intent)
    return templated(full_key, protocol, slots, lambda values: build(_with(ctx, values), list(values[4:])))


def _with(ctx: _Context, values: Sequence[Any]) -> _Context:
    """`ctx` with the varying values (this call's, or a template's sentinels) in place of its own."""
    subject = {"reference": values[0]} if values[0] is not None else ctx.subject
    return replace(ctx, subject=subject, authored_on=values[1], requester=values[2], override=values[3])


def _patient_instructions(age: int | None, settings: LocalDefaults) -> tuple[Instruction, ...]:
    """Instructions this patient needs on top of the protocol's: closer monitoring when elderly (ASRA Q6)."""
    elderly = isinstance(age, int) and not isinstance(age, bool) and age >= settings.elderly_age
    return (instruction_table()["elderly-monitoring"],) if elderly else ()


def _override_line(assessment: ProtocolAssessment, reason: str, requester: str | None) -> str:
    who = requester or "the ordering clinician (no fhirUser in the launch)"
    label = {"caution": "caution", "not-recommended": "not recommended", "cannot-compute": "dose not computed"}
    status = label.get(assessment.status, assessment.status)
    return f"Ordered although marked {status} for this patient, by {who}. Written reason: {reason}"


def _marked_line(assessment: ProtocolAssessment) -> str:
    label = {"caution": "Caution", "not-recommended": "Not recommended", "cannot-compute": "Cannot compute dose"}
    return f"{label[assessment.status]} for this patient: " + " | ".join(assessment.reasons)


def _category(setting: str) -> list[dict[str, Any]]:
    codes = catalogue()["codes"]
    code = str(codes["setting_category"][setting])
    system = str(codes["medicationrequest_category_system"])
    return [{"coding": [{"system": system, "code": code, "display": code.capitalize()}], "text": code}]


def _route(route: str) -> dict[str, Any]:
    raw = catalogue()["codes"]["routes"][route]
    return {"coding": [coding(raw)], "text": str(raw["display"])}


def _ketamine_products() -> dict[str, Any]:
    return cast(dict[str, Any], read_json("ketamine_products.json")["ketamine"])


@lru_cache(maxsize=32)
def _stock_product(concentration: float) -> tuple[dict[str, Any], str]:
    """The ketamine SCD to order, and how the standard (local default) concentration is made from it (a fixed
    mapping and a concentration from the settings or a protocol: asked for every infusion order set)."""
    products = sorted(_ketamine_products()["products"], key=lambda p: float(p["mg_per_ml"]))
    for product in products:
        strength = float(product["mg_per_ml"])
        if strength >= concentration:
            how = "undiluted" if strength == concentration else f"diluted from {product['display']}"
            return product, f"{fmt(concentration)} mg/mL ({how})"
    raise ValueError(
        f"standard ketamine concentration {fmt(concentration)} mg/mL is above every stock product; "
        "check setting ketamine_infusion_concentration_mg_per_ml"
    )


def _ketamine_request(
    ctx: _Context, plan: InfusionPlan | OralPlan, summary: str, assessment: ProtocolAssessment, settings: LocalDefaults
) -> Resource:
    """The ketamine order; `summary` is `plan.summary()`."""
    protocol = ctx.protocol
    assert protocol is not None  # only order sets have a ketamine order
    resource = ctx.base("MedicationRequest")
    resource["category"] = _category(protocol.setting)
    if isinstance(plan, OralPlan):
        ingredient = _ketamine_products()["ingredient"]
        medication_text = "ketamine, oral (formulation per the research protocol; no oral product code is verified)"
        resource["medicationCodeableConcept"] = concept(ingredient, medication_text)
        dosage = _oral_dosage(plan, summary, protocol)
    else:
        product, preparation = _stock_product(plan.concentration_mg_per_ml)
        medication_text = f"ketamine infusion, {preparation}"
        resource["medicationCodeableConcept"] = concept({"system": RXNORM, **product}, medication_text)
        dosage = _infusion_dosage(plan, summary, protocol, preparation)
    resource["dosageInstruction"] = [dosage]
    regimen = protocol.regimen
    studied = (
        f"Studied regimen: {regimen.summary} Cumulative dose: {regimen.cumulative} "
        f"Source: {'; '.join(str(c) for c in regimen.citations)}."
    )
    resource["note"] = ctx.notes(studied, protocol.weight_basis, *assessment.notes, protocol.notes, marked=True)
    resource["text"] = narrative(
        f"Draft: {medication_text}",
        str(dosage["text"]),
        f"Protocol: {protocol.title} ({protocol.kind_label}). Source: {protocol.source}.",
        studied,
        protocol.disclaimer or "",
        *ctx.marked,
        ctx.override or "",
    )
    return resource


def _duration(hours: float) -> dict[str, Any]:
    return quantity(hours / 24, "d") if hours % 24 == 0 else quantity(hours, "h")


def _infusion_timing(plan: InfusionPlan, protocol: Protocol) -> dict[str, Any]:
    schedule = protocol.dosing.schedule
    if plan.session_hours is None:
        return {"repeat": {"boundsDuration": _duration(plan.continuous_hours or 0)}}
    repeat: dict[str, Any] = {"count": plan.sessions, "duration": plan.session_hours, "durationUnit": "h"}
    if schedule in ("daily", "weekdays"):
        repeat.update(frequency=1, period=1, periodUnit="d")
    if schedule == "weekdays":
        repeat["dayOfWeek"] = WEEKDAYS
    return {"repeat": repeat}


def _infusion_dosage(plan: InfusionPlan, summary: str, protocol: Protocol, preparation: str) -> dict[str, Any]:
    dosing = protocol.dosing
    text = [f"Ketamine {protocol.route} infusion: {summary}."]
    low, high = dosing.continuous_hours_min, dosing.continuous_hours_max
    if plan.session_hours is None and low is not None and high is not None:
        span = f"{fmt(low)} hours" if low == high else f"{fmt(low)} to {fmt(high)} hours"
        days = f"{fmt(low / 24)}" if low == high else f"{fmt(low / 24)} to {fmt(high / 24)}"
        text.append(f"Duration {span} ({days} days).")
    if dosing.titration and plan.ceiling_mg_per_h > plan.rate_mg_per_h:
        text.append(dosing.titration)
    if dosing.repeat_note:
        text.append(dosing.repeat_note)
    if plan.concentration_from_source:
        made = f" ({dosing.preparation})" if dosing.preparation else ""
        text.append(f"Prepare at {preparation}{made}: the concentration the source used.")
    else:
        text.append(
            f"Prepare at {preparation}; the standard concentration is a local default "
            "(setting ketamine_infusion_concentration_mg_per_ml)."
        )
    text.append(protocol.weight_basis)
    return {
        "text": " ".join(text),
        "timing": _infusion_timing(plan, protocol),
        "route": _route(protocol.route),
        "doseAndRate": [rate_quantity(plan.rate_mg_per_h)],
        "maxDosePerPeriod": per_period(plan.max_mg_per_24h, min(plan.hours_per_session, 24.0)),
    }


def _oral_dosage(plan: OralPlan, summary: str, protocol: Protocol) -> dict[str, Any]:
    return {
        "text": " ".join(
            [f"Ketamine oral: {summary}.", *plan.notes, protocol.weight_basis, protocol.disclaimer or ""]
        ).strip(),
        "timing": {
            "repeat": {
                "frequency": 1,
                "period": plan.every_h,
                "periodUnit": "h",
                "boundsDuration": quantity(plan.days, "d"),
            }
        },
        "route": _route(protocol.route),
        "doseAndRate": [dose_quantity(plan.dose_mg)],
        "maxDosePerPeriod": per_period(plan.mg_per_day, 24),
        "maxDosePerAdministration": quantity(plan.dose_mg, "mg"),
    }


def _is_benzodiazepine(raw_coding: dict[str, Any]) -> bool:
    return _benzodiazepine_code(str(raw_coding.get("system")), str(raw_coding.get("code")))


@lru_cache(maxsize=64)
def _benzodiazepine_code(system: str, code: str) -> bool:
    """Whether the code is in the benzodiazepines value set (a fixed mapping: asked for every order set)."""
    return value_set("benzodiazepines").contains(Concept(codings=(Coding(system, code),)))


def _companion(key: str) -> dict[str, Any]:
    return cast(dict[str, Any], catalogue()["companion_medications"][key])


def _companion_builder(key: str) -> Builder:
    return lambda ctx, _: [_companion_request(ctx, key)]


def _companion_request(ctx: _Context, key: str, caution: str | None = None) -> Resource:
    """A rescue or pre-emptive medication order; `caution` (the core's note on a benzodiazepine) goes on as it is."""
    raw = _companion(key)
    citations = [citation_from(c) for c in raw["citations"]]
    resource = ctx.base("MedicationRequest")
    assert ctx.protocol is not None  # companion medications belong to a protocol
    resource["category"] = _category(ctx.protocol.setting)
    resource["medicationCodeableConcept"] = concept(raw["coding"], str(raw["text"]))
    dosage: dict[str, Any] = {
        "text": str(raw["dosage_text"]),
        "asNeededCodeableConcept": {"text": str(raw["as_needed"])},
    }
    if raw["route"]:
        dosage["route"] = _route(str(raw["route"]))
    resource["dosageInstruction"] = [dosage]
    resource["note"] = ctx.notes(
        f"Role: {raw['role']} medication for the ketamine infusion.", caution or "", citations=citations
    )
    resource["text"] = narrative(
        f"Draft ({raw['role']}): {raw['text']}",
        caution or "",
        f"As needed for: {raw['as_needed']}. {raw['dosage_text']}",
        f"Protocol: {ctx.protocol.title}. Source: {'; '.join(str(c) for c in citations)}.",
    )
    return resource


def _service_request(
    ctx: _Context,
    code: dict[str, Any],
    heading: str,
    timing: str,
    citations: Sequence[Citation],
    *extra_notes: str,
    reasons: Sequence[str] = (),
    requisition: str | None = None,
) -> Resource:
    resource = ctx.base("ServiceRequest")
    resource["code"] = code
    resource["occurrenceTiming"] = {"code": {"text": timing}}
    if reasons:
        resource["reasonCode"] = [{"text": r} for r in reasons]
    if requisition:
        resource["requisition"] = {"system": "urn:ietf:rfc:3986", "value": requisition}
    resource["note"] = ctx.notes(*extra_notes, citations=citations)
    source = f"Source: {'; '.join(str(c) for c in citations)}."
    protocol = f"Protocol: {ctx.protocol.title}. " if ctx.protocol else ""
    resource["text"] = narrative(f"Draft: {heading}", f"When: {timing}.", protocol + source)
    return resource


def _pain_score_request(ctx: _Context) -> Resource:
    raw = catalogue()["service_requests"]["pain_score"]
    return _service_request(
        ctx,
        concept(raw["coding"], str(raw["text"])),
        str(raw["text"]),
        str(raw["timing"]),
        [citation_from(raw["citation"])],
        "The response review compares the pain score after the course with this baseline (positive: 30% or more "
        "lower).",
    )


def _follow_up_tasks(ctx: _Context, protocol: Protocol, baseline_mme_per_day: float | None) -> list[Resource]:
    baseline = None if baseline_mme_per_day is None else round(baseline_mme_per_day, 1)
    return _templated(("tasks",), ctx, (("decimal", baseline),), lambda c, values: _tasks(c, protocol, values[0]))


def _tasks(ctx: _Context, protocol: Protocol, baseline_mme_per_day: float | None) -> list[Resource]:
    """The follow-up as FHIR Tasks: the telephone call (when the protocol has one) and the response review (with
    the baseline MME/day as given, already rounded)."""
    raw = catalogue()["tasks"]
    tasks: list[Resource] = []
    if "phone-follow-up" in protocol.instruction_keys:
        call = raw["phone-follow-up"]
        tasks.append(_task(ctx, str(call["text"]), str(call["description"]), [citation_from(call["citation"])]))
    review = raw["response-review"]
    weeks = protocol.review_weeks
    benefit = (
        "3 weeks after a single outpatient infusion" if weeks == 3 else "6 weeks after an inpatient course or a series"
    )
    description = str(review["description"]).format(when=f"{weeks} weeks after the course", benefit=benefit)
    inputs: list[dict[str, Any]] = []
    if baseline_mme_per_day is not None:
        inputs.append(
            {
                "type": {"text": "Baseline opioid use (MME/day) when the protocol was ordered"},
                "valueDecimal": baseline_mme_per_day,
            }
        )
    citations = [citation_from(c) for c in review["citations"]]
    tasks.append(_task(ctx, f"{review['text']} at {weeks} weeks", description, citations, inputs))
    return tasks


def _task(
    ctx: _Context, heading: str, description: str, citations: Sequence[Citation], inputs: Sequence[dict[str, Any]] = ()
) -> Resource:
    resource = ctx.base("Task")
    resource["priority"] = "routine"
    resource["code"] = {"text": heading}
    resource["description"] = description
    if inputs:
        resource["input"] = list(inputs)
    resource["note"] = ctx.notes(citations=citations)
    protocol = f"Protocol: {ctx.protocol.title}. " if ctx.protocol else ""
    source = f"Source: {'; '.join(str(c) for c in citations)}."
    resource["text"] = narrative(f"Draft task: {heading}", description, protocol + source)
    return resource


def _monitoring_requests(ctx: _Context) -> list[Resource]:
    raw = catalogue()["service_requests"]
    citations = [citation_from(c) for c in raw["monitoring_citations"]]
    return [
        _service_request(
            ctx,
            concept(item["coding"], str(item["text"])),
            str(item["text"]),
            str(raw["monitoring_timing"]),
            citations,
            str(item.get("note", "")),
        )
        for item in raw["monitoring"]
    ]


def _planned_tests(outcomes: Sequence[Outcome]) -> dict[PlanKey, list[str]]:
    """Each test plan of the fired outcomes, with the summaries of the outcomes that ask for it."""
    planned: dict[PlanKey, list[str]] = {}
    for outcome in outcomes:
        if outcome.fired:
            for key in outcome.plans:
                if key in TEST_PLANS:
                    planned.setdefault(key, []).append(f"{outcome.rule_id}: {outcome.summary}")
    return planned


def test_orders(
    planned: dict[PlanKey, list[str]],
    *,
    patient_reference: str,
    intent: Intent = "proposal",
    on: datetime | None = None,
) -> dict[PlanKey, list[Resource]]:
    """The ServiceRequests of each test plan (ECG; baseline or post-infusion LFT panel), outside any protocol."""
    ctx = _Context(None, intent, {"reference": patient_reference}, on.isoformat() if on else None, ())
    return {key: _test_requests(ctx, {key: reasons}) for key, reasons in planned.items()}


_LFT_PHASES: tuple[tuple[PlanKey, str, str], ...] = (
    ("order-lft-baseline", "Baseline", "baseline_timing"),
    ("order-lft-post", "Post-infusion", "post_timing"),
)


def _test_requests(ctx: _Context, planned: dict[PlanKey, list[str]]) -> list[Resource]:
    """The planned tests, validated: the ECG, then each LFT panel (its analytes under one requisition)."""
    requests: list[Resource] = []
    ecg_reasons = planned.get("order-ecg")
    if ecg_reasons:
        reasons: tuple[Slot, ...] = tuple(("text", r) for r in ecg_reasons)
        requests += _templated(("ecg",), ctx, reasons, lambda c, values: [_ecg_request(c, values)])
    for key, phase, timing in _LFT_PHASES:
        if not planned.get(key):
            continue
        group = f"urn:uuid:{uuid.uuid4()}"  # one requisition groups the analytes of one draw
        extra: tuple[Slot, ...] = (("text", group), *(("text", r) for r in planned[key]))
        requests += _templated(("lft", phase), ctx, extra, _lft_builder(phase, timing))
    return requests


def _lft_builder(phase: str, timing_key: str) -> Builder:
    return lambda ctx, values: _lft_requests(ctx, phase, timing_key, values)


def _ecg_request(ctx: _Context, reasons: Sequence[str]) -> Resource:
    ecg = catalogue()["service_requests"]["baseline_ecg"]
    return _service_request(
        ctx,
        concept(ecg["coding"], str(ecg["text"])),
        str(ecg["text"]),
        str(ecg["timing"]),
        [citation_from(ecg["citation"])],
        reasons=reasons,
    )


def _lft_requests(ctx: _Context, phase: str, timing_key: str, values: Sequence[str]) -> list[Resource]:
    """One LFT panel: `values` is the requisition (a urn:uuid), then the reasons."""
    lft = catalogue()["service_requests"]["lft"]
    group, reasons = values[0], values[1:]
    requests = []
    for test in lft["tests"]:
        heading = f"{phase} liver function test: {test['text']}"
        requests.append(
            _service_request(
                ctx,
                concept(test, heading),
                heading,
                str(lft[timing_key]),
                [citation_from(lft["citation"])],
                reasons=reasons,
                requisition=group,
            )
        )
    return requests


def order_set_to_json(order_set: OrderSet) -> dict[str, Any]:
    """Plain JSON of an order set for the CLI, the SMART app and API responses."""
    return {
        "protocol": protocol_to_json(order_set.protocol),
        "status": order_set.status,
        "reasons": list(order_set.reasons),
        "dose_summary": order_set.dose_summary,
        "notes": list(order_set.notes),
        "max_total_mg": order_set.plan.max_total_mg if order_set.plan else None,
        "medication_requests": list(order_set.medication_requests),
        "service_requests": list(order_set.service_requests),
        "tasks": list(order_set.tasks),
        "instructions": [
            {"key": i.key, "text": i.text, "citation": i.citation.to_json()} for i in order_set.instructions
        ],
    }


# -- medication plans (a fired outcome's medication order, e.g. naloxone) ------------------------------------------


def medication_orders(
    planned: dict[PlanKey, list[str]],
    *,
    patient_reference: str,
    intent: Intent = "proposal",
    on: datetime | None = None,
) -> dict[PlanKey, list[Resource]]:
    """The draft MedicationRequest of each medication plan (mappings/medication_plans.json), with its reasons."""
    ctx = _Context(None, intent, {"reference": patient_reference}, on.isoformat() if on else None, ())
    orders: dict[PlanKey, list[Resource]] = {}
    for key, reasons in planned.items():
        if key not in MEDICATION_PLANS:
            continue
        extra: tuple[Slot, ...] = tuple(("text", r) for r in reasons)
        orders[key] = _templated(("medication-plan", key), ctx, extra, _medication_builder(key))
    return orders


def _medication_builder(key: PlanKey) -> Builder:
    return lambda ctx, reasons: [_medication_order(ctx, key, reasons)]


def _medication_order(ctx: _Context, key: PlanKey, reasons: Sequence[str]) -> Resource:
    raw = read_json("medication_plans.json")[key]
    citation = citation_from(raw["citation"])
    resource = ctx.base("MedicationRequest")
    resource["medicationCodeableConcept"] = concept(raw["coding"], str(raw["text"]))
    resource["dosageInstruction"] = [
        {"text": str(raw["dosage_text"]), "asNeededCodeableConcept": {"text": str(raw["as_needed"])}}
    ]
    if reasons:
        resource["reasonCode"] = [{"text": r} for r in reasons]
    resource["note"] = ctx.notes(citations=[citation])
    resource["text"] = narrative(
        f"Draft: {raw['text']}", f"As needed for: {raw['as_needed']}. {raw['dosage_text']}", f"Source: {citation}."
    )
    return resource
