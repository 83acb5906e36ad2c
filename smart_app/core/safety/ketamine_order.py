"""Recognise ketamine in a medication and read a draft ketamine order into typed, unit-checked amounts.

Recognition is by RxNorm code (ingredient 6130, the ketamine SCDs, the esketamine products; mappings/
ketamine_products.json) and, as a fallback, by the word "ketamine" in the medication's name. Esketamine is told apart
because its products, indication and potency differ from racemic ketamine.

The whole order is read, the way EHRs write it:
- every dosage instruction, by `sequence`: instructions with the same sequence (or none) are concurrent and add;
  different sequences are successive steps (a loading dose, then the infusion; a titration), each kept, so the
  rules judge the highest and the planned total covers them all;
- every doseAndRate entry: typed entries (dose-rate-type ordered / calculated, Epic's admin-amount) state one dose
  several ways, so the ordered one is read and the others only when it cannot be; untyped entries are all read
  (a bolus and a rate, or one dose stated twice: the highest is judged);
- ranges (doseRange, rateRange) at their maximum, and said so;
- the route from its codes and words (`core/routes.py`), the duration from `duration`, `boundsDuration` or a
  `boundsPeriod` of one administration, the sessions from `count` (or `countMax`), repeats, or a frequency over
  bounds;
- an amount in mL only with a concentration the order itself states (Medication.ingredient.strength, its name,
  a premixed product): a vial's strength is not the infused concentration, and stated concentrations that disagree
  (a 1 mg/mL bag coded as the 100 mg/mL vial) leave the amount unread.

Amounts are kept as ordered (mg or mg/kg; mg/h or mg/kg/h) and converted with a body weight only when the caller
has one; what cannot be read is an `OrderProblem` naming the part and the data missing, never replaced by a guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from smart_app.caching import ByteBoundedMemo, memo_cache, size_of
from smart_app.core.model import RXNORM, Concept, Dosage, DoseAndRate, Ingredient, MedicationUse, Quantity, quick_frozen
from smart_app.core.routes import RouteReading, read_route
from smart_app.core.safety.amounts import MASS_MG, Amount, amount, normalise_unit, ratio_rate, to_hours
from smart_app.mappings import read_json

Drug = Literal["ketamine", "esketamine"]
DRUGS: tuple[Drug, ...] = ("ketamine", "esketamine")
Setting = Literal["inpatient", "outpatient", "community", "discharge"]
MEDICATION_REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
# Canonical routes of core/routes.py as the ketamine rules name them.
_ROUTE_NAMES = {"nasal": "intranasal", "buccal": "sublingual", "transdermal": "topical"}
Part = Literal["bolus", "rate", "duration", "route", "order"]


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """mappings/ketamine_products.json, typed once."""

    codes: dict[Drug, frozenset[str]]  # RxNorm ingredient and product codes
    name_words: dict[Drug, tuple[str, ...]]
    vials: dict[str, tuple[float, str]]  # product RxCUI -> (mg/mL, display): the strength of a vial, not infused
    premixed: dict[str, tuple[float, str]]  # product RxCUI -> (mg/mL, display): the concentration given
    routes: tuple[tuple[str, tuple[str, ...]], ...]  # (route, words), first match wins


@cache
def _catalogue() -> _Catalogue:
    data = read_json("ketamine_products.json")
    codes: dict[Drug, frozenset[str]] = {}
    words: dict[Drug, tuple[str, ...]] = {}
    vials: dict[str, tuple[float, str]] = {}
    premixed: dict[str, tuple[float, str]] = {}
    for drug in DRUGS:
        table = data[drug]
        products = table["products"]
        ingredient = table.get("ingredient")
        codes[drug] = frozenset([str(p["code"]) for p in products] + ([str(ingredient["code"])] if ingredient else []))
        words[drug] = tuple(str(w) for w in table["name_words"])
        for p in products:
            if p.get("mg_per_ml"):
                target = premixed if p.get("premixed") else vials
                target[str(p["code"])] = (float(p["mg_per_ml"]), str(p["display"]))
    routes = tuple((str(name), tuple(str(w) for w in ws)) for name, ws in data["routes"]["words"])
    return _Catalogue(codes, words, vials, premixed, routes)


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
    return _kinds(med.medication, med.ingredients)[1]


def ketamine_kinds(med: MedicationUse) -> tuple[bool, bool]:
    """(`is_ketamine`, `is_esketamine`) in one look-up."""
    return _kinds(med.medication, med.ingredients)


def is_ketamine(med: MedicationUse) -> bool:
    """Any ketamine medication, racemic or esketamine (use `is_esketamine` to tell them apart).

    The name is checked even when the medication carries an RxNorm code, because ketamine products beyond the
    verified SCDs (premixed bags, other strengths) have codes this table does not list: missing a ketamine order
    would silently skip every dose check.
    """
    return _kinds(med.medication, med.ingredients)[0]


# Several rules ask of every medication whether it is ketamine (treatment history three times per call); the
# answer depends only on its concepts, which recur across patients. Bounded in bytes: concepts hold free text.
@memo_cache(2 * 1024 * 1024)
def _kinds(medication: Concept, ingredients: tuple[Ingredient, ...]) -> tuple[bool, bool]:
    """(is ketamine, is esketamine) of a medication with these concepts."""
    med = MedicationUse("MedicationRequest", "", None, medication, ingredients=ingredients)
    names = _names(med)
    esketamine = _has_code(med, "esketamine") or any(w in names for w in _catalogue().name_words["esketamine"])
    ketamine = (
        esketamine
        or _has_code(med, "ketamine")
        or any(re.search(rf"\b{re.escape(w)}\b", names) for w in _catalogue().name_words["ketamine"])
    )
    return ketamine, esketamine


def drug_of(med: MedicationUse) -> Drug:
    return "esketamine" if is_esketamine(med) else "ketamine"


# --- Route and setting --------------------------------------------------------------------------------------------
def route_of(text: str) -> str | None:
    lowered = text.lower()
    for name, pattern in _route_patterns():
        if pattern.search(lowered):
            return name
    return None


@cache
def _route_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One pattern per route of the catalogue: any of its words, as a word (first route that matches wins)."""
    return tuple(
        (name, re.compile("|".join(rf"(?<![a-z]){re.escape(w)}(?![a-z])" for w in words)))
        for name, words in _catalogue().routes
        if words  # a route with no words matches no text (an empty pattern would match every text)
    )


# Every draft ketamine order's dosage routes are read (codes, displays and text against the route tables); the
# reading depends only on the route's concept, and EHRs send a handful of route concepts. Bounded in bytes: a
# concept holds free text.
@memo_cache(512 * 1024)
def _route_reading(concept: Concept) -> RouteReading:
    return read_route(concept, route_of)


def _concept_text(concept: Concept | None) -> str:
    if concept is None:
        return ""
    return " ".join(x for x in (concept.text, *(c.display or "" for c in concept.codings)) if x)


def _route_label(concept: Concept | None) -> str:
    if concept is None:
        return ""
    text = _concept_text(concept)
    codes = ", ".join(f"{c.code}" for c in concept.codings if c.code)
    return text or codes


def _setting(med: MedicationUse) -> Setting | None:
    for concept in med.category:
        for code in concept.codes(MEDICATION_REQUEST_CATEGORY):
            if code in ("inpatient", "outpatient", "community", "discharge"):
                return code  # type: ignore[return-value]
    return None


# --- Concentration ------------------------------------------------------------------------------------------------
_PER_ML = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|ug|µg|g)\s*/\s*(\d+(?:\.\d+)?)?\s*ml\b", re.I)
_IN_ML = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|ug|µg|g)\s+in\s+(?:[a-z0-9.%\s]*?\s)??(\d+(?:\.\d+)?)\s*ml\b", re.I)


def _text_mg_per_ml(text: str | None) -> float | None:
    """A concentration written in a name: '1 MG/ML', '2 mg/mL', '500 mg in 500 mL', '200 mg in 50 ml saline'."""
    if not text:
        return None
    match = _IN_ML.search(text)
    if match:
        mg = float(match[1]) * MASS_MG[normalise_unit(match[2])]
        return mg / float(match[3]) if float(match[3]) else None
    match = _PER_ML.search(text)
    if match:
        per = float(match[3]) if match[3] else 1.0
        return float(match[1]) * MASS_MG[normalise_unit(match[2])] / per if per else None
    return None


@dataclass(frozen=True, slots=True)
class Concentration:
    mg_per_ml: float | None  # the concentration the order states, or None
    problem: str | None = None  # why it is unknown though an amount needs it (ambiguous, or only a vial named)
    conflict: str | None = None  # the product code and the order's own words disagree


def _fmt(value: float) -> str:
    return f"{value:g}"


# Every ketamine administration and order of a record is asked its concentration (the exposure over a year reads a
# dozen or more, most of one product): the answer depends only on the medication's concepts. A plain bounded memo
# (a lookup is one dict.get); it forgets everything when full.
_CONCENTRATIONS: ByteBoundedMemo[tuple[Concept, tuple[Ingredient, ...]], Concentration] = ByteBoundedMemo(
    2 * 1024 * 1024, max_entry_bytes=16 * 1024
)


def concentration(med: MedicationUse) -> Concentration:
    """The concentration the order itself states; a vial code alone does not state what is infused."""
    key = (med.medication, med.ingredients)
    found = _CONCENTRATIONS.get(key)
    if found is None:
        found = _concentration(med.medication, med.ingredients)
        _CONCENTRATIONS.put(key, found, size_of(key) + size_of(found))
    return found


def _concentration(medication: Concept, ingredients: tuple[Ingredient, ...]) -> Concentration:
    catalogue = _catalogue()
    stated: dict[str, float] = {}  # where -> mg/mL
    for ingredient in ingredients:
        s = ingredient.strength
        if s and s.numerator and s.denominator and s.numerator.value and s.denominator.value:
            num = normalise_unit(s.numerator.code or s.numerator.unit or "")
            den = normalise_unit(s.denominator.code or s.denominator.unit or "")
            if num in MASS_MG and den == "ml":
                stated["Medication.ingredient.strength"] = s.numerator.value * MASS_MG[num] / s.denominator.value
    vial: tuple[str, float, str] | None = None
    conflict: str | None = None
    for coding in medication.codings:
        code = coding.code or ""
        if coding.system == RXNORM and code in catalogue.premixed:
            stated[f"RxNorm {code}"] = catalogue.premixed[code][0]
        elif coding.system == RXNORM and code in catalogue.vials:
            strength, display = catalogue.vials[code]
            vial = (code, strength, display)
            shown = _text_mg_per_ml(coding.display)
            if shown is not None and not math.isclose(shown, strength):
                conflict = f"RxNorm {code} is {display}, but its display says '{coding.display}'"
                stated[f"the display '{coding.display}'"] = shown
        else:
            shown = _text_mg_per_ml(coding.display)
            if shown is not None:
                stated[f"the display '{coding.display}'"] = shown
    in_text = _text_mg_per_ml(medication.text)
    if in_text is not None:
        stated[f"the name '{medication.text}'"] = in_text
    if vial is not None:
        # A name that gives the vial's own strength names the vial ("ketamine 10 MG/ML Injectable Solution"): it
        # says nothing about the concentration infused, which is diluted from it.
        stated = {where: v for where, v in stated.items() if not math.isclose(v, vial[1]) or "ingredient" in where}
    if vial is not None and stated and any(not math.isclose(v, vial[1]) for v in stated.values()):
        code, strength, display = vial
        words = "; ".join(f"{where}: {_fmt(v)} mg/mL" for where, v in stated.items())
        conflict = conflict or f"RxNorm {code} is {display}, but the order states {words}"
    values = sorted(set(stated.values()))
    if len(values) == 1 and not (vial is not None and not math.isclose(values[0], vial[1])):
        return Concentration(values[0], conflict=conflict)
    if len(values) > 1 or conflict:
        words = "; ".join(f"{where}: {_fmt(v)} mg/mL" for where, v in stated.items())
        if vial is not None:
            words += f"; RxNorm {vial[0]}: {_fmt(vial[1])} mg/mL ({vial[2]})"
        return Concentration(None, f"the order's concentration is ambiguous ({words})", conflict)
    if vial is not None:
        return Concentration(
            None,
            f"the order names the {_fmt(vial[1])} mg/mL vial (RxNorm {vial[0]}) but not the concentration given "
            "(Medication.ingredient.strength)",
        )
    return Concentration(None, "the order states no concentration (Medication.ingredient.strength)")


# --- The order ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderProblem:
    """A part of the order that could not be read: which part, why, and whether a concentration was the gap."""

    part: Part
    reason: str
    concentration: bool = False


@quick_frozen
@dataclass(frozen=True, slots=True)
class Dose:
    """A dose or rate of one step: one or more concurrent amounts, added (mg or mg/kg; per hour for rates)."""

    parts: tuple[Amount, ...]
    step: str = ""  # "step 2 of 2 (sequence 2)", empty for a one-step order

    @property
    def per_kg(self) -> bool:
        return all(p.per_kg for p in self.parts)

    @property
    def as_ordered(self) -> str:
        text = " + ".join(p.as_ordered for p in self.parts)
        return f"{text}, {self.step}" if self.step else text

    def mg_per_kg(self, weight_kg: float | None) -> float | None:
        values = [p.mg_per_kg(weight_kg) for p in self.parts]
        return None if None in values else sum(v for v in values if v is not None)

    def mg(self, weight_kg: float | None) -> float | None:
        values = [p.mg(weight_kg) for p in self.parts]
        return None if None in values else sum(v for v in values if v is not None)


@quick_frozen
@dataclass(frozen=True, slots=True)
class Step:
    sequence: int | None
    bolus: Dose | None
    rate: Dose | None
    duration_h: float | None


def _highest(doses: Sequence[Dose], weight_kg: float | None) -> Dose | None:
    """The largest dose in mg/kg; with no weight, one in mg comes first (it needs the weight to be judged)."""
    if not doses:
        return None
    unjudgeable = [d for d in doses if d.mg_per_kg(weight_kg) is None]
    if unjudgeable:
        return max(unjudgeable, key=lambda d: d.mg(None) or 0.0)
    return max(doses, key=lambda d: d.mg_per_kg(weight_kg) or 0.0)


def _duration_of(steps: Sequence[Step]) -> float | None:
    rated = [s for s in steps if s.rate is not None]
    if not rated:
        durations = [s.duration_h for s in steps if s.duration_h is not None]
        return max(durations) if durations else None
    if any(s.duration_h is None for s in rated):
        return None
    return sum(s.duration_h for s in rated if s.duration_h is not None)


def _total_of(steps: Sequence[Step], weight_kg: float | None) -> float | None:
    if not any(s.rate is not None for s in steps):
        return None
    total = 0.0
    for step in steps:
        if step.rate is not None:
            rate_mg = step.rate.mg(weight_kg)
            if rate_mg is None or step.duration_h is None:
                return None
            total += rate_mg * step.duration_h
        if step.bolus is not None:
            bolus_mg = step.bolus.mg(weight_kg)
            if bolus_mg is None:
                return None
            total += bolus_mg
    return total


@quick_frozen
@dataclass(frozen=True, slots=True)
class PlannedDoses:
    """What an order plans to give, and nothing else: its steps and its further sessions, read as `read_order`
    reads them (`read_doses`). The ketamine exposure of a year reads every past order for these alone."""

    steps: tuple[Step, ...]
    repeats: int | None  # as KetamineOrder.repeats

    @property
    def bolus(self) -> Dose | None:
        return _highest([s.bolus for s in self.steps if s.bolus is not None], None)

    @property
    def rate(self) -> Dose | None:
        return _highest([s.rate for s in self.steps if s.rate is not None], None)

    @property
    def duration_h(self) -> float | None:
        """As KetamineOrder.duration_h."""
        return _duration_of(self.steps)

    def total_mg(self, weight_kg: float | None) -> float | None:
        """As KetamineOrder.total_mg."""
        return _total_of(self.steps, weight_kg)


@dataclass(frozen=True, slots=True)
class KetamineOrder:
    reference: str
    name: str
    drug: Drug
    route: str | None  # "intravenous", "epidural", ... or None when the order does not say or it is not recognised
    route_text: str | None
    steps: tuple[Step, ...]
    repeats: int | None  # further sessions this order plans beyond the first (count, repeats, frequency x bounds)
    setting: Setting | None
    mg_per_ml: float | None
    problems: tuple[OrderProblem, ...] = ()
    notes: tuple[str, ...] = ()  # how it was read: ranges at their maximum, typed entries preferred, route conflicts
    route_problem: str | None = None  # the order states a route that could not be recognised
    dosed: bool = True  # the order states some dose or rate (readable or not); a fresh selection may state none
    sessions_basis: str | None = None  # how the sessions were counted ("count 5", "numberOfRepeatsAllowed 2")

    def highest_bolus(self, weight_kg: float | None) -> Dose | None:
        return _highest([s.bolus for s in self.steps if s.bolus is not None], weight_kg)

    def highest_rate(self, weight_kg: float | None) -> Dose | None:
        return _highest([s.rate for s in self.steps if s.rate is not None], weight_kg)

    @property
    def bolus(self) -> Dose | None:
        return self.highest_bolus(None)

    @property
    def rate(self) -> Dose | None:
        return self.highest_rate(None)

    @property
    def duration_h(self) -> float | None:
        """Hours of infusion over every step with a rate (None when one does not say); a bolus-only order: its
        instruction's duration, if any."""
        return _duration_of(self.steps)

    def total_mg(self, weight_kg: float | None) -> float | None:
        """Planned total for one treatment: every step's rate x duration plus its bolus; None when a part is
        unknown or the order has no infusion."""
        return _total_of(self.steps, weight_kg)

    def problems_of(self, *parts: Part) -> tuple[OrderProblem, ...]:
        return tuple(p for p in self.problems if p.part in parts or p.part == "order")

    @property
    def is_serial(self) -> bool:
        return bool(self.repeats and self.repeats > 0)

    @property
    def sessions(self) -> int:
        return 1 + (self.repeats or 0)


# Typed doseAndRate entries, most preferred first: the ordered dose is what the prescriber wrote; the EHR's
# calculated dose and Epic's administered amount restate it (mg for mg/kg, mL for mg). Untyped entries come next
# to ordered ones (an EHR that does not type its entries states each one as ordered).
_TYPE_PREFERENCE = ("ordered", "", "calculated", "admin-amount")


def _entry_type(dr: DoseAndRate) -> str:
    if dr.type is None:
        return ""
    for coding in dr.type.codings:
        if coding.code:
            return coding.code.strip().lower()
    return (dr.type.text or "").strip().lower()


@dataclass
class _Read:
    """What one dosage instruction's entries of one type gave."""

    rates: list[Amount] = field(default_factory=list)
    doses: list[Amount] = field(default_factory=list)
    problems: list[OrderProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ranged(low: Quantity | None, high: Quantity | None) -> str:
    return f"{low.value:g}–{high}" if low is not None and low.value is not None and high is not None else f"{high}"


def _read_entries(entries: Iterable[DoseAndRate], conc: Concentration) -> _Read:
    out = _Read()
    for dr in entries:
        cases: tuple[tuple[Part, Quantity | None, Quantity | None, Quantity | None, bool], ...] = (
            ("rate", dr.rate, dr.rate_low, dr.rate_high, True),
            ("bolus", dr.dose, dr.dose_low, dr.dose_high, False),
        )
        for part, quantity, low, high, is_rate in cases:
            what = "rateQuantity" if is_rate else "doseQuantity"
            if quantity is None and high is None and low is not None:
                out.problems.append(
                    OrderProblem(part, f"{'rate' if is_rate else 'dose'} range {low}– has no upper limit")
                )
                continue
            top_of_range = quantity is None and high is not None
            if top_of_range:
                what = "rateRange" if is_rate else "doseRange"
            problems: list[str] = []
            read = amount(quantity or high, conc.mg_per_ml, rate=is_rate, problems=problems, what=what)
            for reason in problems:
                needs_concentration = "concentration" in reason
                text = f"{reason}: {conc.problem}" if needs_concentration and conc.problem else reason
                out.problems.append(OrderProblem(part, text, needs_concentration))
            if read is None:
                continue
            if top_of_range:
                shown = _ranged(low, high)
                read = Amount(read.value, read.per_kg, f"{shown} (top of the range)")
                out.notes.append(f"{what} {shown} judged at its maximum")
            (out.rates if is_rate else out.doses).append(read)
        if dr.rate_ratio is not None:
            problems = []
            read = ratio_rate(dr.rate_ratio, conc.mg_per_ml, problems)
            out.problems.extend(OrderProblem("rate", p, "concentration" in p) for p in problems)
            if read is not None:
                out.rates.append(read)
    return out


def _one_of(amounts: list[Amount], what: str, notes: list[str]) -> Amount | None:
    """The amount an instruction states, when it states one several times: per kg first, then the highest."""
    if not amounts:
        return None
    distinct = list(dict.fromkeys(amounts))
    if len(distinct) == 1:
        return distinct[0]
    per_kg = [a for a in distinct if a.per_kg]
    pool = per_kg or distinct
    chosen = max(pool, key=lambda a: a.value)
    notes.append(
        f"{len(distinct)} {what}s stated in one instruction ({'; '.join(a.as_ordered for a in distinct)}): "
        f"{chosen.as_ordered} is judged"
    )
    return chosen


def _instruction_amounts(dosage: Dosage, conc: Concentration) -> _Read:
    """The instruction's entries of the most preferred type that can be read (ordered first)."""
    groups: dict[str, list[DoseAndRate]] = {}
    for dr in dosage.dose_and_rate:
        kind = _entry_type(dr)
        key = kind if kind in _TYPE_PREFERENCE else ""
        groups.setdefault(key, []).append(dr)
    kinds = [k for k in _TYPE_PREFERENCE if k in groups]
    if not kinds:
        return _Read()
    first = _read_entries(groups[kinds[0]], conc)
    if (not first.problems and (first.rates or first.doses)) or len(kinds) == 1:
        if len(kinds) > 1:
            first.notes.append(f"the {kinds[0] or 'untyped'} dose is read; {', '.join(kinds[1:])} restate it")
        return first
    for kind in kinds[1:]:
        other = _read_entries(groups[kind], conc)
        if not other.problems and (other.rates or other.doses):
            other.notes.append(
                f"the {kinds[0] or 'untyped'} dose could not be read ({'; '.join(p.reason for p in first.problems)}): "
                f"the {kind} dose is read instead"
            )
            return other
    return first


def _duration_h(dosage: Dosage, notes: list[str]) -> float | None:
    repeat = dosage.timing.repeat if dosage.timing else None
    if repeat is None:
        return None
    if repeat.duration_max is not None and repeat.duration_unit:
        longest = to_hours(repeat.duration_max, repeat.duration_unit)
        if longest is not None:
            shown = f"{repeat.duration or '?'}–{repeat.duration_max} {repeat.duration_unit}"
            notes.append(f"duration {shown} judged at its maximum")
            return longest
    duration = to_hours(repeat.duration, repeat.duration_unit)
    if duration is not None:
        return duration
    repeating = repeat.frequency is not None or repeat.period is not None
    if repeat.bounds_duration is not None and not repeating:
        bd = repeat.bounds_duration
        return to_hours(bd.value, bd.code or bd.unit)
    bp = repeat.bounds_period
    if bp is not None and bp.start is not None and bp.end is not None and not repeating and bp.end > bp.start:
        hours = (bp.end - bp.start).total_seconds() / 3600
        notes.append(f"duration {hours:g} h read from timing.repeat.boundsPeriod")
        return hours
    return None


def _sessions(med: MedicationUse) -> tuple[int | None, str | None]:
    """Sessions beyond the first this order plans, and how that was read."""
    if med.repeats_allowed is not None:
        return med.repeats_allowed, f"dispenseRequest.numberOfRepeatsAllowed {med.repeats_allowed}"
    best: tuple[int, str] | None = None
    for dosage in med.dosages:
        repeat = dosage.timing.repeat if dosage.timing else None
        if repeat is None:
            continue
        count = repeat.count_max if repeat.count_max is not None else repeat.count
        if count is not None:
            basis = f"timing.repeat.{'countMax' if repeat.count_max is not None else 'count'} {count}"
            if best is None or count > best[0]:
                best = (count, basis)
            continue
        sessions = _sessions_over_bounds(dosage)
        if sessions is not None and (best is None or sessions[0] > best[0]):
            best = sessions
    if best is None:
        return None, None
    return (best[0] - 1 if best[0] > 1 else None), best[1]


def _sessions_over_bounds(dosage: Dosage) -> tuple[int, str] | None:
    """A frequency over a course ('once a day for 5 days'): frequency x course / period."""
    repeat = dosage.timing.repeat if dosage.timing else None
    if repeat is None or repeat.period is None or repeat.period_unit is None:
        return None
    period_h = to_hours(repeat.period, repeat.period_unit)
    course_h: float | None = None
    if repeat.bounds_duration is not None:
        bd = repeat.bounds_duration
        course_h = to_hours(bd.value, bd.code or bd.unit)
    elif repeat.bounds_period is not None and repeat.bounds_period.start and repeat.bounds_period.end:
        course_h = (repeat.bounds_period.end - repeat.bounds_period.start).total_seconds() / 3600
    if not period_h or not course_h or course_h <= 0:
        return None
    frequency = repeat.frequency_max or repeat.frequency or 1
    sessions = math.ceil(round(course_h / period_h, 6)) * frequency
    return sessions, f"{frequency} per {repeat.period:g} {repeat.period_unit} over {course_h / 24:g} d"


def _route(med: MedicationUse) -> tuple[str | None, str | None, str | None, list[str]]:
    """(route, route text, why a stated route is unknown, notes), from every instruction's route."""
    notes: list[str] = []
    readings = [(d.route, _route_reading(d.route)) for d in med.dosages if d.route is not None]
    stated = [(c, r) for c, r in readings if r.stated]
    known = [(c, r) for c, r in stated if r.route is not None]
    if known:
        neuraxial = [(c, r) for c, r in known if r.route in ("epidural", "intrathecal")]
        concept, reading = (neuraxial or known)[0]
        route = _ROUTE_NAMES.get(reading.route or "", reading.route)
        if reading.conflict:
            notes.append(f"route: {reading.conflict}; {route} is judged")
        others = {_ROUTE_NAMES.get(r.route or "", r.route) for _, r in known} - {route}
        if others:
            notes.append(f"dosage instructions name other routes too ({', '.join(sorted(o or '' for o in others))})")
        return route, _route_label(concept) or reading.how, None, notes
    if stated:
        concept, reading = stated[0]
        return None, _route_label(concept) or None, reading.problem, notes
    route = route_of(_concept_text(med.form) or _concept_text(med.medication) or "")
    if route is not None and route not in ("intranasal", "oral", "sublingual", "topical"):
        route = None  # a form like "Injectable Solution" does not say IV, SC or IM
    return route, None, None, notes


def _steps(med: MedicationUse, conc: Concentration, problems: list[OrderProblem], notes: list[str]) -> list[Step]:
    by_sequence: dict[int | None, list[Dosage]] = {}
    for dosage in med.dosages:
        by_sequence.setdefault(dosage.sequence, []).append(dosage)
    ordered = sorted(by_sequence.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    steps: list[Step] = []
    for index, (sequence, dosages) in enumerate(ordered, 1):
        label = ""
        if len(ordered) > 1:
            label = f"step {index} of {len(ordered)}" + (f" (sequence {sequence})" if sequence is not None else "")
        boluses: list[Amount] = []
        rates: list[Amount] = []
        durations: list[float] = []
        for dosage in dosages:
            read = _instruction_amounts(dosage, conc)
            problems.extend(read.problems)
            notes.extend(read.notes)
            duration = _duration_h(dosage, notes)
            rate = _one_of(read.rates, "rate", notes)
            doses = list(read.doses)
            if rate is None and duration and len(doses) == 1:
                # A dose given over a duration, with no rate, is an infusion at dose/duration.
                only = doses.pop()
                rate = Amount(only.value / duration, only.per_kg, f"{only.as_ordered} over {duration:g} h")
            bolus = _one_of(doses, "dose", notes)
            if rate is not None:
                rates.append(rate)
            if bolus is not None:
                boluses.append(bolus)
            if duration is not None:
                durations.append(duration)
            if not dosage.dose_and_rate:
                problems.append(OrderProblem("order", "a dosage instruction has no doseAndRate"))
        if len(dosages) > 1:
            notes.append(f"{len(dosages)} concurrent dosage instructions{' in ' + label if label else ''}: added")
        steps.append(
            Step(
                sequence,
                Dose(tuple(boluses), label) if boluses else None,
                Dose(tuple(rates), label) if rates else None,
                max(durations) if durations else None,
            )
        )
    return steps


def read_order(med: MedicationUse) -> KetamineOrder:
    """The ketamine order in `med` (callers check `is_ketamine` first)."""
    problems: list[OrderProblem] = []
    notes: list[str] = []
    conc = concentration(med)
    if conc.conflict:
        notes.append(f"product: {conc.conflict}")
    if med.unreadable:
        problems.append(OrderProblem("order", f"the order could not be read ({med.unreadable})"))
    elif not med.dosages:
        problems.append(OrderProblem("order", "no dosageInstruction: dose and rate cannot be checked"))
    steps = _steps(med, conc, problems, notes)
    route, route_text, route_problem, route_notes = _route(med)
    notes.extend(route_notes)
    if med.unreadable and route is None:
        route_problem = f"the order could not be read ({med.unreadable})"
    repeats, basis = _sessions(med)
    return KetamineOrder(
        reference=med.reference,
        name=med.medication.label,
        drug=drug_of(med),
        route=route,
        route_text=route_text,
        steps=tuple(steps),
        repeats=repeats,
        setting=_setting(med),
        mg_per_ml=conc.mg_per_ml,
        problems=tuple(dict.fromkeys(problems)),
        notes=tuple(dict.fromkeys(notes)),
        route_problem=route_problem,
        dosed=states_dose(med) or med.unreadable is not None,
        sessions_basis=basis,
    )


def read_doses(med: MedicationUse) -> PlannedDoses:
    """The steps and sessions of the order in `med`, exactly as `read_order` reads them, without the route, the
    setting, the problems and the reading notes (a past order's exposure needs its amounts only)."""
    steps = _steps(med, concentration(med), [], [])
    return PlannedDoses(tuple(steps), _sessions(med)[0])


def states_dose(med: MedicationUse) -> bool:
    """Whether any dosage instruction of `med` states a dose or a rate."""
    return any(
        dr.dose or dr.dose_low or dr.dose_high or dr.rate or dr.rate_low or dr.rate_high or dr.rate_ratio
        for dosage in med.dosages
        for dr in dosage.dose_and_rate
    )
