"""Builders of realistic FHIR R4 resources (as JSON dicts) shared by all tests.

Each builder returns the shape EHRs actually send (Epic/Cerner/HAPI style): coded with system + code + display,
status elements present, dates as ISO strings. Keyword arguments override or add elements.
"""

from __future__ import annotations

import itertools
from typing import Any

from smart_app.core.model import ICD10CM, LOINC, ORDERABLE_DRUG_FORM, RXNORM, SNOMED, UCUM

__all__ = ["ICD10CM", "LOINC", "RXNORM", "SNOMED", "UCUM"]

_ids = itertools.count(1)
PATIENT_REF = {"reference": "Patient/example"}


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def rxnorm(code: str, display: str) -> dict[str, Any]:
    return {"coding": [coding(RXNORM, code, display)], "text": display}


def patient(birth_date: str = "1970-05-01", gender: str = "female", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "example", "birthDate": birth_date, "gender": gender, **extra}


def dose_quantity(value: float, unit: str = "TAB") -> dict[str, Any]:
    """A doseQuantity; 'TAB' uses the HL7 v3 orderable drug form system as Epic does, mg/mcg/mL use UCUM."""
    if unit in ("TAB", "CAP", "PATCH"):
        return {"value": value, "unit": unit, "system": ORDERABLE_DRUG_FORM, "code": unit}
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def dosage(
    *,
    dose: dict[str, Any] | None = None,
    frequency: int | None = None,
    period: float | None = None,
    period_unit: str = "d",
    timing: dict[str, Any] | None = None,
    as_needed: bool = False,
    route: tuple[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {**extra}
    if timing is not None:
        d["timing"] = timing
    elif frequency is not None:
        d["timing"] = {"repeat": {"frequency": frequency, "period": period or 1, "periodUnit": period_unit}}
    if as_needed:
        d["asNeededBoolean"] = True
    if dose is not None:
        d.setdefault("doseAndRate", []).insert(0, {"doseQuantity": dose})
    if route is not None:
        d["route"] = {"coding": [coding(SNOMED, route[0], route[1])]}
    return d


def medication_request(
    code: str | None,
    display: str,
    *,
    dosages: list[dict[str, Any]] | None = None,
    status: str = "active",
    intent: str = "order",
    rid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid or _id("mr"),
        "status": status,
        "intent": intent,
        "subject": PATIENT_REF,
        "authoredOn": "2026-10-01",
        **extra,
    }
    if code is not None and "medicationReference" not in extra:
        res["medicationCodeableConcept"] = rxnorm(code, display)
    elif "medicationReference" not in extra:
        res["medicationCodeableConcept"] = {"text": display}
    if dosages is not None:
        res["dosageInstruction"] = dosages
    return res


def medication_statement(
    code: str | None,
    display: str,
    *,
    dosages: list[dict[str, Any]] | None = None,
    status: str = "active",
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": extra.pop("rid", None) or _id("ms"),
        "status": status,
        "subject": PATIENT_REF,
        "dateAsserted": "2026-10-01",
        **extra,
    }
    if "medicationReference" not in extra:
        res["medicationCodeableConcept"] = rxnorm(code, display) if code else {"text": display}
    if dosages is not None:
        res["dosage"] = dosages
    return res


def condition(
    system: str,
    code: str,
    display: str,
    *,
    clinical_status: str = "active",
    verification_status: str = "confirmed",
    rid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Condition coded in SNOMED CT or ICD-10-CM (pass SNOMED or ICD10CM as system)."""
    assert system in (SNOMED, ICD10CM), system
    return {
        "resourceType": "Condition",
        "id": rid or _id("cond"),
        "clinicalStatus": {
            "coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical_status)]
        },
        "verificationStatus": {
            "coding": [coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification_status)]
        },
        "category": [
            {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")]}
        ],
        "code": {"coding": [coding(system, code, display)], "text": display},
        "subject": PATIENT_REF,
        "recordedDate": "2025-01-10",
        **extra,
    }


def observation(
    loinc: str,
    display: str,
    *,
    value: float | None = None,
    unit: str | None = None,
    effective: str = "2026-11-01T09:00:00Z",
    status: str = "final",
    rid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid or _id("obs"),
        "status": status,
        "code": {"coding": [coding(LOINC, loinc, display)], "text": display},
        "subject": PATIENT_REF,
        "effectiveDateTime": effective,
        **extra,
    }
    if value is not None:
        res["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return res


def weight(kg: float, effective: str = "2026-11-15T09:00:00Z") -> dict[str, Any]:
    return observation(
        "29463-7",
        "Body weight",
        value=kg,
        unit="kg",
        effective=effective,
        category=[{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")]}],
    )


def blood_pressure(systolic: float, diastolic: float, effective: str = "2026-11-15T09:00:00Z") -> dict[str, Any]:
    """A vital-signs BP panel (85354-9) with systolic/diastolic components, as the FHIR R4 BP profile requires."""
    return {
        "resourceType": "Observation",
        "id": _id("bp"),
        "status": "final",
        "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")]}],
        "code": {"coding": [coding(LOINC, "85354-9", "Blood pressure panel")]},
        "subject": PATIENT_REF,
        "effectiveDateTime": effective,
        "component": [
            {
                "code": {"coding": [coding(LOINC, "8480-6", "Systolic blood pressure")]},
                "valueQuantity": {"value": systolic, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [coding(LOINC, "8462-4", "Diastolic blood pressure")]},
                "valueQuantity": {"value": diastolic, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
        ],
    }


def bundle(*resources: dict[str, Any], bundle_type: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": bundle_type,
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r.get('id', i)}", "resource": r}
            for i, r in enumerate(resources)
        ],
    }


def medication_administration(
    code: str | None,
    display: str,
    *,
    effective: str = "2026-10-01T09:00:00Z",
    status: str = "completed",
    rid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A MedicationAdministration (e.g. a past ketamine infusion) with an effectiveDateTime."""
    return {
        "resourceType": "MedicationAdministration",
        "id": rid or _id("ma"),
        "status": status,
        "medicationCodeableConcept": rxnorm(code, display) if code else {"text": display},
        "subject": PATIENT_REF,
        "effectiveDateTime": effective,
        **extra,
    }


def allergy_intolerance(
    code: str, display: str, *, clinical_status: str = "active", rid: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An AllergyIntolerance to an RxNorm-coded substance."""
    return {
        "resourceType": "AllergyIntolerance",
        "id": rid or _id("allergy"),
        "clinicalStatus": {
            "coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", clinical_status)]
        },
        "verificationStatus": {
            "coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed")]
        },
        "code": rxnorm(code, display),
        "patient": PATIENT_REF,
        "recordedDate": "2024-03-01",
        **extra,
    }


def consent(
    *, status: str = "active", provision: str | None = "permit", date_time: str = "2026-11-10T10:00:00Z", **extra: Any
) -> dict[str, Any]:
    """A treatment Consent (scope 'treatment'); `provision` is the provision.type (permit/deny) or None."""
    res: dict[str, Any] = {
        "resourceType": "Consent",
        "id": extra.pop("rid", None) or _id("consent"),
        "status": status,
        "scope": {"coding": [coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment", "Treatment")]},
        "category": [{"text": "Written informed consent: ketamine infusion (conditional off-label use)"}],
        "patient": PATIENT_REF,
        "dateTime": date_time,
        "policyRule": {"text": "written informed consent"},
        **extra,
    }
    if provision is not None:
        res["provision"] = {"type": provision}
    return res
