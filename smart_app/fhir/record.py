"""Build a `PatientRecord` from FHIR R4 resource dicts.

Each resource of a type the clinical core uses is validated with its fhir.resources R4B model; resources of
other types are skipped without validation (they cost nothing). A resource that fails validation becomes an
`InputProblem` so that what could not be read is reported rather than lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from smart_app.core.model import Demographics, InputProblem, PatientRecord
from smart_app.fhir import convert

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")
_CLINICAL_TYPES: dict[str, Callable[[Any], Any]] = {
    "Condition": convert.condition,
    "Observation": convert.observation,
    "AllergyIntolerance": convert.allergy,
    "Consent": convert.consent,
}
USED_TYPES = frozenset({"Patient", "Medication", *MEDICATION_TYPES, *_CLINICAL_TYPES})


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


def build_record(
    resources: Iterable[dict[str, Any]],
    *,
    draft_orders: Iterable[dict[str, Any]] = (),
) -> PatientRecord:
    """The patient's record from resource dicts; `draft_orders` are the unsigned orders of a CDS Hooks context."""
    problems: list[InputProblem] = []
    validated: list[tuple[Any, bool]] = []
    medications: dict[str, Any] = {}
    patient = None

    def take(raw: dict[str, Any], index: int, is_draft: bool) -> None:
        nonlocal patient
        kind = raw.get("resourceType")
        if kind not in USED_TYPES:
            return
        try:
            model = validate(raw)
        except ValidationError as exc:
            problems.append(InputProblem(_label(raw, index), describe_validation_error(exc)))
            return
        if kind == "Medication":
            if model.id:
                medications[model.id] = model
                medications[f"Medication/{model.id}"] = model
        elif kind == "Patient":
            patient = patient or model
        else:
            validated.append((model, is_draft))

    for index, raw in enumerate(resources):
        take(raw, index, False)
    for index, raw in enumerate(draft_orders):
        take(raw, index, True)

    meds = []
    clinical: dict[str, list[Any]] = {k: [] for k in _CLINICAL_TYPES}
    for model, is_draft in validated:
        kind = model.get_resource_type()
        if kind in MEDICATION_TYPES:
            meds.append(convert.medication_use(model, medications, is_draft=is_draft))
        else:
            clinical[kind].append(_CLINICAL_TYPES[kind](model))
    return PatientRecord(
        demographics=convert.demographics(patient) if patient is not None else Demographics(),
        medications=tuple(meds),
        conditions=tuple(clinical["Condition"]),
        observations=tuple(clinical["Observation"]),
        allergies=tuple(clinical["AllergyIntolerance"]),
        consents=tuple(clinical["Consent"]),
        problems=tuple(problems),
    )
