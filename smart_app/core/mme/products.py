"""Which opioid a medication contains, and its strength.

Sources, in order (MME.md section 4.1):
1. the RxNorm product code, looked up in `mappings/rxnorm_opioid_products.csv` (combination products: only the
   opioid counts; the other ingredients are kept to catch doses recorded as their mg);
2. a contained or referenced Medication's `ingredient` (item code or name, `strength` ratio);
3. an RxNorm ingredient code (e.g. 7804 oxycodone): identifies the drug but not its strength;
4. the RxNorm normalized name (or free text in the same shape) in `Medication.code.text` or a coding display,
   e.g. "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet [OxyContin]".
The strength comes from 1, 2 or 4; a drug known only by its ingredient has no strength, and the engine says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from smart_app.core.mme.units import Strength, strength_from_ratio, strength_from_text
from smart_app.core.model import RXNORM, Concept, Ingredient, MedicationUse
from smart_app.mappings import read_csv, read_json

PRODUCT_TABLE = "rxnorm_opioid_products.csv"


@dataclass(frozen=True, slots=True)
class OtherIngredient:
    """A non-opioid ingredient of a combination product, e.g. acetaminophen 325 mg per tablet."""

    name: str
    strength: Strength | None


@dataclass(frozen=True, slots=True)
class OpioidProduct:
    ingredient: str  # base opioid, e.g. "oxycodone"
    strength: Strength | None
    dose_form: str | None = None  # RxNorm dose form, e.g. "Extended Release Oral Tablet"
    other_ingredients: tuple[OtherIngredient, ...] = ()
    rxcui: str | None = None  # product RxCUI when known from the product table
    name: str | None = None
    source: str = ""  # where ingredient and strength came from, for the derivation


@cache
def _opioid_words() -> dict[str, str]:
    data = read_json("opioid_ingredients.json")["opioids"]
    return {word: ingredient for ingredient, spec in data.items() for word in spec["names"]}


@cache
def _opioid_rxcuis() -> dict[str, str]:
    return {spec["rxcui"]: ingredient for ingredient, spec in read_json("opioid_ingredients.json")["opioids"].items()}


@lru_cache(maxsize=4096)
def opioid_in_words(text: str | None) -> str | None:
    """The opioid named in `text` as a whole word ('Oxycodone HCl 5 mg' -> oxycodone); None if there is none."""
    if not text:
        return None
    words = _opioid_words()
    for token in re.findall(r"[a-z]+", text.lower()):
        if token in words:
            return words[token]
    return None


def opioid_by_rxcui(code: str) -> str | None:
    return _opioid_rxcuis().get(code)


# --- RxNorm normalized names -----------------------------------------------------------------------------------

_BRAND = re.compile(r"\s*\[[^\]]*\]\s*$")
_PREFIX = re.compile(r"^(?:(?:\d+(?:\.\d+)?\s+(?:HR|DAY|ML|ACTUAT)\b|Abuse-Deterrent|Matrix Delivery)\s*)+", re.I)
_COMPONENT = re.compile(
    r"^(?P<name>.*?[A-Za-z].*?)\s+(?P<value>\d*\.?\d+)\s*"
    r"(?P<unit>(?:MG|MCG|UG|µG)(?:/(?:ML|HR|H|ACTUAT))?)(?![A-Za-z])\s*(?P<rest>.*)$",
    re.I,
)


def _strength(value: str, unit: str) -> Strength | None:
    unit = unit.lower().replace("ug", "mcg").replace("µg", "mcg")
    if unit.endswith("/h"):
        unit += "r"
    return strength_from_text(float(value), unit)


@lru_cache(maxsize=4096)
def parse_name(name: str | None) -> OpioidProduct | None:
    """Ingredient, strength, dose form and other ingredients from an RxNorm-style name; None when no opioid."""
    if not name:
        return None
    text = _PREFIX.sub("", _BRAND.sub("", name.strip()))
    parts = [p.strip() for p in text.split(" / ")]
    opioid: tuple[str, Strength | None] | None = None
    others: list[OtherIngredient] = []
    dose_form = None
    for index, part in enumerate(parts):
        match = _COMPONENT.match(part)
        words = match["name"] if match else part
        strength = _strength(match["value"], match["unit"]) if match else None
        if match and index == len(parts) - 1:
            dose_form = match["rest"].strip() or None
        ingredient = opioid_in_words(words)
        if ingredient is not None and opioid is None:
            opioid = (ingredient, strength)
        else:
            others.append(OtherIngredient(words.strip(), strength))
    if opioid is None:
        return None
    return OpioidProduct(opioid[0], opioid[1], dose_form, tuple(others), name=name, source="name")


# --- RxNorm product table --------------------------------------------------------------------------------------

_OTHER = re.compile(r"^(?P<name>.+?)\s+(?P<value>\d*\.?\d+)\s+(?P<unit>\S+)$")


def _others(text: str) -> tuple[OtherIngredient, ...]:
    result = []
    for part in filter(None, (p.strip() for p in text.split(" | "))):
        match = _OTHER.match(part)
        if match:
            result.append(OtherIngredient(match["name"], _strength(match["value"], match["unit"])))
        else:
            result.append(OtherIngredient(part, None))
    return tuple(result)


def products_from_rows(rows: Iterable[Mapping[str, str]]) -> dict[str, OpioidProduct]:
    """Product table rows (columns of rxnorm_opioid_products.csv) keyed by product RxCUI."""
    table: dict[str, OpioidProduct] = {}
    for row in rows:
        value = row.get("strength_value") or ""
        try:
            strength = _strength(value, row.get("strength_unit") or "") if value else None
        except ValueError:
            strength = None
        table[row["rxcui"].strip()] = OpioidProduct(
            ingredient=row["opioid_ingredient"].strip().lower(),
            strength=strength,
            dose_form=(row.get("dose_form") or "").strip() or None,
            other_ingredients=_others(row.get("other_ingredients") or ""),
            rxcui=row["rxcui"].strip(),
            name=row.get("name"),
            source="RxNorm product",
        )
    return table


@cache
def product_table() -> Mapping[str, OpioidProduct]:
    try:
        return products_from_rows(read_csv(PRODUCT_TABLE))
    except FileNotFoundError:  # the table is data, not code: without it the name parser still works
        return {}


# --- one medication --------------------------------------------------------------------------------------------


def _ingredient_opioid(item: Concept) -> str | None:
    for code in item.codes(RXNORM):
        found = opioid_by_rxcui(code)
        if found:
            return found
    return opioid_in_words(item.text) or next(
        (found for c in item.codings if (found := opioid_in_words(c.display))), None
    )


def _from_ingredients(ingredients: tuple[Ingredient, ...], form: str | None) -> OpioidProduct | None:
    opioid: OpioidProduct | None = None
    others = []
    for ing in ingredients:
        strength = strength_from_ratio(ing.strength.numerator, ing.strength.denominator) if ing.strength else None
        found = _ingredient_opioid(ing.item)
        if found and opioid is None:
            opioid = OpioidProduct(found, strength, form, source="Medication.ingredient")
        else:
            others.append(OtherIngredient(ing.item.label, strength))
    return replace(opioid, other_ingredients=tuple(others)) if opioid else None


def identify(med: MedicationUse) -> OpioidProduct | None:
    """The opioid product of a medication; None when it contains no opioid agonist (the engine skips it)."""
    return _identify(med.medication, med.form, med.ingredients)


@lru_cache(maxsize=4096)  # the same coded products recur across patients; all arguments are frozen
def _identify(
    medication: Concept, form_concept: Concept | None, ingredients: tuple[Ingredient, ...]
) -> OpioidProduct | None:
    table = product_table()
    codes = tuple(medication.codes(RXNORM))
    for code in codes:
        if code in table:
            return table[code]
    form = form_concept.label if form_concept and (form_concept.text or form_concept.codings) else None
    from_ingredients = _from_ingredients(ingredients, form)
    if from_ingredients is not None and from_ingredients.strength is not None:
        return from_ingredients
    names = (medication.text, *(c.display for c in medication.codings))
    parsed = next((p for p in map(parse_name, names) if p is not None), None)
    by_code = next((found for code in codes if (found := opioid_by_rxcui(code))), None)
    ingredient = (from_ingredients.ingredient if from_ingredients else None) or by_code
    if parsed is not None and (ingredient is None or (parsed.ingredient == ingredient and parsed.strength)):
        return replace(parsed, dose_form=form or parsed.dose_form)
    if ingredient is None:
        return None
    source = "Medication.ingredient" if from_ingredients else "RxNorm ingredient code"
    others = from_ingredients.other_ingredients if from_ingredients else ()
    return OpioidProduct(ingredient, None, form, others, source=source)
