"""MME/day per opioid medication and in total (MME.md section 4).

Every opioid medication that is current (see `listing`) becomes one `MmeItem` with a status:
- counted: its MME/day is in the total, with the derivation a clinician can check by hand;
- excluded: the table's policy leaves it out (buprenorphine under CDC) or the statement is only intended;
- not-computable: the data do not determine the figure (no timing, strength unknown, no factor for the route...);
- duplicate: a MedicationStatement for the same product as a listed MedicationRequest.
Non-opioid medications are not items at all. The total is the sum of counted items; None when none counted.

De-duplication rule: a MedicationStatement is a duplicate of a listed MedicationRequest when both have the same
product RxCUI, or the same opioid ingredient, strength, route and release (extended vs immediate). The request is
used (it is the prescriber's current instruction); the statement is listed with status "duplicate" and the
request's id as the reason. Two requests are never merged: two active orders for the same opioid both count.

Items are ordered by reference, so the order of the input never changes the report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from smart_app.config import MmeTable
from smart_app.core.mme.dose import daily_amount
from smart_app.core.mme.errors import NotComputable
from smart_app.core.mme.factors import TableInfo, factor_entry, table_info
from smart_app.core.mme.listing import listing, setting, source_label
from smart_app.core.mme.products import OpioidProduct, identify
from smart_app.core.mme.report import MmeItem, MmeReport
from smart_app.core.mme.route import route_in_text, route_of_concept
from smart_app.core.mme.units import unit_word
from smart_app.core.model import MedicationUse


def opioid_ingredient(med: MedicationUse) -> str | None:
    """The opioid agonist in a medication ('oxycodone'); None when it is not an opioid (naloxone is not)."""
    product = identify(med)
    return product.ingredient if product else None


def _route(med: MedicationUse, product: OpioidProduct) -> str | None:
    for dosage in med.dosages:
        found = route_of_concept(dosage.route)
        if found:
            return found
    return route_in_text(product.dose_form) or route_in_text(product.name) or route_in_text(med.medication.label)


def _factor(value: float) -> str:
    return f"{value:.1f}" if value == int(value) else f"{value:g}"


def _product_label(product: OpioidProduct) -> str:
    if product.rxcui:
        return f"RxNorm product {product.rxcui}"
    return {"name": "read from the medication name"}.get(product.source, product.source)


@dataclass(frozen=True, slots=True)
class _Assessed:
    item: MmeItem
    keys: frozenset[tuple[str, ...]]  # product identities for de-duplication


_EXTENDED = re.compile(r"extended release|\b(?:er|xr|sr|cr|la|xl)\b|\b\d+ hr\b", re.I)


@lru_cache(maxsize=4096)
def _is_extended(dose_form: str | None, name: str | None) -> bool:
    return _EXTENDED.search(f"{dose_form or ''} {name or ''}") is not None


def _identity_keys(product: OpioidProduct, route: str | None) -> frozenset[tuple[str, ...]]:
    """Same RxCUI, or same ingredient, strength, route and release (ER vs IR) mean the same product."""
    keys: set[tuple[str, ...]] = set()
    if product.rxcui:
        keys.add(("rxcui", product.rxcui))
    if product.strength is not None and route is not None:
        release = "extended" if _is_extended(product.dose_form, product.name) else "immediate"
        strength = f"{product.strength.amount:g}/{product.strength.per}"
        keys.add(("product", product.ingredient, strength, route, release))
    return frozenset(keys)


def _common_fields(med: MedicationUse, product: OpioidProduct, route: str | None) -> dict[str, Any]:
    strength = product.strength
    return {
        "id": med.reference,
        "source": source_label(med),
        "name": med.medication.label,
        "ingredient": product.ingredient,
        "route": route,
        "setting": setting(med),
        "strength": strength.describe(unit_word(product.dose_form)) if strength else None,
        "product": _product_label(product),
        "dose_form": product.dose_form,
    }


def _compute(med: MedicationUse, product: OpioidProduct, route: str | None, info: TableInfo) -> dict[str, Any]:
    """The item's status and figures; raises NotComputable with the reason when the data do not suffice."""
    if product.ingredient in info.excluded:
        return {"status": "excluded", "reason": info.excluded[product.ingredient]}
    if product.ingredient in info.not_convertible:
        raise NotComputable(info.not_convertible[product.ingredient])
    entry = factor_entry(info.key, product.ingredient, route)
    if not med.dosages:
        raise NotComputable("no dosage instructions: dose and timing unknown")
    is_rate = entry.unit == "mcg/hr"
    if is_rate != (product.strength is not None and product.strength.per == "hr"):
        raise NotComputable(f"the {info.label} factor for {product.ingredient} {route} is per {entry.unit}")
    parts = [daily_amount(dosage, product) for dosage in med.dosages]
    daily = sum(p.value for p in parts)
    unit = "mcg/hr" if is_rate else "mg/day"
    if entry.unit == "mcg/day":
        daily, unit = daily * 1000, "mcg/day"
    factor, band = entry.value_for(daily)
    mme = daily * factor
    steps = " + ".join(f"({p.text})" if len(parts) > 1 else p.text for p in parts)
    derivation = (
        f"{steps} = {daily:.1f} {unit} x {_factor(factor)} ({info.label} {product.ingredient} {entry.route}{band})"
        f" = {mme:.1f} {info.figure}"
    )
    per_day = [p.per_day for p in parts]
    return {
        "status": "counted",
        "dose_per_administration": "; ".join(p.dose_text for p in parts),
        "doses_per_day": None if None in per_day else sum(p for p in per_day if p is not None),
        "daily_dose": daily,
        "daily_dose_unit": unit,
        "factor": factor,
        "mme_per_day": mme,
        "maximum_allowed": any(p.maximum for p in parts),
        "derivation": derivation,
    }


def _outcome(
    med: MedicationUse, product: OpioidProduct, route: str | None, info: TableInfo, state: str
) -> dict[str, Any]:
    if state == "status-unknown":
        return {"status": "not-computable", "reason": f"status {med.status or 'missing'}: cannot tell if current"}
    if state == "intended":
        return {"status": "excluded", "reason": "intended: not yet being taken"}
    try:
        return _compute(med, product, route, info)
    except NotComputable as exc:
        return {"status": "not-computable", "reason": exc.reason}


def _assess(med: MedicationUse, info: TableInfo, on: datetime | None) -> _Assessed | None:
    product = identify(med)
    if product is None:
        return None
    state = listing(med, on)
    if state == "skip":
        return None
    route = _route(med, product)
    item = MmeItem(**_common_fields(med, product, route), **_outcome(med, product, route, info, state))
    return _Assessed(item, _identity_keys(product, route))


def _mark_duplicates(assessed: list[_Assessed]) -> list[MmeItem]:
    requests: dict[tuple[str, ...], str] = {}
    for a in assessed:
        if a.item.id.startswith("MedicationRequest/"):
            for key in a.keys:
                requests.setdefault(key, a.item.id)
    items = []
    for a in assessed:
        request = min((requests[k] for k in a.keys if k in requests), default=None)
        if request is not None and a.item.id.startswith("MedicationStatement/"):
            items.append(
                replace(
                    a.item,
                    status="duplicate",
                    reason=f"same product as {request}, which is used instead",
                    mme_per_day=None,  # only counted items carry a figure, so no consumer can add it twice
                )
            )
        else:
            items.append(a.item)
    return items


def calculate_mme(
    medications: Sequence[MedicationUse], *, table: MmeTable = "cdc-2022", on: datetime | None = None
) -> MmeReport:
    """MME/day of each current opioid medication and the total, with the table named and its cautions."""
    info = table_info(table)
    when = on.replace(tzinfo=UTC) if on is not None and on.tzinfo is None else on
    assessed = sorted(
        (a for a in (_assess(m, info, when) for m in medications) if a is not None),
        key=lambda a: (a.item.id, a.item.source),
    )
    items = tuple(_mark_duplicates(assessed))
    counted = [i.mme_per_day for i in items if i.status == "counted" and i.mme_per_day is not None]
    cautions: tuple[str, ...] = info.cautions if items else ()
    if info.buprenorphine_caution and any(i.ingredient == "buprenorphine" for i in items):
        cautions += (info.buprenorphine_caution,)
    return MmeReport(
        table=table,
        table_citation=info.citation,
        items=items,
        total_mme_per_day=sum(counted) if counted else None,
        cautions=cautions,
        table_label=info.label,
        figure=info.figure,
        document=info.document,
    )
