from __future__ import annotations

from typing import Any

import pytest

from tests import fhir_factory as f
from tests.safety.builders import ketamine_order, only, rules, run


@pytest.mark.parametrize(
    ("mg_per_h", "severity", "words"),
    [
        (28, "info", "below"),  # 0.4
        (70, "warning", "monitored setting"),  # exactly 1 mg/kg/h: ASRA Q6 uses >= 1
        (105, "warning", "monitored setting"),  # 1.5
        (175, "critical", "ICU only"),  # 2.5
        (560, "critical", "above the 7 mg/kg/h"),  # 8
    ],
)
def test_infusion_rate_against_asra_table_6(
    weight_70: dict[str, Any], mg_per_h: float, severity: str, words: str
) -> None:
    rate = only(run(weight_70, drafts=(ketamine_order(rate=(mg_per_h, "mg/h")),)), "DOSE-RATE")
    assert rate.severity == severity
    assert words in rate.summary


def test_rate_within_range_is_satisfied_not_a_finding(weight_70: dict[str, Any]) -> None:
    report = run(weight_70, drafts=(ketamine_order(rate=(35, "mg/h")),))  # 0.5 mg/kg/h
    assert "DOSE-RATE" not in rules(report)
    rate = report.outcome("DOSE-RATE")
    assert rate.status == "satisfied" and "within" in rate.summary
    assert rate.subject == "MedicationRequest/draft-ketamine"
    assert any("0.50 mg/kg/h" in (e.value or "") for e in rate.evidence)


def _continuous(mg_per_h: float, hours: float) -> dict[str, Any]:
    order = ketamine_order(rate=(mg_per_h, "mg/h"), hours=None)
    order["dosageInstruction"][0]["timing"] = {
        "repeat": {"boundsDuration": {"value": hours, "unit": "h", "system": f.UCUM, "code": "h"}}
    }
    return order


def test_multiday_infusion_at_a_studied_rate_is_satisfied_not_below_range(weight_70: dict[str, Any]) -> None:
    report = run(weight_70, drafts=(_continuous(28, 100),))  # 0.4 mg/kg/h for 100 h: Noppers (ASRA L1399-1402)
    assert "DOSE-RATE" not in rules(report)
    rate = report.outcome("DOSE-RATE")
    assert rate.status == "satisfied" and "studied multi-day" in rate.summary
    short = run(weight_70, drafts=(ketamine_order(rate=(28, "mg/h")),))  # the same rate for 4 h: below ASRA's range
    assert short.outcome("DOSE-RATE").severity == "info"


def test_multiday_infusion_above_every_studied_multiday_regimen_is_a_warning(weight_70: dict[str, Any]) -> None:
    rate = only(run(weight_70, drafts=(_continuous(35, 120),)), "DOSE-RATE")  # 0.5 mg/kg/h for 5 days
    assert rate.severity == "warning" and "above every studied multi-day regimen" in rate.summary
    assert "4,200 mg" in rate.detail and "1,813 mg" in rate.detail
    assert "choose-protocol" in rate.plans
    assert any(c.lines == "L1399-1402" for c in rate.citations)


def test_elderly_patient_gets_lower_monitoring_threshold(weight_70: dict[str, Any]) -> None:
    order = ketamine_order(rate=(56, "mg/h"))  # 0.8 mg/kg/h: under the adult 1 mg/kg/h, over the elderly 0.75
    elderly = only(run(weight_70, drafts=(order,), birth_date="1950-01-01"), "DOSE-RATE")
    younger = run(weight_70, drafts=(order,), birth_date="1980-01-01")
    assert elderly.severity == "warning"
    assert "elderly_rate_monitored_mg_per_kg_h" in elderly.local_defaults
    assert "DOSE-RATE" not in rules(younger)
    assert younger.outcome("DOSE-RATE").status == "satisfied"
    in_range = run(weight_70, drafts=(ketamine_order(rate=(35, "mg/h")),), birth_date="1950-01-01")
    assert "DOSE-RATE" not in rules(in_range)  # 0.5 mg/kg/h in a 76-year-old: ASRA's starting rate, no alert


def test_unknown_age_leaves_the_elderly_threshold_unchecked(weight_70: dict[str, Any]) -> None:
    unknown_age = f.patient("1975-05-01")
    del unknown_age["birthDate"]
    report = run(unknown_age, weight_70, drafts=(ketamine_order(rate=(56, "mg/h")),))
    rate = report.outcome("DOSE-RATE")
    assert rate.status == "not-evaluable"
    assert rate.missing[0].need == "birth-date"


@pytest.mark.parametrize("weight_date", [None, "2026-09-01T09:00:00Z"], ids=["no-weight", "weight-81-days-old"])
def test_without_recent_weight_the_dose_is_not_checked(weight_date: str | None) -> None:
    resources = [f.weight(70, weight_date)] if weight_date else []
    report = run(*resources, drafts=(ketamine_order(rate=(200, "mg/h")),))
    rate = only(report, "DOSE-RATE")
    assert rate.severity == "warning"
    assert "cannot be checked" in rate.summary
    assert report.weight_kg is None
    assert rate.plans == ("record-weight",)
    old_weight_shown = any("outside the look-back window" in (e.value or "") for e in rate.evidence)
    assert old_weight_shown == (weight_date is not None)


def test_per_kg_order_is_checked_without_weight() -> None:
    rate = only(run(drafts=(ketamine_order(rate=(2.5, "mg/kg/h")),)), "DOSE-RATE")
    assert rate.severity == "critical"


def test_weight_in_pounds_is_converted() -> None:
    pounds = f.weight(154, "2026-11-14T09:00:00Z")
    pounds["valueQuantity"] = {"value": 154.3, "unit": "lb", "system": f.UCUM, "code": "[lb_av]"}
    report = run(pounds, drafts=(ketamine_order(rate=(35, "mg/h")),))
    assert report.weight_kg == pytest.approx(70, abs=0.1)


def test_bolus_above_0_35_mg_per_kg_warns_and_within_range_is_satisfied(weight_70: dict[str, Any]) -> None:
    high = only(run(weight_70, drafts=(ketamine_order(rate=None, dose=(35, "mg"), hours=None),)), "DOSE-BOLUS")
    low = run(weight_70, drafts=(ketamine_order(rate=None, dose=(14, "mg"), hours=None),))
    assert high.severity == "warning" and "0.50 mg/kg" in high.summary
    assert "DOSE-BOLUS" not in rules(low)
    assert low.outcome("DOSE-BOLUS").status == "satisfied"


def test_short_small_infusion_is_below_asra_minimum(weight_70: dict[str, Any]) -> None:
    report = run(weight_70, drafts=(ketamine_order(rate=(30, "mg/h"), hours=2),))
    assert only(report, "DOSE-MIN").severity == "info"
    assert "DOSE-MIN" not in rules(run(weight_70, drafts=(ketamine_order(rate=(35, "mg/h"), hours=4),)))


def test_outpatient_infusion_shows_anzca_inpatient_advice_beside_asra(weight_70: dict[str, Any]) -> None:
    order = ketamine_order(rate=(84, "mg/h"), category="outpatient")  # 1.2 mg/kg/h: fires
    rate = only(run(weight_70, drafts=(order,)), "DOSE-RATE")
    assert any(c.document == "ANZCA-PS" and c.section == "3.2.1" for c in rate.citations)
    assert "in-patient settings" in rate.detail


def test_esketamine_is_not_checked_against_racemic_ranges(weight_70: dict[str, Any]) -> None:
    draft = ketamine_order(
        code=("2119381", "esketamine 140 MG/ML Nasal Spray"), rate=None, dose=(56, "mg"), hours=None, route="Nasal"
    )
    report = run(weight_70, drafts=(draft,))
    assert only(report, "DOSE-ESKETAMINE").severity == "warning"
    assert not {"DOSE-BOLUS", "DOSE-RATE"} & rules(report)


def test_non_ketamine_drafts_do_not_run_order_rules(weight_70: dict[str, Any]) -> None:
    midazolam = f.medication_request("311700", "midazolam 1 MG/ML Injectable Solution", status="draft")
    report = run(weight_70, drafts=(midazolam,))
    assert report.ketamine_orders == ()
    assert not {"DOSE-RATE", "DOSE-BOLUS", "ORAL", "ROUTE-NEURAX"} & rules(report)
    assert report.outcome("DOSE-RATE").status == "not-applicable"
    assert report.outcome("CI-CONSENT").status == "not-evaluable"  # patient rules still run


def test_findings_are_sorted_critical_first(weight_70: dict[str, Any]) -> None:
    report = run(weight_70, drafts=(ketamine_order(rate=(175, "mg/h")),))
    order = {"critical": 0, "warning": 1, "info": 2}
    ranks = [order[x.severity] for x in report.findings]
    assert ranks == sorted(ranks) and ranks[0] == 0
