"""A patient's course over time: opioid MME/day, ketamine treatments and pain scores, over the same window.

The SMART app draws these; course-of-treatment rules (opioid baseline at the first ketamine treatment, response
before the next one, re-introduction after a taper) read the same typed history. Pure: the caller passes the record,
the date and the local defaults (`timeline_lookback_days`, `timeline_assumed_days`, `mme_table`).

Pain scores are Observations coded with the LOINC codes of the Standardized Pain Assessment Tool value set
(mappings/pain_scores.json), status final, amended or corrected, with a numeric value. Ketamine treatments are the
distinct treatment days the FREQ rule counts (`safety.history.treatment_history`: completed or in-progress
administrations and active or completed orders; esketamine is not counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Literal

from smart_app.config import LocalDefaults
from smart_app.core.mme.timeline import MmeTimeline, mme_timeline
from smart_app.core.model import LOINC, PatientRecord, normalise_code
from smart_app.core.safety.history import treatment_history
from smart_app.mappings import read_json

PainKind = Literal["severity", "interference"]
PAIN_STATUSES = frozenset({"final", "amended", "corrected"})


@dataclass(frozen=True, slots=True)
class PainCode:
    code: str
    display: str
    kind: PainKind
    label: str  # "pain 0-10 (numeric rating)"


@dataclass(frozen=True, slots=True)
class PainScore:
    reference: str  # "Observation/abc"
    when: datetime
    value: float
    code: PainCode

    @property
    def on_0_to_10(self) -> bool:
        """A pain severity on the 0-10 scale (drawn on the pain chart); anything else is listed as recorded."""
        return self.code.kind == "severity" and 0 <= self.value <= 10


@dataclass(frozen=True, slots=True)
class KetamineTreatment:
    day: date
    references: tuple[str, ...]  # the administrations and orders recorded for that day
    descriptions: tuple[str, ...]  # "MedicationAdministration ketamine 10 MG/ML Injectable Solution (completed)"


@dataclass(frozen=True, slots=True)
class CourseHistory:
    first_day: date
    last_day: date  # today
    mme: MmeTimeline
    ketamine: tuple[KetamineTreatment, ...]  # oldest first
    undated_ketamine: tuple[str, ...]  # ketamine records with no date (not drawn, listed)
    pain: tuple[PainScore, ...]  # oldest first

    def pain_near(self, day: date, *, before_days: int = 1, after_days: int = 0) -> tuple[PainScore, ...]:
        """Pain scores from `before_days` before `day` to `after_days` after it."""
        low, high = day - timedelta(days=before_days), day + timedelta(days=after_days)
        return tuple(p for p in self.pain if low <= p.when.date() <= high)


@cache
def pain_codes() -> tuple[PainCode, ...]:
    data = read_json("pain_scores.json")
    return tuple(PainCode(c["code"], c["display"], c["kind"], c["label"]) for c in data["codes"])


def pain_scores(record: PatientRecord, *, since: date, until: date) -> tuple[PainScore, ...]:
    codes = {normalise_code(LOINC, c.code): c for c in pain_codes()}
    scores = []
    for obs in record.observations_coded((LOINC, code) for code in codes):
        when = obs.when
        value = obs.value_quantity.value if obs.value_quantity else None
        if obs.status not in PAIN_STATUSES or when is None or value is None or not since <= when.date() <= until:
            continue
        code = next(codes[k] for s, k in ((c.system, c.code) for c in obs.code.codings) if s == LOINC and k in codes)
        scores.append(PainScore(obs.reference, when, value, code))
    return tuple(sorted(scores, key=lambda p: (p.when, p.reference)))


def course_history(record: PatientRecord, *, on: datetime, settings: LocalDefaults) -> CourseHistory:
    timeline = mme_timeline(record.medications, on=on, settings=settings)
    history = treatment_history(record, on, settings.timeline_lookback_days)
    by_day: dict[date, list[tuple[str, str]]] = {}
    for evidence in history.evidence:
        if evidence.date is not None:
            by_day.setdefault(evidence.date.date(), []).append((evidence.reference, evidence.description))
    treatments = tuple(
        KetamineTreatment(
            day,
            tuple(dict.fromkeys(ref for ref, _ in by_day.get(day, []))),
            tuple(dict.fromkeys(text for _, text in by_day.get(day, []))),
        )
        for day in history.days
    )
    return CourseHistory(
        first_day=timeline.first_day,
        last_day=timeline.last_day,
        mme=timeline,
        ketamine=treatments,
        undated_ketamine=history.undated,
        pain=pain_scores(record, since=timeline.first_day, until=timeline.last_day),
    )
