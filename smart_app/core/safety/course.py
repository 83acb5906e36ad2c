"""Ketamine courses, their follow-ups and the response to them: what the response review (FREQ-RESPONSE), the
SMART app's follow-up page and `smart-app outcomes-report` read.

- A **course** (series) is a run of ketamine treatment days (core/safety/history.py: administrations and past
  orders, esketamine left out) in which each day follows the previous by no more than `course_gap_days` (a local
  default; no source defines a course).
- A **follow-up** is a QuestionnaireResponse to the project's follow-up questionnaire
  (mappings/follow_up_questionnaire.json, ANZCA PS12 1.3 outcome reporting), completed or amended.
- A **pain score** is a pain severity Observation as the course history reads it (core/course.py,
  mappings/pain_scores.json: the VSAC Standardized Pain Assessment Tool codes).
- **Response** (ASRA Q8 and Table 6, L1611-1614, L1687-1691): 30% or more pain relief, with satisfaction and/or
  objective indicators such as better function or a 20% or greater reduction in opioid use. ASRA: "pain scores
  should never be considered in isolation" (L1583), so every criterion found is shown; the review is the
  clinician's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from smart_app.core import course as course_history  # module import: core.course imports the safety package
from smart_app.core.model import Coding, PatientRecord, QuestionnaireAnswers
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.history import YEAR_DAYS, TreatmentHistory, treatment_history
from smart_app.mappings import read_json

if TYPE_CHECKING:
    from smart_app.core.course import PainScore

PAIN_RELIEF_RESPONSE = 30.0  # percent (ASRA Q8 L1611-1613; Table 6 L1688-1689)
OPIOID_REDUCTION_RESPONSE = 20.0  # percent (ASRA Q8 L1613-1614)
FOLLOW_UP_STATUSES = frozenset({"completed", "amended"})
ADVERSE_EFFECTS = ("ae-dissociation", "ae-hypertension", "ae-urinary", "ae-nausea", "ae-sedation", "ae-liver")
BETTER_FUNCTION = frozenset({"much-better", "better"})


@cache
def follow_up_questionnaire() -> dict[str, Any]:
    """The follow-up Questionnaire (FHIR R4), as shipped in mappings."""
    data: dict[str, Any] = read_json("follow_up_questionnaire.json")
    return data


def follow_up_url() -> str:
    return str(follow_up_questionnaire()["url"])


@cache
def item_texts() -> dict[str, str]:
    """linkId -> question text, groups included."""
    found: dict[str, str] = {}

    def walk(items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            found[str(item["linkId"])] = str(item.get("text", item["linkId"]))
            walk(item.get("item", ()))

    walk(follow_up_questionnaire()["item"])
    return found


# -- courses ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Course:
    days: tuple[date, ...]  # treatment days, oldest first
    evidence: tuple[Evidence, ...]  # the records behind them

    @property
    def start(self) -> date:
        return self.days[0]

    @property
    def end(self) -> date:
        return self.days[-1]

    @property
    def label(self) -> str:
        span = f"{self.start:%Y-%m-%d}" if self.start == self.end else f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"
        return f"{span} ({len(self.days)} treatment day{'s' if len(self.days) != 1 else ''})"

    @property
    def started_at(self) -> datetime | None:
        """When the first treatment began (a baseline is on or before it)."""
        first = [e.date for e in self.evidence if e.date is not None and e.date.date() == self.start]
        return min(first) if first else None


def courses(
    record: PatientRecord,
    on: datetime,
    gap_days: int,
    lookback_days: int = YEAR_DAYS,
    *,
    history: TreatmentHistory | None = None,
) -> list[Course]:
    """The ketamine courses of the last `lookback_days`, oldest first (`history`: the treatments already read, for
    the same `on` and look-back)."""
    history = history or treatment_history(record, on, lookback_days)
    groups: list[list[date]] = []
    for day in history.days:
        if groups and (day - groups[-1][-1]).days <= gap_days:
            groups[-1].append(day)
        else:
            groups.append([day])
    return [
        Course(tuple(days), tuple(e for e in history.evidence if e.date is not None and e.date.date() in days))
        for days in groups
    ]


# -- follow-ups and pain scores -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One completed follow-up questionnaire, read."""

    reference: str
    authored: datetime | None
    treatment_date: date | None
    pain: float | None  # 0-10
    relief_percent: float | None
    relief_weeks: float | None
    function: str | None  # answer code: much-better | better | no-change | worse | much-worse
    opioid_use: str | None  # stopped | reduced | no-change | increased | not-taking
    satisfied: bool | None
    adverse_effects: tuple[str, ...]  # linkIds answered yes (ADVERSE_EFFECTS), plus "other: <text>"
    serious: bool

    @property
    def when(self) -> date | None:
        return self.authored.date() if self.authored else self.treatment_date


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _code(value: object) -> str | None:
    return value.code if isinstance(value, Coding) else None


def read_follow_up(answers: QuestionnaireAnswers) -> FollowUp:
    treatment = answers.get("treatment-date")
    treated = treatment.date() if isinstance(treatment, datetime) else treatment
    effects = [link for link in ADVERSE_EFFECTS if answers.get(link) is True]
    other = answers.get("ae-other")
    if isinstance(other, str) and other.strip():
        effects.append(f"other: {other.strip()}")
    satisfied = answers.get("satisfied")
    return FollowUp(
        reference=answers.reference,
        authored=answers.authored,
        treatment_date=treated if isinstance(treated, date) else None,
        pain=_number(answers.get("pain")),
        relief_percent=_number(answers.get("pain-relief")),
        relief_weeks=_number(answers.get("relief-weeks")),
        function=_code(answers.get("function")),
        opioid_use=_code(answers.get("opioid-use")),
        satisfied=satisfied if isinstance(satisfied, bool) else None,
        adverse_effects=tuple(effects),
        serious=answers.get("ae-serious") is True,
    )


def follow_ups(record: PatientRecord, on: datetime | None = None) -> list[FollowUp]:
    """The patient's follow-ups to the project's questionnaire, oldest first (none dated after `on`, none whose
    subject is another patient than the record's)."""
    url = follow_up_url()
    patient = f"Patient/{record.demographics.id}" if record.demographics.id else None
    found = [
        read_follow_up(qr)
        for qr in record.questionnaire_responses
        if qr.questionnaire == url
        and qr.status in FOLLOW_UP_STATUSES
        # a server that ignores the patient search parameter returns everyone's responses: never another patient's
        and (patient is None or qr.subject is None or qr.subject.split("/_history", 1)[0] == patient)
    ]
    found = [f for f in found if on is None or f.authored is None or f.authored <= on]
    return sorted(found, key=lambda f: (f.when or date.min, f.reference))


def pain_scores(record: PatientRecord, on: datetime) -> list[PainScore]:
    """Pain severity scores up to `on`, oldest first: the one pain-score reader (core/course.py,
    mappings/pain_scores.json); the BPI interference score is another construct and is not a response."""
    since = date.min if not record.observations else min((o.when or on).date() for o in record.observations)
    scores = course_history.pain_scores(record, since=since, until=on.date())
    return [p for p in scores if p.code.kind == "severity" and p.when <= on]


def _pain_evidence(score: PainScore) -> Evidence:
    return Evidence(score.reference, score.code.label, score.when, f"{score.value:g}")


# -- response -----------------------------------------------------------------------------------------------------

Criterion = Literal["pain", "relief", "function", "opioid"]


@dataclass(frozen=True, slots=True)
class ResponseCheck:
    """One response criterion as documented after the course began."""

    criterion: Criterion
    responded: bool | None  # None: documented but not enough to say (e.g. opioids "reduced", amount not given)
    text: str  # "pain 7 -> 4 (-43%, response: >= 30%)"
    evidence: Evidence
    when: date


@dataclass(frozen=True, slots=True)
class CourseResponse:
    course: Course
    baseline_pain: PainScore | None  # the last pain score at or before the course began
    checks: tuple[ResponseCheck, ...]  # the latest of each criterion documented after the course began
    documented: tuple[Evidence, ...]  # every response record after the course began
    follow_ups: tuple[FollowUp, ...]  # follow-ups after the course began

    @property
    def responded(self) -> bool:
        return any(c.responded for c in self.checks)

    @property
    def any_documented(self) -> bool:
        return bool(self.documented)

    @property
    def adverse_effects(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for f in self.follow_ups for e in f.adverse_effects))

    @property
    def serious(self) -> bool:
        return any(f.serious for f in self.follow_ups)


def _change(before: float, after: float) -> float | None:
    return None if before <= 0 else (after - before) / before * 100


def _pain_check(baseline: PainScore | None, value: float, source: Evidence, when: date, scale: str) -> ResponseCheck:
    if baseline is None:
        return ResponseCheck("pain", None, f"pain {value:g} ({scale}); no pain score before the course", source, when)
    change = _change(baseline.value, value)
    if change is None:
        return ResponseCheck("pain", None, f"pain {baseline.value:g} -> {value:g} ({scale})", source, when)
    responded = -change >= PAIN_RELIEF_RESPONSE
    word = "response" if responded else "no response"
    return ResponseCheck(
        "pain",
        responded,
        f"pain {baseline.value:g} -> {value:g} ({change:+.0f}%, {word}: ASRA >= 30% decrease; {scale})",
        source,
        when,
    )


def course_response(
    record: PatientRecord,
    course: Course,
    on: datetime,
    *,
    opioid_change: ResponseCheck | None = None,
    until: datetime | None = None,
) -> CourseResponse:
    """What was documented about the response to `course` after it began, up to `on` (or before `until`, e.g. the
    next course's first treatment, for a report on past courses).

    `opioid_change`: the MME change since the course began (OPI-BASELINE), when the caller has it."""
    started = course.started_at or datetime.combine(course.start, datetime.min.time(), tzinfo=on.tzinfo)
    scores = pain_scores(record, on)
    before = [p for p in scores if p.when <= started]
    after = [p for p in scores if p.when > started and (until is None or p.when < until)]
    baseline = before[-1] if before else None
    checks: list[ResponseCheck] = []
    if after:
        latest = after[-1]
        same_scale = baseline if baseline is not None and baseline.code.code == latest.code.code else None
        checks.append(
            _pain_check(same_scale, latest.value, _pain_evidence(latest), latest.when.date(), latest.code.label)
        )
    ups = [
        f
        for f in follow_ups(record, on)
        if f.when is not None and f.when > course.start and (until is None or f.when < until.date())
    ]
    if ups:
        latest_up = ups[-1]
        ev = Evidence(latest_up.reference, "follow-up questionnaire", latest_up.authored)
        when = latest_up.when or course.end
        if latest_up.relief_percent is not None:
            responded = latest_up.relief_percent >= PAIN_RELIEF_RESPONSE
            word = "response" if responded else "no response"
            checks.append(
                ResponseCheck(
                    "relief",
                    responded,
                    f"reported relief {latest_up.relief_percent:g}% ({word}: ASRA >= 30%)",
                    ev,
                    when,
                )
            )
        elif latest_up.pain is not None and not after:
            nrs = baseline if baseline is not None and baseline.value <= 10 else None
            checks.append(_pain_check(nrs, latest_up.pain, ev, when, "follow-up, 0-10"))
        if latest_up.function is not None:
            better = latest_up.function in BETTER_FUNCTION
            checks.append(ResponseCheck("function", better, f"function {latest_up.function}", ev, when))
        if latest_up.opioid_use in ("stopped", "reduced"):
            amount = "stopped" if latest_up.opioid_use == "stopped" else "reduced (amount not stated)"
            checks.append(
                ResponseCheck(
                    "opioid", True if latest_up.opioid_use == "stopped" else None, f"opioids {amount}", ev, when
                )
            )
    if opioid_change is not None:
        checks = [c for c in checks if c.criterion != "opioid"] + [opioid_change]
    documented = [_pain_evidence(p) for p in after] + [
        Evidence(u.reference, "follow-up questionnaire", u.authored) for u in ups
    ]
    return CourseResponse(course, baseline, tuple(checks), tuple(documented), tuple(ups))


def opioid_reduction_check(baseline_mme: float, now_mme: float, evidence: Evidence, when: date) -> ResponseCheck:
    """The opioid criterion from MME/day at the course start and now (ASRA: >= 20% reduction)."""
    change = _change(baseline_mme, now_mme)
    if change is None:
        return ResponseCheck("opioid", None, "no opioid at the course start", evidence, when)
    responded = -change >= OPIOID_REDUCTION_RESPONSE
    word = "response" if responded else "no response"
    return ResponseCheck(
        "opioid",
        responded,
        f"opioids {baseline_mme:g} -> {now_mme:g} MME/day ({change:+.0f}%, {word}: ASRA >= 20% reduction)",
        evidence,
        when,
    )
