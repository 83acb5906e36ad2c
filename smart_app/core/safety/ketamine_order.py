"""Recognise ketamine in a medication and read a draft ketamine order into typed, unit-checked amounts.

Recognition is by RxNorm code (ingredient 6130, the ketamine SCDs, the esketamine products; mappings/
ketamine_products.json) and, as a fallback, by the word "ketamine" in the medication's name. Esketamine is told apart
because its products, indication and potency differ from racemic ketamine.

Amounts are kept as ordered (mg or mg/kg; mg/h or mg/kg/h) and converted with a body weight only when the caller
has one; what cannot be read is listed in `KetamineOrder.problems`, never replaced by a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from smart_app.core.model import RXNORM, Concept, Dosage, MedicationUse
from smart_app.core.safety.amounts import MASS_MG, Amount, amount, normalise_unit, ratio_rate, to_hours
from smart_app.mappings import read_json

Drug = Literal["ketamine", "esketamine"]
DRUGS: tuple[Drug, ...] = ("ketamine", "esketamine")
Setting = Literal["inpatient", "outpatient", "community", "discharge"]
MEDICATION_REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """mappings/ketamine_products.json, typed once."""

    codes: dict[Drug, frozenset[str]]  # RxNorm ingredient and product codes
    name_words: dict[Drug, tuple[str, ...]]
    mg_per_ml: dict[str, float]  # product RxCUI -> concentration
    routes: tuple[tuple[str, tuple[str, ...]], ...]  # (route, words), first match wins


@cache
def _catalogue() -> _Catalogue:
    data = read_json("ketamine_products.json")
    codes: dict[Drug, frozenset[str]] = {}
    words: dict[Drug, tuple[str, ...]] = {}
    strengths: dict[str, float] = {}
    for drug in DRUGS:
        table = data[drug]
        products = table["products"]
        ingredient = table.get("ingredient")
        codes[drug] = frozenset([str(p["code"]) for p in products] + ([str(ingredient["code"])] if ingredient else []))
        words[drug] = tuple(str(w) for w in table["name_words"])
        strengths.update({str(p["code"]): float(p["mg_per_ml"]) for p in products if p.get("mg_per_ml")})
    routes = tuple((str(name), tuple(str(w) for w in ws)) for name, ws in data["routes"]["words"])
    return _Catalogue(codes, words, strengths, routes)


def _concepts(med: MedicationUse) -> list[Concept]:
    return [med.medication, *(i.item for i in med.ingredients)]


def _names(med: MedicationUse) -> str:
    parts: list[str] = []
    for concept in _concepts(med):
        parts.extend(x for x in (concept.text, *(c.display for c in concept.codings)) if x)
    return " ".join(parts).lower()


def _has_code(med: MedicationUse, drug: Drug) -> bool:
    codes = _catalogue().codes[drug]
    return any(code in codes for concept in _concepts(med) for code in concept.codes(RXNORM))


def is_esketamine(med: MedicationUse) -> bool:
    """An esketamine product (by RxNorm product code, or 'esketamine' in its name)."""
    return _has_code(med, "esketamine") or any(w in _names(med) for w in _catalogue().name_words["esketamine"])


def is_ketamine(med: MedicationUse) -> bool:
    """Any ketamine medication, racemic or esketamine (use `is_esketamine` to tell them apart).

    The name is checked even when the medication carries an RxNorm code, because ketamine products beyond the
    verified SCDs (premixed bags, other strengths) have codes this table does not list: missing a ketamine order
    would silently skip every dose check.
    """
    if _has_code(med, "ketamine") or is_esketamine(med):
        return True
    names = _names(med)
    return any(re.search(rf"\b{re.escape(w)}\b", names) for w in _catalogue().name_words["ketamine"])


def drug_of(med: MedicationUse) -> Drug:
    return "esketamine" if is_esketamine(med) else "ketamine"


def _duration_h(dosage: Dosage) -> float | None:
    repeat = dosage.timing.repeat if dosage.timing else None
    if repeat is None:
        return None
    duration = to_hours(repeat.duration, repeat.duration_unit)
    if duration is None and repeat.bounds_duration is not None:
        bd = repeat.bounds_duration
        duration = to_hours(bd.value, bd.code or bd.unit)
    return duration


# --- Route and setting --------------------------------------------------------------------------------------------
def route_of(text: str) -> str | None:
    lowered = text.lower()
    for name, words in _catalogue().routes:
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", lowered) for w in words):
            return name
    return None


def _concept_text(concept: Concept | None) -> str:
    if concept is None:
        return ""
    return " ".join(x for x in (concept.text, *(c.display or "" for c in concept.codings)) if x)


def _setting(med: MedicationUse) -> Setting | None:
    for concept in med.category:
        for code in concept.codes(MEDICATION_REQUEST_CATEGORY):
            if code in ("inpatient", "outpatient", "community", "discharge"):
                return code  # type: ignore[return-value]
    return None


def _mg_per_ml(med: MedicationUse) -> float | None:
    """Product concentration from the SCD table or the Medication's ingredient strength (mg per mL)."""
    for code in med.medication.codes(RXNORM):
        if code in _catalogue().mg_per_ml:
            return _catalogue().mg_per_ml[code]
    for ingredient in med.ingredients:
        s = ingredient.strength
        if s and s.numerator and s.denominator and s.numerator.value and s.denominator.value:
            num = normalise_unit(s.numerator.code or s.numerator.unit or "")
            den = normalise_unit(s.denominator.code or s.denominator.unit or "")
            if num in MASS_MG and den == "ml":
                return s.numerator.value * MASS_MG[num] / s.denominator.value
    return None


# --- The order ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KetamineOrder:
    reference: str
    name: str
    drug: Drug
    route: str | None  # "intravenous", "epidural", ... or None when the order does not say
    route_text: str | None
    bolus: Amount | None
    rate: Amount | None  # per hour
    duration_h: float | None
    repeats: int | None
    setting: Setting | None
    mg_per_ml: float | None
    problems: tuple[str, ...] = ()
    dosed: bool = True  # the order states some dose or rate (readable or not); a fresh selection may state none

    def total_mg(self, weight_kg: float | None) -> float | None:
        """Planned total for one treatment: rate x duration plus any bolus; None when a part is unknown."""
        if self.rate is None or self.duration_h is None:
            return None
        rate_mg = self.rate.mg(weight_kg)
        if rate_mg is None:
            return None
        bolus = 0.0
        if self.bolus is not None:
            bolus_mg = self.bolus.mg(weight_kg)
            if bolus_mg is None:
                return None
            bolus = bolus_mg
        return rate_mg * self.duration_h + bolus

    @property
    def is_serial(self) -> bool:
        return bool(self.repeats and self.repeats > 0)


def read_order(med: MedicationUse) -> KetamineOrder:
    """The ketamine order in `med` (callers check `is_ketamine` first)."""
    problems: list[str] = []
    mg_per_ml = _mg_per_ml(med)
    dosage = med.dosages[0] if med.dosages else None
    if len(med.dosages) > 1:
        problems.append(f"{len(med.dosages)} dosage instructions: only the first is checked")
    bolus = rate = None
    duration = None
    route_text = None
    count = None
    if dosage is None:
        problems.append("no dosageInstruction: dose and rate cannot be checked")
    else:
        duration = _duration_h(dosage)
        route_text = _concept_text(dosage.route) or None
        repeat = dosage.timing.repeat if dosage.timing else None
        count = repeat.count if repeat else None
        # Every doseAndRate entry: a rate (the infusion) and a dose (a loading bolus) may come in one entry or in
        # two (bolus first, then the rate, as EHRs write a loading dose followed by an infusion).
        doses: list[Amount] = []
        for dr in dosage.dose_and_rate:
            entry_rate = amount(dr.rate, mg_per_ml, rate=True, problems=problems, what="rateQuantity") or ratio_rate(
                dr.rate_ratio, mg_per_ml, problems
            )
            if entry_rate is not None:
                if rate is not None and entry_rate != rate:
                    problems.append("several infusion rates: only the first is checked")
                rate = rate or entry_rate
            dose = amount(dr.dose, mg_per_ml, rate=False, problems=problems, what="doseQuantity")
            if dose is not None:
                doses.append(dose)
        if doses:
            if rate is None and duration and len(doses) == 1:
                # A dose given over a duration, with no rate, is an infusion at dose/duration.
                only_dose = doses[0]
                rate = Amount(
                    only_dose.value / duration, only_dose.per_kg, f"{only_dose.as_ordered} over {duration:g} h"
                )
            else:
                bolus = doses[0]  # with a rate: a loading bolus; alone: a single bolus dose
                if len(doses) > 1:
                    problems.append(f"{len(doses)} doses in one instruction: only the first is checked")
        if not dosage.dose_and_rate:
            problems.append("no doseAndRate: dose and rate cannot be checked")
    route = route_of(route_text) if route_text else None
    if route is None:
        route = route_of(_concept_text(med.form) or _concept_text(med.medication) or "")
        if route is not None and route not in ("intranasal", "oral", "sublingual", "topical"):
            route = None  # a form like "Injectable Solution" does not say IV, SC or IM
    repeats = med.repeats_allowed if med.repeats_allowed is not None else (count - 1 if count and count > 1 else None)
    return KetamineOrder(
        reference=med.reference,
        name=med.medication.label,
        drug=drug_of(med),
        route=route,
        route_text=route_text,
        bolus=bolus,
        rate=rate,
        duration_h=duration,
        repeats=repeats,
        setting=_setting(med),
        mg_per_ml=mg_per_ml,
        problems=tuple(problems),
        dosed=states_dose(med),
    )


def states_dose(med: MedicationUse) -> bool:
    """Whether any dosage instruction of `med` states a dose or a rate."""
    return any(
        dr.dose or dr.dose_low or dr.dose_high or dr.rate or dr.rate_low or dr.rate_high or dr.rate_ratio
        for dosage in med.dosages
        for dr in dosage.dose_and_rate
    )
