"""Units of opioid doses and strengths (mappings/dose_units.json): mass, volume, counts, rates.

Strengths are normalised to mg per unit/mL, or mcg per hour for patches, so that the dose arithmetic never
has to know how the source spelled a unit ('ug', 'mcg', 'MG/HR', 'TAB', '{tbl}').
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from smart_app.caching import memo_cache
from smart_app.core.model import HashOnce, Quantity, quick_frozen
from smart_app.mappings import read_json

Per = Literal["unit", "mL", "hr"]


@cache
def _units() -> dict[str, Any]:
    return dict(read_json("dose_units.json"))


def _fmt(value: float) -> str:
    return f"{value:g}"


@quick_frozen
@dataclass(frozen=True, slots=True)
class Strength(HashOnce):
    """Opioid amount per dose unit: mg per unit (tablet, capsule, actuation), mg per mL, or mcg per hour."""

    amount: float
    per: Per

    def describe(self, unit_word: str = "unit") -> str:
        if self.per == "hr":
            return f"{_fmt(self.amount)} mcg/hr per patch"
        if self.per == "mL":
            return f"{_fmt(self.amount)} mg/mL"
        return f"{_fmt(self.amount)} mg per {unit_word}"


@memo_cache(1024 * 1024)
def unit_word(dose_form: str | None) -> str:
    """The countable unit of a dose form: 'Extended Release Oral Tablet' -> 'tablet'; 'unit' if none."""
    counts = _units()["count"]
    for token in reversed((dose_form or "").lower().split()):
        if token in counts and counts[token] != "unit":
            return str(counts[token])
    return "unit"


def strength_from_text(value: float, unit: str) -> Strength | None:
    """An RxNorm-name strength such as (0.025, 'MG/HR') -> 25 mcg/hr; None for units the MME maths cannot use."""
    spec = _units()["strength"].get(unit.strip().lower())
    if spec is None:
        return None
    return Strength(amount=value * float(spec["scale"]), per=spec["per"])


def mass_in_mg(q: Quantity) -> float | None:
    scale = _units()["mass_mg"].get(q.unit_key.lower())
    if scale is None and q.unit:
        scale = _units()["mass_mg"].get(q.unit.strip().lower())
    return None if scale is None or q.value is None else q.value * float(scale)


def volume_in_ml(q: Quantity) -> float | None:
    scale = _units()["volume_ml"].get(q.unit_key.lower())
    if scale is None and q.unit:
        scale = _units()["volume_ml"].get(q.unit.strip().lower())
    return None if scale is None or q.value is None else q.value * float(scale)


def rate_in_mcg_per_hr(q: Quantity) -> float | None:
    scale = _units()["rate_mcg_per_hr"].get(q.unit_key.lower())
    return None if scale is None or q.value is None else q.value * float(scale)


def count_word(q: Quantity) -> str | None:
    """'tablet', 'patch', ... when the quantity counts dose units (TAB, {tbl}, 'tablets'); else None."""
    for key in (q.code, q.unit):
        if key:
            word = _units()["count"].get(key.strip().lower())
            if word is not None:
                return str(word)
    return None


def strength_from_ratio(numerator: Quantity | None, denominator: Quantity | None) -> Strength | None:
    """Medication.ingredient.strength (e.g. 5 mg / 1 TAB, 10 mg / 5 mL, 25 ug / 1 h) as a `Strength`."""
    if numerator is None or numerator.value is None:
        return None
    per_value = 1.0
    if denominator is not None and denominator.value not in (None, 0):
        per_value = float(denominator.value or 1.0)
    mg = mass_in_mg(numerator)
    if mg is None:
        return None
    if denominator is None or count_word(denominator) is not None or not denominator.unit_key:
        return Strength(mg / per_value, "unit")
    ml = volume_in_ml(denominator)
    if ml is not None and ml > 0:
        return Strength(mg / ml, "mL")
    if denominator.unit_key.lower() in ("h", "hr", "hour"):
        return Strength(mg * 1000 / per_value, "hr")
    return None
