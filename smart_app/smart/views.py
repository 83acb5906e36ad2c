"""Page models: what each page shows, computed from the patient's data by the clinical core (no I/O here).

Templates only lay these out; every figure, label and source text is decided here so that it can be tested.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from markupsafe import Markup, escape

from smart_app.config import LocalDefaults
from smart_app.core.assessment import Assessment, assess
from smart_app.core.outcomes import Citation, Outcome, Severity, Status
from smart_app.core.protocols import ProtocolAssessment, find_protocol
from smart_app.core.safety import BaselineTestStatus
from smart_app.core.safety.catalogue import spec
from smart_app.core.safety.rules.sedation import rescue_caution
from smart_app.fhir.orders import OrderSet, build_order_set
from smart_app.smart.oauth import TokenSet
from smart_app.smart.patient_data import PatientData
from smart_app.smart.protocol_words import ProtocolChoice, for_people, protocol_choices, status_word
from smart_app.smart.writeback import permission_missing
from smart_app.storage.protocol_writes import NotWrittenItem, WriteRecord, WrittenItem

SEVERITY_LABELS: dict[Severity, str] = {
    "critical": "Critical: do not proceed without review",
    "warning": "Warning: caution",
    "info": "Information",
}
OVERRIDE_REQUIRED = (
    "Confirm the override: this protocol is not recommended for this patient (see the reasons above). "
    "Tick the confirmation box and write your reason to write the draft orders anyway."
)
FOLLOW_UP_UNAVAILABLE = (
    "Writing follow-up questionnaires is unavailable: the EHR did not grant patient/QuestionnaireResponse.c. "
    "The follow-up page shows the response as FHIR JSON to copy instead."
)
WRITE_UNAVAILABLE = (
    "Writing orders is unavailable: the EHR did not grant patient/MedicationRequest.c. "
    "Copy the order (FHIR JSON) from the protocol builder into the EHR instead."
)


# "**" then no asterisk up to the closing "**": each attempt stops at the next asterisk, so linear in the text.
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


def inline_markdown(text: str) -> Markup:
    """Finding details use markdown `**bold**` for guideline wording; render that and nothing else (escaped first)."""
    return Markup(_STRONG.sub(r"<strong>\1</strong>", str(escape(text))))


@dataclass(frozen=True, slots=True)
class Banner:
    name: str
    birth_date: str
    age: int | None
    gender: str
    identifier: str | None


@dataclass(frozen=True, slots=True)
class SourceView:
    text: str  # "ASRA/AAPM/ASA ..., Guideline Question 3, L1286-1289"
    grade: str  # the grade, or that the source gives none
    title: str
    url: str | None


STATUS_LABELS: dict[Status, str] = {
    "fired": "Needs attention",
    "not-evaluable": "Could not check",
    "satisfied": "Satisfied",
    "not-applicable": "Not applicable",
}


@dataclass(frozen=True, slots=True)
class FindingGroup:
    severity: Severity
    label: str
    findings: tuple[Outcome, ...]


@dataclass(frozen=True, slots=True)
class ChecklistRow:
    rule_id: str
    title: str
    status: Status
    status_label: str  # words, never colour alone
    summary: str
    subject: str | None
    evidence: tuple[str, ...]  # what satisfied or triggered it
    missing: tuple[str, ...]  # why it could not be checked


@dataclass(frozen=True, slots=True)
class BaselineView:
    test: str
    status: str  # "not needed", "needed, on file", "needed, NOT on file"
    outstanding: bool
    reasons: tuple[str, ...]
    results: tuple[str, ...]
    lookback: str  # the local default that defines "recent"


def source_view(citation: Citation) -> SourceView:
    text = ", ".join(p for p in (citation.short, citation.section, citation.lines) if p)
    text += " (external source)" if citation.external else ""
    return SourceView(text, citation.grade or "no grade given by the source", citation.title, citation.url)


def banner(patient: dict[str, Any], on: date) -> Banner:
    names: list[Any] = patient["name"] if isinstance(patient.get("name"), list) else []
    name = "(no name recorded)"
    for entry in names:
        if not isinstance(entry, dict):
            continue
        text = entry.get("text")
        parts = [*(entry.get("given") or []), entry.get("family") or ""]
        name = text if isinstance(text, str) and text else " ".join(str(p) for p in parts if p) or name
        if entry.get("use") in (None, "official", "usual"):
            break
    birth = patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None
    age = None
    if birth and len(birth) == 10:
        try:
            born = date.fromisoformat(birth)
            age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        except ValueError:
            age = None
    identifiers: list[Any] = patient["identifier"] if isinstance(patient.get("identifier"), list) else []
    identifier = next(
        (str(i["value"]) for i in identifiers if isinstance(i, dict) and isinstance(i.get("value"), str)), None
    )
    gender = str(patient["gender"]) if isinstance(patient.get("gender"), str) else "not recorded"
    return Banner(name, birth or "not recorded", age, gender, identifier)


def patient_label(patient: dict[str, Any], patient_id: str | None) -> str:
    """Whom the page is about, also when the EHR shows its own banner (need_patient_banner=false): the name, or the
    id when no name is recorded; never "Unknown"."""
    name = banner(patient, datetime.now(UTC).date()).name
    return name if name != "(no name recorded)" else f"no name recorded (Patient/{patient_id or patient.get('id')})"


def baseline_view(status: BaselineTestStatus, defaults: LocalDefaults) -> BaselineView:
    if not status.needed:
        text = "not needed (no risk condition recorded)"
    elif status.outstanding:
        text = "needed, NOT on file: recommended before ketamine"
    else:
        text = "needed, recent result on file"
    results = tuple(
        f"{e.description}{f' ({e.value})' if e.value else ''}{f' on {e.date:%Y-%m-%d}' if e.date else ''}"
        for e in status.satisfied_by
    )
    return BaselineView(
        status.test, text, status.outstanding, status.reasons, results, defaults.describe(status.lookback_setting)
    )


def analyse(data: PatientData, defaults: LocalDefaults, on: datetime | None = None) -> Assessment:
    return assess(data.record, on=on or datetime.now(UTC), settings=defaults)


def _evidence_text(outcome: Outcome) -> tuple[str, ...]:
    return tuple(
        f"{e.description}{f' ({e.value})' if e.value else ''}{f' on {e.date:%Y-%m-%d}' if e.date else ''}"
        for e in outcome.evidence
    )


def checklist(assessment: Assessment) -> tuple[ChecklistRow, ...]:
    """Every rule with its status, needs-attention and could-not-check first, so that "no card" can be trusted."""
    order = {status: i for i, status in enumerate(STATUS_LABELS)}
    rows = [
        ChecklistRow(
            rule_id=o.rule_id,
            title=spec(o.rule_id).title,
            status=o.status,
            status_label=STATUS_LABELS[o.status] + (f" ({o.severity})" if o.severity else ""),
            summary=o.summary,
            subject=o.subject,
            evidence=_evidence_text(o),
            missing=tuple(m.reason for m in o.missing),
        )
        for o in assessment.outcomes
    ]
    return tuple(sorted(rows, key=lambda r: order[r.status]))


# -- protocol builder ------------------------------------------------------------------------------------------


class UnknownProtocolError(KeyError):
    """The requested protocol id is not in the catalogue."""


@dataclass(frozen=True, slots=True)
class WriteConfirmation:
    """What a write put in the EHR, shown at the top of the page after the redirect."""

    protocol_title: str
    state: str  # "writing", "written", "failed"
    written: tuple[WrittenItem, ...]
    not_written: tuple[NotWrittenItem, ...]
    problem: str | None
    override_reason: str | None
    requester: str | None
    at: str  # "2026-12-01 20:31 UTC"

    @property
    def heading(self) -> str:
        if self.state == "writing":
            return "The draft orders are still being written"
        if self.state == "failed":
            return "Nothing was written to the EHR"
        return f"Written to the EHR: {len(self.written)} draft(s)" + (
            f"; {len(self.not_written)} not written" if self.not_written else ""
        )


@dataclass(frozen=True, slots=True)
class ProtocolPage:
    banner: Banner | None
    assessments: tuple[ProtocolAssessment, ...]  # catalogue order
    selected: ProtocolAssessment | None
    order_set: OrderSet | None  # for the chosen protocol, when the dose can be computed
    weight_kg: float | None
    weight_problem: str | None  # why doses cannot be computed (no recent weight)
    can_write: bool
    write_unavailable: str | None
    draft_order: dict[str, Any] | None  # the ketamine MedicationRequest (status draft) to write or copy
    draft_json: str | None  # every resource of the order set, to copy when it cannot all be written
    will_write: tuple[str, ...] = ()  # what the write button creates ("4 medication orders", ...)
    will_not_write: tuple[str, ...] = ()  # what it cannot create, and why
    confirmation: WriteConfirmation | None = None
    already_written: WriteConfirmation | None = None  # this session wrote this protocol already
    form_token: str | None = None  # the one-time token of the write form
    override_reason: str = ""  # as typed, when the form comes back with a problem
    problem: str | None = None  # why the last submit did not write
    not_checked: tuple[str, ...] = field(default=())
    nav: str = "protocols"
    patient_label: str = ""  # shown when the EHR shows its own banner
    # The protocol list and reasons worded and ordered for people (smart/protocol_words.py).
    choices: tuple[ProtocolChoice, ...] = ()  # endorsed protocols, suitable first, one suggested
    other_choices: tuple[ProtocolChoice, ...] = ()  # illustrative and research-only regimens
    order_status: str = ""  # the chosen protocol's status in words
    order_reasons: tuple[str, ...] = ()
    order_notes: tuple[str, ...] = ()

    def source(self, citation: Citation) -> SourceView:
        return source_view(citation)

    @property
    def needs_override(self) -> bool:
        """Writing a protocol marked against this patient needs the clinician's written reason."""
        return self.order_set is not None and self.order_set.status == "not-recommended"


def with_problem(page: ProtocolPage, problem: str, *, override_reason: str = "") -> ProtocolPage:
    return replace(page, problem=problem, override_reason=override_reason)


def with_form(
    page: ProtocolPage,
    form_token: str | None,
    *,
    confirmation: WriteConfirmation | None = None,
    already_written: WriteConfirmation | None = None,
) -> ProtocolPage:
    return replace(page, form_token=form_token, confirmation=confirmation, already_written=already_written)


def confirmation_of(record: WriteRecord) -> WriteConfirmation:
    protocol = find_protocol(record.protocol_id)
    return WriteConfirmation(
        protocol_title=protocol.title if protocol else record.protocol_id,
        state=record.state,
        written=record.written,
        not_written=record.not_written,
        problem=record.problem,
        override_reason=record.override_reason,
        requester=record.requester,
        at=f"{record.started_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    )


def _draft(order_set: OrderSet) -> dict[str, Any] | None:
    if not order_set.medication_requests:
        return None
    draft = dict(order_set.medication_requests[0])  # ketamine first
    draft["status"] = "draft"  # never an active order: the prescriber signs it in the EHR
    return draft


_KIND_WORDS = {"MedicationRequest": "medication order(s)", "ServiceRequest": "service request(s)", "Task": "task(s)"}


def _write_plan(order_set: OrderSet | None, tokens: TokenSet) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the write button creates, by resource type, and what it cannot create (and why)."""
    if order_set is None or not order_set.medication_requests:
        return (), ()
    counts: dict[str, int] = {}
    for resource in order_set.resources:
        counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
    will, wont = [], []
    for kind, count in counts.items():
        missing = permission_missing(tokens.scope, kind)
        words = f"{count} {_KIND_WORDS.get(kind, kind)}"
        if missing is None:
            will.append(words)
        else:
            wont.append(f"{words}: {missing}; copy them from the JSON below")
    return tuple(will), tuple(wont)


def protocol_page(
    data: PatientData,
    tokens: TokenSet,
    defaults: LocalDefaults,
    protocol_id: str | None,
    on: datetime | None = None,
    *,
    override_reason: str | None = None,
    requester: str | None = None,
) -> ProtocolPage:
    """The builder for `protocol_id`. `override_reason` and `requester` go on the generated resources (the write
    passes them; a preview has none)."""
    when = on or datetime.now(UTC)
    assessment = analyse(data, defaults, when)
    assessments = assessment.protocols
    selected = None
    if protocol_id:
        selected = next((a for a in assessments if a.protocol.id == protocol_id), None)
        if selected is None:
            raise UnknownProtocolError(protocol_id)
    weight_problem = None
    if assessment.weight_kg is None:
        weight_problem = (
            f"No body weight recorded within {defaults.weight_lookback_days} days "
            "(local default weight_lookback_days): weight-based doses cannot be computed. "
            "Record a weight in the EHR and reload."
        )
    order_set = None
    if selected is not None and assessment.weight_kg is not None:
        level = assessment.mme_level
        order_set = build_order_set(
            selected.protocol.id,
            weight_kg=assessment.weight_kg,
            age=assessment.age,
            outcomes=assessment.findings,
            intent="order",
            patient_reference=f"Patient/{tokens.context.patient}",
            settings=defaults,
            on=when,
            requester=requester,
            override_reason=override_reason,
            baseline_mme_per_day=level.total if level.complete else None,
            rescue_caution=rescue_caution(assessment.outcomes),
        )
    draft = _draft(order_set) if order_set is not None else None
    can_write = tokens.scope.can_write_medication_request
    will, wont = _write_plan(order_set, tokens)
    resources = list(order_set.resources) if order_set is not None and draft is not None else None
    return ProtocolPage(
        banner=banner(data.patient, when.date()) if tokens.context.need_patient_banner else None,
        assessments=assessments,
        selected=selected,
        order_set=order_set,
        weight_kg=assessment.weight_kg,
        weight_problem=weight_problem,
        can_write=can_write,
        write_unavailable=None if can_write else WRITE_UNAVAILABLE,
        draft_order=draft,
        draft_json=json.dumps(resources, indent=2) if resources else None,
        will_write=will,
        will_not_write=wont,
        not_checked=data.gap_sentences,
        patient_label=patient_label(data.patient, tokens.context.patient),
        **_protocol_wording(assessments, order_set, defaults),
    )


def _protocol_wording(
    assessments: tuple[ProtocolAssessment, ...], order_set: OrderSet | None, defaults: LocalDefaults
) -> dict[str, Any]:
    choices, others = protocol_choices(assessments, defaults)
    if order_set is None:
        return {"choices": choices, "other_choices": others}
    return {
        "choices": choices,
        "other_choices": others,
        "order_status": status_word(order_set.status),
        "order_reasons": tuple(dict.fromkeys(for_people(r, defaults) for r in order_set.reasons)),
        "order_notes": tuple(for_people(n, defaults) for n in order_set.notes),
    }
