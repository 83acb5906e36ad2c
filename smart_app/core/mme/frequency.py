"""Doses per day from a FHIR Timing (MME.md section 4.3).

Ranges use the maximum the order allows: `frequencyMax` over `frequency`, and `period` (the shorter bound)
over `periodMax`. `timeOfDay` and `when` count occurrences per day; a timing code (BID, Q6H, ...) is read from
`mappings/timing_codes.json`. A Timing that states none of these raises `NotComputable`: never 0, never an
assumed once a day. `dayOfWeek` is not averaged out: the figure is the dose on the days the opioid is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from smart_app.core.mme.errors import NotComputable
from smart_app.core.model import Timing, TimingRepeat
from smart_app.mappings import read_json


@dataclass(frozen=True, slots=True)
class Frequency:
    per_day: float
    basis: str  # how it was read, e.g. "every 6 h", "BID", "at 08:00, 20:00"
    maximum: bool = False  # the upper end of a frequency or period range was used


def number(value: float) -> str:
    """A count or rate for display: up to two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


@cache
def _timing() -> dict[str, Any]:
    return dict(read_json("timing_codes.json"))


def days_in(unit: str | None) -> float | None:
    """Length of a UCUM unit of time (or a common spelling of one) in days."""
    if not unit:
        return None
    data = _timing()
    key = unit.strip()
    key = data["unit_aliases"].get(key.lower(), key)
    value = data["period_units_in_days"].get(key)
    return float(value) if isinstance(value, int | float) else None


def _from_repeat(r: TimingRepeat) -> Frequency | None:
    if r.frequency is None and (r.time_of_day or r.when):
        if r.time_of_day:
            return Frequency(float(len(r.time_of_day)), "at " + ", ".join(t[:5] for t in r.time_of_day))
        per_event = _timing()["when"]
        unknown = [w for w in r.when if w not in per_event]
        if unknown:
            raise NotComputable(f"timing 'when' code {unknown[0]!r} not recognised: doses per day unknown")
        return Frequency(float(sum(per_event[w] for w in r.when)), "when " + ", ".join(r.when))
    if r.frequency is None and r.period is None:
        return None
    if r.period is None:
        raise NotComputable("timing gives a frequency without a period: doses per day unknown")
    unit_days = days_in(r.period_unit)
    if unit_days is None or r.period <= 0:
        raise NotComputable(f"timing period unit {r.period_unit!r} not recognised: doses per day unknown")
    frequency = r.frequency_max if r.frequency_max is not None else r.frequency
    if frequency is None:
        frequency = 1  # FHIR: no frequency means once per period
    if frequency <= 0:
        raise NotComputable(f"timing frequency {frequency} per period: doses per day unknown")
    maximum = (r.frequency_max is not None and r.frequency_max != r.frequency) or (
        r.period_max is not None and r.period_max != r.period
    )
    per_day = frequency / (r.period * unit_days)
    if r.period == 1 and r.period_unit == "d":
        basis = "once a day" if frequency == 1 else f"{frequency} times a day"
    elif frequency == 1:
        basis = f"every {number(r.period)} {r.period_unit}"
    else:
        basis = f"{frequency} times per {number(r.period)} {r.period_unit}"
    return Frequency(per_day, basis, maximum)


def _from_code(timing: Timing) -> Frequency | None:
    if timing.code is None:
        return None
    data = _timing()
    candidates = [c.code for c in timing.code.codings if c.code] + [timing.code.text or ""]
    for candidate in candidates:
        key = candidate.strip().upper().replace(" ", "")
        spec = data["codes"].get(key) or data["common"].get(key)
        if spec is not None:
            return Frequency(float(spec["per_day"]), key)
    return None


def doses_per_day(timing: Timing | None) -> Frequency | None:
    """Doses per day, or None when there is no timing at all (the caller decides what else may bound the dose)."""
    if timing is None:
        return None
    found = (_from_repeat(timing.repeat) if timing.repeat else None) or _from_code(timing)
    if found is not None:
        return found
    if timing.events:
        raise NotComputable("timing lists single event times only, no daily schedule: doses per day unknown")
    if timing.code is not None:
        raise NotComputable(f"timing code {timing.code.label!r} not recognised: doses per day unknown")
    return None
