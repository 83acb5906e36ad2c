from __future__ import annotations

from typing import Any

from smart_app.core.mme.report import MmeItem, MmeReport
from tests import fhir_factory as f
from tests.safety.builders import KETAMINE_10, ketamine_order, only, rules, run


def infusions(*dates: str, status: str = "completed") -> list[dict[str, Any]]:
    return [f.medication_administration(*KETAMINE_10, effective=f"{d}T09:00:00Z", status=status) for d in dates]


MONTHLY_2026 = [f"2026-{m:02d}-05" for m in range(1, 12)]  # 11 treatments this year


def test_more_than_six_treatments_in_a_year_warns() -> None:
    report = run(*infusions(*MONTHLY_2026[:6]), drafts=(ketamine_order(),))
    freq = only(report, "FREQ")
    assert freq.severity == "warning"
    assert freq.summary.startswith("7 ketamine treatments")


def test_more_than_twelve_treatments_is_the_strong_warning() -> None:
    dates = [*MONTHLY_2026, "2026-11-12", "2026-11-19"]
    assert only(run(*infusions(*dates), drafts=(ketamine_order(),)), "FREQ").severity == "critical"


def test_old_cancelled_same_day_and_draft_entries_are_not_counted() -> None:
    resources = [
        *infusions(*MONTHLY_2026[:3]),
        *infusions("2026-01-05"),  # same day as one already counted
        *infusions("2025-06-01", "2025-07-01", "2025-08-01"),  # older than 365 days
        *infusions("2026-10-01", "2026-10-02", status="entered-in-error"),
    ]
    report = run(*resources, drafts=(ketamine_order(),))
    assert "FREQ" not in rules(report)
    freq = report.outcome("FREQ")
    assert freq.status == "satisfied"
    assert freq.summary.startswith("3 treatment days")
    assert len({e.date.date() for e in freq.evidence if e.date}) == 3


def test_first_ever_order_has_no_frequency_finding() -> None:
    report = run(drafts=(ketamine_order(),))
    assert "FREQ" not in rules(report)
    assert report.outcome("FREQ").status == "not-applicable"


def test_a_draft_allowing_repeats_counts_each_session_toward_the_limit() -> None:
    report = run(*infusions(*MONTHLY_2026[:3]), drafts=(ketamine_order(repeats=4),))
    freq = only(report, "FREQ")  # 3 past + 5 sessions ordered = 8 > 6
    assert freq.severity == "warning"
    assert freq.summary.startswith("8 ketamine treatments")


def test_two_opioid_species_need_conversion_to_one_before_ketamine() -> None:
    oxycodone = f.medication_statement("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
    morphine = f.medication_statement("891874", "morphine sulfate 15 MG Extended Release Oral Tablet")
    report = run(oxycodone, morphine, drafts=(ketamine_order(),))
    assert only(report, "OPI-1SPECIES").severity == "warning"
    assert report.outcome("OPI-PLAN").status == "not-evaluable"  # a checklist reminder, not a finding
    one = run(oxycodone, drafts=(ketamine_order(),))
    assert "OPI-1SPECIES" not in rules(one)
    assert one.outcome("OPI-1SPECIES").status == "satisfied"


def test_opioid_species_come_from_the_callers_mme_report() -> None:
    mme = MmeReport(
        table="cdc-2022",
        table_citation="CDC 2022",
        items=(
            MmeItem(
                "MedicationStatement/a",
                "MedicationStatement",
                "oxycodone 5 mg",
                "counted",
                ingredient="oxycodone",
                route="oral",
                mme_per_day=30,
            ),
            MmeItem(
                "MedicationStatement/b",
                "MedicationStatement",
                "fentanyl 25 mcg/h",
                "counted",
                ingredient="fentanyl",
                route="transdermal",
                mme_per_day=60,
            ),
        ),
        total_mme_per_day=90,
    )
    finding = only(run(mme=mme), "OPI-1SPECIES")
    assert "fentanyl, oxycodone" in finding.summary
    assert "90 MME/day" in finding.detail


def test_oral_ketamine_warns_citing_anzca_and_asra() -> None:
    oral = only(run(drafts=(ketamine_order(rate=None, dose=(35, "mg"), hours=None, route="Oral"),)), "ORAL")
    assert oral.severity == "warning"
    assert {c.document for c in oral.citations} == {"ANZCA-PS", "ASRA"}


def test_neuraxial_routes_are_critical_and_iv_is_not() -> None:
    for route in ("Epidural", "Intrathecal"):
        report = run(drafts=(ketamine_order(rate=None, dose=(25, "mg"), hours=None, route=route),))
        assert only(report, "ROUTE-NEURAX").severity == "critical"
    assert not {"ROUTE-NEURAX", "ORAL"} & rules(run(drafts=(ketamine_order(),)))


def test_esketamine_sessions_are_not_counted_as_ketamine_treatments() -> None:
    sessions = [
        f.medication_administration("2119381", "esketamine 140 MG/ML Nasal Spray", effective=f"{d}T09:00:00Z")
        for d in MONTHLY_2026
    ]
    assert "FREQ" not in rules(run(*sessions, drafts=(ketamine_order(),)))
