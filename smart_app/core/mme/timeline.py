"""MME/day over time from the medication history: a typed timeline to draw and for course-of-treatment rules.

Each opioid MedicationRequest (an order or plan) and MedicationStatement that was or is being taken becomes one
`MedicationSpan`: the days it covers, how those days were found (`basis`, and `how` in words), whether any of them
had to be assumed, and its MME/day while taken (the same `MmeItem`, with its derivation, that today's total gives).
The spans are then cut into `TimelineSegment`s: runs of days on which the same medications were taken, each with the
total MME/day of those days, computed by the one MME engine (each medication assessed once by `assess_medication`,
each segment's total made from those items by `totals_of`, de-duplication included), so that the segment for today
is the current total.

The days a medication covers, the first rule that applies (days are whole calendar days, both ends included):

MedicationStatement
- `effectivePeriod` with a start and an end: as recorded.
- active: from its start (effective start, else `dateAsserted`) until today, as today's total counts it.
- a taper (below) that is not active: the union of its steps' days.
- a start and no end (completed or stopped): ASSUMED to last `timeline_assumed_days` (local default).

MedicationRequest (start: the (first step's) dosage `timing.repeat.boundsPeriod.start`, else `authoredOn`, else
`dispenseRequest.validityPeriod.start`)
- active: from its start until today, as today's total counts it (the prescriber's current instruction, counted
  today whatever its dosage bounds say: a taper runs on through its later steps).
- a taper (below) that is not active: the union of its steps' days.
- a dosage `boundsPeriod` with an end: as recorded.
- a dosage `boundsDuration`: start + that duration.
- `dispenseRequest.expectedSupplyDuration`: start + supply x (1 + `numberOfRepeatsAllowed`), ASSUMED taken as supplied.
- `dispenseRequest.validityPeriod` with an end: ASSUMED taken until the prescription could no longer be dispensed.
- otherwise: ASSUMED to last `timeline_assumed_days`.

A taper (dosages of different `sequence`s whose first step ends: engine `taper_steps`, read as today's total reads
them) is charted step by step, each step on the days it was in force, whatever its status: the medication's days are
the union of its steps' days, to its last step's end (a recorded boundsPeriod end included, as for one step). When
a step has no end (a taper stopped at that step), that step lasts as the order's supply or validity period gives
when they reach into it, else it is ASSUMED to last `timeline_assumed_days` from its first day: the steps recorded
before it are never cut short by an assumption (the conservative reading: no recorded opioid day is dropped).

A span that is not active ends before today at the latest (a completed order is not today's medication), so the last
segment always agrees with today's total. Requests that are not orders (proposal, option), draft, cancelled,
on-hold, entered-in-error and not-taken records, intended statements, and MedicationAdministrations (single events,
not ongoing use) are not opioid use over time and are left out; a record whose status is missing or unknown, or
that gives no date at all, is listed in `unplaced` with the reason, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal

from smart_app.config import LocalDefaults, MmeTable
from smart_app.core.mme.engine import (
    Assessed,
    TaperSteps,
    assess_as_taken,
    opioid_ingredient,
    same_on_any_day,
    step_at,
    taper_steps,
    totals_in_order,
)
from smart_app.core.mme.factors import table_info
from smart_app.core.mme.listing import ORDER_INTENTS
from smart_app.core.mme.report import MmeItem
from smart_app.core.model import MedicationUse, Period, Quantity, quick_frozen

Basis = Literal["recorded-period", "dosage-bounds", "ongoing", "supply-duration", "validity-period", "assumed-length"]

TAKEN_STATUSES = frozenset({"active", "completed", "stopped"})
_UNKNOWN_STATUSES = frozenset({None, "unknown"})
# UCUM duration codes (and the words EHRs send in `unit`) in days; a month is 30 days, a year 365.
_DAYS_PER_UNIT = {
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "wk": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "mo": 30.0,
    "month": 30.0,
    "months": 30.0,
    "a": 365.0,
    "year": 365.0,
    "years": 365.0,
    "h": 1 / 24,
}


@quick_frozen
@dataclass(frozen=True, slots=True)
class MedicationSpan:
    """One opioid medication over the days it was (or is) taken."""

    reference: str  # "MedicationRequest/abc"
    name: str
    ingredient: str | None
    status: str | None
    first_day: date
    last_day: date  # inclusive; today for an ongoing medication
    ongoing: bool  # still current (counted in today's total)
    basis: Basis
    how: str  # "authoredOn 2026-01-12 + 3 x 30 days' supply (first fill and 2 repeats)"
    assumed: bool  # the record does not give the whole period: part of it is an assumption (see `how`)
    item: MmeItem  # the medication's MME/day while taken, with its derivation or why it is not computable

    @property
    def mme_per_day(self) -> float | None:
        return self.item.mme_per_day if self.item.status == "counted" else None

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@quick_frozen
@dataclass(frozen=True, slots=True)
class TimelineSegment:
    """A run of days on which the same opioid medications were taken."""

    first_day: date
    last_day: date  # inclusive
    total: float | None  # MME/day; 0.0 with no opioid; None when there were opioids and none could be computed
    counted: tuple[str, ...]  # references in the total
    left_out: tuple[str, ...]  # opioid references taken on these days whose MME/day could not be counted
    assumed: bool  # the total rests on at least one assumed period (of a medication it counts)

    @property
    def complete(self) -> bool:
        return not self.left_out

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True, slots=True)
class Unplaced:
    """An opioid record that could not be put on the timeline, and why."""

    reference: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class MmeTimeline:
    table: MmeTable
    table_label: str  # "CDC 2022"
    figure: str  # "MME/day" or "mg/day oMEDD"
    first_day: date  # the window drawn: today - timeline_lookback_days + 1 ...
    last_day: date  # ... today
    spans: tuple[MedicationSpan, ...]  # every opioid medication taken at any time, by first day
    segments: tuple[TimelineSegment, ...]  # contiguous, covering first_day..last_day
    unplaced: tuple[Unplaced, ...]
    assumed_days: int  # the local default used for assumed lengths (timeline_assumed_days)

    def on(self, day: date) -> TimelineSegment | None:
        """The segment covering `day`, or None outside the window."""
        return next((s for s in self.segments if s.first_day <= day <= s.last_day), None)

    def spans_on(self, day: date) -> tuple[MedicationSpan, ...]:
        return tuple(s for s in self.spans if s.covers(day))

    @property
    def peak(self) -> TimelineSegment | None:
        """The segment with the highest computable total in the window (the earliest of equal ones)."""
        known = [s for s in self.segments if s.total is not None]
        return max(known, key=lambda s: s.total or 0.0) if known else None

    @property
    def assumed(self) -> tuple[MedicationSpan, ...]:
        return tuple(s for s in self.spans if s.assumed)

    @property
    def has_opioids(self) -> bool:
        return any(s.counted or s.left_out for s in self.segments)


def _days(quantity: Quantity | None) -> float | None:
    if quantity is None or quantity.value is None or quantity.value <= 0:
        return None
    per = _DAYS_PER_UNIT.get((quantity.code or "").strip()) or _DAYS_PER_UNIT.get((quantity.unit or "").strip().lower())
    return quantity.value * per if per else None


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _bounds(med: MedicationUse) -> tuple[Period | None, Quantity | None]:
    for dosage in med.dosages:
        repeat = dosage.timing.repeat if dosage.timing else None
        if repeat is not None and (repeat.bounds_period is not None or repeat.bounds_duration is not None):
            return repeat.bounds_period, repeat.bounds_duration
    return None, None


def _ymd(day: date) -> str:
    """`f"{day:%Y-%m-%d}"`, about five times faster (isoformat is the same text for a four-digit year)."""
    return day.isoformat() if day.year >= 1000 else f"{day:%Y-%m-%d}"


def _count(n: float) -> str:
    return f"{n:g}"


@quick_frozen
@dataclass(frozen=True, slots=True)
class _Placed:
    first_day: date
    last_day: date | None  # None: ongoing
    basis: Basis
    how: str
    assumed: bool


def _assumed_length(first: date, what: str, assumed_days: int) -> _Placed:
    last = first + timedelta(days=assumed_days - 1)
    how = (
        f"{what} {_ymd(first)}; no end, supply or validity period recorded: assumed {assumed_days} days "
        "(local default, timeline_assumed_days)"
    )
    return _Placed(first, last, "assumed-length", how, True)


def _taper(med: MedicationUse) -> TaperSteps | None:
    """The medication's successive dosage steps when it moves on from its first (None: one step in force)."""
    found = taper_steps(med) if len({dosage.sequence for dosage in med.dosages}) > 1 else None
    return found if found is not None and found.changes else None


def _taper_place(
    taper: TaperSteps, start: date, what: str, clock: time, assumed_days: int, supplied: _Placed | None = None
) -> _Placed:
    """A taper no longer current: the union of its steps' days, each step on its own (as `_step_pieces` cuts them).
    Its last step's recorded end is included, as one step's is; a duration ends as the steps' changes do. A step
    with no end (the taper stopped there): until the end of the order's supply or validity (`supplied`) when that
    reaches into the step, else ASSUMED to last `timeline_assumed_days` from its first day; the recorded steps
    before it are never cut short by an assumption."""
    if taper.end is not None:
        last = _day(taper.end) if taper.end_recorded else _change_day(taper.end, clock) - timedelta(days=1)
        last = max(last or start, start)
        how = f"{what} {_ymd(start)}, its {taper.count} dosage steps to {_ymd(last)}"
        return _Placed(start, last, "dosage-bounds", how, False)
    open_first = max(_change_day(taper.changes[-1], clock), start)
    opened = f"step {len(taper.changes) + 1} of {taper.count} (from {_ymd(open_first)}) has no end"
    if supplied is not None and supplied.last_day is not None and supplied.last_day >= open_first:
        return replace(supplied, how=f"{supplied.how}; {opened}")
    last = open_first + timedelta(days=assumed_days - 1)
    how = (
        f"{what} {_ymd(start)}, its dosage steps; {opened}: assumed {assumed_days} days "
        "(local default, timeline_assumed_days)"
    )
    return _Placed(start, last, "assumed-length", how, True)


def _place_statement(med: MedicationUse, assumed_days: int, clock: time, taper: TaperSteps | None) -> _Placed | str:
    effective = med.effective
    start = _day(effective.start if effective else None)
    end = _day(effective.end if effective else None)
    what = "effective from"
    if start is None and med.recorded is not None:
        start, what = _day(med.recorded), "asserted on"
    if start is None:
        return "the statement gives no date (no effective period, effectiveDateTime or dateAsserted)"
    if end is not None:
        return _Placed(start, max(end, start), "recorded-period", f"effective {_ymd(start)} to {_ymd(end)}", False)
    if med.status == "active":
        return _Placed(
            start, None, "ongoing", f"{what} {_ymd(start)}, active: taken until today", what != "effective from"
        )
    if taper is not None:
        return _taper_place(taper, start, what, clock, assumed_days)
    return _assumed_length(start, what, assumed_days)


def _supplied(med: MedicationUse, start: date, what: str) -> _Placed | None:
    """An order's days from its dispense request: its expected supply times its fills, else its validity period."""
    supply = _days(med.expected_supply)
    if supply is not None:
        fills = 1 + max(med.repeats_allowed or 0, 0)
        last = start + timedelta(days=max(round(supply * fills), 1) - 1)
        repeats = f"first fill and {fills - 1} repeat{'s' if fills != 2 else ''}" if fills > 1 else "one fill"
        how = (
            f"{what} {_ymd(start)} + {fills} x {_count(supply)} days' expected supply ({repeats}): "
            "assumed taken as supplied"
        )
        return _Placed(start, last, "supply-duration", how, True)
    validity = med.effective  # dispenseRequest.validityPeriod
    validity_end = _day(validity.end if validity else None)
    if validity_end is not None:
        how = (
            f"{what} {_ymd(start)} to the end of its validity period {_ymd(validity_end)}: assumed taken "
            "while it could be dispensed"
        )
        return _Placed(start, max(validity_end, start), "validity-period", how, True)
    return None


def _place_request(med: MedicationUse, assumed_days: int, clock: time, taper: TaperSteps | None) -> _Placed | str:
    if taper is None:
        bounds_period, bounds_duration = _bounds(med)
        bounds_start = bounds_period.start if bounds_period else None
    else:  # a taper's first step gives its start; its steps, not the first one's bounds, give its end
        bounds_period, bounds_duration, bounds_start = None, None, taper.start
    validity = med.effective  # dispenseRequest.validityPeriod
    start = _day(bounds_start)
    what = "dosage bounds from"
    if start is None and med.recorded is not None:
        start, what = _day(med.recorded), "authoredOn"
    if start is None and validity is not None and validity.start is not None:
        start, what = _day(validity.start), "validity period from"
    if start is None:
        return "the order gives no date (no authoredOn, dosage bounds or validity period)"
    end = _day(bounds_period.end if bounds_period else None)
    if med.status == "active":
        # The prescriber's current instruction: today's total counts an active order whatever its bounds say, so
        # its days run to today (a taper through its later steps), and today's segment stays today's total.
        bounded = f" (its dosage bounds end {_ymd(end)}; still active, so counted today)" if end else ""
        how = f"{what} {_ymd(start)}, active order: taken until today{bounded}"
        return _Placed(start, None, "ongoing", how, False)
    if taper is not None:
        return _taper_place(taper, start, what, clock, assumed_days, _supplied(med, start, what))
    if end is not None:
        how = f"dosage bounds {_ymd(start)} to {_ymd(end)}"
        return _Placed(start, max(end, start), "dosage-bounds", how, False)
    bound_days = _days(bounds_duration)
    if bound_days is not None:
        last = start + timedelta(days=max(round(bound_days), 1) - 1)
        how = f"{what} {_ymd(start)} + dosage bounds of {_count(bound_days)} days"
        return _Placed(start, last, "dosage-bounds", how, False)
    supplied = _supplied(med, start, what)
    return supplied if supplied is not None else _assumed_length(start, what, assumed_days)


def _assessed(med: MedicationUse, table: MmeTable, on: datetime | None = None) -> Assessed | None:
    """The medication assessed as if current (`assess_as_taken`: as if active, with no effective period, so the MME
    engine gives its figure for the days it covers, whatever the hour a statement ended), at its first dosage step,
    or at the step in force on `on`. On its own it is never a duplicate (no other medication, and no draft that
    could renew), so its item is the span's; each segment's report is made from these same assessments
    (`totals_in_order`), which marks duplicates between the medications of those days."""
    return assess_as_taken(med, table=table, on=on)


def _change_day(moment: datetime, clock: time) -> date:
    """The first day whose `clock` time is at or after `moment`: from that day on, a step ending at `moment` is
    over. Each day of the timeline is read at the time of day of the calculation, so today is read exactly as
    today's total is."""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    day = moment.astimezone(clock.tzinfo).date()
    return day if datetime.combine(day, clock) >= moment else day + timedelta(days=1)


def _step_pieces(
    ends: tuple[datetime, ...], first_day: date, last_day: date, clock: time
) -> list[tuple[date, date, datetime]] | None:
    """The days of a taper's span cut where its step in force changes (`ends`: `step_changes`), each run with a
    moment on its first day (at the calculation's time of day) on which to assess it; None when one step is in
    force on every day."""
    cuts = sorted({day for day in (_change_day(end, clock) for end in ends) if first_day < day <= last_day})
    starts = [first_day, *cuts]
    pieces: list[tuple[date, date, datetime]] = []
    previous: int | None = None
    for start, after in zip(starts, [*cuts, last_day + timedelta(days=1)], strict=True):
        moment = datetime.combine(start, clock)
        index = step_at(ends, moment)
        if index == previous:  # steps whose ends are out of order: the same step on both sides of a cut
            pieces[-1] = (pieces[-1][0], after - timedelta(days=1), pieces[-1][2])
        else:
            pieces.append((start, after - timedelta(days=1), moment))
        previous = index
    return pieces if len(pieces) > 1 or step_at(ends, pieces[0][2]) != 0 else None


def _considered(med: MedicationUse) -> bool | None:
    """True: opioid use over time; False: not use (left out); None: status unknown (unplaced)."""
    if med.is_draft_order or med.resource_type == "MedicationAdministration":
        return False
    if med.status in _UNKNOWN_STATUSES:
        return None
    if med.resource_type == "MedicationRequest" and med.intent is not None and med.intent not in ORDER_INTENTS:
        return False
    return med.status in TAKEN_STATUSES


def _spans(
    medications: Sequence[MedicationUse],
    table: MmeTable,
    on: datetime,
    assumed_days: int,
    current: Sequence[Assessed | None] | None,
) -> tuple[list[tuple[MedicationSpan, Assessed]], list[Unplaced]]:
    today = on.date()
    clock = on.timetz()
    spans: list[tuple[MedicationSpan, Assessed]] = []
    unplaced: list[Unplaced] = []
    for index, med in enumerate(medications):
        considered = _considered(med)
        if considered is False or opioid_ingredient(med) is None:
            continue
        if considered is None:
            reason = f"status {med.status or 'missing'}: cannot tell whether or when it was taken"
            unplaced.append(Unplaced(med.reference, med.medication.label, reason))
            continue
        taper = _taper(med)
        place = (
            _place_statement(med, assumed_days, clock, taper)
            if med.resource_type == "MedicationStatement"
            else _place_request(med, assumed_days, clock, taper)
        )
        known = current[index] if current is not None else None
        assessed = known if known is not None and same_on_any_day(med) else _assessed(med, table)
        if isinstance(place, str) or assessed is None:
            unplaced.append(
                Unplaced(med.reference, med.medication.label, place if isinstance(place, str) else "not an opioid")
            )
            continue
        item = assessed.item
        ongoing = place.last_day is None
        last = today if ongoing else min(place.last_day or today, today - timedelta(days=1))
        how = place.how
        if not ongoing and place.last_day is not None and place.last_day >= today:
            how += f"; {med.status}, so it ends before today"
        if last < place.first_day:  # a non-current record starting today or later: not part of the history
            if ongoing:
                last = place.first_day
            else:
                continue
        span = MedicationSpan(
            reference=med.reference,
            name=med.medication.label,
            ingredient=item.ingredient,
            status=med.status,
            first_day=place.first_day,
            last_day=last,
            ongoing=ongoing,
            basis=place.basis,
            how=how,
            assumed=place.assumed,
            item=item,
        )
        pieces = _step_pieces(taper.changes, place.first_day, last, clock) if taper is not None else None
        if pieces is None:
            spans.append((span, assessed))
            continue
        # A taper: one span per run of days of one step, each with that step's figure (today's is today's total's).
        for start, end, moment in pieces:
            step = _assessed(med, table, moment)
            if step is None:  # not reached: the medication was assessed above, and only its step differs
                continue
            spans.append(
                (
                    replace(
                        span,
                        first_day=start,
                        last_day=end,
                        ongoing=ongoing and end == last,
                        how=f"{how}; {step.item.step or 'this step'} from {_ymd(start)} to {_ymd(end)}",
                        item=step.item,
                    ),
                    step,
                )
            )
    spans.sort(key=lambda pair: (pair[0].first_day, pair[0].reference))
    unplaced.sort(key=lambda u: u.reference)
    return spans, unplaced


def _segments(
    spans: Sequence[tuple[MedicationSpan, Assessed]], table: MmeTable, first: date, last: date
) -> tuple[TimelineSegment, ...]:
    cuts = {first, last + timedelta(days=1)}
    for span, _ in spans:
        for day in (span.first_day, span.last_day + timedelta(days=1)):
            if first < day <= last:
                cuts.add(day)
    bounds = sorted(cuts)
    # The spans that reach into the window, in the report's order once (a stable sort, as `totals_of` sorts each
    # segment's medications), so each segment's medications, taken in this order, need no sort of their own.
    ordered = sorted(
        (
            (span.first_day, span.last_day, span.assumed, span.reference, assessed)
            for span, assessed in spans
            if span.last_day >= first
        ),
        key=lambda row: (row[4].item.id, row[4].item.source),
    )
    runs: list[tuple[date, date, float | None, tuple[str, ...], tuple[str, ...], bool]] = []
    for start, after in pairwise(bounds):
        taken = [row for row in ordered if row[0] <= start <= row[1]]
        if taken:
            total, counted, left_out = totals_in_order([row[4] for row in taken])
            assumed = any(row[2] for row in taken if row[3] in counted)
        else:
            total, counted, left_out, assumed = 0.0, (), (), False
        end = after - timedelta(days=1)
        if runs and runs[-1][2:] == (total, counted, left_out, assumed):  # the same as the run before: extend it
            runs[-1] = (runs[-1][0], end, total, counted, left_out, assumed)
        else:
            runs.append((start, end, total, counted, left_out, assumed))
    return tuple(TimelineSegment(*run) for run in runs)


def mme_timeline(
    medications: Sequence[MedicationUse],
    *,
    on: datetime,
    settings: LocalDefaults,
    current: Sequence[Assessed | None] | None = None,
) -> MmeTimeline:
    """MME/day over the `timeline_lookback_days` up to `on` (today), from every opioid medication in the record.

    `current`: the same medications already assessed on `on` with the same table (`assess_medications`, by
    position), as today's total was; a medication whose assessment does not depend on the day (`same_on_any_day`)
    is then not assessed again."""
    if current is not None and len(current) != len(medications):
        raise ValueError("current assessments must pair with the medications, one each")
    when = on if on.tzinfo is not None else on.replace(tzinfo=UTC)  # as today's total reads it
    today = when.date()
    first = today - timedelta(days=settings.timeline_lookback_days - 1)
    table = settings.mme_table
    spans, unplaced = _spans(medications, table, when, settings.timeline_assumed_days, current)
    info = table_info(table)
    return MmeTimeline(
        table=table,
        table_label=info.label,
        figure=info.figure,
        first_day=first,
        last_day=today,
        spans=tuple(span for span, _ in spans),
        segments=_segments(spans, table, first, today),
        unplaced=tuple(unplaced),
        assumed_days=settings.timeline_assumed_days,
    )
