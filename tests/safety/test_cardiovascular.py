from __future__ import annotations

from typing import Any

import pytest

from smart_app.config import LocalDefaults
from tests import fhir_factory as f
from tests.safety.builders import HYPERTENSION_ICD, HYPERTENSION_SNOMED, condition, only, rules, run


@pytest.mark.parametrize("coding", [HYPERTENSION_SNOMED, HYPERTENSION_ICD], ids=["snomed", "icd10cm"])
def test_poorly_controlled_bp_is_critical_with_anzca_and_asra(coding: tuple[str, str, str]) -> None:
    report = run(condition(coding), f.blood_pressure(172, 104, "2026-11-14T09:00:00Z"))
    cv = only(report, "CI-CV")
    assert cv.severity == "critical"
    assert {c.document for c in cv.citations} >= {"ANZCA-PS", "ASRA"}
    assert "172/104" in cv.summary
    assert "bp_systolic_poorly_controlled" in cv.local_defaults
    assert "ICU" in cv.detail  # the ASRA override pathway is explained


def test_controlled_hypertension_is_satisfied_by_its_bp_and_still_needs_ecg() -> None:
    report = run(condition(HYPERTENSION_SNOMED), f.blood_pressure(128, 82, "2026-11-14T09:00:00Z"))
    assert "CI-CV" not in rules(report)
    cv = report.outcome("CI-CV")
    assert cv.status == "satisfied"
    assert "128/82" in cv.summary
    assert any("128/82" in (e.value or "") for e in cv.evidence)
    assert only(report, "PRE-ECG").severity == "warning"


def test_hypertension_without_recent_bp_says_control_is_unknown() -> None:
    report = run(condition(HYPERTENSION_SNOMED), f.blood_pressure(175, 105, "2026-06-01T09:00:00Z"))
    cv = only(report, "CI-CV")
    assert cv.severity == "warning"
    assert "control is unknown" in cv.detail


@pytest.mark.parametrize(
    "status", [{"clinical_status": "resolved"}, {"verification_status": "refuted"}, {"clinical_status": "inactive"}]
)
def test_inactive_or_refuted_hypertension_is_not_cardiovascular_disease(status: dict[str, Any]) -> None:
    report = run(condition(HYPERTENSION_SNOMED, **status))
    assert "CI-CV" not in rules(report)
    assert "PRE-ECG" not in rules(report)


def test_standalone_systolic_reading_counts_as_blood_pressure() -> None:
    systolic = f.observation("8480-6", "Systolic blood pressure", value=166, unit="mm[Hg]", effective="2026-11-18")
    assert only(run(condition(HYPERTENSION_ICD), systolic), "CI-CV").severity == "critical"


def test_entered_in_error_bp_is_ignored_and_newest_reading_wins() -> None:
    wrong = f.blood_pressure(190, 120, "2026-11-19T09:00:00Z")
    wrong["status"] = "entered-in-error"
    older_high = f.blood_pressure(170, 100, "2026-10-01T09:00:00Z")
    newer_normal = f.blood_pressure(130, 80, "2026-11-15T09:00:00Z")
    report = run(condition(HYPERTENSION_SNOMED), wrong, older_high, newer_normal)
    assert report.outcome("CI-CV").status == "satisfied"
    assert "130/80" in report.outcome("CI-CV").summary


def test_hypertensive_crisis_condition_is_poorly_controlled_without_bp() -> None:
    report = run(condition((f.ICD10CM, "I16.1", "Hypertensive emergency")))
    assert only(report, "CI-CV").severity == "critical"


def test_unstable_angina_is_critical() -> None:
    assert only(run(condition((f.SNOMED, "4557003", "Preinfarction syndrome"))), "CI-CV").severity == "critical"


def test_bp_threshold_is_a_configurable_local_default() -> None:
    bp = f.blood_pressure(165, 90, "2026-11-14T09:00:00Z")
    default = run(condition(HYPERTENSION_SNOMED), bp)
    stricter = run(condition(HYPERTENSION_SNOMED), bp, settings=LocalDefaults(bp_systolic_poorly_controlled=170.0))
    assert only(default, "CI-CV").severity == "critical"
    assert stricter.outcome("CI-CV").status == "satisfied"
