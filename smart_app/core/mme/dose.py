"""Opioid amount per administration and per day for one Dosage (MME.md sections 4.2 to 4.4).

Amounts are mg of the opioid ingredient, or mcg/hr for transdermal patches. A dose in tablets/capsules/patches
is multiplied by the strength; mg, mcg/ug and g are converted to mg; mL is multiplied by mg/mL. A mg dose that
matches the non-opioid ingredient of a combination product (325 mg of hydrocodone/acetaminophen) is a data
error and is reported, not computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from smart_app.core.mme.errors import NotComputable
from smart_app.core.mme.frequency import days_in, doses_per_day, number
from smart_app.core.mme.products import OpioidProduct
from smart_app.core.mme.units import count_word, mass_in_mg, rate_in_mcg_per_hr, volume_in_ml
from smart_app.core.model import Dosage, DoseAndRate, Quantity, Ratio, quick_frozen

MAX_UNITS_PER_DOSE = 4  # a mg dose equal to 1-4 units of the non-opioid ingredient is treated as that ingredient


@quick_frozen
@dataclass(frozen=True, slots=True)
class Amount:
    value: float  # mg, or mcg/hr for patches
    text: str  # "5 mg/tablet x 2 tablets", "2000 ug = 2 mg"


@dataclass(frozen=True, slots=True)
class DailyAmount:
    value: float  # mg/day, or mcg/hr for patches
    dose_text: str
    per_day: float | None
    text: str  # the derivation of this dosage, up to the daily amount
    maximum: bool


def _plural(word: str, count: float) -> str:
    return word if count == 1 else ("patches" if word == "patch" else f"{word}s")


def _check_not_other_ingredient(mg: float, quantity: Quantity, product: OpioidProduct) -> None:
    opioid_mg = product.strength.amount if product.strength and product.strength.per == "unit" else None
    for other in product.other_ingredients:
        if other.strength is None or other.strength.per != "unit" or other.strength.amount <= 0:
            continue
        units = mg / other.strength.amount
        if abs(units - round(units)) < 1e-9 and 1 <= round(units) <= MAX_UNITS_PER_DOSE:
            if opioid_mg is not None and abs(mg - round(units) * opioid_mg) < 1e-9:
                continue
            raise NotComputable(
                f"dose {quantity} equals the {other.name} strength of this combination product "
                f"({number(other.strength.amount)} mg): the opioid dose cannot be determined"
            )


def dose_amount(quantity: Quantity, product: OpioidProduct) -> Amount:
    """One administration's opioid amount in the product's basis (mg, or mcg/hr for a patch)."""
    if quantity.value is None:
        raise NotComputable("dose has no value")
    if quantity.value <= 0:
        raise NotComputable(f"dose {quantity} is not a positive amount")
    strength = product.strength
    word = count_word(quantity)
    value = quantity.value
    if strength is not None and strength.per == "hr":
        if word is not None:
            patches = f"{number(value)} {_plural('patch', value)}"
            return Amount(value * strength.amount, f"{strength.describe()} x {patches} worn at once")
        rate = rate_in_mcg_per_hr(quantity)
        if rate is not None:
            return Amount(rate, f"{quantity} = {number(rate)} mcg/hr")
        raise NotComputable(f"patch dose recorded as {quantity}: number of patches unknown")
    if word is not None:
        if strength is None:
            raise NotComputable(f"strength unknown: dose is {quantity} of a product whose strength is not coded")
        if strength.per != "unit":
            raise NotComputable(f"dose in {word}s but the strength is {strength.describe()}")
        return Amount(
            value * strength.amount, f"{number(strength.amount)} mg/{word} x {number(value)} {_plural(word, value)}"
        )
    mg = mass_in_mg(quantity)
    if mg is not None:
        _check_not_other_ingredient(mg, quantity, product)
        text = f"{quantity}" if quantity.unit_key.lower() == "mg" else f"{quantity} = {number(mg)} mg"
        return Amount(mg, text)
    ml = volume_in_ml(quantity)
    if ml is not None:
        if strength is None or strength.per != "mL":
            known = strength.describe() if strength else "unknown"
            raise NotComputable(f"dose in mL but the strength is {known}")
        return Amount(ml * strength.amount, f"{strength.describe()} x {number(ml)} mL")
    if rate_in_mcg_per_hr(quantity) is not None:
        raise NotComputable(f"dose recorded as a rate ({quantity}) for a product that is not a patch")
    raise NotComputable(f"dose unit {quantity.unit_key or '(none)'!r} not recognised")


# Typed doseAndRate entries state one dose several ways (dose-rate-type ordered / calculated; Epic's admin-amount):
# the ordered dose is read, the others only when it cannot be. Untyped entries rank with ordered ones.
TYPE_PREFERENCE = ("ordered", "", "calculated", "admin-amount")


def entry_type(dr: DoseAndRate) -> str:
    if dr.type is None:
        return ""
    code = next((c.code for c in dr.type.codings if c.code), None) or dr.type.text or ""
    kind = code.strip().lower()
    return kind if kind in TYPE_PREFERENCE else ""


def _entry_dose(dr: DoseAndRate) -> tuple[Quantity, bool]:
    if dr.dose is not None:
        return dr.dose, False
    if dr.dose_high is not None:
        return dr.dose_high, True
    if dr.dose_low is not None:
        raise NotComputable("dose range has no upper limit: maximum dose unknown")
    if dr.rate is not None or dr.rate_ratio is not None or dr.rate_high is not None:
        raise NotComputable("dose given as an infusion rate: not supported by the MME calculation")
    raise NotComputable("no dose in the dosage instruction")


def _dose_quantity(dosage: Dosage, product: OpioidProduct) -> tuple[Quantity, Amount, bool, str]:
    """The dose to use, its amount, whether it is the top of a range, and a note on how it was chosen.

    Entries of the most preferred type are read; several of them (an untyped order that states its dose twice)
    give the highest; a type whose dose cannot be computed gives way to the next ("1 TAB" of a product of
    unknown strength, then the calculated "5 mg")."""
    groups: dict[str, list[DoseAndRate]] = {}
    for dr in dosage.dose_and_rate:
        groups.setdefault(entry_type(dr), []).append(dr)
    first_error: NotComputable | None = None
    for kind in (k for k in TYPE_PREFERENCE if k in groups):
        read: list[tuple[Quantity, Amount, bool]] = []
        try:
            for dr in groups[kind]:
                quantity, top = _entry_dose(dr)
                read.append((quantity, dose_amount(quantity, product), top))
        except NotComputable as exc:
            first_error = first_error or exc
            continue
        quantity, chosen, top = max(read, key=lambda r: r[1].value)
        note = ""
        if first_error is not None:
            note = f"the {kind or 'untyped'} dose is used ({first_error.reason} for the preferred one)"
        elif len({round(r[1].value, 9) for r in read}) > 1:
            note = f"{len(read)} doses stated ({'; '.join(str(r[0]) for r in read)}): the highest is used"
        return quantity, chosen, top, note
    if first_error is not None:
        raise first_error
    if dosage.text:
        raise NotComputable(f"dose only in free text ({dosage.text!r}): not read by the calculator")
    raise NotComputable("no dose in the dosage instruction")


def max_per_day(limit: Ratio | None, product: OpioidProduct) -> tuple[float, str] | None:
    """maxDosePerPeriod as opioid mg/day; None when absent or not in usable units."""
    if limit is None or limit.numerator is None or limit.denominator is None:
        return None
    period = limit.denominator
    unit_days = days_in(period.unit_key) or days_in(period.unit)
    if unit_days is None or not period.value:
        return None
    try:
        amount = dose_amount(limit.numerator, product)
    except NotComputable:
        return None
    per_day = amount.value / (period.value * unit_days)
    return per_day, f"maximum {limit.numerator} per {number(period.value)} {period.unit_key or period.unit}"


def daily_amount(dosage: Dosage, product: OpioidProduct) -> DailyAmount:
    """This dosage's opioid amount per day (mg/day), or patches worn at once (mcg/hr, no timing needed)."""
    _, amount, top_of_range, chosen_note = _dose_quantity(dosage, product)
    range_note = (" (top of dose range)" if top_of_range else "") + (f" ({chosen_note})" if chosen_note else "")
    if product.strength is not None and product.strength.per == "hr":
        return DailyAmount(amount.value, amount.text + range_note, None, amount.text + range_note, top_of_range)
    frequency = doses_per_day(dosage.timing)
    cap = max_per_day(dosage.max_dose_per_period, product)
    notes = []
    if dosage.as_needed:
        notes.append("PRN")
    if frequency is None:
        if cap is None:
            raise NotComputable("no timing: doses per day unknown (not counted as 0 or as once a day)")
        text = f"{cap[1]} = {number(cap[0])} mg/day (maximum allowed, no timing stated)"
        return DailyAmount(cap[0], amount.text + range_note, None, text, True)
    value = amount.value * frequency.per_day
    capped = cap is not None and cap[0] < value
    maximum = dosage.as_needed or frequency.maximum or top_of_range or capped or "highest" in chosen_note
    if maximum:
        notes.insert(0, "maximum allowed")
    notes.insert(0, frequency.basis)
    text = f"{amount.text}{range_note} x {number(frequency.per_day)}/day ({', '.join(notes)})"
    if cap is not None and capped:
        value = cap[0]
        text += f", capped by {cap[1]} ({number(value)} mg)"
    return DailyAmount(value, amount.text + range_note, frequency.per_day, text, maximum)
