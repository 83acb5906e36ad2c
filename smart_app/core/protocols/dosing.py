"""Weight-based ketamine doses, rounded to practical amounts and never above the protocol's limits.

Arithmetic is done in Decimal so that, for example, 0.43 mg/kg/h x 70 kg is exactly 30.1 mg/h and rounding never
tips a rate over its limit through a binary-float artefact. Rates round to the nearest practical step but are then
clamped: the protocol's maximum (and, outside a monitored setting, the rate at which ASRA asks for one) always wins
over its minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

from smart_app.config import LocalDefaults
from smart_app.core.model import quick_frozen
from smart_app.core.outcomes import Citation
from smart_app.core.protocols.catalogue import Basis, Protocol, catalogue
from smart_app.core.safety.limits import dose_limits


class DoseError(ValueError):
    """The dose cannot be computed for this patient (e.g. no or implausible weight)."""


# Every dose plan turns the same few numbers (the catalogue's rates and rounding steps, the patient's weight) into
# Decimals, about 90 times a call: Decimal(str(x)) is the slow part, and a Decimal is immutable, so each is made once.
# typed: 70 and 70.0 are one key otherwise, and Decimal('70') and Decimal('70.0') differ in their exponent.
@lru_cache(maxsize=4096, typed=True)
def _d(value: float) -> Decimal:
    return Decimal(str(value))


def _to_step(value: Decimal, step: float, rounding: str) -> Decimal:
    unit = _d(step)
    return (value / unit).quantize(Decimal(1), rounding=rounding) * unit


def _below(limit: Decimal, step: float) -> Decimal:
    """Largest practical amount strictly below `limit` (ASRA's monitored-setting rule is 'at or above')."""
    value = _to_step(limit, step, ROUND_FLOOR)
    return value - _d(step) if value >= limit else value


def fmt(value: float | Decimal) -> str:
    """At most 2 decimals, no trailing zeros: 40, 0.5, 30.1, 0.51."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


@cache
def _rounding() -> dict[str, float]:
    """The catalogue's practical rounding steps (read-only: made once, read by every dose plan)."""
    return {k: float(v) for k, v in catalogue()["practical_rounding"].items() if not k.startswith("_")}


@quick_frozen
@dataclass(frozen=True, slots=True)
class InfusionPlan:
    """A computed infusion. Rates in mg/h; `ceiling` is the titration limit for this patient."""

    weight_kg: float
    basis: Basis  # per kg of body weight, or a fixed mg/h as studied
    nominal_mg_per_kg_h: float | None  # the protocol's starting rate; None for fixed mg/h regimens
    rate_mg_per_h: float
    ceiling_mg_per_h: float
    session_hours: float | None  # None for a continuous multi-day infusion
    sessions: int
    continuous_hours: float | None
    concentration_mg_per_ml: float
    concentration_from_source: bool  # the source states it; else the local default standard concentration
    capped_for_setting: bool  # ceiling lowered to stay below the monitored-setting rate
    needs_monitored_setting: bool  # even the starting rate reaches the monitored-setting rate
    notes: tuple[str, ...]
    titration_step_mg_per_h: float | None = None  # a step the source states (Zekry: +4 mg/h a day)
    titration_every_h: float | None = None

    @property
    def rate_mg_per_kg_h(self) -> float:
        return self.rate_mg_per_h / self.weight_kg

    @property
    def ceiling_mg_per_kg_h(self) -> float:
        return self.ceiling_mg_per_h / self.weight_kg

    @property
    def hours_per_session(self) -> float:
        if self.session_hours is not None:
            return self.session_hours
        assert self.continuous_hours is not None  # a plan has session hours or continuous hours
        return self.continuous_hours

    @property
    def total_hours(self) -> float:
        return self.hours_per_session * self.sessions

    @property
    def mg_per_session(self) -> float:
        return self.rate_mg_per_h * self.hours_per_session

    @property
    def total_mg(self) -> float:
        """Whole course at the starting rate."""
        return self.mg_per_session * self.sessions

    @property
    def max_total_mg(self) -> float:
        """The most the whole course can give: at the titration ceiling throughout, or, where the source states a
        titration step (Zekry), following that step from the starting rate up to the ceiling."""
        if self.titration_step_mg_per_h is None or self.titration_every_h is None:
            return self.ceiling_mg_per_h * self.total_hours
        total, rate, left = 0.0, self.rate_mg_per_h, self.total_hours
        while left > 0:
            hours = min(self.titration_every_h, left)
            total += min(rate, self.ceiling_mg_per_h) * hours
            rate += self.titration_step_mg_per_h
            left -= hours
        return total

    @property
    def max_mg_per_24h(self) -> float:
        """At the titration ceiling: what maxDosePerPeriod states."""
        return self.ceiling_mg_per_h * min(self.hours_per_session, 24.0)

    def ml_per_h(self, mg_per_h: float) -> float:
        step = _rounding()["pump_rate_ml_per_h"]
        return float(_to_step(_d(mg_per_h) / _d(self.concentration_mg_per_ml), step, ROUND_HALF_UP))

    @property
    def rate_ml_per_h(self) -> float:
        return self.ml_per_h(self.rate_mg_per_h)

    @property
    def volume_ml_per_session(self) -> float:
        return self.mg_per_session / self.concentration_mg_per_ml

    @property
    def cumulative(self) -> str:
        """The course's cumulative dose in words: at the starting rate, and the most it can give."""
        if self.ceiling_mg_per_h > self.rate_mg_per_h:
            how = "following the stated titration step" if self.titration_step_mg_per_h else "at the ceiling throughout"
            return (
                f"total {fmt(self.total_mg)} mg at the starting rate, at most {fmt(self.max_total_mg)} mg "
                f"({fmt(self.max_total_mg / self.weight_kg)} mg/kg) {how}"
            )
        return f"total {fmt(self.total_mg)} mg ({fmt(self.total_mg / self.weight_kg)} mg/kg)"

    def summary(self) -> str:
        w = fmt(self.weight_kg)
        if self.nominal_mg_per_kg_h is None:
            head = f"{fmt(self.rate_mg_per_h)} mg/h fixed dose ({fmt(self.rate_mg_per_kg_h)} mg/kg/h for {w} kg)"
        else:
            head = f"{fmt(self.nominal_mg_per_kg_h)} mg/kg/h = {fmt(self.rate_mg_per_h)} mg/h for {w} kg"
            if fmt(self.rate_mg_per_kg_h) != fmt(self.nominal_mg_per_kg_h):
                head += f" (actual {fmt(self.rate_mg_per_kg_h)} mg/kg/h)"
        if self.session_hours is None:
            hours = self.continuous_hours or 0
            timing = f"continuous for up to {fmt(hours)} h ({fmt(hours / 24)} days)"
        elif self.sessions == 1:
            timing = f"{fmt(self.session_hours)} h"
        else:
            timing = f"{fmt(self.session_hours)} h per session x {self.sessions} sessions"
        parts = [head, timing, self.cumulative]
        if self.ceiling_mg_per_h > self.rate_mg_per_h:
            step = (
                f" in steps of {fmt(self.titration_step_mg_per_h)} mg/h every {fmt(self.titration_every_h or 0)} h"
                if self.titration_step_mg_per_h
                else ""
            )
            parts.append(
                f"titrate{step} up to {fmt(self.ceiling_mg_per_h)} mg/h ({fmt(self.ceiling_mg_per_kg_h)} mg/kg/h) "
                "at most"
            )
        volume = (
            f"{fmt(self.volume_ml_per_session)} mL per infusion"
            if self.session_hours is not None
            else f"{fmt(self.rate_mg_per_h * 24 / self.concentration_mg_per_ml)} mL per 24 h"
        )
        where = (
            "the source's concentration" if self.concentration_from_source else "local default standard concentration"
        )
        pump = f"{fmt(self.rate_ml_per_h)} mL/h, {volume} at the starting rate"
        if self.ceiling_mg_per_h > self.rate_mg_per_h:
            pump += f", {fmt(self.ml_per_h(self.ceiling_mg_per_h))} mL/h at the ceiling"
        parts.append(f"at {fmt(self.concentration_mg_per_ml)} mg/mL ({where}): {pump}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class OralPlan:
    weight_kg: float
    mg_per_kg: float
    dose_mg: float
    every_h: float
    days: float
    notes: tuple[str, ...]
    capped: bool = False  # the weight-based dose was capped at the source's mg/day

    @property
    def doses_per_day(self) -> int:
        return int(24 // self.every_h)

    @property
    def mg_per_day(self) -> float:
        return self.dose_mg * self.doses_per_day

    @property
    def total_mg(self) -> float:
        return self.mg_per_day * self.days

    @property
    def max_total_mg(self) -> float:
        return self.total_mg

    @property
    def cumulative(self) -> str:
        return f"total {fmt(self.total_mg)} mg over {fmt(self.days)} days"

    def summary(self) -> str:
        tail = f"{fmt(self.mg_per_day)} mg/day for {fmt(self.days)} days, {self.cumulative}"
        if self.capped:
            return (
                f"{fmt(self.dose_mg)} mg orally every {fmt(self.every_h)} h for {fmt(self.weight_kg)} kg "
                f"({fmt(self.mg_per_kg)} mg/kg would exceed the source's daily maximum, so the dose is capped), {tail}"
            )
        return (
            f"{fmt(self.mg_per_kg)} mg/kg = {fmt(self.dose_mg)} mg orally every {fmt(self.every_h)} h for "
            f"{fmt(self.weight_kg)} kg (rounded down), {tail}"
        )


DosePlan = InfusionPlan | OralPlan


def check_weight(weight_kg: float | None) -> float:
    """The weight as a usable number, or DoseError saying why not. Never a default weight."""
    if weight_kg is None:
        raise DoseError("No current body weight: weight-based doses cannot be computed (no weight is assumed).")
    if isinstance(weight_kg, bool) or not isinstance(weight_kg, int | float):
        raise DoseError(f"Body weight {weight_kg!r} is not a number: doses cannot be computed.")
    if not math.isfinite(weight_kg) or weight_kg <= 0:
        raise DoseError(f"Body weight {weight_kg!r} kg is not a usable value: doses cannot be computed.")
    return float(weight_kg)


def plan_dose(
    protocol: Protocol,
    weight_kg: float | None,
    *,
    monitored_threshold_mg_per_kg_h: float | None,
    settings: LocalDefaults,
) -> DosePlan:
    """The dose for this patient. `monitored_threshold_mg_per_kg_h` is the rate needing a monitored setting, or
    None when the order is for a monitored setting (no cap applies then)."""
    weight = check_weight(weight_kg)
    if protocol.dosing.form == "oral":
        return _plan_oral(protocol, weight)
    return _plan_infusion(protocol, weight, monitored_threshold_mg_per_kg_h, settings)


def _plan_oral(protocol: Protocol, weight: float) -> OralPlan:
    dosing = protocol.dosing
    assert dosing.oral_mg_per_kg and dosing.oral_every_h and dosing.oral_days  # checked at catalogue load
    step = _rounding()["oral_dose_mg"]
    dose = _to_step(_d(dosing.oral_mg_per_kg) * _d(weight), step, ROUND_FLOOR)
    if dose <= 0:
        raise DoseError(f"{fmt(dosing.oral_mg_per_kg)} mg/kg for {fmt(weight)} kg rounds to no practical dose.")
    notes: list[str] = []
    capped = False
    if dosing.oral_max_mg_per_day is not None:
        per_day = int(24 // dosing.oral_every_h)
        most = _to_step(_d(dosing.oral_max_mg_per_day) / _d(per_day), step, ROUND_FLOOR)
        if dose > most:
            notes.append(
                f"{fmt(dosing.oral_mg_per_kg)} mg/kg for {fmt(weight)} kg would be {fmt(dose)} mg per dose "
                f"({fmt(dose * per_day)} mg/day); capped at {fmt(most)} mg per dose to stay within the source's "
                f"{fmt(dosing.oral_max_mg_per_day)} mg/day."
            )
            dose, capped = most, True
    return OralPlan(
        weight_kg=weight,
        mg_per_kg=dosing.oral_mg_per_kg,
        dose_mg=float(dose),
        every_h=dosing.oral_every_h,
        days=dosing.oral_days,
        notes=tuple(notes),
        capped=capped,
    )


def _plan_infusion(protocol: Protocol, weight: float, threshold: float | None, settings: LocalDefaults) -> InfusionPlan:
    dosing = protocol.dosing
    step = _rounding()["infusion_rate_mg_per_h"]
    notes: list[str] = []
    w = _d(weight)

    if dosing.rate_mg_per_kg_h is None:
        fixed = dosing.rate_mg_per_h
        assert fixed is not None  # checked at catalogue load
        rate, ceiling = _d(fixed.start), _d(fixed.max)
    else:
        limits = dosing.rate_mg_per_kg_h
        floor_rate = _to_step(_d(limits.min) * w, step, ROUND_CEILING)
        ceiling = _to_step(_d(limits.max) * w, step, ROUND_FLOOR)
        if dosing.rate_cap_mg_per_h is not None and ceiling > _d(dosing.rate_cap_mg_per_h):
            ceiling = _d(dosing.rate_cap_mg_per_h)
            notes.append(f"Rate capped at {fmt(ceiling)} mg/h, the regimen's absolute limit.")
        rate = min(max(_to_step(_d(limits.start) * w, step, ROUND_HALF_UP), floor_rate), ceiling)
    if rate <= 0:
        raise DoseError(f"The protocol's rate for {fmt(weight)} kg rounds to no practical infusion rate.")

    capped = needs_monitoring = False
    if threshold is not None:
        limit = _d(threshold) * w
        if rate >= limit:
            # Even the starting rate needs a monitored setting: allow no titration above it outside one.
            needs_monitoring = True
            ceiling = rate
        elif ceiling >= limit:
            ceiling = _below(limit, step)
            capped = True

    session_hours, continuous_hours = _durations(protocol, rate, settings, notes)
    source_concentration = dosing.concentration_mg_per_ml
    return InfusionPlan(
        weight_kg=weight,
        basis=dosing.basis,
        nominal_mg_per_kg_h=dosing.rate_mg_per_kg_h.start if dosing.rate_mg_per_kg_h else None,
        rate_mg_per_h=float(rate),
        ceiling_mg_per_h=float(ceiling),
        session_hours=session_hours,
        sessions=dosing.sessions if session_hours is not None else 1,
        continuous_hours=continuous_hours,
        concentration_mg_per_ml=source_concentration or settings.ketamine_infusion_concentration_mg_per_ml,
        concentration_from_source=source_concentration is not None,
        capped_for_setting=capped,
        needs_monitored_setting=needs_monitoring,
        notes=tuple(notes),
        titration_step_mg_per_h=dosing.titration_step_mg_per_h if ceiling > rate else None,
        titration_every_h=dosing.titration_every_h if ceiling > rate else None,
    )


@quick_frozen
@dataclass(frozen=True, slots=True)
class AsraMinimum:
    total_mg: float
    hours_exclusive: float
    citation: Citation


def asra_minimum() -> AsraMinimum:
    limits = dose_limits()
    return AsraMinimum(limits.minimum_total_mg, limits.minimum_hours_exclusive, limits.minimum)


def _durations(
    protocol: Protocol, rate: Decimal, settings: LocalDefaults, notes: list[str]
) -> tuple[float | None, float | None]:
    """(session hours, continuous hours): one of the two is None."""
    dosing = protocol.dosing
    if dosing.schedule == "continuous":
        assert dosing.continuous_hours_max is not None  # checked at catalogue load
        return None, dosing.continuous_hours_max
    minimum = asra_minimum()
    min_mg, min_hours = _d(minimum.total_mg), _d(minimum.hours_exclusive)
    step = _rounding()["session_hours"]
    if dosing.session_hours is not None:
        hours = _d(dosing.session_hours)
    else:
        hours = _d(settings.ketamine_outpatient_infusion_hours)
        notes.append(f"Infusion length {fmt(hours)} h is a local default (setting ketamine_outpatient_infusion_hours).")
    meets = rate * hours >= min_mg and hours > min_hours
    if dosing.enforce_asra_minimum and not meets:
        needed = max(_to_step(min_mg / rate, step, ROUND_CEILING), min_hours + _d(step))
        hours = max(hours, needed)
        notes.append(
            f"Infusion lengthened to {fmt(hours)} h to give at least {fmt(min_mg)} mg over more than "
            f"{fmt(min_hours)} h ({minimum.citation})."
        )
    elif not meets:
        notes.append(
            f"Below ASRA's recommended minimum of at least {fmt(min_mg)} mg over more than {fmt(min_hours)} h "
            f"({minimum.citation})."
        )
    return float(hours), None
