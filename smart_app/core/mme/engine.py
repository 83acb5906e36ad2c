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
request's id as the reason. Two requests are never merged: two active orders for the same opioid both count, and
so do two identical drafts. Renewals are the exception: an active order that a draft renews (the draft's
`priorPrescription`), or that a draft repeats exactly (same product, same daily dose), is counted once, as the
draft, and listed as "duplicate" with the draft named, so the total never doubles for a re-order.

Dosage instructions: those with the same `sequence` (or none) are concurrent and add; different sequences are
successive steps (a taper: 10 mg q6h then 5 mg q6h), so the step current on the calculation date counts (a draft:
its first step; an active order: the first step whose bounds have not ended) and the highest step is stated.

A medication whose code and name disagree (RxNorm for a 5 mg immediate-release tablet, named "40 mg ER") is not
computable: which product is meant is named, never chosen silently. A draft that could not be read in full
(`MedicationUse.unreadable`) is listed as not computable, so a total never claims to include it.

Items are ordered by reference, so the order of the input never changes the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from smart_app.caching import memo_cache
from smart_app.config import MmeTable
from smart_app.core.mme.dose import DailyAmount, daily_amount
from smart_app.core.mme.errors import NotComputable
from smart_app.core.mme.factors import TableInfo, factor_entry, table_info
from smart_app.core.mme.frequency import days_in
from smart_app.core.mme.listing import ORDER_INTENTS, Listing, listing, setting, source_label
from smart_app.core.mme.products import OpioidProduct, identify, parse_name
from smart_app.core.mme.report import LEFT_OUT, MmeItem, MmeReport
from smart_app.core.mme.route import route_in_text, route_of_concept
from smart_app.core.mme.units import unit_word
from smart_app.core.model import Concept, Dosage, MedicationUse, quick_frozen


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


@quick_frozen
@dataclass(frozen=True, slots=True)
class Assessed:
    """One medication assessed on its own: its item before de-duplication, and what de-duplication compares."""

    item: MmeItem
    keys: frozenset[tuple[str, ...]]  # product identities for de-duplication
    is_draft: bool = False
    renews: str | None = None  # "MedicationRequest/<id>" the draft's priorPrescription names


_EXTENDED = re.compile(r"extended release|\b(?:er|xr|sr|cr|la|xl)\b|\b\d+ hr\b", re.I)


@memo_cache(2 * 1024 * 1024)
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


def _steps(dosages: tuple[Dosage, ...]) -> list[tuple[int | None, list[Dosage]]]:
    """Dosage instructions by sequence: same sequence (or none) concurrent, different sequences in order."""
    by_sequence: dict[int | None, list[Dosage]] = {}
    for dosage in dosages:
        by_sequence.setdefault(dosage.sequence, []).append(dosage)
    return sorted(by_sequence.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))


def _step_bound(dosages: list[Dosage], start: datetime | None) -> tuple[datetime, bool] | None:
    """When a step ends, and whether that is a recorded boundsPeriod end (True) or `start` + its boundsDuration."""
    for dosage in dosages:
        repeat = dosage.timing.repeat if dosage.timing else None
        if repeat is None:
            continue
        if repeat.bounds_period is not None and repeat.bounds_period.end is not None:
            return repeat.bounds_period.end, True
        bd = repeat.bounds_duration
        if bd is not None and bd.value is not None and start is not None:
            days = days_in(bd.code) or days_in(bd.unit)
            if days is not None:
                return start + timedelta(days=bd.value * days), False
    return None


def _step_end(dosages: list[Dosage], start: datetime | None) -> datetime | None:
    found = _step_bound(dosages, start)
    return found[0] if found is not None else None


def _step_changes(med: MedicationUse, steps: list[tuple[int | None, list[Dosage]]]) -> tuple[datetime, ...]:
    """When each step but the last ends, chained from `recorded` (a boundsDuration runs from the previous step's
    end), up to the first step with no end (it then lasts)."""
    ends: list[datetime] = []
    start = med.recorded
    for _, dosages in steps[:-1]:
        end = _step_end(dosages, start)
        if end is None:
            break
        ends.append(end)
        start = end
    return tuple(ends)


def _step_at(ends: tuple[datetime, ...], on: datetime) -> int:
    """The step in force on `on`, given the steps' ends: the first whose end is after `on`, else the one after the
    last end (the last step, or the first step with no end)."""
    return next((index for index, end in enumerate(ends) if end > on), len(ends))


def _current_step(med: MedicationUse, steps: list[tuple[int | None, list[Dosage]]], on: datetime | None) -> int:
    """The step in force on `on`: a draft starts at its first; an active order moves on when a step's bounds end."""
    if med.is_draft_order or on is None:
        return 0
    return _step_at(_step_changes(med, steps), on)


def step_changes(med: MedicationUse) -> tuple[datetime, ...]:
    """When an order of successive dosage steps (a taper) moves on to its next step, as today's total reads them
    (`_current_step`): the ends of its steps but the last, up to the first step with no end; () for one step."""
    steps = _steps(med.dosages)
    return _step_changes(med, steps) if len(steps) > 1 else ()


@dataclass(frozen=True, slots=True)
class TaperSteps:
    """An order of successive dosage steps as today's total reads them: when it moves on, and when it ends."""

    changes: tuple[datetime, ...]  # `step_changes`: the ends of its steps but the last, up to a step with no end
    count: int  # how many steps
    start: datetime | None  # the first step's boundsPeriod start
    end: datetime | None  # when its last step ends (chained as `changes` are); None when a step has no end
    end_recorded: bool  # `end` is the last step's boundsPeriod end (a recorded date), not a boundsDuration's end


def taper_steps(med: MedicationUse) -> TaperSteps | None:
    """The steps of a taper (None for one step): what the MME timeline places its days by, read exactly as
    `_current_step` reads them, so that each day of the timeline shows the step today's total would."""
    steps = _steps(med.dosages)
    if len(steps) < 2:
        return None
    changes = _step_changes(med, steps)
    last = _step_bound(steps[-1][1], changes[-1]) if len(changes) == len(steps) - 1 else None
    first = next(
        (
            d.timing.repeat.bounds_period.start
            for d in steps[0][1]
            if d.timing and d.timing.repeat and d.timing.repeat.bounds_period
        ),
        None,
    )
    return TaperSteps(changes, len(steps), first, *(last if last is not None else (None, False)))


def step_at(ends: tuple[datetime, ...], on: datetime) -> int:
    """The index of the step in force on `on`, for the `ends` that `step_changes` gave."""
    return _step_at(ends, on)


def _step_label(index: int, steps: list[tuple[int | None, list[Dosage]]]) -> str:
    sequence = steps[index][0]
    return f"step {index + 1} of {len(steps)}" + (f" (sequence {sequence})" if sequence is not None else "")


_IMMEDIATE = re.compile(r"immediate release|\bIR\b", re.I)
_COMBINATION_NAME = re.compile(r"\d\s*-\s*\d|/")


def _code_name_conflict(med: MedicationUse, product: OpioidProduct) -> str | None:
    """The RxNorm product and the order's own name plainly describe different products: another opioid, another
    strength of a single-ingredient product, or a release the name states (extended vs immediate) and the code
    contradicts. Names that say less (a brand, no release words, a combination written '5-325') are no conflict."""
    if product.rxcui is None:
        return None
    return _conflict(med.medication, product)


# Asked of every coded opioid medication, for today's total and for the timeline; depends only on the concept.
@memo_cache(2 * 1024 * 1024)
def _conflict(medication: Concept, product: OpioidProduct) -> str | None:
    names = [medication.text, *(c.display for c in medication.codings)]
    for name in dict.fromkeys(n for n in names if n):
        named = parse_name(name)
        if named is None:
            continue
        differs = []
        if named.ingredient != product.ingredient:
            differs.append(f"it names {named.ingredient}")
        elif (
            named.strength is not None
            and product.strength is not None
            and not product.other_ingredients
            and not _COMBINATION_NAME.search(name)
            and (
                named.strength.per != product.strength.per
                or abs(named.strength.amount - product.strength.amount) > 1e-9
            )
        ):
            differs.append(f"it says {named.strength.describe()}")
        product_extended = _is_extended(product.dose_form, product.name)
        if _is_extended(None, name) and not product_extended:
            differs.append("it says extended release")
        elif _IMMEDIATE.search(name) and product_extended:
            differs.append("it says immediate release")
        if differs:
            return (
                f"RxNorm {product.rxcui} is {product.name or product.ingredient}, but the order's name '{name}' "
                f"disagrees ({'; '.join(differs)}): which product is ordered is unclear"
            )
    return None


# One dosage's daily amount, or why there is none: the same dosage of the same product is read for today's total
# and for the timeline (and recurs across patients). Only the reason is kept, never the raised exception (its
# traceback would hold the caller's frames).
@memo_cache(4 * 1024 * 1024)
def _daily(dosage: Dosage, product: OpioidProduct) -> DailyAmount | str:
    try:
        return daily_amount(dosage, product)
    except NotComputable as exc:
        return exc.reason


def _daily_amount(dosage: Dosage, product: OpioidProduct) -> DailyAmount:
    found = _daily(dosage, product)
    if isinstance(found, str):
        raise NotComputable(found)
    return found


def _step_daily(
    dosages: list[Dosage], product: OpioidProduct, is_rate: bool, entry_unit: str
) -> tuple[list[DailyAmount], float, str]:
    parts = [_daily_amount(dosage, product) for dosage in dosages]
    daily = sum(p.value for p in parts)
    unit = "mcg/hr" if is_rate else "mg/day"
    if entry_unit == "mcg/day":
        daily, unit = daily * 1000, "mcg/day"
    return parts, daily, unit


def _compute(
    med: MedicationUse, product: OpioidProduct, route: str | None, info: TableInfo, on: datetime | None = None
) -> Mapping[str, Any]:
    """The item's status and figures; raises NotComputable with the reason when the data do not suffice."""
    if product.ingredient in info.excluded:
        return {"status": "excluded", "reason": info.excluded[product.ingredient]}
    if med.unreadable:
        raise NotComputable(f"the order could not be read ({med.unreadable})")
    conflict = _code_name_conflict(med, product)
    if conflict:
        raise NotComputable(conflict)
    if product.ingredient in info.not_convertible:
        raise NotComputable(info.not_convertible[product.ingredient])
    entry = factor_entry(info.key, product.ingredient, route)
    if not med.dosages:
        raise NotComputable("no dosage instructions: dose and timing unknown")
    is_rate = entry.unit == "mcg/hr"
    if is_rate != (product.strength is not None and product.strength.per == "hr"):
        raise NotComputable(f"the {info.label} factor for {product.ingredient} {route} is per {entry.unit}")
    steps = _steps(med.dosages)
    current = _current_step(med, steps, on)
    found = _counted(med.dosages, product, route, info.key, current)
    if isinstance(found, str):
        raise NotComputable(found)
    return MappingProxyType(found)  # read-only: every item with these figures unpacks the same kept dict


# The counted item's figures depend only on the dosages, the product and route, the table and the step in force:
# the same order recurs for today's total and the timeline (and across patients, under new ids). A failure is kept
# as its reason, never the exception (its traceback would hold the caller's frames).
@memo_cache(4 * 1024 * 1024)
def _counted(
    dosages: tuple[Dosage, ...], product: OpioidProduct, route: str | None, table: MmeTable, current: int
) -> dict[str, Any] | str:
    try:
        return _counted_fields(_steps(dosages), product, route, table_info(table), current)
    except NotComputable as exc:
        return exc.reason


def _counted_fields(
    steps: list[tuple[int | None, list[Dosage]]],
    product: OpioidProduct,
    route: str | None,
    info: TableInfo,
    current: int,
) -> dict[str, Any]:
    entry = factor_entry(info.key, product.ingredient, route)
    is_rate = entry.unit == "mcg/hr"
    parts, daily, unit = _step_daily(steps[current][1], product, is_rate, entry.unit)
    factor, band = entry.value_for(daily)
    mme = daily * factor
    step_text = f"{_step_label(current, steps)}: " if len(steps) > 1 else ""
    derivation_steps = " + ".join(f"({p.text})" if len(parts) > 1 else p.text for p in parts)
    derivation = (
        f"{step_text}{derivation_steps} = {daily:.1f} {unit} x {_factor(factor)} "
        f"({info.label} {product.ingredient} {entry.route}{band}) = {mme:.1f} {info.figure}"
    )
    highest: float | None = None
    highest_step: str | None = None
    if len(steps) > 1:
        others: list[str] = []
        for index in range(len(steps)):
            if index == current:
                continue
            label = _step_label(index, steps)
            try:
                _, other_daily, _ = _step_daily(steps[index][1], product, is_rate, entry.unit)
            except NotComputable as exc:
                others.append(f"{label}: not computable ({exc.reason})")
                continue
            other_factor, _ = entry.value_for(other_daily)
            other_mme = other_daily * other_factor
            others.append(f"{label}: {other_daily:.1f} {unit} = {other_mme:.1f} {info.figure}")
            if other_mme > mme and (highest is None or other_mme > highest):
                highest, highest_step = other_mme, label
        derivation += f". Other steps of this order (not counted now): {'; '.join(others)}"
        if highest is not None:
            derivation += f"; highest: {highest:.1f} {info.figure} at {highest_step}"
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
        "step": _step_label(current, steps) if len(steps) > 1 else None,
        "highest_mme_per_day": highest,
        "highest_step": highest_step,
    }


def _outcome(
    med: MedicationUse, product: OpioidProduct, route: str | None, info: TableInfo, state: str, on: datetime | None
) -> Mapping[str, Any]:
    if state == "status-unknown":
        return {"status": "not-computable", "reason": f"status {med.status or 'missing'}: cannot tell if current"}
    if state == "intended":
        return {"status": "excluded", "reason": "intended: not yet being taken"}
    try:
        return _compute(med, product, route, info, on)
    except NotComputable as exc:
        return {"status": "not-computable", "reason": exc.reason}


def _assess(med: MedicationUse, info: TableInfo, on: datetime | None, state: Listing | None = None) -> Assessed | None:
    """`state`: the listing to assess it under (default: its own, `listing(med, on)`)."""
    product = identify(med)
    if product is None:
        return None
    if state is None:
        state = listing(med, on)
    if state == "skip":
        return None
    route = _route(med, product)
    item = MmeItem(**_common_fields(med, product, route), **_outcome(med, product, route, info, state, on))
    return Assessed(item, _identity_keys(product, route), med.is_draft_order, _relative(med.prior_prescription))


def _relative(reference: str | None) -> str | None:
    """'MedicationRequest/123' of a relative or absolute reference (None for anything else)."""
    if not reference:
        return None
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 and parts[-2] == "MedicationRequest" else None


def _renewals(assessed: list[Assessed]) -> dict[str, str]:
    """Active orders a draft renews (id -> reason): named by priorPrescription, or repeated exactly by a draft."""
    found: dict[str, str] = {}
    drafts = [a for a in assessed if a.is_draft]
    if not drafts:  # only a draft renews (the timeline's reports never have one)
        return found
    active = [a for a in assessed if not a.is_draft and a.item.id.startswith("MedicationRequest/")]
    for draft in drafts:
        if draft.renews and any(a.item.id == draft.renews for a in active):
            found[draft.renews] = (
                f"renewed by the draft {draft.item.id} (its priorPrescription): counted once, as the draft"
            )
    used = set(found.values())
    for draft in drafts:
        if draft.renews or draft.item.status != "counted" or any(draft.item.id in reason for reason in used):
            continue
        for order in active:
            same_dose = (
                order.item.status == "counted"
                and order.item.mme_per_day is not None
                and abs(order.item.mme_per_day - (draft.item.mme_per_day or 0.0)) < 1e-9
            )
            if order.item.id in found or not (order.keys & draft.keys) or not same_dose:
                continue
            found[order.item.id] = (
                f"same product and daily dose as the draft {draft.item.id} being signed, so taken as its renewal: "
                f"counted once, as the draft (if both are meant to be taken, add {order.item.mme_per_day:.1f})"
            )
            break
    return found


def _duplicate_reasons(assessed: Sequence[Assessed]) -> list[str | None]:
    """For each item (by position), why it is listed as a duplicate, or None: an active order a draft renews, or a
    statement of the same product as a listed request."""
    requests: dict[tuple[str, ...], str] = {}
    for a in assessed:
        if a.item.id.startswith("MedicationRequest/"):
            for key in a.keys:
                requests.setdefault(key, a.item.id)
    renewed = _renewals(list(assessed))
    reasons: list[str | None] = []
    for a in assessed:
        if a.item.id in renewed:
            reasons.append(renewed[a.item.id])
            continue
        is_statement = a.item.id.startswith("MedicationStatement/")
        request = min((requests[k] for k in a.keys if k in requests), default=None) if is_statement else None
        reasons.append(f"same product as {request}, which is used instead" if request is not None else None)
    return reasons


def _mark_duplicates(assessed: list[Assessed]) -> list[MmeItem]:
    return [
        a.item
        if reason is None
        # only counted items carry a figure, so no consumer can add a duplicate's twice
        else replace(a.item, status="duplicate", reason=reason, mme_per_day=None)
        for a, reason in zip(assessed, _duplicate_reasons(assessed), strict=True)
    ]


def _in_order(assessed: Iterable[Assessed | None]) -> list[Assessed]:
    return sorted((a for a in assessed if a is not None), key=lambda a: (a.item.id, a.item.source))


def assess_medication(
    med: MedicationUse, *, table: MmeTable = "cdc-2022", on: datetime | None = None
) -> Assessed | None:
    """One medication's item, on its own (None when it is not a listed opioid): the per-medication part of
    `calculate_mme`. Reports of several medications are made by `report_of`, which marks duplicates and renewals
    across them; the MME timeline assesses each medication once and reports each run of days from the same items."""
    return _assess(med, table_info(table), _aware(on))


def assess_as_taken(med: MedicationUse, *, table: MmeTable = "cdc-2022", on: datetime | None = None) -> Assessed | None:
    """`assess_medication` of the medication as if it were being taken now, not a draft (status active, no
    effective period): what the MME timeline needs for a day it covers; `on` still picks a taper's step. The same
    as assessing such a copy, without copying it: status and effective period decide only the listing, which for
    that copy is "count" (a MedicationAdministration or a request that is not an order is still not listed)."""
    if med.is_draft_order:  # a draft reads its first step and is labelled a draft: assess the copy itself
        copy = replace(med, status="active", is_draft_order=False, effective=None)
        return _assess(copy, table_info(table), _aware(on))
    skip = med.resource_type == "MedicationAdministration" or (
        med.resource_type == "MedicationRequest" and med.intent is not None and med.intent not in ORDER_INTENTS
    )
    return _assess(med, table_info(table), _aware(on), "skip" if skip else "count")


def assess_medications(
    medications: Sequence[MedicationUse], *, table: MmeTable = "cdc-2022", on: datetime | None = None
) -> tuple[Assessed | None, ...]:
    """`assess_medication` of each medication, in the order given (so a caller can pair them by position)."""
    info = table_info(table)
    when = _aware(on)
    return tuple(_assess(m, info, when) for m in medications)


def same_on_any_day(med: MedicationUse) -> bool:
    """Whether this medication's assessment on a date is also its assessment as a current medication on no date
    (what the MME timeline needs): an active order or statement that is not a draft, with at most one dosage step.
    The date only decides whether a statement has ended (an assessed one has not) and which step of a taper is in
    force (`_current_step`: with one step, the first on any date)."""
    return med.status == "active" and not med.is_draft_order and len({dosage.sequence for dosage in med.dosages}) <= 1


def report_of(assessed: Iterable[Assessed | None], *, table: MmeTable = "cdc-2022") -> MmeReport:
    """The report of medications assessed by `assess_medication` (the Nones, not listed, are dropped): items in
    reference order, duplicates and renewals marked across them, the total of the counted ones."""
    info = table_info(table)
    items = tuple(_mark_duplicates(_in_order(assessed)))
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


def totals_of(assessed: Iterable[Assessed | None]) -> tuple[float | None, tuple[str, ...], tuple[str, ...]]:
    """What `report_of` of these assessments totals, without writing its items: (the total, or None when none is
    counted; the counted ids; the left-out ids), in the report's order. The MME timeline needs only these for each
    run of days."""
    return totals_in_order(_in_order(assessed))


def totals_in_order(ordered: Sequence[Assessed]) -> tuple[float | None, tuple[str, ...], tuple[str, ...]]:
    """`totals_of` of assessments already in the report's order (`_in_order`: by id, then source), which the MME
    timeline keeps its medications in, so each run of days needs no sort. Only whether an item is a duplicate
    matters here, not why: with no draft there is no renewal, and a statement is a duplicate exactly when it shares
    a product identity with a request (`_duplicate_reasons`)."""
    duplicates: list[str | None] | None = None
    request_keys: set[tuple[str, ...]] = set()
    if any(a.is_draft for a in ordered):
        duplicates = _duplicate_reasons(ordered)
    else:
        for a in ordered:
            if a.item.id.startswith("MedicationRequest/"):
                request_keys.update(a.keys)
    values: list[float] = []
    counted: list[str] = []
    left_out: list[str] = []
    for index, a in enumerate(ordered):
        item = a.item
        if duplicates is not None:
            if duplicates[index] is not None:  # neither counted nor left out
                continue
        elif request_keys and item.id.startswith("MedicationStatement/") and not request_keys.isdisjoint(a.keys):
            continue
        if item.status == "counted":
            counted.append(item.id)
            if item.mme_per_day is not None:
                values.append(item.mme_per_day)
        elif item.status in LEFT_OUT:
            left_out.append(item.id)
    return (sum(values) if values else None), tuple(counted), tuple(left_out)


def _aware(on: datetime | None) -> datetime | None:
    return on.replace(tzinfo=UTC) if on is not None and on.tzinfo is None else on


def calculate_mme(
    medications: Sequence[MedicationUse], *, table: MmeTable = "cdc-2022", on: datetime | None = None
) -> MmeReport:
    """MME/day of each current opioid medication and the total, with the table named and its cautions."""
    info = table_info(table)
    when = _aware(on)
    return report_of((_assess(m, info, when) for m in medications), table=table)
