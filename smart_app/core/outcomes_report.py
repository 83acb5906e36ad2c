"""Effectiveness and safety outcomes per ketamine course (ANZCA PS12 1.3: "systematic reporting of effectiveness and
safety outcomes so that an evidence base can be developed"), for `smart-app outcomes-report`.

For each patient and each ketamine course of the period (core/safety/course.py), what was documented after the
course began and before the next one: the follow-up questionnaires, pain scores, the opioid load at the course
start and at the end of that interval (MME timeline), and the adverse effects reported. The response is judged on
ASRA's criteria (Q8 and Table 6) exactly as the response review does; a course with nothing documented is counted
as such: an unreported outcome is itself a finding of the report. Pure: the caller supplies the records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from smart_app.config import LocalDefaults
from smart_app.core.mme.timeline import MmeTimeline, mme_timeline
from smart_app.core.model import PatientRecord
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.course import (
    ADVERSE_EFFECTS,
    Course,
    CourseResponse,
    ResponseCheck,
    course_response,
    courses,
    opioid_reduction_check,
)
from smart_app.core.safety.exposure import ketamine_exposure
from smart_app.core.safety.vitals import current_weight

Verdict = Literal["response", "no response", "not comparable", "not documented"]


@dataclass(frozen=True, slots=True)
class CourseOutcome:
    patient: str  # "Patient/abc"
    course: Course
    ketamine_mg: float  # given and ordered on the course's days (a lower bound unless `mg_complete`)
    mg_complete: bool
    follow_ups: int
    pain_scores: int  # documented after the course began
    verdict: Verdict
    criteria: tuple[str, ...]  # each criterion as documented ("pain 8 -> 4 (-50%, response ...)")
    relief_weeks: float | None  # the longest relief reported
    satisfied: bool | None  # the latest answer to "satisfied with the result"
    adverse_effects: tuple[str, ...]  # follow-up linkIds answered yes, and "other: ..." texts
    serious: bool  # a serious adverse event was reported (to be reported to the TGA or Medsafe)


@dataclass(frozen=True, slots=True)
class OutcomesReport:
    evaluated_at: datetime
    lookback_days: int
    patients: int
    courses: tuple[CourseOutcome, ...]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.courses if c.verdict == verdict)

    @property
    def with_follow_up(self) -> int:
        return sum(1 for c in self.courses if c.follow_ups)

    @property
    def adverse_effect_counts(self) -> dict[str, int]:
        """Courses with each adverse effect reported (every effect of the questionnaire, 0 included)."""
        counts = Counter(e for c in self.courses for e in dict.fromkeys(c.adverse_effects) if e in ADVERSE_EFFECTS)
        other = sum(1 for c in self.courses if any(e.startswith("other: ") for e in c.adverse_effects))
        return {**{e: counts.get(e, 0) for e in ADVERSE_EFFECTS}, "ae-other": other}

    @property
    def serious(self) -> int:
        return sum(1 for c in self.courses if c.serious)


def _verdict(response: CourseResponse) -> Verdict:
    if response.responded:
        return "response"
    if not response.checks:
        return "not documented"
    if all(c.responded is None for c in response.checks):
        return "not comparable"
    return "no response"


def _opioid_change(timeline: MmeTimeline, course: Course, end: datetime) -> ResponseCheck | None:
    """MME/day at the course start and at the end of its interval, read from one timeline up to the report date."""
    start, last = timeline.on(course.start), timeline.on(end.date())
    if start is None or last is None or start.total is None or last.total is None:
        return None
    if not (start.complete and last.complete) or start.total <= 0:
        return None
    evidence = Evidence("(timeline)", f"opioid MME/day on {course.start:%Y-%m-%d} and {end:%Y-%m-%d}", None, None)
    return opioid_reduction_check(start.total, last.total, evidence, end.date())


def _patient_courses(
    patient: str, record: PatientRecord, on: datetime, settings: LocalDefaults, lookback_days: int
) -> list[CourseOutcome]:
    found = courses(record, on, settings.course_gap_days, lookback_days)
    weight = current_weight(record, on, settings.weight_lookback_days)
    exposure = ketamine_exposure(record, (), on, weight.kg if weight else None)
    timeline = mme_timeline(record.medications, on=on, settings=settings)
    outcomes: list[CourseOutcome] = []
    for i, course in enumerate(found):
        following = found[i + 1] if i + 1 < len(found) else None
        until = (
            datetime.combine(following.start, datetime.min.time(), tzinfo=on.tzinfo) if following is not None else None
        )
        end = (until - timedelta(days=1)) if until is not None else on
        response = course_response(record, course, on, until=until, opioid_change=_opioid_change(timeline, course, end))
        entries = [e for e in exposure.entries if e.day in course.days]
        ups = response.follow_ups
        weeks = [u.relief_weeks for u in ups if u.relief_weeks is not None]
        satisfied = next((u.satisfied for u in reversed(ups) if u.satisfied is not None), None)
        outcomes.append(
            CourseOutcome(
                patient=patient,
                course=course,
                ketamine_mg=sum(e.mg for e in entries if e.mg is not None),
                mg_complete=all(e.mg is not None for e in entries),
                follow_ups=len(ups),
                pain_scores=sum(1 for e in response.documented if e.reference.startswith("Observation/")),
                verdict=_verdict(response),
                criteria=tuple(c.text for c in response.checks),
                relief_weeks=max(weeks) if weeks else None,
                satisfied=satisfied,
                adverse_effects=response.adverse_effects,
                serious=response.serious,
            )
        )
    return outcomes


def outcomes_report(
    records: Mapping[str, PatientRecord], *, on: datetime, settings: LocalDefaults, lookback_days: int = 365
) -> OutcomesReport:
    """Every ketamine course of the last `lookback_days` of every patient in `records` (keyed "Patient/id")."""
    found: list[CourseOutcome] = []
    for patient in sorted(records):
        found.extend(_patient_courses(patient, records[patient], on, settings, lookback_days))
    return OutcomesReport(on, lookback_days, len(records), tuple(found))
