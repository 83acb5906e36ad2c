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
from functools import cache

from smart_app.caching import memo_cache
from smart_app.core.mme.units import Strength, strength_from_ratio, strength_from_text
from smart_app.core.model import RXNORM, Concept, HashOnce, Ingredient, MedicationUse, quick_frozen
from smart_app.mappings import read_csv, read_json

PRODUCT_TABLE = "rxnorm_opioid_products.csv"
# The longest RxNorm normalized name of the product table is under 260 characters. A longer name is not read as
# an RxNorm name (its strength is not taken from it): no parser here reads more than this, so that a hostile or
# broken 1 MB medication text costs microseconds, never seconds. The opioid is still found by its name words.
MAX_NAME_CHARS = 400
# The name caches: the same products recur across patients; every entry is bounded by MAX_NAME_CHARS or less.
_NAME_CACHE_BYTES = 4 * 1024 * 1024


@quick_frozen
@dataclass(frozen=True, slots=True)
class OtherIngredient(HashOnce):
    """A non-opioid ingredient of a combination product, e.g. acetaminophen 325 mg per tablet."""

    name: str
    strength: Strength | None


@quick_frozen
@dataclass(frozen=True, slots=True)
class OpioidProduct(HashOnce):
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


_WORD = re.compile(r"[a-z]+")


def opioid_in_words(text: str | None) -> str | None:
    """The opioid named in `text` as a whole word ('Oxycodone HCl 5 mg' -> oxycodone); None if there is none.

    Linear in the text (one scan); texts longer than MAX_NAME_CHARS are read but not cached."""
    if not text:
        return None
    if len(text) > MAX_NAME_CHARS:
        return _opioid_in_words(text)
    return _opioid_in_words_cached(text)


def _opioid_in_words(text: str) -> str | None:
    words = _opioid_words()
    for match in _WORD.finditer(text.lower()):
        if match[0] in words:
            return words[match[0]]
    return None


_opioid_in_words_cached = memo_cache(_NAME_CACHE_BYTES)(_opioid_in_words)


def opioid_by_rxcui(code: str) -> str | None:
    return _opioid_rxcuis().get(code)


# --- RxNorm normalized names -----------------------------------------------------------------------------------

# Every pattern here is anchored or starts at a literal, and has no nested or adjacent ambiguous quantifiers, so
# a match attempt costs at most a number of steps linear in the (bounded) text.
_PREFIX = re.compile(r"^(?:(?:\d+(?:\.\d+)? (?:HR|DAY|ML|ACTUAT)\b|Abuse-Deterrent|Matrix Delivery) ?)+", re.I)
_STRENGTH = re.compile(
    r" (?P<value>(?:\d*\.)?\d+) ?(?P<unit>(?:MG|MCG|UG|µG)(?:/(?:ML|HR|H|ACTUAT))?)(?![A-Za-z]) ?", re.I
)
_LETTER = re.compile(r"[A-Za-z]")


def _strength(value: str, unit: str) -> Strength | None:
    unit = unit.lower().replace("ug", "mcg").replace("µg", "mcg")
    if unit.endswith("/h"):
        unit += "r"
    return strength_from_text(float(value), unit)


def _without_brand(text: str) -> str:
    """'oxycodone 5 MG Oral Tablet [Roxicodone]' -> 'oxycodone 5 MG Oral Tablet' (a final bracketed brand)."""
    if not text.endswith("]"):
        return text
    opening = text.find("[", text.rfind("]", 0, len(text) - 1) + 1, len(text) - 1)
    return text[:opening].rstrip() if opening >= 0 else text


@dataclass(frozen=True, slots=True)
class _Component:
    name: str
    value: str | None = None
    unit: str | None = None
    rest: str = ""


def _component(part: str) -> _Component:
    """One ' / '-separated part: its ingredient words, then (after a space) a strength such as '10 MG' or
    '0.025 MG/HR', then what follows (the dose form, in the last part). Whitespace is single spaces here."""
    letter = _LETTER.search(part)
    match = _STRENGTH.search(part, letter.end()) if letter else None
    if match is None:
        return _Component(part)
    return _Component(part[: match.start()], match["value"], match["unit"], part[match.end() :])


def parse_name(name: str | None) -> OpioidProduct | None:
    """Ingredient, strength, dose form and other ingredients from an RxNorm-style name; None when no opioid.

    A name longer than MAX_NAME_CHARS is not an RxNorm name: its opioid (found by name word, one linear scan) is
    returned without a strength, so the MME engine reports the medication as not computable rather than guessing."""
    if not name:
        return None
    if len(name) > MAX_NAME_CHARS:
        ingredient = _opioid_in_words(name)
        return None if ingredient is None else OpioidProduct(ingredient, None, name=name, source="name (too long)")
    return _parse_name(name)


@memo_cache(_NAME_CACHE_BYTES)
def _parse_name(name: str) -> OpioidProduct | None:
    text = _PREFIX.sub("", _without_brand(" ".join(name.split())))
    parts = [p.strip() for p in text.split(" / ")]
    opioid: tuple[str, Strength | None] | None = None
    others: list[OtherIngredient] = []
    dose_form = None
    for index, part in enumerate(parts):
        component = _component(part)
        words = component.name
        strength = _strength(component.value, component.unit) if component.value and component.unit else None
        if component.value and index == len(parts) - 1:
            dose_form = component.rest.strip() or None
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


# The same coded products recur across patients; all arguments are frozen. Bounded in bytes: a Concept holds
# the sender's texts.
@memo_cache(_NAME_CACHE_BYTES)
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
