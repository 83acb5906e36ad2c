"""Body weight and blood pressure as the rules need them: the most recent valid reading, with its provenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from smart_app.core.model import Concept, Observation, PatientRecord, Quantity, normalise_code, quick_frozen
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.evidence import is_result, observation_evidence, observations_in, quantity_in
from smart_app.core.safety.terminology import value_set

_KG_PER_UNIT = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237}
_MMHG = ("mm[Hg]", "mmHg", "mm Hg")

# What a measurement of a living patient can be. A value outside is a data error (a unit slip, a typo, a broken
# interface, 2^63 kg), reported as unreadable rather than computed with: a dose is never computed for 2^63 kg.
WEIGHT_KG = (0.2, 650.0)  # extremely preterm neonate .. heaviest people recorded
SYSTOLIC_MMHG = (40.0, 300.0)
DIASTOLIC_MMHG = (10.0, 200.0)


def _outside(value: float, limits: tuple[float, float]) -> bool:
    return not limits[0] <= value <= limits[1]  # also True for NaN


def _range_text(limits: tuple[float, float], unit: str) -> str:
    return f"{limits[0]:g}-{limits[1]:g} {unit}"


# Which plausibility range each vital-sign code is held to, by (system, normalised code) as `ValueSet.contains`
# matches: built once at import, so that a reading is checked with a dict probe per coding rather than a value-set
# match per range (`implausible` runs on every observation read).
_WEIGHT, _SYSTOLIC, _DIASTOLIC = 1, 2, 4
_BP_RANGES = ((_SYSTOLIC, "systolic", SYSTOLIC_MMHG), (_DIASTOLIC, "diastolic", DIASTOLIC_MMHG))


def _vital_index() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for name, bit in (("body-weight", _WEIGHT), ("systolic-bp", _SYSTOLIC), ("diastolic-bp", _DIASTOLIC)):
        for key in value_set(name).exact_codings:
            found[key] = found.get(key, 0) | bit
    return found


_VITALS = _vital_index()


def _vital_kinds(code: Concept) -> int:
    """The ranges (bits) whose value set holds one of the concept's codings."""
    kinds = 0
    for coding in code.codings:
        system, value = coding.system, coding.code
        if system and value:
            kinds |= _VITALS.get((system, normalise_code(system, value)), 0)
    return kinds


def implausible(obs: Observation) -> str | None:
    """Why this body weight or blood pressure cannot be a real measurement (None: plausible, or not a vital sign).

    The reading layer (`smart_app.fhir.record`) reports such an observation as unreadable, so it is left out and
    named on the data card."""
    kinds = _vital_kinds(obs.code)
    if kinds & _WEIGHT:
        q = obs.value_quantity
        kg = _to_kg(q) if q is not None and q.value is not None else None
        if kg is not None and _outside(kg, WEIGHT_KG):
            return f"body weight {q} is outside the plausible range {_range_text(WEIGHT_KG, 'kg')}"
        return None
    # The reading itself, then each component, systolic before diastolic (the first out of range is reported).
    if kinds:
        found = _bp_problem(kinds, obs.value_quantity)
        if found is not None:
            return found
    for component in obs.components:
        kinds = _vital_kinds(component.code)
        if kinds:
            found = _bp_problem(kinds, component.value_quantity)
            if found is not None:
                return found
    return None


def _bp_problem(kinds: int, quantity: Quantity | None) -> str | None:
    value = quantity_in(quantity, _MMHG)
    if value is None:
        return None
    for bit, name, limits in _BP_RANGES:
        if kinds & bit and _outside(value, limits):
            return f"{name} blood pressure {quantity} is outside the plausible range {_range_text(limits, 'mmHg')}"
    return None


@dataclass(frozen=True, slots=True)
class WeightReading:
    kg: float
    evidence: Evidence


def _to_kg(quantity: Quantity) -> float | None:
    for unit in (quantity.code, quantity.unit):
        if unit and unit.strip() in _KG_PER_UNIT and quantity.value is not None:
            return quantity.value * _KG_PER_UNIT[unit.strip()]
    return None  # unknown or missing unit: never assume kilograms


def _kg(quantity: Quantity | None) -> float | None:
    """A usable weight in kg: known unit and within the plausible range."""
    if quantity is None or quantity.value is None:
        return None
    kg = _to_kg(quantity)
    return None if kg is None or _outside(kg, WEIGHT_KG) else kg


def current_weight(record: PatientRecord, on: datetime, lookback_days: int | None) -> WeightReading | None:
    """Most recent body weight with a usable unit within `lookback_days` (None: any date)."""
    for obs in observations_in(record, "body-weight", on, lookback_days):
        kg = _kg(obs.value_quantity)
        if kg is not None:
            return WeightReading(round(kg, 1), observation_evidence(obs, f"{kg:.1f} kg"))
    return None


@quick_frozen
@dataclass(frozen=True, slots=True)
class BpReading:
    when: datetime
    systolic: float | None
    diastolic: float | None
    evidence: tuple[Evidence, ...]

    @property
    def text(self) -> str:
        s = "?" if self.systolic is None else f"{self.systolic:g}"
        d = "?" if self.diastolic is None else f"{self.diastolic:g}"
        return f"{s}/{d} mmHg"


def _mmhg(quantity: Quantity | None, limits: tuple[float, float]) -> float | None:
    value = quantity_in(quantity, _MMHG)
    return None if value is None or _outside(value, limits) else value


def _panel_values(obs: Observation) -> tuple[float | None, float | None]:
    systolic_vs, diastolic_vs = value_set("systolic-bp"), value_set("diastolic-bp")
    systolic = diastolic = None
    for comp in obs.components:
        if systolic_vs.contains(comp.code):
            systolic = _mmhg(comp.value_quantity, SYSTOLIC_MMHG)
        elif diastolic_vs.contains(comp.code):
            diastolic = _mmhg(comp.value_quantity, DIASTOLIC_MMHG)
    return systolic, diastolic


def _panel_reading(when: datetime, obs: Observation, systolic: float | None, diastolic: float | None) -> BpReading:
    reading = BpReading(when, systolic, diastolic, ())
    return BpReading(when, systolic, diastolic, (observation_evidence(obs, reading.text),))


def latest_bp(record: PatientRecord, on: datetime, lookback_days: int) -> BpReading | None:
    """Most recent BP: a panel with systolic/diastolic components, or standalone readings taken at the same time."""
    since = on - timedelta(days=lookback_days)
    # Only the newest panel can be the answer (the first of equally new ones, as `max` keeps the first), so a panel
    # no newer than the best so far is not read, and only the answer's evidence is written.
    newest: tuple[datetime, Observation, float | None, float | None] | None = None
    for obs in record.observations:
        if not obs.components or not is_result(obs, on) or obs.when is None or obs.when < since:
            continue
        if newest is not None and obs.when <= newest[0]:
            continue
        systolic, diastolic = _panel_values(obs)
        if systolic is not None or diastolic is not None:
            newest = (obs.when, obs, systolic, diastolic)
    # Standalone readings: only observations coded systolic or diastolic (the record's index), in record order.
    singles: dict[datetime, tuple[float | None, float | None, list[Evidence]]] = {}
    systolic_vs, diastolic_vs = value_set("systolic-bp"), value_set("diastolic-bp")
    for obs in record.observations_coded(systolic_vs.exact_codings | diastolic_vs.exact_codings):
        if obs.components or not is_result(obs, on) or obs.when is None or obs.when < since:
            continue
        is_sys, is_dia = systolic_vs.contains(obs.code), diastolic_vs.contains(obs.code)
        value = _mmhg(obs.value_quantity, SYSTOLIC_MMHG if is_sys else DIASTOLIC_MMHG)
        if value is None or not (is_sys or is_dia):
            continue
        s, d, ev = singles.get(obs.when, (None, None, []))
        singles[obs.when] = (value if is_sys else s, value if is_dia else d, [*ev, observation_evidence(obs)])
    readings = [_panel_reading(*newest)] if newest is not None else []
    readings.extend(BpReading(when, s, d, tuple(ev)) for when, (s, d, ev) in singles.items())
    return max(readings, key=lambda r: r.when, default=None)
