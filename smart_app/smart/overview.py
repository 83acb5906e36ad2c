"""The overview's page model: a summary strip read in five seconds, then the details, folded where long.

Everything the page says is decided here from the core's one assessment (and the course history for the charts),
so that it can be tested without a browser; templates only lay it out. Words always carry the meaning (status
words, "at least", "not computable"); colour and symbols only repeat them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from markupsafe import Markup

from smart_app.config import LocalDefaults
from smart_app.core.assessment import Assessment, assess
from smart_app.core.course import CourseHistory, course_history
from smart_app.core.mme import MmeReport
from smart_app.core.mme.levels import MmeLevel
from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.core.outcomes import Outcome, Severity, Status
from smart_app.core.safety.catalogue import spec
from smart_app.smart import charts
from smart_app.smart.charts import Threshold, day_label
from smart_app.smart.launch_context import LaunchContext
from smart_app.smart.oauth import TokenSet
from smart_app.smart.patient_data import PatientData
from smart_app.smart.views import (
    FOLLOW_UP_UNAVAILABLE,
    SEVERITY_LABELS,
    STATUS_LABELS,
    WRITE_UNAVAILABLE,
    Banner,
    BaselineView,
    ChecklistRow,
    FindingGroup,
    SourceView,
    banner,
    baseline_view,
    checklist,
    patient_label,
    source_view,
)

Tone = Literal["critical", "warning", "ok", "unknown", "info"]
SEVERITY_WORDS: dict[Severity, str] = {"critical": "Critical", "warning": "Warning", "info": "Information"}
STATUS_SYMBOLS: dict[Status, str] = {"fired": "✖", "not-evaluable": "?", "satisfied": "✔", "not-applicable": "–"}
# The fired rules are shown in full under "Findings that need attention", so their checklist rows start folded.
OPEN_GROUPS: frozenset[Status] = frozenset({"not-evaluable", "satisfied"})
GROUP_LABELS: dict[Status, str] = {
    "fired": "Needs attention",
    "not-evaluable": "Could not check",
    "satisfied": "Satisfied",
    "not-applicable": "Not applicable to this patient",
}


@dataclass(frozen=True, slots=True)
class Headline:
    """Today's opioid total as a clinician should read it."""

    value: str  # "at least 120 MME/day", "0 MME/day", "not computable"
    qualifier: str | None  # "no current opioids", "1 opioid left out of the total"
    level: str  # "At or above 90: avoid or carefully justify"
    sentence: str  # the policy's own sentence, e.g. "at or above 90 (CDC 2016 avoid-or-justify level; local default)"
    tone: Tone
    levels_text: str  # which levels apply, labelled as local defaults, with their sources
    table: str  # "CDC 2022"


@dataclass(frozen=True, slots=True)
class SummaryTile:
    key: str  # "opioids", "contraindications", "baseline", "draft", "not-checked"
    title: str
    value: str  # the one thing to read
    tone: Tone
    lines: tuple[str, ...]
    link: str  # the section with the details


@dataclass(frozen=True, slots=True)
class ChartView:
    key: str
    heading: str
    svg: Markup
    table_caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class ChecklistGroup:
    status: Status
    label: str
    symbol: str
    rows: tuple[ChecklistRow, ...]
    open: bool  # shown unfolded


@dataclass(frozen=True, slots=True)
class DraftView:
    reference: str
    name: str
    outcomes: tuple[Outcome, ...]  # the order rules' outcomes for this draft
    rows: tuple[ChecklistRow, ...] = ()  # the same, as checklist rows (not-applicable ones left out)


@dataclass(frozen=True, slots=True)
class OverviewPage:
    banner: Banner | None
    patient_label: str  # the patient's name (or id), shown even when the EHR shows its own banner
    evaluated: str  # "1 Dec 2026 20:07 UTC"
    mme: MmeReport
    assessment: Assessment
    headline: Headline
    summary: tuple[SummaryTile, ...]
    groups: tuple[FindingGroup, ...]
    checklist: tuple[ChecklistRow, ...]
    checklist_groups: tuple[ChecklistGroup, ...]
    baseline: tuple[BaselineView, ...]
    not_checked: tuple[str, ...]
    reminders: tuple[str, ...]  # procedural checks the record can rarely show: to confirm at the bedside
    unavailable_features: tuple[str, ...]
    app_context: Any
    local_defaults: dict[str, str]
    drafts: tuple[DraftView, ...] = ()
    mme_chart: ChartView | None = None
    mme_periods: tuple[tuple[str, ...], ...] = ()  # how each medication's period was found
    mme_unplaced: tuple[str, ...] = ()
    mme_history_note: str | None = None  # said instead of a chart with nothing on it
    shares_chart: ChartView | None = None
    ketamine_chart: ChartView | None = None
    ketamine_note: str | None = None
    nav: str = "overview"

    def source(self, citation: Any) -> SourceView:
        return source_view(citation)


# -- the draft order in the launch context ---------------------------------------------------------------------


def _draft_references(context: LaunchContext) -> list[str]:
    """Draft orders the launch names: `fhirContext` references, and the `draftOrders` a CDS card's appContext lists
    (untrusted: only used to pick records that are already in this patient's record)."""
    refs = [i.reference for i in context.fhir_context if i.reference and i.reference.startswith("MedicationRequest/")]
    data = context.app_context.data if context.app_context else None
    if isinstance(data, dict) and isinstance(data.get("draftOrders"), list):
        refs += [r for r in data["draftOrders"] if isinstance(r, str) and r.startswith("MedicationRequest/")]
    return list(dict.fromkeys(refs))[:10]


def split_drafts(record: PatientRecord, context: LaunchContext) -> tuple[PatientRecord, tuple[MedicationUse, ...]]:
    """The record without the draft orders the launch is about, and those drafts (status draft, this patient's)."""
    wanted = set(_draft_references(context))
    drafts = tuple(
        replace(m, is_draft_order=True)
        for m in record.medications
        if m.reference in wanted and m.status == "draft" and m.resource_type == "MedicationRequest"
    )
    if not drafts:
        return record, ()
    taken = {d.reference for d in drafts}
    rest = tuple(m for m in record.medications if m.reference not in taken)
    return replace(record, medications=rest), drafts


# -- headline and summary --------------------------------------------------------------------------------------


def _level_words(level: MmeLevel, settings: LocalDefaults) -> tuple[str, Tone]:
    precaution, high = (getattr(settings, name) for name in level.thresholds)
    if level.level == "none":
        return "No current opioids", "ok"
    if level.level == "unknown":
        return "Not computable", "unknown"
    if level.level == "unrated":
        return "No level configured for this table", "info"
    if level.level == "high":
        return f"At or above {high:g}: avoid or carefully justify", "critical"
    if level.level == "precaution":
        return f"At or above {precaution:g}: reassess, add precautions, offer naloxone", "warning"
    below = precaution if precaution is not None else high
    return f"Below {below:g}", "ok"


def thresholds(report: MmeReport, level: MmeLevel, settings: LocalDefaults) -> tuple[Threshold, ...]:
    precaution, high = (getattr(settings, name) for name in level.thresholds)
    cdc = report.table.startswith("cdc")
    out = []
    if precaution is not None:
        out.append(
            Threshold(precaution, f"{precaution:g}: {'CDC 2022 precautions' if cdc else 'precaution'}*", "precaution")
        )
    if high is not None:
        out.append(Threshold(high, f"{high:g}: {'CDC 2016 avoid/justify' if cdc else 'high'}*", "high"))
    return tuple(out)


def _levels_text(report: MmeReport, level: MmeLevel, settings: LocalDefaults) -> str:
    precaution, high = (getattr(settings, name) for name in level.thresholds)
    if precaution is None and high is None:
        return (
            f"No {report.figure} level is configured for the {report.table_label} table (no source sets one); "
            f"settings {' and '.join(level.thresholds)}."
        )
    if report.table.startswith("cdc"):
        parts = []
        if precaution is not None:
            parts.append(
                f"{precaution:g} {report.figure}: CDC 2022 asks to pause and reassess before increasing to it and to "
                "add precautions at or above it (closer follow-up, offer naloxone)"
            )
        if high is not None:
            parts.append(f"{high:g} {report.figure}: CDC 2016 said to avoid or carefully justify it")
        return "Levels (* local defaults, guideposts, not limits): " + "; ".join(parts) + "."
    parts = [f"{v:g} {report.figure}" for v in (precaution, high) if v is not None]
    return f"Levels (* local defaults set by this deployment): {' and '.join(parts)}."


def headline(report: MmeReport, level: MmeLevel, settings: LocalDefaults) -> Headline:
    words, tone = _level_words(level, settings)
    left = level.left_out
    left_text = f"{left} opioid{'s' if left != 1 else ''} left out of the total (not computable)" if left else None
    qualifier: str | None
    if level.level == "none":
        value, qualifier = f"0 {report.figure}", "no current opioids"
    elif level.total is None:
        value = "not computable"
        qualifier = f"{left} current opioid{'s' if left != 1 else ''}, none could be computed"
    else:
        value = f"{'at least ' if level.at_least else ''}{level.total:g} {report.figure}"
        qualifier = left_text
    return Headline(
        value=value,
        qualifier=qualifier,
        level=words,
        sentence=level.sentence,
        tone=tone,
        levels_text=_levels_text(report, level, settings),
        table=report.table_label or report.table,
    )


def _fired_patient(assessment: Assessment, kinds: set[str], *, include: bool) -> list[Outcome]:
    """Fired patient-phase outcomes whose rule kind is (include=True) or is not (include=False) in `kinds`."""
    return [
        o
        for o in assessment.findings
        if spec(o.rule_id).phase == "patient" and ((spec(o.rule_id).kind in kinds) == include)
    ]


def _tone_of(outcomes: Sequence[Outcome]) -> Tone:
    if any(o.severity == "critical" for o in outcomes):
        return "critical"
    if any(o.severity == "warning" for o in outcomes):
        return "warning"
    return "info" if outcomes else "ok"


def _summary(
    page_head: Headline,
    assessment: Assessment,
    drafts: Sequence[DraftView],
    not_checked: Sequence[str],
    unchecked_titles: Sequence[str],
    reminders: Sequence[str],
) -> tuple[SummaryTile, ...]:
    opioid_findings = _fired_patient(assessment, {"opioid"}, include=True)
    opioid_lines = [page_head.level]
    if page_head.qualifier and page_head.qualifier != "no current opioids":
        opioid_lines.append(page_head.qualifier)
    opioid_lines += [o.summary for o in opioid_findings]
    tiles = [
        SummaryTile(
            "opioids",
            "Opioid load today",
            page_head.value,
            "warning" if page_head.tone == "ok" and opioid_findings else page_head.tone,
            tuple(opioid_lines),
            "#opioids",
        )
    ]
    concerns = _fired_patient(assessment, {"opioid", "baseline-test"}, include=False)
    unchecked_ci = [
        o
        for o in assessment.outcomes
        if o.status == "not-evaluable"
        and spec(o.rule_id).kind in ("contraindication", "precaution")
        and not spec(o.rule_id).reminder
    ]
    if concerns:
        critical = sum(1 for o in concerns if o.severity == "critical")
        value = f"{len(concerns)} appl{'y' if len(concerns) != 1 else 'ies'}" + (
            f", {critical} critical" if critical else ""
        )
        lines = [f"{SEVERITY_WORDS[o.severity or 'info']}: {o.summary}" for o in concerns]
    else:
        value, lines = "None found in the record", []
    if unchecked_ci:
        lines.append(f"{len(unchecked_ci)} could not be checked: absence is not reassurance")
    tone: Tone = _tone_of(concerns) if concerns else ("unknown" if unchecked_ci else "ok")
    tiles.append(
        SummaryTile("contraindications", "Contraindications and precautions", value, tone, tuple(lines), "#findings")
    )
    needed = [b for b in assessment.baseline_tests if b.needed]
    outstanding = [b for b in needed if b.outstanding]
    if outstanding:
        value = "Needed: " + ", ".join(b.test for b in outstanding)
        lines = [f"{b.test}: needed, not on file ({'; '.join(b.reasons)})" for b in outstanding]
        tone = "warning"
    elif needed:
        value, lines, tone = "On file", [f"{b.test}: needed, recent result on file" for b in needed], "ok"
    else:
        value, lines, tone = "None needed", ["No risk condition recorded for ECG or liver tests"], "ok"
    tiles.append(SummaryTile("baseline", "Baseline tests", value, tone, tuple(lines), "#baseline"))
    for draft in drafts:
        fired = [o for o in draft.outcomes if o.fired]
        dose = [o for o in draft.outcomes if spec(o.rule_id).kind == "dose" and o.status != "not-applicable"]
        if fired:
            value = f"{len(fired)} to review"
            lines = [f"{SEVERITY_WORDS[o.severity or 'info']}: {o.summary}" for o in fired]
        else:
            value = "Dose within range" if any(o.status == "satisfied" for o in dose) else "Nothing to review"
            lines = [o.summary for o in dose if o.status == "satisfied"]
        lines += [f"Could not check: {o.summary}" for o in draft.outcomes if o.status == "not-evaluable"]
        tiles.append(
            SummaryTile(
                "draft",
                f"Draft order: {draft.name}",
                value,
                _tone_of(fired) if fired else "ok",
                tuple(lines),
                "#drafts",
            )
        )
    if not_checked:
        value = f"{len(not_checked)} item{'s' if len(not_checked) != 1 else ''} missing"
        lines = [*unchecked_titles[:4], *(["…"] if len(unchecked_titles) > 4 else [])]
        tone = "unknown"
        link = "#not-checked"
    elif reminders:
        value, lines, tone = "Nothing missing from the record", [], "info"
        link = "#checks-not-evaluable"
    else:
        value, lines, tone, link = "Everything could be checked", [], "ok", "#checklist"
    if reminders:
        lines = [*lines, f"{len(reminders)} to confirm before treatment (the record rarely shows them)"]
    tiles.append(SummaryTile("not-checked", "Could not check", value, tone, tuple(lines), link))
    return tuple(tiles)


# -- charts ----------------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "not computable" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def _mme_chart(
    course: CourseHistory, report: MmeReport, level: MmeLevel, settings: LocalDefaults
) -> tuple[ChartView | None, tuple[tuple[str, ...], ...], tuple[str, ...], str | None]:
    timeline = course.mme
    unplaced = tuple(f"{u.name} ({u.reference}): {u.reason}" for u in timeline.unplaced)
    if not timeline.has_opioids:
        note = f"No opioid in the medication history of the last {settings.timeline_lookback_days} days."
        return None, (), unplaced, note
    names = {s.reference: s.name for s in timeline.spans}
    marks = thresholds(report, level, settings)
    steps = []
    for seg in timeline.segments:
        until = "today" if seg.last_day == timeline.last_day else day_label(seg.last_day)
        text = f"{_fmt(seg.total)} from {day_label(seg.first_day)} to {until}"
        if seg.left_out:
            text = "at least " + text + f" ({len(seg.left_out)} left out)"
        if seg.assumed:
            text += " (period partly assumed)"
        steps.append(text)
    peak = timeline.peak
    desc = (
        f"Total {timeline.figure} per day over the last {settings.timeline_lookback_days} days, "
        f"{timeline.table_label} table: " + "; ".join(steps) + "."
    )
    if peak is not None and peak.total:
        desc += f" Highest: {_fmt(peak.total)} {timeline.figure} from {day_label(peak.first_day)}."
    if marks:
        desc += (
            " Lines drawn at " + " and ".join(f"{t.value:g}" for t in marks) + f" {timeline.figure} (local defaults)."
        )
    if course.ketamine:
        desc += " Ketamine treatments marked K: " + ", ".join(day_label(t.day) for t in course.ketamine) + "."
    rows = tuple(
        (
            day_label(seg.first_day),
            "today" if seg.last_day == timeline.last_day else day_label(seg.last_day),
            ("at least " if seg.left_out else "") + _fmt(seg.total),
            "; ".join(names.get(r, r) for r in seg.counted) or "none",
            "; ".join(names.get(r, r) for r in seg.left_out) or "",
            "partly assumed" if seg.assumed else "from the record",
        )
        for seg in timeline.segments
    )
    periods = tuple(
        (
            s.name,
            day_label(s.first_day),
            "today (current)" if s.ongoing else day_label(s.last_day),
            _fmt(s.mme_per_day) if s.mme_per_day is not None else f"not computable ({s.item.reason or s.item.status})",
            ("ASSUMED: " if s.assumed else "") + s.how,
        )
        for s in timeline.spans
    )
    chart = ChartView(
        "mme",
        f"{timeline.figure} over the last {settings.timeline_lookback_days} days",
        charts.mme_over_time(timeline, marks, course.ketamine, desc),
        f"Total {timeline.figure} by period ({timeline.table_label})",
        ("From", "To", timeline.figure, "Counted", "Left out", "Period"),
        rows,
    )
    return chart, periods, unplaced, None


def _shares_chart(report: MmeReport, head: Headline) -> ChartView | None:
    if len(report.items) < 1 or not report.counted:
        return None
    total = report.total_mme_per_day or 0.0
    parts = [
        f"{i.name} {_fmt(i.mme_per_day)} ({round(100 * (i.mme_per_day or 0) / total) if total else 0}%)"
        for i in report.counted
    ]
    left = [f"{i.name} ({i.reason or i.status})" for i in report.left_out]
    desc = f"Today's total {head.value}: " + "; ".join(parts) + "."
    if left:
        desc += " Not in the total: " + "; ".join(left) + "."
    rows = tuple(
        (i.name, _fmt(i.mme_per_day), f"{round(100 * (i.mme_per_day or 0) / total) if total else 0}%")
        for i in report.counted
    ) + tuple((i.name, "not counted", i.reason or i.status) for i in report.left_out)
    return ChartView(
        "shares",
        "Each opioid's share of today's total",
        charts.opioid_shares(report, desc),
        "Each opioid's share of today's total",
        ("Medication", report.figure, "Share"),
        rows,
    )


def _ketamine_chart(course: CourseHistory, settings: LocalDefaults) -> tuple[ChartView | None, str | None]:
    days = settings.timeline_lookback_days
    if not course.ketamine and not course.pain:
        return None, f"No ketamine treatment and no pain score recorded in the last {days} days."
    treatments = ", ".join(day_label(t.day) for t in course.ketamine) or "none"
    drawn = [p for p in course.pain if p.on_0_to_10]
    scores = ", ".join(f"{_fmt(p.value)} on {day_label(p.when.date())}" for p in drawn) or "none recorded"
    desc = (
        f"Ketamine treatments in the last {days} days ({len(course.ketamine)}): {treatments}. "
        f"Pain scores (0-10): {scores}."
    )
    events: list[tuple[datetime, tuple[str, ...]]] = []
    for t in course.ketamine:
        when = datetime(t.day.year, t.day.month, t.day.day, tzinfo=UTC)
        events.append((when, (day_label(t.day), "ketamine treatment", "; ".join(t.descriptions), "")))
    for p in course.pain:
        note = "" if p.on_0_to_10 else "not on the 0-10 pain scale: listed, not drawn"
        events.append(
            (p.when, (day_label(p.when.date()), p.code.label, p.reference, f"{_fmt(p.value)} {note}".strip()))
        )
    rows = tuple(row for _, row in sorted(events, key=lambda e: e[0]))
    chart = ChartView(
        "ketamine",
        f"Ketamine treatments and pain scores, last {days} days",
        charts.ketamine_and_pain(course, desc),
        "Ketamine treatments and pain scores by date",
        ("Date", "What", "Record", "Value"),
        rows,
    )
    return chart, None


# -- the page --------------------------------------------------------------------------------------------------


def checklist_groups(rows: Sequence[ChecklistRow]) -> tuple[ChecklistGroup, ...]:
    groups = []
    for status in ("fired", "not-evaluable", "satisfied", "not-applicable"):
        members = tuple(r for r in rows if r.status == status)
        if members:
            groups.append(
                ChecklistGroup(status, GROUP_LABELS[status], STATUS_SYMBOLS[status], members, status in OPEN_GROUPS)
            )
    return tuple(groups)


def overview_page(
    data: PatientData, tokens: TokenSet, defaults: LocalDefaults, on: datetime | None = None
) -> OverviewPage:
    when = on or datetime.now(UTC)
    record, draft_uses = split_drafts(data.record, tokens.context)
    assessment = assess(record, drafts=draft_uses, on=when, settings=defaults)
    course = course_history(record, on=when, settings=defaults)
    findings = assessment.findings
    groups = tuple(
        FindingGroup(sev, label, tuple(f for f in findings if f.severity == sev))
        for sev, label in SEVERITY_LABELS.items()
        if any(f.severity == sev for f in findings)
    )
    used_defaults = {name for o in assessment.outcomes for name in o.local_defaults}
    unchecked_outcomes = [
        o for o in assessment.outcomes if o.status == "not-evaluable" and not spec(o.rule_id).reminder
    ]
    unchecked = tuple(
        f"{spec(o.rule_id).title} ({o.rule_id}): {'; '.join(m.reason for m in o.missing)}" for o in unchecked_outcomes
    )
    not_checked = (*data.gap_sentences, *unchecked)
    left_out = len(data.gap_sentences) - len(data.unavailable)  # another patient's or unattributed resources
    unchecked_titles = (
        *(u.query.data.capitalize() + " unavailable" for u in data.unavailable),
        *(["Resources left out (not this patient's)"] if left_out > 0 else []),
        *(spec(o.rule_id).title for o in unchecked_outcomes),
    )
    reminders = tuple(
        dict.fromkeys(
            spec(o.rule_id).title
            for o in assessment.outcomes
            if spec(o.rule_id).reminder and o.status == "not-evaluable"
        )
    )
    rows = checklist(assessment)
    drafts = tuple(
        DraftView(
            d.reference,
            d.medication.label,
            tuple(o for o in assessment.outcomes if o.subject == d.reference),
            tuple(r for r in rows if r.subject == d.reference and r.status != "not-applicable"),
        )
        for d in draft_uses
    )
    head = headline(assessment.mme, assessment.mme_level, defaults)
    mme_chart, periods, unplaced, history_note = _mme_chart(course, assessment.mme, assessment.mme_level, defaults)
    ketamine_chart, ketamine_note = _ketamine_chart(course, defaults)
    return OverviewPage(
        banner=banner(data.patient, when.date()) if tokens.context.need_patient_banner else None,
        patient_label=patient_label(data.patient, tokens.context.patient),
        evaluated=f"{day_label(when.date())} {when:%H:%M} UTC",
        mme=assessment.mme,
        assessment=assessment,
        headline=head,
        summary=_summary(head, assessment, drafts, not_checked, unchecked_titles, reminders),
        groups=groups,
        checklist=rows,
        checklist_groups=checklist_groups(rows),
        baseline=tuple(baseline_view(s, defaults) for s in assessment.baseline_tests),
        not_checked=not_checked,
        reminders=reminders,
        unavailable_features=(
            *(() if tokens.scope.can_write_medication_request else (WRITE_UNAVAILABLE,)),
            *(() if tokens.scope.can_write_questionnaire_response else (FOLLOW_UP_UNAVAILABLE,)),
        ),
        app_context=tokens.context.app_context,
        local_defaults={name: defaults.describe(name) for name in sorted(used_defaults)},
        drafts=drafts,
        mme_chart=mme_chart,
        mme_periods=periods,
        mme_unplaced=unplaced,
        mme_history_note=history_note,
        shares_chart=_shares_chart(assessment.mme, head),
        ketamine_chart=ketamine_chart,
        ketamine_note=ketamine_note,
    )


__all__ = ["STATUS_LABELS", "OverviewPage", "overview_page"]
