"""Small builders of FHIR R4 elements (as dicts) for generated orders, and their validation.

Every generated resource passes `validated()`, which checks it against the fhir.resources R4B model: an invalid
resource here is a bug in this package, so it raises rather than returning something an EHR would reject. A
resource whose validity key (`_normalised`) already passed is not validated again.
"""

from __future__ import annotations

import html
import math
from functools import lru_cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from smart_app.caching import ByteBoundedLRU, ByteBoundedMemo
from smart_app.core.model import UCUM

XHTML_NS = "http://www.w3.org/1999/xhtml"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"


class InvalidGeneratedResource(RuntimeError):
    """A generated resource failed FHIR validation (a bug in the order builder, not in the patient's data)."""


# Generated resources that passed R4B validation, by their validity key (below). A protocol's order set has the
# same structure for every patient; only the subject, the date, the doses and the texts differ. Bounded in bytes.
_VALID: ByteBoundedLRU[bytes, bool] = ByteBoundedLRU(4 * 1024 * 1024, max_entries=4096, max_entry_bytes=64 * 1024)
_VALID_EXACT: ByteBoundedMemo[bytes, bool] = ByteBoundedMemo(2 * 1024 * 1024, max_entry_bytes=64 * 1024)
# Elements of type string, markdown or xhtml wherever they occur as text; inside an Identifier (e.g. a
# requisition's urn:uuid) its `value` is a string too (elsewhere `value` may be a number: not normalised).
_FREE_TEXT = frozenset({"text", "display", "reference", "div"})
_IDENTIFIER_TEXT = _FREE_TEXT | {"value"}
_IDENTIFIERS = frozenset({"identifier", "requisition", "groupIdentifier"})
_INT32 = 2**31 - 1


def _normalised(value: Any, key: str | None = None) -> Any:
    """`value` with every leaf whose R4B validity depends only on its class replaced by one representative:

    - free text (string, markdown, xhtml: `text`, `display`, `reference`, `div`, an Identifier's `value`) with a
      non-blank character (one Python does not call whitespace, which R4B's pattern accepts): any such text is
      valid, so it becomes "s" (blank or non-text values are kept, and validated as they are);
    - numbers by what integer, positiveInt, unsignedInt and decimal distinguish: integers as -1, 0 or 1 within the
      32-bit range (kept beyond it), finite floats as -1.0/0.0/1.0 when integral within that range and 0.5 when
      not (kept otherwise);
    - `authoredOn` by a fixed dateTime when it is a dateTime the lean parser vouches for (kept otherwise).
    Everything else (codes, systems, structure, booleans) is kept. So the key is valid exactly when the resource
    is: R4B validates each element on its own, and choice and required rules depend only on which keys exist."""
    kind = type(value)
    if kind is dict:
        text = _IDENTIFIER_TEXT if key in _IDENTIFIERS else _FREE_TEXT
        return {k: _normalised(v, k) if type(v) in _CONTAINERS else _leaf(v, k, text) for k, v in value.items()}
    if kind is list:
        return [_normalised(v, key) if type(v) in _CONTAINERS else _leaf(v, key, _FREE_TEXT) for v in value]
    return _leaf(value, key, _FREE_TEXT)


_CONTAINERS = (dict, list)


def _leaf(value: Any, key: str | None, text: frozenset[str]) -> Any:
    kind = type(value)
    if kind is str:
        if key in text and value and not value.isspace():
            return "s"
        if key == "authoredOn" and is_valid_datetime(value):
            return _AUTHORED
        return value
    if kind is int:
        return (value > 0) - (value < 0) if -_INT32 - 1 <= value <= _INT32 else value
    if kind is float and math.isfinite(value):
        if value.is_integer():
            return float((value > 0) - (value < 0)) if abs(value) <= _INT32 else value
        return 0.5
    return value  # booleans, None, and anything unexpected: kept as they are


@lru_cache(maxsize=256)
def is_valid_datetime(value: str) -> bool:
    """Whether `value` is a FHIR dateTime the lean parser vouches for (so R4B accepts it too). Memoised: a call
    asks about the same authoredOn for every resource it generates."""
    from smart_app.fhir.lean import Unusual, datetime_value

    try:
        return datetime_value(value) is not None
    except Unusual:
        return False


_SUBJECT = {"reference": "Patient/x"}
_AUTHORED = "2000-01-01T00:00:00Z"


def _exact_key(resource: dict[str, Any]) -> bytes:
    """The resource's JSON with only its subject (a plain, non-blank reference) and authoredOn (a dateTime the
    lean parser vouches for) replaced: most generated resources differ between patients in nothing else, so a
    repeat is found without walking the whole resource (`_normalised` would give the same answer, slower)."""
    subject, authored = resource.get("subject"), resource.get("authoredOn")
    shallow = resource
    if type(subject) is dict and len(subject) == 1:
        reference = subject.get("reference")
        if type(reference) is str and reference and not reference.isspace():
            shallow = {**resource, "subject": _SUBJECT}
    if type(authored) is str and is_valid_datetime(authored):
        shallow = {**shallow, "authoredOn": _AUTHORED}
    return orjson.dumps(shallow)


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    exact: bytes | None = None
    key: bytes | None = None
    try:
        exact = _exact_key(resource)  # the same resource for another patient, or again in this call
        if _VALID_EXACT.get(exact):
            return resource
        key = orjson.dumps(_normalised(resource), option=orjson.OPT_SORT_KEYS)
    except TypeError:
        exact = key = None
    if key is not None and _VALID.get(key):
        if exact is not None:
            _VALID_EXACT.put(exact, True, len(exact))
        return resource
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        raise InvalidGeneratedResource(f"generated {resource['resourceType']} is not valid FHIR R4: {exc}") from exc
    if key is not None:
        _VALID.put(key, True, len(key))
    if exact is not None:
        _VALID_EXACT.put(exact, True, len(exact))
    return resource


def narrative(heading: str, *paragraphs: str) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)
    return {"status": "generated", "div": f'<div xmlns="{XHTML_NS}"><p><b>{html.escape(heading)}</b></p>{body}</div>'}


def coding(raw: dict[str, Any]) -> dict[str, str]:
    return {"system": str(raw["system"]), "code": str(raw["code"]), "display": str(raw["display"])}


def concept(raw_coding: dict[str, Any] | None, text: str) -> dict[str, Any]:
    result: dict[str, Any] = {"text": text}
    if raw_coding:
        result["coding"] = [coding(raw_coding)]
    return result


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A UCUM quantity; `unit` is the UCUM code (mg, h, d, mg/h)."""
    number: float | int = int(value) if float(value).is_integer() else round(value, 3)
    return {"value": number, "unit": unit, "system": UCUM, "code": unit}


def rate_quantity(mg_per_h: float) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": DOSE_RATE_TYPE, "code": "ordered", "display": "Ordered"}]},
        "rateQuantity": quantity(mg_per_h, "mg/h"),
    }


def dose_quantity(mg: float) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": DOSE_RATE_TYPE, "code": "ordered", "display": "Ordered"}]},
        "doseQuantity": quantity(mg, "mg"),
    }


def per_period(mg: float, hours: float) -> dict[str, Any]:
    return {"numerator": quantity(mg, "mg"), "denominator": quantity(hours, "h")}


def annotation(text: str) -> dict[str, str]:
    return {"text": text}
