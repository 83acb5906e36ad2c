"""Lean typed parse: a FHIR resource's JSON straight to the clinical core's dataclasses, without the R4B models.

R4B validation (fhir.resources) of every resource was two thirds of a hook call. This module reads the elements
the core uses directly from the JSON dict and builds the same values `smart_app.fhir.convert` builds from a
validated model. It is sound by construction rather than complete: it accepts a resource only when

- every key is an element of the resource's (or the datatype's) R4B model: no unknown element, no primitive
  extension (`_status`), no `fhir_comments`;
- every required element is present and no choice element (`value[x]`, `effective[x]`) has two types;
- every element it reads has a JSON type and lexical form that R4B accepts and converts to the same value: strings
  that are not blank, codes and ids by their R4B patterns, numbers that are JSON numbers (not booleans, not
  strings), dates and times by the R4B patterns and valid calendar values, fractions of seconds to microseconds;
- every element it does not read has the JSON kind its R4B type needs (object, array of objects, string, ...).

Anything else raises `Unusual`, and the caller validates that resource with its full R4B model instead, which
either accepts it (R4B is lenient in places: '5' as a decimal, 1 as a boolean) or says why not, as before. The
content of elements the core never reads (an identifier's inner structure, an extension's value) is not
validated on this path; whatever is read is held to R4B's rules. Tests check that this path and the R4B path
build the same PatientRecord for the bundled samples and for generated and mutated resources.
"""

from __future__ import annotations

import decimal
import math
import re
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir_core import constraints as _constraints
from fhir_core import types as _types

from smart_app.caching import ByteBoundedMemo
from smart_app.core.model import (
    AllergyIntolerance,
    Coding,
    Concept,
    Condition,
    ConsentRecord,
    Demographics,
    Dosage,
    DoseAndRate,
    Ingredient,
    Observation,
    ObservationComponent,
    Period,
    Quantity,
    Ratio,
    ReferenceRange,
    Timing,
    TimingRepeat,
)
from smart_app.fhir.convert import MedicationParts, PendingUse, to_datetime


class Unusual(Exception):
    """The resource holds something this path does not read the way R4B would: validate it in full instead."""


# Memos of converted elements by their exact JSON (or text): the same codes, units, dosage instructions and dates
# recur across resources and patients. Entries are immutable core values; a memo forgets all when full.
_CONCEPTS: ByteBoundedMemo[bytes, Concept] = ByteBoundedMemo(4 * 1024 * 1024)
_QUANTITIES: ByteBoundedMemo[bytes, Quantity] = ByteBoundedMemo(2 * 1024 * 1024)
_DOSAGES: ByteBoundedMemo[bytes, Dosage] = ByteBoundedMemo(4 * 1024 * 1024, max_entry_bytes=16 * 1024)
_DATETIMES: ByteBoundedMemo[str, datetime] = ByteBoundedMemo(2 * 1024 * 1024, max_entry_bytes=512)
MEMOS = (_CONCEPTS, _QUANTITIES, _DOSAGES, _DATETIMES)


# --- shapes of the R4B models, derived once from fhir.resources ------------------------------------------------

_NUMBER = (int, float)


@dataclass(frozen=True, slots=True)
class _Shape:
    keys: frozenset[str]  # JSON keys the model accepts
    required: frozenset[str]
    choice_of: dict[str, str]  # choice element key -> its choice group
    choice_keys: frozenset[str]
    required_choices: tuple[frozenset[str], ...]  # groups of which one key must be present
    kinds: dict[str, tuple[bool, tuple[type, ...]]]  # key -> (repeats, JSON types of one value)
    children: dict[str, str]  # key -> model name of a complex element


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(repeats, the element type) from an R4B field annotation (Optional, List, Annotated removed)."""
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else Any
        elif origin is list:
            repeats = True
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Annotated:
            return repeats, typing.get_args(annotation)[0]
        else:
            return repeats, annotation


@cache
def _shape(model_name: str) -> _Shape:
    model = get_fhir_model_class(model_name)
    keys, required = {"resourceType"}, set()
    kinds: dict[str, tuple[bool, tuple[type, ...]]] = {}
    children: dict[str, str] = {}
    choice_of: dict[str, str] = {}
    groups: dict[str, set[str]] = {}
    required_groups: set[str] = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        if name == "fhir_comments" or name.endswith("__ext") or key.startswith("_"):
            continue
        keys.add(key)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if field.is_required() or extra.get("element_required"):
            required.add(key)
        group = extra.get("one_of_many")
        if isinstance(group, str):
            choice_of[key] = group
            groups.setdefault(group, set()).add(key)
            if extra.get("one_of_many_required"):
                required_groups.add(group)
        repeats, element = _unwrap(field.annotation)
        json: tuple[type, ...]
        if element is bool:
            json = (bool,)
        elif element is int:
            json = (int,)
        elif element is decimal.Decimal:
            json = _NUMBER
        elif element in (str, date, datetime, time):
            json = (str,)
        elif hasattr(element, "get_model_klass"):
            json = (dict,)
            children[key] = element.__name__.removesuffix("Type")
        else:
            json = ()  # bytes (base64Binary) and the like: never accepted on this path
        kinds[key] = (repeats, json)
    return _Shape(
        keys=frozenset(keys),
        required=frozenset(required),
        choice_of=choice_of,
        choice_keys=frozenset(choice_of),
        required_choices=tuple(frozenset(groups[g]) for g in sorted(required_groups)),
        kinds=kinds,
        children=children,
    )


_Plan = tuple[tuple[str, bool, tuple[type, ...]], ...]  # the unread keys to kind-check, with their kinds


@dataclass(frozen=True, slots=True)
class _Spec:
    """A model's shape, the keys this module reads of it, and the checked key sets seen so far."""

    shape: _Shape
    read: frozenset[str]
    plans: ByteBoundedMemo[tuple[str, ...], _Plan]


def _spec(model_name: str, read: frozenset[str]) -> _Spec:
    return _Spec(_shape(model_name), read, ByteBoundedMemo(256 * 1024, max_entry_bytes=4096))


def _plan(spec: _Spec, keys: tuple[str, ...]) -> _Plan:
    """What a dict with exactly these keys needs beyond its values' checks; Unusual when the keys themselves
    are not a valid instance of the shape (unknown key, missing required element, two types of one choice)."""
    shape = spec.shape
    present = frozenset(keys)
    if not present <= shape.keys or not shape.required <= present:
        raise Unusual
    chosen = present & shape.choice_keys
    if len({shape.choice_of[k] for k in chosen}) < len(chosen):
        raise Unusual
    if any(not group & chosen for group in shape.required_choices):
        raise Unusual
    return tuple((k, *shape.kinds[k]) for k in keys if k not in spec.read)


def _check(spec: _Spec, d: Any) -> None:
    """`d` is a dict of this shape whose unread elements have the right JSON kind; Unusual otherwise."""
    if type(d) is not dict:
        raise Unusual
    keys = tuple(d)
    plan = spec.plans.get(keys)
    if plan is None:
        plan = _plan(spec, keys)
        spec.plans.put(keys, plan, 64 * len(keys))
    if None in d.values():  # an explicit null: R4B's rules for it differ by element
        raise Unusual
    for key, repeats, json in plan:
        value = d[key]
        if repeats:
            if type(value) is not list or not all(_kind_ok(v, json) for v in value):
                raise Unusual
        elif not _kind_ok(value, json):
            raise Unusual


def _kind_ok(value: Any, json: tuple[type, ...]) -> bool:
    kind = type(value)
    if kind not in json:
        return False
    if kind is str:
        return bool(value) and not value.isspace()
    if kind is float:
        return math.isfinite(value)
    return True


# --- primitives ------------------------------------------------------------------------------------------------

_CODE = re.compile(r"[^\s]+(?: [^\s]+)*")  # R4B: ^[^\s]+(\s[^\s]+)*$ (this is a subset)
_ID = re.compile(r"[A-Za-z0-9\-.]+")
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]")
_DATETIME = _types.DateTime.pattern
_INSTANT = _types.Instant.pattern
_DATE = _types.Date.pattern
_INT32 = 2**31 - 1


def _string(v: Any) -> str | None:
    """An optional FHIR string (or markdown): any text with a non-blank character."""
    if v is None:
        return None
    if type(v) is not str or not v or v.isspace():
        raise Unusual
    return v


def _code(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is str and v and ((v.isascii() and v.isprintable() and " " not in v) or _CODE.fullmatch(v)):
        return v
    raise Unusual


def _uri(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is not str:
        raise Unusual
    return v


def _id(v: Any) -> str | None:
    if v is None:
        return None
    limit = _constraints.TYPES_ID_MAX_LENGTH
    if type(v) is str and _ID.fullmatch(v) and (limit is None or len(v) <= limit):
        return v
    raise Unusual


def _decimal(v: Any) -> float | None:
    if v is None:
        return None
    kind = type(v)
    if kind is float and math.isfinite(v):
        return float(v)
    if kind is int and -(2**63) < v < 2**63:
        return float(v)
    raise Unusual


def _integer(v: Any, low: int) -> int | None:
    if v is None:
        return None
    if type(v) is int and low <= v <= _INT32:
        return int(v)
    raise Unusual


def _boolean(v: Any) -> bool | None:
    if v is None or type(v) is bool:
        return v
    raise Unusual


def _full_datetime(v: str) -> datetime:
    """A dateTime/instant with a time (the pattern already matched): no leap second, at most microseconds."""
    if v[17:19] == "60":
        raise Unusual
    dot = v.find(".", 19)
    if dot != -1:
        end = dot + 1
        while end < len(v) and v[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            raise Unusual
    try:
        return datetime.fromisoformat(v)
    except ValueError:
        raise Unusual from None


def _datetime(v: Any) -> datetime | None:
    """FHIR dateTime to the aware datetime convert.to_datetime makes of R4B's value."""
    if v is None:
        return None
    found = _DATETIMES.get(v) if type(v) is str else None
    if found is None:
        found = _read_datetime(v)
        if found is not None:
            _DATETIMES.put(v, found, 2 * len(v) + 100)
    return found


def _read_datetime(v: Any) -> datetime | None:
    if type(v) is not str or not _DATETIME.fullmatch(v):
        raise Unusual
    if len(v) <= 7:  # 'YYYY' or 'YYYY-MM': R4B keeps the string
        return to_datetime(v)
    if len(v) == 10:
        try:
            return to_datetime(date.fromisoformat(v))
        except ValueError:
            raise Unusual from None
    return to_datetime(_full_datetime(v))


def datetime_value(v: str) -> datetime | None:
    """A FHIR dateTime as this module reads it (Unusual when R4B must decide)."""
    return _datetime(v)


def _instant(v: Any) -> datetime | None:
    if v is None:
        return None
    if type(v) is not str or not _INSTANT.fullmatch(v):
        raise Unusual
    return to_datetime(_full_datetime(v))


def _date(v: Any) -> date | None:
    if v is None:
        return None
    if type(v) is not str or not _DATE.fullmatch(v):
        raise Unusual
    if len(v) <= 7:
        parsed = to_datetime(v)
        return parsed.date() if parsed else None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise Unusual from None


def _time(v: Any) -> str:
    if type(v) is str and _TIME.fullmatch(v):
        return v
    raise Unusual


def _list(v: Any) -> list[Any]:
    """A repeating element's items (none of them null)."""
    if v is None:
        return []
    if type(v) is not list or None in v:
        raise Unusual
    return v


# --- datatypes -------------------------------------------------------------------------------------------------


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


_CODING_READ = _keys("system", "code", "display")
_CONCEPT_READ = _keys("coding", "text")
_QUANTITY_READ = _keys("value", "unit", "system", "code")
_RATIO_READ = _keys("numerator", "denominator")
_PERIOD_READ = _keys("start", "end")
_RANGE_READ = _keys("low", "high")
_REFERENCE_READ = _keys("reference", "display")


def _coding(d: Any) -> Coding:
    _check(_S_CODING, d)
    return Coding(system=_uri(d.get("system")), code=_code(d.get("code")), display=_string(d.get("display")))


def _concept(d: Any) -> Concept | None:
    if d is None:
        return None
    key = _memo_key(d)
    found = _CONCEPTS.get(key)
    if found is None:
        _check(_S_CODEABLECONCEPT, d)
        found = Concept(codings=tuple(_coding(c) for c in _list(d.get("coding"))), text=_string(d.get("text")))
        _CONCEPTS.put(key, found, 3 * len(key))
    return found


def _concepts(items: Any) -> tuple[Concept, ...]:
    return tuple(c for c in (_concept(i) for i in _list(items)) if c is not None)


def _status_code(d: Any) -> str | None:
    c = _concept(d)
    if c is None:
        return None
    for cd in c.codings:
        if cd.code:
            return cd.code
    return c.text


def _memo_key(d: Any) -> bytes:
    try:
        return orjson.dumps(d)
    except TypeError:  # e.g. an integer beyond 64 bits
        raise Unusual from None


def _quantity(d: Any, duration: bool = False) -> Quantity | None:
    if d is None:
        return None
    key = _memo_key(d)
    found = _QUANTITIES.get(key)
    if found is None:
        _check(_S_DURATION if duration else _S_QUANTITY, d)
        found = Quantity(
            value=_decimal(d.get("value")),
            unit=_string(d.get("unit")),
            system=_uri(d.get("system")),
            code=_code(d.get("code")),
        )
        if not duration:  # Duration's shape differs: not shared with Quantity's entries
            _QUANTITIES.put(key, found, 2 * len(key))
    return found


def _ratio(d: Any) -> Ratio | None:
    if d is None:
        return None
    _check(_S_RATIO, d)
    return Ratio(numerator=_quantity(d.get("numerator")), denominator=_quantity(d.get("denominator")))


def _period(d: Any) -> Period | None:
    if d is None:
        return None
    _check(_S_PERIOD, d)
    return Period(start=_datetime(d.get("start")), end=_datetime(d.get("end")))


def _range(d: Any) -> tuple[Quantity | None, Quantity | None]:
    if d is None:
        return None, None
    _check(_S_RANGE, d)
    return _quantity(d.get("low")), _quantity(d.get("high"))


_REPEAT_READ = _keys(
    "frequency",
    "frequencyMax",
    "period",
    "periodMax",
    "periodUnit",
    "timeOfDay",
    "when",
    "dayOfWeek",
    "duration",
    "durationMax",
    "durationUnit",
    "count",
    "countMax",
    "boundsDuration",
    "boundsPeriod",
)
_TIMING_READ = _keys("repeat", "code", "event")


def _timing(d: Any) -> Timing | None:
    if d is None:
        return None
    _check(_S_TIMING, d)
    r = d.get("repeat")
    repeat = None
    if r is not None:
        _check(_S_TIMINGREPEAT, r)
        repeat = TimingRepeat(
            frequency=_integer(r.get("frequency"), 1),
            frequency_max=_integer(r.get("frequencyMax"), 1),
            period=_decimal(r.get("period")),
            period_max=_decimal(r.get("periodMax")),
            period_unit=_code(r.get("periodUnit")),
            time_of_day=tuple(_time(t) for t in _list(r.get("timeOfDay"))),
            when=tuple(_code(w) or "" for w in _list(r.get("when"))),
            day_of_week=tuple(_code(w) or "" for w in _list(r.get("dayOfWeek"))),
            duration=_decimal(r.get("duration")),
            duration_max=_decimal(r.get("durationMax")),
            duration_unit=_code(r.get("durationUnit")),
            count=_integer(r.get("count"), 1),
            count_max=_integer(r.get("countMax"), 1),
            bounds_duration=_quantity(r.get("boundsDuration"), duration=True),
            bounds_period=_period(r.get("boundsPeriod")),
        )
    events = tuple(e for e in (_datetime(v) for v in _list(d.get("event"))) if e is not None)
    return Timing(repeat=repeat, code=_concept(d.get("code")), events=events)


_DOSE_AND_RATE_READ = _keys("type", "doseRange", "doseQuantity", "rateRatio", "rateRange", "rateQuantity")
_DOSAGE_READ = _keys(
    "text",
    "timing",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "route",
    "method",
    "doseAndRate",
    "maxDosePerPeriod",
    "maxDosePerAdministration",
    "sequence",
)


def _dose_and_rate(d: Any) -> DoseAndRate:
    _check(_S_DOSAGEDOSEANDRATE, d)
    dose_low, dose_high = _range(d.get("doseRange"))
    rate_low, rate_high = _range(d.get("rateRange"))
    return DoseAndRate(
        dose=_quantity(d.get("doseQuantity")),
        dose_low=dose_low,
        dose_high=dose_high,
        rate=_quantity(d.get("rateQuantity")),
        rate_low=rate_low,
        rate_high=rate_high,
        rate_ratio=_ratio(d.get("rateRatio")),
        type=_concept(d.get("type")),
    )


def _dosage(d: Any) -> Dosage:
    key = _memo_key(d)
    found = _DOSAGES.get(key)
    if found is None:
        found = _read_dosage(d)
        _DOSAGES.put(key, found, 4 * len(key))
    return found


def _read_dosage(d: Any) -> Dosage:
    _check(_S_DOSAGE, d)
    return Dosage(
        text=_string(d.get("text")),
        timing=_timing(d.get("timing")),
        as_needed=bool(_boolean(d.get("asNeededBoolean"))) or _concept(d.get("asNeededCodeableConcept")) is not None,
        route=_concept(d.get("route")),
        method=_concept(d.get("method")),
        dose_and_rate=tuple(_dose_and_rate(x) for x in _list(d.get("doseAndRate"))),
        max_dose_per_period=_ratio(d.get("maxDosePerPeriod")),
        max_dose_per_administration=_quantity(d.get("maxDosePerAdministration")),
        sequence=_integer(d.get("sequence"), -(2**31)),
    )


_ADMIN_DOSAGE_READ = _keys("text", "route", "method", "dose", "rateQuantity", "rateRatio")


def _administration_dosage(d: Any) -> Dosage:
    _check(_S_MEDICATIONADMINISTRATIONDOSAGE, d)
    return Dosage(
        text=_string(d.get("text")),
        route=_concept(d.get("route")),
        method=_concept(d.get("method")),
        dose_and_rate=(
            DoseAndRate(
                dose=_quantity(d.get("dose")),
                rate=_quantity(d.get("rateQuantity")),
                rate_ratio=_ratio(d.get("rateRatio")),
            ),
        ),
    )


# --- resources -------------------------------------------------------------------------------------------------

_CONDITION_READ = _keys(
    "resourceType",
    "id",
    "code",
    "clinicalStatus",
    "verificationStatus",
    "category",
    "severity",
    "onsetDateTime",
    "onsetPeriod",
    "abatementDateTime",
    "abatementPeriod",
    "recordedDate",
)


def condition(d: dict[str, Any]) -> Condition:
    _check(_S_CONDITION, d)
    onset_period = _period(d.get("onsetPeriod"))
    abatement_period = _period(d.get("abatementPeriod"))
    return Condition(
        id=_id(d.get("id")) or "",
        code=_concept(d.get("code")) or Concept(),
        clinical_status=_status_code(d.get("clinicalStatus")),
        verification_status=_status_code(d.get("verificationStatus")),
        category=_concepts(d.get("category")),
        severity=_concept(d.get("severity")),
        onset=_datetime(d.get("onsetDateTime")) or (onset_period.start if onset_period else None),
        abatement=_datetime(d.get("abatementDateTime")) or (abatement_period.end if abatement_period else None),
        recorded=_datetime(d.get("recordedDate")),
    )


_REFERENCE_RANGE_READ = _keys("low", "high", "text")
_COMPONENT_READ = _keys("code", "valueQuantity", "valueCodeableConcept", "valueString", "interpretation")
_OBSERVATION_READ = _keys(
    "resourceType",
    "id",
    "status",
    "code",
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "issued",
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "interpretation",
    "referenceRange",
    "component",
    "category",
)


def _reference_range(d: Any) -> ReferenceRange:
    _check(_S_OBSERVATIONREFERENCERANGE, d)
    return ReferenceRange(low=_quantity(d.get("low")), high=_quantity(d.get("high")), text=_string(d.get("text")))


def _component(d: Any) -> ObservationComponent:
    _check(_S_OBSERVATIONCOMPONENT, d)
    return ObservationComponent(
        code=_concept(d.get("code")) or Concept(),
        value_quantity=_quantity(d.get("valueQuantity")),
        value_concept=_concept(d.get("valueCodeableConcept")),
        value_string=_string(d.get("valueString")),
        interpretation=_concepts(d.get("interpretation")),
    )


def observation_when(d: dict[str, Any]) -> datetime | None:
    """An Observation's `when` (effective, else issued) read from its JSON, as the record would hold it."""
    written = d.get("effectiveDateTime")
    if type(written) is str:  # the usual case, and a date read before: one lookup (a read date is never None)
        found = _DATETIMES.get(written)
        if found is not None:
            return found
    effective = _datetime(d.get("effectiveDateTime")) or _instant(d.get("effectiveInstant"))
    if effective is None and d.get("effectivePeriod") is not None:
        period = _period(d["effectivePeriod"])
        effective = (period.end or period.start) if period else None
    return effective or _instant(d.get("issued"))


def concept_of(value: Any) -> Concept | None:
    """A CodeableConcept read from JSON (Unusual when R4B must decide)."""
    return _concept(value)


def observation(d: dict[str, Any]) -> Observation:
    _check(_S_OBSERVATION, d)
    get = d.get
    effective = _datetime(get("effectiveDateTime")) or _instant(get("effectiveInstant"))
    period = get("effectivePeriod")
    if effective is None and period is not None:
        read = _period(period)
        effective = (read.end or read.start) if read else None
    interpretation, ranges, components, category = (
        get("interpretation"),
        get("referenceRange"),
        get("component"),
        get("category"),
    )
    return Observation(
        id=_id(get("id")) or "",
        status=_code(get("status")),
        code=_concept(get("code")) or Concept(),
        effective=effective,
        issued=_instant(get("issued")),
        value_quantity=_quantity(get("valueQuantity")),
        value_concept=_concept(get("valueCodeableConcept")),
        value_string=_string(get("valueString")),
        value_boolean=_boolean(get("valueBoolean")),
        interpretation=_concepts(interpretation) if interpretation is not None else (),
        reference_range=tuple(_reference_range(r) for r in _list(ranges)) if ranges is not None else (),
        components=tuple(_component(c) for c in _list(components)) if components is not None else (),
        category=_concepts(category) if category is not None else (),
    )


_ALLERGY_READ = _keys("resourceType", "id", "code", "clinicalStatus", "verificationStatus", "recordedDate")


def allergy(d: dict[str, Any]) -> AllergyIntolerance:
    _check(_S_ALLERGYINTOLERANCE, d)
    return AllergyIntolerance(
        id=_id(d.get("id")) or "",
        code=_concept(d.get("code")) or Concept(),
        clinical_status=_status_code(d.get("clinicalStatus")),
        verification_status=_status_code(d.get("verificationStatus")),
        recorded=_datetime(d.get("recordedDate")),
    )


_CONSENT_READ = _keys("resourceType", "id", "status", "category", "scope", "dateTime", "provision")
_PROVISION_READ = _keys("type")


def consent(d: dict[str, Any]) -> ConsentRecord:
    if "text" in d:  # a narrative is XHTML, which only R4B validates
        raise Unusual
    _check(_S_CONSENT, d)
    provision = d.get("provision")
    if provision is not None:
        _check(_S_CONSENTPROVISION, provision)
    return ConsentRecord(
        id=_id(d.get("id")) or "",
        status=_code(d.get("status")),
        category=_concepts(d.get("category")),
        scope=_concept(d.get("scope")),
        date_time=_datetime(d.get("dateTime")),
        provision_type=_code(provision.get("type")) if provision is not None else None,
        text=None,
    )


_PATIENT_READ = _keys("resourceType", "id", "birthDate", "gender")


def demographics(d: dict[str, Any]) -> Demographics:
    _check(_S_PATIENT, d)
    return Demographics(id=_id(d.get("id")), birth_date=_date(d.get("birthDate")), gender=_code(d.get("gender")))


_INGREDIENT_READ = _keys("itemCodeableConcept", "itemReference", "strength", "isActive")
_MEDICATION_READ = _keys("resourceType", "id", "code", "form", "ingredient")


def _reference(d: Any) -> tuple[str | None, str | None]:
    _check(_S_REFERENCE, d)
    return _string(d.get("reference")), _string(d.get("display"))


def _ingredient(d: Any) -> Ingredient:
    _check(_S_MEDICATIONINGREDIENT, d)
    item = _concept(d.get("itemCodeableConcept"))
    if item is None:
        ref = d.get("itemReference")
        item = Concept(text=_reference(ref)[1] if ref is not None else None)
    return Ingredient(item=item, strength=_ratio(d.get("strength")), is_active=_boolean(d.get("isActive")))


def medication(d: dict[str, Any]) -> tuple[str | None, MedicationParts]:
    """(id, the Medication's code, form and ingredients)."""
    _check(_S_MEDICATION, d)
    parts = MedicationParts(
        code=_concept(d.get("code")),
        form=_concept(d.get("form")),
        ingredients=tuple(_ingredient(i) for i in _list(d.get("ingredient"))),
    )
    return _id(d.get("id")), parts


_REQUEST_READ = _keys(
    "resourceType",
    "id",
    "status",
    "intent",
    "category",
    "medicationCodeableConcept",
    "medicationReference",
    "contained",
    "dosageInstruction",
    "authoredOn",
    "dispenseRequest",
    "priorPrescription",
)
_DISPENSE_READ = _keys("validityPeriod", "numberOfRepeatsAllowed", "expectedSupplyDuration")
_STATEMENT_READ = _keys(
    "resourceType",
    "id",
    "status",
    "category",
    "medicationCodeableConcept",
    "medicationReference",
    "contained",
    "dosage",
    "dateAsserted",
    "effectivePeriod",
    "effectiveDateTime",
)
_ADMINISTRATION_READ = _keys(
    "resourceType",
    "id",
    "status",
    "category",
    "medicationCodeableConcept",
    "medicationReference",
    "contained",
    "dosage",
    "effectivePeriod",
    "effectiveDateTime",
)


def _medication_of(d: dict[str, Any]) -> dict[str, Any]:
    """The medication elements of a Medication* resource, as PendingUse fields."""
    ref = d.get("medicationReference")
    reference, display = _reference(ref) if ref is not None else (None, None)
    contained: list[tuple[str | None, MedicationParts]] = []
    for item in _list(d.get("contained")):
        if type(item) is not dict or item.get("resourceType") != "Medication":
            raise Unusual  # another contained resource type: R4B validates it
        contained.append(medication(item))
    return {
        "medication": _concept(d.get("medicationCodeableConcept")),
        "has_reference": ref is not None,
        "reference": reference,
        "reference_display": display,
        "contained": tuple(contained),
    }


def medication_request(d: dict[str, Any]) -> PendingUse:
    _check(_S_MEDICATIONREQUEST, d)
    dispense = d.get("dispenseRequest")
    if dispense is not None:
        _check(_S_MEDICATIONREQUESTDISPENSEREQUEST, dispense)
    return PendingUse(
        resource_type="MedicationRequest",
        id=_id(d.get("id")) or "",
        status=_code(d.get("status")),
        intent=_code(d.get("intent")),
        category=_concepts(d.get("category")),
        dosages=tuple(_dosage(x) for x in _list(d.get("dosageInstruction"))),
        recorded=_datetime(d.get("authoredOn")),
        effective=_period(dispense.get("validityPeriod")) if dispense is not None else None,
        repeats_allowed=_integer(dispense.get("numberOfRepeatsAllowed"), 0) if dispense is not None else None,
        expected_supply=_quantity(dispense.get("expectedSupplyDuration"), duration=True)
        if dispense is not None
        else None,
        prior_prescription=_reference(prior)[0] if (prior := d.get("priorPrescription")) is not None else None,
        **_medication_of(d),
    )


def _effective(d: dict[str, Any]) -> Period | None:
    period = _period(d.get("effectivePeriod"))
    if period is not None:
        return period
    start = d.get("effectiveDateTime")
    return Period(start=_datetime(start)) if start is not None else None


def medication_statement(d: dict[str, Any]) -> PendingUse:
    _check(_S_MEDICATIONSTATEMENT, d)
    effective = _effective(d)
    category = _concept(d.get("category"))
    return PendingUse(
        resource_type="MedicationStatement",
        id=_id(d.get("id")) or "",
        status=_code(d.get("status")),
        category=(category,) if category is not None else (),
        dosages=tuple(_dosage(x) for x in _list(d.get("dosage"))),
        recorded=_datetime(d.get("dateAsserted")) or (effective.start if effective else None),
        effective=effective,
        **_medication_of(d),
    )


def medication_administration(d: dict[str, Any]) -> PendingUse:
    _check(_S_MEDICATIONADMINISTRATION, d)
    effective = _effective(d)
    category = _concept(d.get("category"))
    dosage = d.get("dosage")
    return PendingUse(
        resource_type="MedicationAdministration",
        id=_id(d.get("id")) or "",
        status=_code(d.get("status")),
        category=(category,) if category is not None else (),
        dosages=(_administration_dosage(dosage),) if dosage is not None else (),
        recorded=effective.start if effective else None,
        effective=effective,
        **_medication_of(d),
    )


# --- the shapes, derived once at import -------------------------------------------------------------------

_S_CODING = _spec("Coding", _CODING_READ)
_S_CODEABLECONCEPT = _spec("CodeableConcept", _CONCEPT_READ)
_S_RATIO = _spec("Ratio", _RATIO_READ)
_S_PERIOD = _spec("Period", _PERIOD_READ)
_S_RANGE = _spec("Range", _RANGE_READ)
_S_TIMING = _spec("Timing", _TIMING_READ)
_S_TIMINGREPEAT = _spec("TimingRepeat", _REPEAT_READ)
_S_DOSAGEDOSEANDRATE = _spec("DosageDoseAndRate", _DOSE_AND_RATE_READ)
_S_DOSAGE = _spec("Dosage", _DOSAGE_READ)
_S_MEDICATIONADMINISTRATIONDOSAGE = _spec("MedicationAdministrationDosage", _ADMIN_DOSAGE_READ)
_S_CONDITION = _spec("Condition", _CONDITION_READ)
_S_OBSERVATIONREFERENCERANGE = _spec("ObservationReferenceRange", _REFERENCE_RANGE_READ)
_S_OBSERVATIONCOMPONENT = _spec("ObservationComponent", _COMPONENT_READ)
_S_OBSERVATION = _spec("Observation", _OBSERVATION_READ)
_S_ALLERGYINTOLERANCE = _spec("AllergyIntolerance", _ALLERGY_READ)
_S_CONSENT = _spec("Consent", _CONSENT_READ)
_S_CONSENTPROVISION = _spec("ConsentProvision", _PROVISION_READ)
_S_PATIENT = _spec("Patient", _PATIENT_READ)
_S_REFERENCE = _spec("Reference", _REFERENCE_READ)
_S_MEDICATIONINGREDIENT = _spec("MedicationIngredient", _INGREDIENT_READ)
_S_MEDICATION = _spec("Medication", _MEDICATION_READ)
_S_MEDICATIONREQUEST = _spec("MedicationRequest", _REQUEST_READ)
_S_MEDICATIONREQUESTDISPENSEREQUEST = _spec("MedicationRequestDispenseRequest", _DISPENSE_READ)
_S_MEDICATIONSTATEMENT = _spec("MedicationStatement", _STATEMENT_READ)
_S_MEDICATIONADMINISTRATION = _spec("MedicationAdministration", _ADMINISTRATION_READ)
_S_QUANTITY = _spec("Quantity", _QUANTITY_READ)
_S_DURATION = _spec("Duration", _QUANTITY_READ)


_READS_CONTAINED = frozenset({"MedicationRequest", "MedicationStatement", "MedicationAdministration"})
PARSERS: dict[str, Any] = {
    "Condition": condition,
    "Observation": observation,
    "AllergyIntolerance": allergy,
    "Consent": consent,
    "Patient": demographics,
    "Medication": medication,
    "MedicationRequest": medication_request,
    "MedicationStatement": medication_statement,
    "MedicationAdministration": medication_administration,
}


def parse(raw: dict[str, Any]) -> Any:
    """The core value of one resource (see PARSERS for each type's); Unusual when R4B must decide."""
    kind = raw.get("resourceType")
    parser = PARSERS.get(kind)  # type: ignore[arg-type]
    if parser is None or ("contained" in raw and kind not in _READS_CONTAINED):
        raise Unusual  # contained resources are validated by R4B (only Medication* read theirs, here)
    try:
        return parser(raw)
    except Unusual:
        raise
    except Exception as exc:  # anything unforeseen: the full path decides, never a wrong value
        raise Unusual from exc


def warm() -> None:
    """Derive every model shape now (a few ms), so the first request does not."""
    for name in (
        *PARSERS,
        "Coding",
        "CodeableConcept",
        "Quantity",
        "Duration",
        "Ratio",
        "Period",
        "Range",
        "Reference",
        "Timing",
        "TimingRepeat",
        "Dosage",
        "DosageDoseAndRate",
        "MedicationAdministrationDosage",
        "ObservationReferenceRange",
        "ObservationComponent",
        "ConsentProvision",
        "MedicationIngredient",
        "MedicationRequestDispenseRequest",
    ):
        _shape(name)
