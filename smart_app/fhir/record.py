"""Build a `PatientRecord` from FHIR R4 resource dicts.

Each resource of a type the clinical core uses is validated with its fhir.resources R4B model; resources of
other types are skipped without validation (they cost nothing). A resource that fails validation becomes an
`InputProblem` so that what could not be read is reported rather than lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from smart_app.core.model import DataGap, Demographics, InputProblem, PatientRecord, ServiceOrder
from smart_app.fhir import convert, plausibility

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")
_CLINICAL_TYPES: dict[str, Callable[[Any], Any]] = {
    "Condition": convert.condition,
    "Observation": convert.observation,
    "AllergyIntolerance": convert.allergy,
    "Consent": convert.consent,
}
USED_TYPES = frozenset({"Patient", "Medication", "ServiceRequest", *MEDICATION_TYPES, *_CLINICAL_TYPES})


def _label(raw: dict[str, Any], index: int) -> str:
    rid = raw.get("id")
    return f"{raw.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else f"{raw.get('resourceType')} #{index}"


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith("function-"))
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid FHIR at {where or 'resource'}: {first.get('msg', 'invalid')}{more}"


def validate(raw: dict[str, Any]) -> Any:
    """Validate one resource dict with its R4B model; raises ValidationError or KeyError for unknown types."""
    model = get_fhir_model_class(raw["resourceType"])
    return model.model_validate(raw)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One resource after validation: a core object (clinical types, Patient), or the model (Medication*)."""

    value: Any
    problem: str | None = None


# Validated resources keyed by their canonical JSON. An EHR sends the same unchanged resources again and again for
# one patient (order-select on every edit, then order-sign), and R4B validation is most of a call's cost. The
# key is the content itself, so a changed resource is simply a new entry; entries are immutable or only read.
_CACHE_ENTRIES = 10_000


@lru_cache(maxsize=_CACHE_ENTRIES)
def _parse_canonical(canonical: bytes) -> _Parsed:
    return _parse(orjson.loads(canonical))


def clear_validation_cache() -> None:
    """Forget every validated resource (benchmarks measure first sight; a deployment never needs to)."""
    _parse_canonical.cache_clear()


def _parse(raw: dict[str, Any]) -> _Parsed:
    implausible = plausibility.raw_problem(raw)  # numbers no record can hold are a data error, not a computation
    if implausible is not None:
        return _Parsed(None, implausible)
    try:
        model = validate(raw)
    except ValidationError as exc:
        return _Parsed(None, describe_validation_error(exc))
    kind = raw["resourceType"]
    if kind in _CLINICAL_TYPES:
        value = _CLINICAL_TYPES[kind](model)
        implausible = plausibility.converted_problem(value)
        return _Parsed(None, implausible) if implausible is not None else _Parsed(value)
    if kind == "Patient":
        return _Parsed(convert.demographics(model))
    return _Parsed(model)


def _parse_cached(raw: dict[str, Any]) -> _Parsed:
    try:
        canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON-serialisable as orjson sees it (e.g. an integer beyond 64 bits): no caching
        return _parse(raw)
    return _parse_canonical(canonical)


def build_record(
    resources: Iterable[dict[str, Any]],
    *,
    draft_orders: Iterable[dict[str, Any]] = (),
    gaps: Iterable[DataGap] = (),
) -> PatientRecord:
    """The patient's record from resource dicts; `draft_orders` are the unsigned orders of a CDS Hooks context;
    `gaps` name the data the caller could not supply."""
    problems: list[InputProblem] = []
    service_orders: list[ServiceOrder] = []
    medication_models: list[tuple[Any, bool]] = []
    medications: dict[str, Any] = {}
    clinical: dict[str, list[Any]] = {k: [] for k in _CLINICAL_TYPES}
    demographics: Demographics | None = None

    def take(raw: dict[str, Any], index: int, is_draft: bool) -> None:
        nonlocal demographics
        kind = raw.get("resourceType")
        if kind not in USED_TYPES:
            return
        parsed = _parse_cached(raw)
        if parsed.problem is not None:
            problems.append(InputProblem(_label(raw, index), parsed.problem))
        elif kind == "Medication":
            if parsed.value.id:
                medications[parsed.value.id] = parsed.value
                medications[f"Medication/{parsed.value.id}"] = parsed.value
        elif kind == "Patient":
            demographics = demographics or parsed.value
        elif kind in MEDICATION_TYPES:
            medication_models.append((parsed.value, is_draft))
        elif kind == "ServiceRequest":
            service_orders.append(convert.service_order(parsed.value, is_draft=is_draft))
        else:
            clinical[kind].append(parsed.value)

    for index, raw in enumerate(resources):
        take(raw, index, False)
    for index, raw in enumerate(draft_orders):
        take(raw, index, True)

    # Medications are converted last: a medicationReference may point at a Medication later in the Bundle.
    meds = tuple(convert.medication_use(m, medications, is_draft=d) for m, d in medication_models)
    return PatientRecord(
        demographics=demographics or Demographics(),
        medications=meds,
        conditions=tuple(clinical["Condition"]),
        observations=tuple(clinical["Observation"]),
        allergies=tuple(clinical["AllergyIntolerance"]),
        consents=tuple(clinical["Consent"]),
        service_orders=tuple(service_orders),
        problems=tuple(problems),
        gaps=tuple(gaps),
    )
