"""Ketamine amounts from FHIR quantities: mg or mg/kg, per hour for rates, with unit conversion.

mL amounts are converted only with a known product concentration; anything else that is not a mass (per kg) or a
mass per time is reported as a problem rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smart_app.caching import memo_cache
from smart_app.core.model import Quantity, Ratio, quick_frozen

MASS_MG = {"mg": 1.0, "ug": 0.001, "g": 1000.0}
TIME_H = {"h": 1.0, "min": 1 / 60, "s": 1 / 3600, "d": 24.0}
_UNIT = re.compile(r"^(?P<mass>mg|ug|g|ml)(?P<kg>/kg)?(?:/(?P<time>h|min|s|d))?$")


# Every dose, rate and strength of every ketamine record is read through here; units are a handful of short strings.
@memo_cache(256 * 1024)
def normalise_unit(unit: str) -> str:
    u = unit.strip().lower().replace(" ", "").replace("mcg", "ug").replace("µg", "ug").replace("μg", "ug")
    u = re.sub(r"\b(hr|hour|hours|hrs)\b", "h", u).replace("/hr", "/h").replace("/hour", "/h")
    u = u.replace("/(kg.h)", "/kg/h").replace("/kg.h", "/kg/h").replace("/(kg.min)", "/kg/min")
    return u.replace("/kg.min", "/kg/min").replace("/minute", "/min").replace("/day", "/d")


@quick_frozen
@dataclass(frozen=True, slots=True)
class Amount:
    """A ketamine amount in mg (per kg if `per_kg`), per hour for rates."""

    value: float
    per_kg: bool
    as_ordered: str

    def mg_per_kg(self, weight_kg: float | None) -> float | None:
        if self.per_kg:
            return self.value
        return None if not weight_kg else self.value / weight_kg

    def mg(self, weight_kg: float | None) -> float | None:
        if not self.per_kg:
            return self.value
        return None if not weight_kg else self.value * weight_kg


def amount(
    quantity: Quantity | None, mg_per_ml: float | None, *, rate: bool, problems: list[str], what: str
) -> Amount | None:
    if quantity is None or quantity.value is None:
        return None
    if quantity.value <= 0:
        problems.append(f"{what} {quantity} is not a positive amount")
        return None
    raw = quantity.code or quantity.unit or ""
    match = _UNIT.match(normalise_unit(raw))
    if match is None or (rate and not match["time"]) or (not rate and match["time"]):
        problems.append(f"{what} unit '{raw or 'none'}' is not a ketamine {'rate' if rate else 'dose'} unit")
        return None
    mass = match["mass"]
    if mass == "ml":
        if mg_per_ml is None:
            problems.append(f"{what} is in mL but the product concentration is unknown")
            return None
        factor = mg_per_ml
    else:
        factor = MASS_MG[mass]
    value = quantity.value * factor / (TIME_H[match["time"]] if rate else 1.0)
    return Amount(value, bool(match["kg"]), str(quantity))


def ratio_rate(ratio: Ratio | None, mg_per_ml: float | None, problems: list[str]) -> Amount | None:
    if ratio is None or ratio.numerator is None or ratio.denominator is None:
        return None
    num, den = ratio.numerator, ratio.denominator
    den_unit = normalise_unit(den.code or den.unit or "")
    if den.value in (None, 0) or den_unit not in TIME_H:
        problems.append(f"rateRatio denominator '{den}' is not a time")
        return None
    dose = amount(num, mg_per_ml, rate=False, problems=problems, what="rateRatio numerator")
    if dose is None or den.value is None:
        return None
    hours = den.value * TIME_H[den_unit]
    return Amount(dose.value / hours, dose.per_kg, f"{num} per {den}")


def to_hours(value: float | None, unit: str | None) -> float | None:
    if value is None or unit is None:
        return None
    factor = TIME_H.get(normalise_unit(unit))
    return None if factor is None else value * factor
