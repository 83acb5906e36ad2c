from __future__ import annotations

import pytest

from tests import fhir_factory as f
from tests.safety.builders import (
    CAD_ICD,
    CAD_SNOMED,
    CIRRHOSIS,
    HEPATITIS_C,
    alt,
    ast,
    condition,
    ecg,
    ketamine_order,
    only,
    outcome,
    rules,
    run,
)


@pytest.mark.parametrize("coding", [CAD_ICD, CAD_SNOMED], ids=["icd10cm", "snomed"])
def test_old_ecg_does_not_satisfy_baseline_and_is_reported(coding: tuple[str, str, str]) -> None:
    report = run(condition(coding), f.blood_pressure(126, 78, "2026-11-10T09:00:00Z"), ecg("2024-10-02T11:00:00Z"))
    pre = only(report, "PRE-ECG")
    assert pre.severity == "warning"
    assert pre.plans == ("order-ecg",)
    assert "2024-10-02" in pre.detail
    assert "ecg_lookback_days" in pre.local_defaults
    status = next(b for b in report.baseline_tests if b.test == "ECG")
    assert status.needed and status.outstanding


def test_recent_ecg_satisfies_baseline_with_its_date() -> None:
    report = run(condition(CAD_ICD), ecg("2026-10-20T11:00:00Z"))
    assert "PRE-ECG" not in rules(report)  # a check that passed is never a finding
    pre = outcome(report, "PRE-ECG")
    assert pre.status == "satisfied"
    assert "2026-10-20" in pre.summary
    assert any(e.reference.startswith("Observation/") for e in pre.evidence)
    status = next(b for b in report.baseline_tests if b.test == "ECG")
    assert status.satisfied_by and not status.outstanding


def test_cancelled_ecg_does_not_count() -> None:
    cancelled = ecg("2026-11-01T11:00:00Z")
    cancelled["status"] = "cancelled"
    assert only(run(condition(CAD_ICD), cancelled), "PRE-ECG").severity == "warning"


def test_healthy_patient_needs_no_testing_and_gets_no_finding(weight_70: dict[str, object]) -> None:
    report = run(weight_70, f.blood_pressure(118, 76, "2026-11-14T09:00:00Z"))
    assert not {"PRE-ECG", "PRE-LFT"} & rules(report)
    for rule in ("PRE-ECG", "PRE-LFT"):
        pre = outcome(report, rule)
        assert pre.status == "not-applicable"
        assert "no testing for healthy individuals" in pre.summary
    assert not any(b.needed for b in report.baseline_tests)


def test_ecg_drafted_with_the_order_satisfies_the_baseline(weight_70: dict[str, object]) -> None:
    drafted_ecg = {
        "resourceType": "ServiceRequest",
        "id": "ecg-draft",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": f.LOINC, "code": "34534-8"}]},
        "subject": {"reference": "Patient/p1"},
    }
    report = run(condition(CAD_ICD), weight_70, drafts=(ketamine_order(rate=(35, "mg/h")), drafted_ecg))
    assert "PRE-ECG" not in rules(report)
    pre = outcome(report, "PRE-ECG")
    assert pre.status == "satisfied" and pre.summary == "Baseline ECG ordered with this order"


def test_liver_disease_with_recent_alt_ast_is_satisfied_and_asks_for_post_infusion_lfts() -> None:
    report = run(condition(CIRRHOSIS), alt(68), ast(92))
    pre = only(report, "PRE-LFT")
    assert pre.severity == "info"
    assert pre.plans == ("order-lft-post",)
    assert any(e.value and e.value.startswith("68 U/L") for e in pre.evidence)


def test_chronic_hepatitis_without_lfts_recommends_baseline_and_post_lfts() -> None:
    pre = only(run(condition(HEPATITIS_C)), "PRE-LFT")
    assert pre.severity == "warning"
    assert set(pre.plans) == {"order-lft-baseline", "order-lft-post"}


def test_old_or_incomplete_lfts_do_not_satisfy_baseline() -> None:
    old = run(condition(HEPATITIS_C), alt(40, "2026-05-01T08:00:00Z"), ast(30, "2026-05-01T08:00:00Z"))
    alt_only = run(condition(HEPATITIS_C), alt(40))
    assert only(old, "PRE-LFT").severity == "warning"
    assert only(alt_only, "PRE-LFT").severity == "warning"


def test_alcohol_use_disorder_is_an_lft_trigger() -> None:
    report = run(condition((f.ICD10CM, "F10.20", "Alcohol dependence, uncomplicated")))
    assert only(report, "PRE-LFT").severity == "warning"


def test_high_rate_order_triggers_lfts_as_high_dose(weight_70: dict[str, object]) -> None:
    report = run(weight_70, drafts=(ketamine_order(rate=(105, "mg/h")),))
    pre = only(report, "PRE-LFT")
    assert "high dose" in pre.detail
    assert "high_dose_rate_mg_per_kg_h" in pre.detail


def test_normal_rate_order_in_healthy_patient_needs_no_lfts(weight_70: dict[str, object]) -> None:
    report = run(weight_70, drafts=(ketamine_order(rate=(35, "mg/h")),))
    assert "PRE-LFT" not in rules(report)
    assert outcome(report, "PRE-LFT").status == "not-applicable"


def test_rate_in_mg_per_h_without_weight_leaves_the_high_dose_question_open() -> None:
    report = run(drafts=(ketamine_order(rate=(35, "mg/h")),))
    pre = outcome(report, "PRE-LFT")
    assert pre.status == "not-evaluable"
    assert [m.need for m in pre.missing] == ["body-weight"]
