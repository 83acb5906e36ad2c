"""Which observations and conditions the rules can ever read, so that the record builder may skip the rest unread.

The audit, kept here so that it is maintained in one place: every reader of observations in the hook path (the
CDS services build their record with this filter; the SMART app, the outcomes report and the CLI do not). Each
kind of observation is a value set; its window is the longest any reader of that set looks back, and "newest
older" says that some rule also reports the newest result older than the window ('last X was on <date>'), so
that one is kept too.

| kind (value sets)          | read by                                                      | how far back       |
| -------------------------- | ------------------------------------------------------------ | ------------------ |
| body-weight                | engine.evaluate `current_weight(.., weight_lookback_days)`:   | weight_lookback_days |
|                            | the dose rules' mg/kg, PRE-LFT's high-dose rate, protocols,  | + the newest older |
|                            | the ketamine exposure; rules/dosing.py `_no_weight`: the     | usable one (known  |
|                            | newest usable weight of any age, 'outside the look-back'     | unit, plausible)   |
| systolic-bp, diastolic-bp  | vitals.latest_bp (single readings): CV-HTN, PRE-ECG's BP      | bp_lookback_days   |
| any observation with       | vitals.latest_bp reads the systolic/diastolic components of  | bp_lookback_days   |
| components (a BP panel)    | every panel, whatever the panel's own code                   | (PANEL_LOOKBACK)   |
| ecg                        | PRE-ECG: the latest within ecg_lookback_days; when none, the | ecg_lookback_days  |
|                            | latest of any age: 'the most recent ECG is from <date>'      | + the newest older |
| alt, ast, bilirubin, alp   | hepatic.recent_liver_tests: CI-HEP and PRE-LFT               | lft_lookback_days  |
| hcg-qualitative            | CI-PREG (`observations_in`)                                  | pregnancy_test_... |
| pain-score                 | FREQ-RESPONSE (safety/course.course_response): the scores    | the year           |
|                            | after the last course of the year began, and its baseline,   | (YEAR_DAYS)        |
|                            | the newest one before it, of any age (final, amended or      | + the newest older |
|                            | corrected, with a value: core/course.pain_scores)            | usable one         |

Not readers of content: safety/course.pain_scores takes the earliest date of all observations as its lower bound,
which never excludes a pain score that is kept; `PatientRecord.observations_coded` is the index the readers use.
bp-panel (85354-9) is read only through its components (the row above), and observations in no value set are read
by no rule.

`Relevance` states this from the settings, for `smart_app.fhir.record.build_record`:

- an observation whose status is not a result status is never read;
- one dated within its kind's window (plus a day, for time zones) of `on`, or after it, is kept (an observation of
  several kinds: the longest of their windows);
- an older one is kept only when it is the newest older result of a kind read at any age that the reader would
  take (`Relevance.usable`), ties included;
- an observation whose code cannot be read, or that has none, is kept within the longest window (as any broken
  resource there is read, to be reported);
- a condition is kept when one of its codings is in some value set;
- anything whose code, status or date cannot be read cheaply is kept (and parsed, so a broken one is reported).

A rule that reads observations or conditions in another way, or a new look-back, must be added to READERS and the
table (tests/perf/test_relevance.py and tests/perf/test_relevance_kinds.py compare the findings and cards with
and without this filter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from smart_app.config import LocalDefaults
from smart_app.core.course import PAIN_STATUSES
from smart_app.core.model import Concept, Observation, normalise_code
from smart_app.core.safety.evidence import RESULT_STATUSES
from smart_app.core.safety.history import YEAR_DAYS
from smart_app.core.safety.terminology import value_set, value_set_names
from smart_app.core.safety.vitals import _kg as usable_weight_kg


@dataclass(frozen=True, slots=True)
class Reader:
    """One kind of observation the rules read (a row of the module's table)."""

    value_set: str
    lookback: str | None  # the LocalDefaults setting of its window (days); None: the treatment history's year
    newest_older: bool = False  # a rule also reports the newest result older than the window


READERS: tuple[Reader, ...] = (
    Reader("body-weight", "weight_lookback_days", newest_older=True),
    Reader("systolic-bp", "bp_lookback_days"),
    Reader("diastolic-bp", "bp_lookback_days"),
    Reader("ecg", "ecg_lookback_days", newest_older=True),
    Reader("alt", "lft_lookback_days"),
    Reader("ast", "lft_lookback_days"),
    Reader("bilirubin", "lft_lookback_days"),
    Reader("alp", "lft_lookback_days"),
    Reader("hcg-qualitative", "pregnancy_test_lookback_days"),
    Reader("pain-score", None, newest_older=True),
)
PANEL_LOOKBACK = "bp_lookback_days"  # any observation with components: vitals.latest_bp's panels
MARGIN = timedelta(days=1)  # a window counted from another time zone's day is never a day longer


@dataclass(frozen=True, slots=True)
class CodeWindow:
    """What the filter needs of one observation code, the same for every observation coded alike."""

    since: datetime | None  # results dated before this are older than every window of its kinds (None: no kind)
    newest_older: tuple[str, ...]  # its kinds of which the newest older result is read


@dataclass(frozen=True, slots=True)
class Relevance:
    on: datetime
    since_by_set: Mapping[str, datetime]  # READERS' value set -> results dated before this are outside its window
    panel_since: datetime  # an observation with components dated before this is outside the BP window
    since: datetime  # the longest window: for observations whose code cannot be read

    @staticmethod
    def result_status(status: object) -> bool:
        return status in RESULT_STATUSES

    def window_of(self, code: Concept | None) -> CodeWindow:
        """The window of an observation coded `code` (None: its code is missing or unreadable)."""
        if code is None:
            return CodeWindow(self.since, ())
        names = _kinds_of(code)
        since = min((self.since_by_set[n] for n in names), default=None)
        return CodeWindow(since, tuple(n for n in names if n in _NEWEST_OLDER))

    @staticmethod
    def usable(name: str, observation: Observation) -> bool:
        """Whether the reader of kind `name` at any age would take this (older, result-status) observation."""
        if name == "body-weight":  # vitals.current_weight: a known unit and a plausible weight
            return usable_weight_kg(observation.value_quantity) is not None
        if name == "pain-score":  # core/course.pain_scores: a final score with a value
            q = observation.value_quantity
            return observation.status in PAIN_STATUSES and q is not None and q.value is not None
        return True  # the ECG: any result (`evidence.latest`)

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
    def since(lookback: str | None) -> datetime:
        days = YEAR_DAYS if lookback is None else int(getattr(settings, lookback))
        return on - timedelta(days=days) - MARGIN

    by_set = {r.value_set: since(r.lookback) for r in READERS}
    panel = since(PANEL_LOOKBACK)
    return Relevance(on, by_set, panel, min((*by_set.values(), panel)))


_NEWEST_OLDER = frozenset(r.value_set for r in READERS if r.newest_older)


def _kinds_of(code: Concept) -> tuple[str, ...]:
    """The READERS' value sets holding one of the concept's codings, in READERS' order."""
    by_coding = _readers_by_coding()
    found: dict[str, None] = {}
    for coding in code.codings:
        if coding.system and coding.code:
            for name in by_coding.get((coding.system, normalise_code(coding.system, coding.code)), ()):
                found[name] = None
    return tuple(n for n in _reader_names() if n in found)


@cache
def _reader_names() -> tuple[str, ...]:
    return tuple(r.value_set for r in READERS)


@cache
def _readers_by_coding() -> dict[tuple[str, str], tuple[str, ...]]:
    """(system, normalised code) -> the READERS' value sets listing it."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for name in _reader_names():
        for key in value_set(name).exact_codings:
            found[key] = (*found.get(key, ()), name)
    return found


@cache
def _union() -> frozenset[tuple[str, str]]:
    """Every value set's (system, normalised code) pairs."""
    return frozenset(key for name in value_set_names() for key in value_set(name).exact_codings)
