"""Shared, realistic FHIR fixtures for the safety tests (built with tests/fhir_factory.py) and a runner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smart_app.config import LocalDefaults
from smart_app.core.mme.report import MmeReport
from smart_app.core.outcomes import Outcome
from smart_app.core.safety import SafetyReport, evaluate
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

ON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SETTINGS = LocalDefaults()
MR_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
KETAMINE_10 = ("238082", "ketamine 10 MG/ML Injectable Solution")

# Conditions: each problem in both SNOMED CT and ICD-10-CM where the tests compare codings.
HYPERTENSION_SNOMED = (f.SNOMED, "59621000", "Essential hypertension")
HYPERTENSION_ICD = (f.ICD10CM, "I10", "Essential (primary) hypertension")
CAD_ICD = (f.ICD10CM, "I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris")
CAD_SNOMED = (f.SNOMED, "53741008", "Coronary arteriosclerosis")
CIRRHOSIS = (f.SNOMED, "420054005", "Alcoholic cirrhosis")
HEPATITIS_C = (f.ICD10CM, "B18.2", "Chronic viral hepatitis C")
SCHIZOPHRENIA_ICD = (f.ICD10CM, "F20.9", "Schizophrenia, unspecified")
GLAUCOMA_SNOMED = (f.SNOMED, "77075001", "Primary open angle glaucoma")


def condition(code: tuple[str, str, str], **kwargs: Any) -> dict[str, Any]:
    return f.condition(*code, **kwargs)


def ecg(effective: str) -> dict[str, Any]:
    return f.observation("34534-8", "12 lead EKG panel", effective=effective, valueString="Sinus rhythm")


def lab(
    loinc: str, display: str, value: float, unit: str, high: float | None, effective: str, **kw: Any
) -> dict[str, Any]:
    obs = f.observation(loinc, display, value=value, unit=unit, effective=effective, **kw)
    if high is not None:
        obs["referenceRange"] = [{"high": {"value": high, "unit": unit, "system": f.UCUM, "code": unit}}]
    return obs


def alt(value: float, effective: str = "2026-11-12T08:00:00Z", high: float | None = 56, **kw: Any) -> dict[str, Any]:
    return lab("1742-6", "ALT", value, "U/L", high, effective, **kw)


def ast(value: float, effective: str = "2026-11-12T08:00:00Z", high: float | None = 40, **kw: Any) -> dict[str, Any]:
    return lab("1920-8", "AST", value, "U/L", high, effective, **kw)


def ketamine_order(
    *,
    rate: tuple[float, str] | None = (35, "mg/h"),
    dose: tuple[float, str] | None = None,
    hours: float | None = 4,
    route: str = "Intravenous",
    category: str | None = "inpatient",
    code: tuple[str, str] = KETAMINE_10,
    repeats: int | None = None,
    rid: str = "draft-ketamine",
    **extra: Any,
) -> dict[str, Any]:
    """A draft ketamine MedicationRequest as an EHR sends it in CDS Hooks draftOrders."""
    dose_and_rate: dict[str, Any] = {}
    if rate is not None:
        dose_and_rate["rateQuantity"] = {"value": rate[0], "unit": rate[1], "system": f.UCUM, "code": rate[1]}
    if dose is not None:
        dose_and_rate["doseQuantity"] = f.dose_quantity(dose[0], dose[1])
    dosage: dict[str, Any] = {"route": {"text": route}}
    if dose_and_rate:
        dosage["doseAndRate"] = [dose_and_rate]
    if hours is not None:
        dosage["timing"] = {"repeat": {"duration": hours, "durationUnit": "h"}}
    if category is not None:
        extra["category"] = [{"coding": [f.coding(MR_CATEGORY, category)]}]
    if repeats is not None:
        extra["dispenseRequest"] = {"numberOfRepeatsAllowed": repeats}
    return f.medication_request(*code, dosages=[dosage], status="draft", rid=rid, authoredOn="2026-11-21", **extra)


def run(
    *resources: dict[str, Any],
    drafts: tuple[dict[str, Any], ...] = (),
    birth_date: str = "1975-05-01",
    settings: LocalDefaults | None = None,
    mme: MmeReport | None = None,
) -> SafetyReport:
    """Evaluate the patient (a Patient is added unless given) with the draft orders, on 2026-11-21."""
    has_patient = any(r["resourceType"] == "Patient" for r in resources)
    all_resources = list(resources) if has_patient else [f.patient(birth_date), *resources]
    record = build_record(all_resources, draft_orders=drafts)
    draft_meds = [m for m in record.medications if m.is_draft_order]
    return evaluate(record, drafts=draft_meds, on=ON, settings=settings or SETTINGS, mme=mme)


def only(report: SafetyReport, rule_id: str) -> Outcome:
    """The one fired outcome of `rule_id` (the test fails when the rule did not fire, or fired twice)."""
    found = [x for x in report.findings if x.rule_id == rule_id]
    assert len(found) == 1, f"expected one fired {rule_id}, got {[(x.rule_id, x.severity) for x in report.findings]}"
    return found[0]


def outcome(report: SafetyReport, rule_id: str) -> Outcome:
    """The outcome of `rule_id` whatever its status (the first draft's for an order rule)."""
    return report.outcome(rule_id)


def status(report: SafetyReport, rule_id: str) -> str:
    return report.outcome(rule_id).status


def rules(report: SafetyReport) -> set[str]:
    return {x.rule_id for x in report.findings}


def severities(report: SafetyReport, rule_id: str) -> set[str]:
    return {x.severity for x in report.findings if x.rule_id == rule_id}
