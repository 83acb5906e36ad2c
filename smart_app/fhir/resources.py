"""Small builders of FHIR R4 elements (as dicts) for generated orders, and their validation.

Every generated resource passes `validated()`, which checks it against the fhir.resources R4B model: an invalid
resource here is a bug in this package, so it raises rather than returning something an EHR would reject.
"""

from __future__ import annotations

import html
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from smart_app.core.model import UCUM

XHTML_NS = "http://www.w3.org/1999/xhtml"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"


class InvalidGeneratedResource(RuntimeError):
    """A generated resource failed FHIR validation (a bug in the order builder, not in the patient's data)."""


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        raise InvalidGeneratedResource(f"generated {resource['resourceType']} is not valid FHIR R4: {exc}") from exc
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
