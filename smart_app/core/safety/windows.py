"""Which observations and conditions the rules can ever read, so that the record builder may skip the rest unread.

The rules read observations only through value sets and look-back windows (`evidence.observations_in`,
`vitals.latest_bp`): a result counts when its status is a result status and it is dated within a window of the
evaluation time. The exceptions read the newest result of any age: the last ECG (`latest(record, "ecg", on)`)
and the last usable body weight (`current_weight(record, on, None)`). Conditions are read only through value
sets. `Relevance` states this once, from the settings, for `smart_app.fhir.record.build_record`:

- an observation whose status is not a result status is never read;
- one dated within the longest window (plus a day, for time zones) of `on`, or after it, is kept;
- a pain score (FREQ-RESPONSE: documented after the most recent course of the last year began, and the newest
  one before it as the baseline) is kept within the year (the treatment history's look-back) plus a day;
- an older one is kept only when it is the newest older result of a value set read at any age (for the body
  weight: the newest with a usable unit; the pain score, as the baseline of a course), ties included;
- a condition is kept when one of its codings is in some value set;
- anything whose code, status or date cannot be read cheaply is kept (and parsed, so a broken one is reported).

A rule that reads observations or conditions in another way must be added here (tests/perf/test_relevance.py
compares the findings with and without this filter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from smart_app.config import LocalDefaults
from smart_app.core.model import Concept, Observation, normalise_code
from smart_app.core.safety.evidence import RESULT_STATUSES
from smart_app.core.safety.history import YEAR_DAYS
from smart_app.core.safety.terminology import ValueSet, value_set, value_set_names
from smart_app.core.safety.vitals import _kg as usable_weight_kg

ANY_AGE_VALUE_SETS = ("ecg", "body-weight", "pain-score")
YEAR_WINDOW_VALUE_SETS = ("pain-score",)  # read over the treatment history's year (core/safety/history.py)


@dataclass(frozen=True, slots=True)
class Relevance:
    on: datetime
    since: datetime  # observations dated before this are older than every window
    any_age: tuple[ValueSet, ...]
    any_age_by_coding: dict[tuple[str, str], ValueSet]
    year_since: datetime | None = None  # YEAR_WINDOW_VALUE_SETS results dated before this are older than a year

    @staticmethod
    def result_status(status: object) -> bool:
        return status in RESULT_STATUSES

    def in_window(self, when: datetime) -> bool:
        return when >= self.since

    def in_year_window(self, code: Concept, when: datetime) -> bool:
        """A result of a set read over the year (the pain score), dated within it."""
        if self.year_since is None or when < self.year_since:
            return False
        year = _by_coding(YEAR_WINDOW_VALUE_SETS)
        return any(
            (coding.system, normalise_code(coding.system, coding.code)) in year
            for coding in code.codings
            if coding.system and coding.code
        )

    def any_age_set(self, code: Concept) -> ValueSet | None:
        by_coding = self.any_age_by_coding
        for coding in code.codings:
            if coding.system and coding.code:
                found = by_coding.get((coding.system, normalise_code(coding.system, coding.code)))
                if found is not None:
                    return found
        return None

    @staticmethod
    def usable(vs: ValueSet, observation: Observation) -> bool:
        """Whether the rule reading `vs` at any age would take this (older, result-status) observation."""
        if vs.name == "body-weight":
            return usable_weight_kg(observation.value_quantity) is not None
        return True

    @staticmethod
    def coded(code: Concept) -> bool:
        """Whether some value set holds one of the concept's codings (as `ValueSet.contains` matches them)."""
        exact = _union()
        return any(
            (coding.system, normalise_code(coding.system, coding.code)) in exact
            for coding in code.codings
            if coding.system and coding.code
        )


def relevance_for(on: datetime, settings: LocalDefaults) -> Relevance:
    days = max(
        settings.weight_lookback_days,
        settings.ecg_lookback_days,
        settings.lft_lookback_days,
        settings.bp_lookback_days,
        settings.pregnancy_test_lookback_days,
    )
    sets = tuple(value_set(n) for n in ANY_AGE_VALUE_SETS)
    year = on - timedelta(days=YEAR_DAYS + 1)
    return Relevance(on, on - timedelta(days=days + 1), sets, _by_coding(ANY_AGE_VALUE_SETS), year)


@cache
def _by_coding(names: tuple[str, ...]) -> dict[tuple[str, str], ValueSet]:
    """The named sets by each of their (system, normalised code) pairs; the first set listing a pair wins, as a
    scan of the sets in order would."""
    found: dict[tuple[str, str], ValueSet] = {}
    for vs in (value_set(n) for n in names):
        for key in vs.exact_codings:
            found.setdefault(key, vs)
    return found


@cache
def _union() -> frozenset[tuple[str, str]]:
    """Every value set's (system, normalised code) pairs."""
    return frozenset(key for name in value_set_names() for key in value_set(name).exact_codings)
