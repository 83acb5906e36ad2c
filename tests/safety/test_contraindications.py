from __future__ import annotations

from typing import Any

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.assessment import assess
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.builders import (
    CIRRHOSIS,
    GLAUCOMA_SNOMED,
    ON,
    SCHIZOPHRENIA_ICD,
    alt,
    ast,
    condition,
    ketamine_order,
    only,
    rules,
    run,
    severities,
)


# --- CI-HEP -------------------------------------------------------------------------------------------------------
def test_cirrhosis_is_critical_citing_anzca_and_asra() -> None:
    hep = only(run(condition(CIRRHOSIS)), "CI-HEP")
    assert hep.severity == "critical"
    assert {c.document for c in hep.citations} >= {"ANZCA-PS", "ASRA"}


def test_resolved_cirrhosis_entry_does_not_fire() -> None:
    assert "CI-HEP" not in rules(run(condition(CIRRHOSIS, clinical_status="resolved")))


def test_transaminases_above_three_times_upper_limit_are_a_caution() -> None:
    hep = only(run(alt(200, high=56), ast(35)), "CI-HEP")
    assert hep.severity == "warning"
    assert "lft_transaminase_uln_multiple" in hep.local_defaults


def test_transaminases_below_three_times_upper_limit_do_not_fire() -> None:
    assert "CI-HEP" not in rules(run(alt(150, high=56), ast(35)))


def test_without_reference_range_the_local_default_upper_limit_is_used() -> None:
    hep = only(run(alt(130, high=None), ast(20)), "CI-HEP")
    assert any("local default" in (e.value or "") for e in hep.evidence)


# --- CI-ICP-IOP ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "coding",
    [
        GLAUCOMA_SNOMED,
        (f.ICD10CM, "H40.1110", "Primary open-angle glaucoma, right eye, stage unspecified"),
        (f.SNOMED, "4210003", "Ocular hypertension"),
        (f.ICD10CM, "S06.2X1A", "Diffuse traumatic brain injury with LOC of 30 minutes or less, initial encounter"),
        (f.ICD10CM, "C71.9", "Malignant neoplasm of brain, unspecified"),
    ],
)
def test_raised_icp_or_iop_conditions_are_critical(coding: tuple[str, str, str]) -> None:
    finding = only(run(condition(coding, onsetDateTime="2026-10-20")), "CI-ICP-IOP")  # a recent injury counts
    assert finding.severity == "critical"
    assert "weak relative" in finding.detail  # ASRA's weaker wording is shown beside ANZCA's


def test_glaucoma_in_remission_does_not_fire() -> None:
    assert "CI-ICP-IOP" not in rules(run(condition(GLAUCOMA_SNOMED, clinical_status="remission")))


# --- CI-PSY / CI-DEL ----------------------------------------------------------------------------------------------
def test_schizophrenia_needs_clinician_judgement_of_control() -> None:
    psy = only(run(condition(SCHIZOPHRENIA_ICD)), "CI-PSY")
    assert psy.severity == "critical"
    assert "should not be used" in (psy.wording or "") and "avoid" in (psy.wording or "")
    assert "clinician must judge" in psy.detail


def test_refuted_psychosis_does_not_fire() -> None:
    assert "CI-PSY" not in rules(run(condition(SCHIZOPHRENIA_ICD, verification_status="refuted")))


def test_delirium_is_a_warning() -> None:
    assert only(run(condition((f.SNOMED, "2776000", "Delirium"))), "CI-DEL").severity == "warning"


# --- CI-ENDO ------------------------------------------------------------------------------------------------------
def test_thyrotoxicosis_is_a_warning() -> None:
    report = run(condition((f.ICD10CM, "E05.90", "Thyrotoxicosis, unspecified")))
    assert only(report, "CI-ENDO").severity == "warning"


# --- CI-PREG ------------------------------------------------------------------------------------------------------
def hcg(value: str, effective: str = "2026-11-15T08:00:00Z") -> dict[str, Any]:
    return f.observation(
        "2106-3", "Choriogonadotropin (pregnancy test) [Presence] in Urine", effective=effective, valueString=value
    )


def test_pregnancy_condition_is_a_warning() -> None:
    pregnancy = condition((f.SNOMED, "77386006", "Pregnancy"), onsetDateTime="2026-09-01")
    assert only(run(pregnancy), "CI-PREG").severity == "warning"


def test_recent_positive_hcg_fires_but_negative_or_old_does_not() -> None:
    assert "CI-PREG" in rules(run(hcg("Positive")))
    assert "CI-PREG" not in rules(run(hcg("Negative")))
    assert "CI-PREG" not in rules(run(hcg("Positive", "2026-08-01T08:00:00Z")))


# --- CI-SUD -------------------------------------------------------------------------------------------------------
ALCOHOL = (f.SNOMED, "66590003", "Alcohol dependence")


def test_substance_use_disorder_is_critical_for_serial_infusions_only(weight_70: dict[str, Any]) -> None:
    single = run(condition(ALCOHOL), weight_70, drafts=(ketamine_order(),))
    serial = run(condition(ALCOHOL), weight_70, drafts=(ketamine_order(repeats=4),))
    assert severities(single, "CI-SUD") == {"warning"}
    assert severities(serial, "CI-SUD") == {"critical"}


def test_ketamine_use_disorder_is_critical() -> None:
    report = run(condition((f.SNOMED, "724715004", "Dependence caused by ketamine")))
    assert severities(report, "CI-SUD") == {"critical"}


def test_opioid_use_disorder_alone_is_not_a_contraindication() -> None:
    report = run(condition((f.ICD10CM, "F11.20", "Opioid dependence, uncomplicated")))
    assert "CI-SUD" not in rules(report)
    sud = report.outcome("CI-SUD")
    assert sud.status == "not-applicable"
    assert "ANZCA PS12 2.2.2" in sud.summary
    assert any(c.document == "ANZCA-PS" and c.section == "2.2.2" for c in sud.citations)
    assert any(e.reference.startswith("Condition/") for e in sud.evidence)


# --- CI-RESCUE ----------------------------------------------------------------------------------------------------
def test_hiv_myasthenia_antiretroviral_and_benzodiazepine_allergy_limit_rescue() -> None:
    for resource in (
        condition((f.SNOMED, "86406008", "Human immunodeficiency virus infection")),
        condition((f.ICD10CM, "G70.00", "Myasthenia gravis without (acute) exacerbation")),
        f.medication_statement("195085", "efavirenz"),
        f.allergy_intolerance("6960", "midazolam"),
    ):
        assert only(run(resource), "CI-RESCUE").severity == "warning", resource["resourceType"]


def test_stopped_antiretroviral_and_resolved_allergy_do_not_fire() -> None:
    stopped = f.medication_statement("195085", "efavirenz", status="stopped")
    resolved = f.allergy_intolerance("6960", "midazolam", clinical_status="resolved")
    assert "CI-RESCUE" not in rules(run(stopped, resolved))


# --- CI-CONSENT / CI-ASP ------------------------------------------------------------------------------------------
def test_no_consent_on_record_is_a_checklist_item_not_a_finding() -> None:
    report = run()
    assert "CI-CONSENT" not in rules(report)
    consent = report.outcome("CI-CONSENT")
    assert consent.status == "not-evaluable"
    assert [m.need for m in consent.missing] == ["consent-record"]
    assert "written consent" in consent.summary


def test_active_consent_is_accepted_with_a_request_to_confirm_its_content() -> None:
    consent = run(f.consent()).outcome("CI-CONSENT")
    assert consent.status == "satisfied"
    assert "confirm" in consent.summary
    assert consent.evidence[0].reference.startswith("Consent/")


def test_inactive_consent_does_not_count_and_refusal_is_critical() -> None:
    assert run(f.consent(status="inactive")).outcome("CI-CONSENT").status == "not-evaluable"
    assert only(run(f.consent(provision="deny")), "CI-CONSENT").severity == "critical"


def test_aspiration_is_a_checklist_reminder_never_a_finding() -> None:
    report = run()
    assert "CI-ASP" not in rules(report)
    asp = report.outcome("CI-ASP")
    assert asp.status == "not-evaluable" and asp.missing[0].need == "fasting-status"
    assert any(c.document == "ASRA" and "993" in (c.lines or "") for c in asp.citations)


def test_single_order_after_an_earlier_course_counts_as_serial(weight_70: dict[str, Any]) -> None:
    earlier = f.medication_administration("238082", "ketamine 10 MG/ML Injectable Solution", effective="2026-09-01")
    report = run(condition(ALCOHOL), weight_70, earlier, drafts=(ketamine_order(),))
    assert severities(report, "CI-SUD") == {"critical"}


def test_very_long_problem_names_are_clipped_to_a_one_line_summary() -> None:
    long_name = "Schizophrenia " + "with an unusually verbose local description " * 5
    report = run(f.condition(f.ICD10CM, "F20.9", long_name))
    assert len(only(report, "CI-PSY").summary) < 140


def test_unreadable_resources_are_reported_as_not_checked() -> None:
    broken = f.weight(70)
    broken["valueQuantity"]["value"] = "seventy"
    record = build_record([f.patient("1975-05-01"), broken])
    assessment = assess(record, on=ON, settings=LocalDefaults())
    assert [p.reference for p in assessment.input_problems] == [f"Observation/{broken['id']}"]
