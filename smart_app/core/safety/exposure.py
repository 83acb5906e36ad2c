"""Cumulative ketamine exposure: total mg and treatment days over 30 and 365 days, from administrations and orders.

ASRA names "high doses of ketamine at frequent intervals" as a reason for baseline and post-infusion liver tests
(Table 6; Q5 L1415-1421) and cites liver-enzyme rises after a second 100-hour course 16 days after the first
(L1399-1411); it asks that the cumulative risks of serial infusions be considered before a scheduled multiday
regimen (L1211-1214). No source turns that into a number, so what counts as "high" or "frequent" is a local
default (PRE-LFT).

How the figures are made (and said):
- a MedicationAdministration (completed or in progress) counts on the day it started: its `dosage.dose` is the amount
  given; with a rate and an effective period, rate x period length;
- a past MedicationRequest (active or completed, not a draft) counts on the days it planned, from its start
  (validity period start, else authoredOn): a continuous infusion over its duration (a day per started 24 h),
  repeated sessions on consecutive days (assumed: the order's timing seldom says which days). A day with an
  administration is counted from the administration, never twice;
- a draft order is the planned course being decided on, reported on its own (`planned`);
- mg/kg amounts use the current body weight; an amount that cannot be made into mg is named, never guessed, and
  the total is then a lower bound.
Esketamine is a different product and is not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from smart_app.core.model import MedicationUse, PatientRecord, quick_frozen
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.amounts import amount, ratio_rate
from smart_app.core.safety.history import ADMINISTRATION_STATUSES, REQUEST_STATUSES
from smart_app.core.safety.ketamine_order import (
    KetamineOrder,
    PlannedDoses,
    concentration,
    ketamine_kinds,
    read_doses,
)

WINDOWS = (30, 365)


@quick_frozen
@dataclass(frozen=True, slots=True)
class ExposureEntry:
    """One treatment day's ketamine from one record."""

    reference: str
    day: date
    mg: float | None  # None: the amount could not be made into mg (see `how`)
    how: str  # "dose 140 mg", "35 mg/h x 4 h (order, 1 of 5 days)", or why not computable


@dataclass(frozen=True, slots=True)
class ExposureWindow:
    days: int  # the window: the last `days` days up to the evaluation time
    treatment_days: int
    total_mg: float  # the sum of the amounts that could be computed (a lower bound when `unknown`)
    unknown: tuple[str, ...]  # records whose amount could not be computed (references, each once)

    @property
    def complete(self) -> bool:
        return not self.unknown

    def sentence(self) -> str:
        bound = "at least " if self.unknown else ""
        left = f"; {len(self.unknown)} record(s) without a computable amount" if self.unknown else ""
        plural = "s" if self.treatment_days != 1 else ""
        return (
            f"{bound}{self.total_mg:.0f} mg on {self.treatment_days} treatment day{plural} in the last {self.days} "
            f"days{left}"
        )


@dataclass(frozen=True, slots=True)
class PlannedCourse:
    """What a draft ketamine order plans: treatment days and total mg (None when not computable)."""

    reference: str
    days: int
    mg: float | None
    how: str

    @property
    def multiday(self) -> bool:
        return self.days > 1


@dataclass(frozen=True, slots=True)
class KetamineExposure:
    windows: tuple[ExposureWindow, ...]  # 30 and 365 days
    entries: tuple[ExposureEntry, ...]  # every counted treatment day in the longest window, oldest first
    planned: tuple[PlannedCourse, ...]  # the draft orders
    on: date  # the evaluation day

    def window(self, days: int) -> ExposureWindow:
        return next(w for w in self.windows if w.days == days)

    @property
    def planned_mg(self) -> float:
        return sum(p.mg or 0.0 for p in self.planned)

    @property
    def planned_unknown(self) -> tuple[str, ...]:
        return tuple(p.reference for p in self.planned if p.mg is None)

    def evidence(self, days: int) -> list[Evidence]:
        since = self.on - timedelta(days=days)
        return [
            Evidence(
                e.reference,
                f"ketamine {e.how}",
                datetime.combine(e.day, datetime.min.time()),
                f"{e.mg:.0f} mg" if e.mg is not None else "mg not computable",
            )
            for e in self.entries
            if e.day > since
        ]


def _start(med: MedicationUse) -> datetime | None:
    if med.effective and med.effective.start:
        return med.effective.start
    return med.recorded


def _planned_days(order: KetamineOrder | PlannedDoses, duration_h: float | None) -> int:
    """Treatment days an order plans: a day per started 24 h of one session, times the sessions (`duration_h` is
    `order.duration_h`)."""
    per_session = max(1, math.ceil(duration_h / 24)) if duration_h else 1
    return per_session * (1 + (order.repeats or 0))


def _order_mg(
    order: KetamineOrder | PlannedDoses, weight_kg: float | None, duration_h: float | None
) -> tuple[float | None, str]:
    """The order's planned mg and how they were counted; `duration_h` is `order.duration_h` (each of the order's
    derived amounts is worked out once here: they walk its steps)."""
    sessions = 1 + (order.repeats or 0)
    total = order.total_mg(weight_kg)
    highest_rate, bolus = order.rate, order.bolus
    rate = highest_rate.as_ordered if highest_rate else None
    if total is None:
        if highest_rate is None and bolus is not None:
            bolus_mg = bolus.mg(weight_kg)
            if bolus_mg is not None:
                return bolus_mg * sessions, f"bolus {bolus.as_ordered} x {sessions} session(s)"
        if highest_rate is None and bolus is None:
            return None, "no dose or rate readable"
        if duration_h is None:
            return None, f"{rate or 'dose'} with no duration"
        return None, f"{rate or 'dose'} per kg with no current body weight"
    hours = f" x {duration_h:g} h" if duration_h else ""
    loading = f" + bolus {bolus.as_ordered}" if bolus is not None and rate else ""
    what = rate or (f"bolus {bolus.as_ordered}" if bolus is not None else "dose")
    return total * sessions, f"{what}{hours}{loading} x {sessions} session(s)"


def _administration_mg(med: MedicationUse, weight_kg: float | None) -> tuple[float | None, str]:
    mg_per_ml = concentration(med).mg_per_ml  # what the record states, for mL amounts
    problems: list[str] = []
    for dosage in med.dosages:
        for dr in dosage.dose_and_rate:
            dose = amount(dr.dose, mg_per_ml, rate=False, problems=problems, what="dose")
            if dose is not None:
                mg = dose.mg(weight_kg)
                if mg is not None:
                    return mg, f"dose {dose.as_ordered}"
                return None, f"dose {dose.as_ordered} per kg with no current body weight"
            rate = amount(dr.rate, mg_per_ml, rate=True, problems=problems, what="rate") or ratio_rate(
                dr.rate_ratio, mg_per_ml, problems
            )
            period = med.effective
            if rate is not None and period and period.start and period.end and period.end > period.start:
                hours = (period.end - period.start).total_seconds() / 3600
                mg_h = rate.mg(weight_kg)
                if mg_h is not None:
                    return mg_h * hours, f"{rate.as_ordered} x {hours:g} h"
                return None, f"{rate.as_ordered} per kg with no current body weight"
    reason = "; ".join(problems) or "no dose, or a rate without a start and end time"
    return None, f"amount not recorded ({reason})"


def _counted(med: MedicationUse) -> bool:
    if med.is_draft_order:
        return False
    ketamine, esketamine = ketamine_kinds(med)
    if not ketamine or esketamine:
        return False
    if med.resource_type == "MedicationAdministration":
        return med.status in ADMINISTRATION_STATUSES
    if med.resource_type == "MedicationRequest":
        return med.status in REQUEST_STATUSES
    return False


def _entries(record: PatientRecord, on: datetime, since: datetime, weight_kg: float | None) -> list[ExposureEntry]:
    given: list[ExposureEntry] = []
    ordered: list[ExposureEntry] = []
    for med in record.medications:
        if not _counted(med):
            continue
        start = _start(med)
        if start is None or start > on:
            continue
        if med.resource_type == "MedicationAdministration":
            if start >= since:
                mg, how = _administration_mg(med, weight_kg)
                given.append(ExposureEntry(med.reference, start.date(), mg, how))
            continue
        order = read_doses(med)  # the amounts alone: route, setting and notes are not counted
        duration_h = order.duration_h
        days = _planned_days(order, duration_h)
        mg, how = _order_mg(order, weight_kg, duration_h)
        for i in range(days):
            day = start.date() + timedelta(days=i)
            if since.date() <= day <= on.date():
                share = mg / days if mg is not None else None
                ordered.append(ExposureEntry(med.reference, day, share, f"{how} (order, day {i + 1} of {days})"))
    administered_days = {e.day for e in given}
    entries = given + [e for e in ordered if e.day not in administered_days]
    return sorted(entries, key=lambda e: (e.day, e.reference))


def _window(entries: Iterable[ExposureEntry], on: datetime, days: int) -> ExposureWindow:
    since = on.date() - timedelta(days=days)
    inside = [e for e in entries if e.day > since]
    return ExposureWindow(
        days=days,
        treatment_days=len({e.day for e in inside}),
        total_mg=sum(e.mg for e in inside if e.mg is not None),
        unknown=tuple(dict.fromkeys(e.reference for e in inside if e.mg is None)),
    )


def ketamine_exposure(
    record: PatientRecord, orders: Iterable[KetamineOrder], on: datetime, weight_kg: float | None
) -> KetamineExposure:
    """Ketamine given and ordered over the last 30 and 365 days, and what the draft orders plan."""
    longest = max(WINDOWS)
    entries = _entries(record, on, on - timedelta(days=longest), weight_kg)
    planned = []
    for order in orders:
        if order.drug != "ketamine":
            continue
        duration_h = order.duration_h
        mg, how = _order_mg(order, weight_kg, duration_h)
        planned.append(PlannedCourse(order.reference, _planned_days(order, duration_h), mg, how))
    return KetamineExposure(
        windows=tuple(_window(entries, on, days) for days in WINDOWS),
        entries=tuple(entries),
        planned=tuple(planned),
        on=on.date(),
    )
