"""OPI-BASELINE: the opioid load (MME/day) at the first ketamine treatment of a course, kept for the response review
(ASRA Q8 L1611-1614: "a 20% or greater reduction in opioid use" is a response; RULES.md 5.3.3 and 7).

The baseline is read from the MME timeline (core/mme/timeline.py): the segment covering the first treatment day of
the current course (core/safety/course.py), or today when the draft ketamine order starts a new course. The record
keeps the medication history, so the baseline is recomputed, never stored apart from it; where the timeline had to
assume a medication's period, the outcome says so. The rule never interrupts: it is satisfied (with the baseline and
today's figure), not applicable (no course, or no opioid at its start), or not evaluable (a total that could not be
computed). FREQ-RESPONSE reads the same figures for its opioid criterion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from smart_app.core.mme.timeline import MmeTimeline, TimelineSegment
from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.course import Course, ResponseCheck, courses, opioid_reduction_check

RULE = "OPI-BASELINE"
_DEFAULTS = ("mme_table", "course_gap_days", "timeline_assumed_days")


@dataclass(frozen=True, slots=True)
class OpioidBaseline:
    day: date  # the first treatment day of the course (today for a course this order starts)
    new_course: bool  # the draft order starts the course
    segment: TimelineSegment | None  # None outside the timeline's window
    now: TimelineSegment | None  # today's segment (drafts left out)
    timeline: MmeTimeline

    @property
    def known(self) -> bool:
        return self.segment is not None and self.segment.total is not None and self.segment.complete

    def evidence(self) -> list[Evidence]:
        spans = self.timeline.spans_on(self.day)
        return [
            Evidence(
                s.reference,
                f"{s.name}: {s.how}" + (" (period partly assumed)" if s.assumed else ""),
                datetime.combine(s.first_day, datetime.min.time()),
                f"{s.mme_per_day:g} {self.timeline.figure}" if s.mme_per_day is not None else "not computable",
            )
            for s in spans
        ]


def course_baseline(ctx: SafetyContext) -> OpioidBaseline | None:
    """The opioid baseline of the current course, or None when there is no course and no ketamine being ordered."""
    today = ctx.on.date()
    found = courses(ctx.record, ctx.on, ctx.settings.course_gap_days, history=ctx.history)
    current = found[-1] if found else None
    drafted = any(o.drug == "ketamine" for o in ctx.orders)
    if current is None and not drafted:
        return None
    timeline = ctx.timeline  # built only now: a course or a ketamine order needs it
    if timeline is None:
        return None
    if drafted and (current is None or (today - current.end).days > ctx.settings.course_gap_days):
        return OpioidBaseline(today, True, timeline.on(today), timeline.on(today), timeline)  # this order starts it
    if current is None:
        return None
    return OpioidBaseline(current.start, False, timeline.on(current.start), timeline.on(today), timeline)


def course_opioid_change(ctx: SafetyContext, course: Course) -> ResponseCheck | None:
    """ASRA's opioid criterion for `course`: MME/day at its first treatment and today (None when not known)."""
    timeline = ctx.timeline
    if timeline is None:
        return None
    start, now = timeline.on(course.start), timeline.on(ctx.on.date())
    if start is None or now is None or start.total is None or now.total is None:
        return None
    if not (start.complete and now.complete) or start.total <= 0:
        return None
    evidence = Evidence(
        "(timeline)", f"opioid MME/day at the course start ({course.start:%Y-%m-%d}) and today", None, None
    )
    return opioid_reduction_check(start.total, now.total, evidence, ctx.on.date())


def check(ctx: SafetyContext) -> list[Outcome]:
    baseline = course_baseline(ctx)
    if baseline is None:
        return [not_applicable(RULE, "No ketamine course in the last 365 days: no opioid baseline to keep")]
    figure = baseline.timeline.figure
    when = "today (this order starts the course)" if baseline.new_course else f"on {baseline.day:%Y-%m-%d}"
    evidence = baseline.evidence()
    assumed = [e for e in evidence if "partly assumed" in e.description]
    segment = baseline.segment
    if segment is None or segment.total is None or not segment.complete:
        left = ", ".join(segment.left_out) if segment is not None else ""
        reason = f"the MME/day of {left} could not be computed" if left else "no MME/day for that day"
        return [
            not_evaluable(
                RULE,
                f"Opioid baseline at the first ketamine treatment ({when}) could not be computed",
                [Missing("opioid-dose", reason)],
                evidence=evidence,
                local_defaults=_DEFAULTS,
            )
        ]
    if segment.total == 0:
        return [not_applicable(RULE, f"No opioid taken at the first ketamine treatment of the course ({when})")]
    now = baseline.now
    change = ""
    if not baseline.new_course and now is not None and now.total is not None and now.complete:
        pct = (now.total - segment.total) / segment.total * 100
        change = f"; today {now.total:g} {figure} ({pct:+.0f}%)"
    how = " Medication periods partly assumed: " + "; ".join(e.description for e in assumed) + "." if assumed else ""
    return [
        satisfied(
            RULE,
            f"Opioid baseline {segment.total:g} {figure} at the first ketamine treatment ({when}){change}",
            evidence,
            detail=f"Opioid load at the first treatment of the course: {segment.total:g} {figure} "
            f"({baseline.timeline.table_label}; external conversion table){change}. ASRA Q8 counts a **20% or greater "
            f"reduction in opioid use** as a response; the response review compares today's load with it.{how}",
            local_defaults=_DEFAULTS,
        )
    ]
