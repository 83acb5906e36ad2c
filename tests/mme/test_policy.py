"""MME.md section 4, rule by rule: dose units, doses per day, PRN and ranges, patches, tables, statuses, duplicates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from smart_app.core.mme import calculate_mme
from smart_app.core.model import Timing, TimingRepeat
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.mme.helpers import (
    BUPRENORPHINE_NALOXONE_8,
    FENTANYL_25,
    HYDROCODONE_APAP,
    METHADONE_10,
    MORPHINE_15,
    OXYCODONE_5,
    OXYCODONE_ER_10,
    code_timing,
    max_per_day,
    only_item,
    report,
    request,
    tablets,
)

ORAL = ("26643006", "Oral route")

# --- dose ------------------------------------------------------------------------------------------------------


def test_dose_in_ml_uses_mg_per_ml() -> None:
    product = (None, "morphine sulfate 2 MG/ML Oral Solution")
    mr = f.medication_request(*product, dosages=[f.dosage(dose=f.dose_quantity(5, "mL"), frequency=6)])
    assert only_item(mr).mme_per_day == pytest.approx(60)


def test_dose_in_tablets_of_a_solution_is_not_computable() -> None:
    mr = f.medication_request(
        None, "morphine sulfate 2 MG/ML Oral Solution", dosages=[f.dosage(dose=tablets(1), frequency=2)]
    )
    item = only_item(mr)
    assert item.status == "not-computable"
    assert item.reason is not None and "mg/mL" in item.reason


def test_dose_in_mcg_spelling_is_converted() -> None:
    item = only_item(request(OXYCODONE_5, f.dosage(dose=f.dose_quantity(5000, "mcg"), frequency=4)))
    assert item.mme_per_day == pytest.approx(30)


def test_unknown_dose_unit_is_named() -> None:
    item = only_item(request(OXYCODONE_5, f.dosage(dose=f.dose_quantity(1, "scoop"), frequency=4)))
    assert item.status == "not-computable"
    assert item.reason is not None and "scoop" in item.reason


def test_dose_only_in_free_text_is_not_computable() -> None:
    item = only_item(request(OXYCODONE_5, {"text": "1 tab q6h prn"}))
    assert item.status == "not-computable"
    assert item.reason is not None and "free text" in item.reason


def test_no_dosage_instruction_is_not_computable() -> None:
    item = only_item(request(OXYCODONE_5))
    assert item.status == "not-computable"
    assert item.mme_per_day is None


def test_combination_dose_in_opioid_mg_is_accepted() -> None:
    item = only_item(request(HYDROCODONE_APAP, f.dosage(dose=f.dose_quantity(10, "mg"), frequency=4)))
    assert item.mme_per_day == pytest.approx(40)


def test_combination_dose_of_two_acetaminophen_strengths_is_flagged() -> None:
    item = only_item(request(HYDROCODONE_APAP, f.dosage(dose=f.dose_quantity(650, "mg"), frequency=4)))
    assert item.status == "not-computable"


# --- doses per day ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timing", "per_day"),
    [
        ({"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}}, 4),
        ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, 2),
        ({"repeat": {"period": 12, "periodUnit": "h"}}, 2),  # FHIR: frequency absent means once per period
        ({"repeat": {"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"}}, 2),
        ({"repeat": {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}}, 6),
        ({"repeat": {"timeOfDay": ["08:00:00", "14:00:00", "20:00:00"]}}, 3),
        ({"repeat": {"when": ["MORN", "HS"]}}, 2),
        ({"repeat": {"when": ["C"]}}, 3),
        ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}, 1 / 7),
        (code_timing("BID"), 2),
        (code_timing("TID"), 3),
        (code_timing("QID"), 4),
        (code_timing("Q4H"), 6),
        (code_timing("Q6H"), 4),
        (code_timing("Q8H"), 3),
        (code_timing("QD"), 1),
        (code_timing("QOD"), 0.5),
        ({"code": {"text": "q12h"}}, 2),
    ],
)
def test_doses_per_day_from_timing(timing: dict[str, Any], per_day: float) -> None:
    item = only_item(request(OXYCODONE_5, f.dosage(dose=tablets(1), timing=timing)))
    assert item.doses_per_day == pytest.approx(per_day)
    assert item.mme_per_day == pytest.approx(5 * per_day * 1.5)


def test_frequency_range_is_marked_maximum_allowed() -> None:
    timing = {"repeat": {"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"}}
    item = only_item(request(OXYCODONE_5, f.dosage(dose=tablets(1), timing=timing)))
    assert item.maximum_allowed
    assert item.derivation is not None and "maximum allowed" in item.derivation


@pytest.mark.parametrize(
    "timing",
    [
        {"code": {"text": "as directed"}},
        {"repeat": {"frequency": 2}},
        {"repeat": {"when": ["SOMETIME"]}},
        {"event": ["2026-11-01T08:00:00Z"]},
    ],
)
def test_unusable_timing_is_not_computable_with_reason(timing: dict[str, Any]) -> None:
    item = only_item(request(OXYCODONE_5, f.dosage(dose=tablets(1), timing=timing)))
    assert item.status == "not-computable"
    assert item.reason
    assert item.mme_per_day is None


def test_prn_uses_the_maximum_frequency_and_says_so() -> None:
    item = only_item(
        request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=1, period=4, period_unit="h", as_needed=True))
    )
    assert item.mme_per_day == pytest.approx(5 * 6 * 1.5)
    assert item.maximum_allowed
    assert item.derivation is not None and "PRN" in item.derivation


def test_max_dose_per_period_caps_the_prn_maximum() -> None:
    dosage = f.dosage(
        dose=tablets(2), frequency=1, period=4, period_unit="h", as_needed=True, maxDosePerPeriod=max_per_day(6)
    )
    item = only_item(request(OXYCODONE_5, dosage))
    assert item.daily_dose == pytest.approx(30)  # 12 tablets allowed by frequency, capped at 6
    assert item.derivation is not None and "capped" in item.derivation


def test_max_dose_per_period_without_timing_gives_the_maximum() -> None:
    dosage = f.dosage(dose=tablets(1), as_needed=True, maxDosePerPeriod=max_per_day(4))
    item = only_item(request(OXYCODONE_5, dosage))
    assert item.daily_dose == pytest.approx(20)
    assert item.maximum_allowed


def test_concurrent_dosage_instructions_are_added() -> None:
    morning = f.dosage(dose=tablets(1), timing=code_timing("AM"))
    night = f.dosage(dose=tablets(2), timing=code_timing("BED"))
    item = only_item(request(MORPHINE_15, morning, night))
    assert item.daily_dose == pytest.approx(45)


# --- patches ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timing",
    [
        None,
        {"repeat": {"frequency": 1, "period": 72, "periodUnit": "h"}},
        {"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}},
    ],
)
def test_patch_mme_does_not_depend_on_change_schedule(timing: dict[str, Any] | None) -> None:
    dosage = f.dosage(dose=f.dose_quantity(1, "PATCH"), timing=timing)
    item = only_item(request(FENTANYL_25, dosage))
    assert item.daily_dose == 25 and item.daily_dose_unit == "mcg/hr"
    assert item.mme_per_day == pytest.approx(60)


def test_two_patches_worn_at_once_double_the_rate() -> None:
    item = only_item(request(FENTANYL_25, f.dosage(dose=f.dose_quantity(2, "PATCH"))))
    assert item.mme_per_day == pytest.approx(120)


def test_patch_under_anzca_uses_its_factor() -> None:
    item = only_item(request(FENTANYL_25, f.dosage(dose=f.dose_quantity(1, "PATCH"))), table="anzca-2021")
    assert item.mme_per_day == pytest.approx(75)


# --- tables ----------------------------------------------------------------------------------------------------


def test_buprenorphine_is_excluded_under_cdc_and_said_so() -> None:
    rep = report(request(BUPRENORPHINE_NALOXONE_8, f.dosage(dose=tablets(1), frequency=2)))
    (item,) = rep.items
    assert item.status == "excluded"
    assert item.reason is not None and "buprenorphine" in item.reason
    assert rep.total_mme_per_day is None
    assert any("Buprenorphine" in c for c in rep.cautions)


def test_buprenorphine_is_counted_under_anzca() -> None:
    item = only_item(request(BUPRENORPHINE_NALOXONE_8, f.dosage(dose=tablets(1), frequency=2)), table="anzca-2021")
    assert item.status == "counted"
    assert item.mme_per_day == pytest.approx(16 * 40)


def test_methadone_is_not_convertible_under_anzca() -> None:
    item = only_item(request(METHADONE_10, f.dosage(dose=tablets(1), frequency=2)), table="anzca-2021")
    assert item.status == "not-computable"
    assert item.reason is not None and "not convertible" in item.reason


def test_hydromorphone_factor_differs_between_cdc_tables() -> None:
    mr = f.medication_request(
        None, "hydromorphone hydrochloride 2 MG Oral Tablet", dosages=[f.dosage(dose=tablets(1), frequency=4)]
    )
    assert only_item(mr).mme_per_day == pytest.approx(40)
    assert only_item(mr, table="cdc-2016").mme_per_day == pytest.approx(32)


def test_tramadol_has_no_cdc_2016_factor() -> None:
    mr = f.medication_request(
        "835603", "tramadol hydrochloride 50 MG Oral Tablet", dosages=[f.dosage(dose=tablets(1), frequency=4)]
    )
    item = only_item(mr, table="cdc-2016")
    assert item.status == "not-computable"
    assert item.reason == "no CDC 2016 factor for tramadol"


def test_drug_without_factor_is_left_out_visibly() -> None:
    mr = f.medication_request(
        None, "meperidine hydrochloride 50 MG Oral Tablet", dosages=[f.dosage(dose=tablets(1), frequency=4)]
    )
    rep = report(mr, request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4)))
    meperidine = next(i for i in rep.items if i.ingredient == "meperidine")
    assert meperidine.status == "not-computable" and meperidine.reason == "no CDC 2022 factor for meperidine"
    assert rep.total_mme_per_day == pytest.approx(30)
    assert len(rep.left_out) == 1


def test_non_oral_route_without_cdc_factor_is_not_computable() -> None:
    mr = f.medication_request(
        "668364", "fentanyl 0.2 MG Buccal Tablet", dosages=[f.dosage(dose=tablets(1), frequency=4)]
    )
    item = only_item(mr)
    assert item.status == "not-computable"
    assert item.reason is not None and "buccal" in item.reason


def test_parenteral_morphine_under_anzca() -> None:
    dosage = f.dosage(
        dose=f.dose_quantity(5, "mg"), frequency=1, period=4, period_unit="h", route=("34206005", "Subcutaneous")
    )
    mr = f.medication_request(None, "morphine sulfate 10 MG/ML Injectable Solution", dosages=[dosage])
    assert only_item(mr, table="anzca-2021").mme_per_day == pytest.approx(30 * 3)
    assert only_item(mr).status == "not-computable"


def test_route_unknown_is_not_guessed() -> None:
    mr = f.medication_request(None, "oxycodone 5 mg", dosages=[f.dosage(dose=f.dose_quantity(5, "mg"), frequency=4)])
    item = only_item(mr)
    assert item.status == "not-computable"
    assert item.reason is not None and "route unknown" in item.reason


def test_dosage_route_overrides_the_dose_form() -> None:
    mr = f.medication_request(
        None,
        "morphine sulfate 10 MG/ML Injectable Solution",
        dosages=[f.dosage(dose=f.dose_quantity(1, "mL"), frequency=4, route=("26643006", "Oral route"))],
    )
    item = only_item(mr)
    assert item.route == "oral" and item.mme_per_day == pytest.approx(40)


# --- which medications count -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "stopped", "cancelled", "entered-in-error", "on-hold", "draft"])
def test_inactive_requests_are_not_listed(status: str) -> None:
    assert report(request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4), status=status)).items == ()


@pytest.mark.parametrize("intent", ["proposal", "option"])
def test_proposals_outside_the_hook_are_not_listed(intent: str) -> None:
    assert report(request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4), intent=intent)).items == ()


def test_unknown_status_is_listed_not_computable() -> None:
    item = only_item(request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4), status="unknown"))
    assert item.status == "not-computable"
    assert item.reason is not None and "status unknown" in item.reason


def test_intended_statement_is_excluded_with_reason() -> None:
    ms = f.medication_statement(*OXYCODONE_5, dosages=[f.dosage(dose=tablets(1), frequency=4)], status="intended")
    item = only_item(ms)
    assert item.status == "excluded" and item.reason is not None and "not yet" in item.reason


def test_stopped_statement_is_not_listed() -> None:
    ms = f.medication_statement(*OXYCODONE_5, dosages=[f.dosage(dose=tablets(1), frequency=4)], status="stopped")
    assert report(ms).items == ()


def test_statement_that_ended_before_the_date_is_not_listed() -> None:
    ms = f.medication_statement(
        *OXYCODONE_5,
        dosages=[f.dosage(dose=tablets(1), frequency=4)],
        effectivePeriod={"start": "2026-01-01", "end": "2026-02-01"},
    )
    meds = build_record([ms]).medications
    assert calculate_mme(meds, on=datetime(2026, 11, 21, tzinfo=UTC)).items == ()
    assert len(calculate_mme(meds, on=datetime(2026, 1, 15)).items) == 1


def test_draft_order_counts_and_is_labelled() -> None:
    draft = request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4), status="draft", intent="proposal")
    rep = report(request(MORPHINE_15, f.dosage(dose=tablets(1), frequency=2)), drafts=(draft,))
    drafted = next(i for i in rep.items if i.ingredient == "oxycodone")
    assert drafted.status == "counted" and drafted.source == "MedicationRequest (draft order)"
    assert rep.total_mme_per_day == pytest.approx(30 + 30)


def test_setting_comes_from_the_request_category() -> None:
    category = [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "inpatient"}
            ]
        }
    ]
    item = only_item(request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4), category=category))
    assert item.setting == "inpatient"


def test_statement_and_request_for_the_same_product_count_once() -> None:
    dosage = f.dosage(dose=tablets(1), frequency=2)
    mr = request(OXYCODONE_ER_10, dosage, rid="rx-1")
    ms = f.medication_statement(*OXYCODONE_ER_10, dosages=[dosage], rid="home-1")
    rep = report(ms, mr)
    assert rep.total_mme_per_day == pytest.approx(30)
    statement = next(i for i in rep.items if i.id == "MedicationStatement/home-1")
    assert statement.status == "duplicate"
    assert statement.reason is not None and "MedicationRequest/rx-1" in statement.reason
    assert statement not in rep.left_out


def test_same_ingredient_and_strength_by_name_is_a_duplicate() -> None:
    dosage = f.dosage(dose=tablets(1), frequency=4)
    mr = request(OXYCODONE_5, dosage)
    ms = f.medication_statement(None, "Oxycodone HCl 5 mg oral tablet", dosages=[dosage])
    rep = report(mr, ms)
    assert [i.status for i in rep.items if i.id.startswith("MedicationStatement")] == ["duplicate"]


def test_different_strengths_are_not_duplicates() -> None:
    mr = request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4))
    ms = f.medication_statement(*OXYCODONE_ER_10, dosages=[f.dosage(dose=tablets(1), frequency=2)])
    rep = report(mr, ms)
    assert rep.total_mme_per_day == pytest.approx(30 + 30)


def test_cautions_shown_when_opioids_are_listed() -> None:
    rep = report(request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4)))
    assert any("convert a patient from one opioid to another" in c for c in rep.cautions)
    assert any("opioid use disorder" in c for c in rep.cautions)
    assert rep.table_label == "CDC 2022" and rep.document == "CDC-2022"


def test_extended_and_immediate_release_of_same_strength_are_not_duplicates() -> None:
    mr = request(
        ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet"),
        f.dosage(dose=tablets(1), frequency=2),
    )
    ms = f.medication_statement(
        None, "oxycodone hydrochloride 10 MG Oral Tablet", dosages=[f.dosage(dose=tablets(1), frequency=4)]
    )
    rep = report(mr, ms)
    assert [i.status for i in rep.items] == ["counted", "counted"]
    assert rep.total_mme_per_day == pytest.approx(30 + 60)


def test_patch_dose_recorded_as_a_rate_in_mcg_per_hour() -> None:
    dose = {"value": 25, "unit": "mcg/h", "system": f.UCUM, "code": "ug/h"}
    item = only_item(request(FENTANYL_25, f.dosage(dose=dose)))
    assert item.mme_per_day == pytest.approx(60)


def test_medication_administrations_are_not_current_use() -> None:
    admin = {
        "resourceType": "MedicationAdministration",
        "id": "adm-1",
        "status": "completed",
        "medicationCodeableConcept": f.rxnorm(*OXYCODONE_5),
        "subject": f.PATIENT_REF,
        "effectiveDateTime": "2026-11-01T08:00:00Z",
        "dosage": {"dose": f.dose_quantity(5, "mg")},
    }
    assert report(admin).items == ()


def test_ucum_unity_counts_dose_units() -> None:
    dose = {"value": 2, "system": f.UCUM, "code": "1"}
    item = only_item(request(OXYCODONE_5, f.dosage(dose=dose, frequency=2)))
    assert item.mme_per_day == pytest.approx(30)


def test_zero_dose_is_flagged_never_a_silent_zero() -> None:
    item = only_item(request(OXYCODONE_5, f.dosage(dose=tablets(0), frequency=4)))
    assert item.status == "not-computable"
    assert item.mme_per_day is None


def test_zero_frequency_is_flagged_never_a_silent_zero() -> None:
    # FHIR validation rejects frequency 0; records built by other adapters are checked too.
    (med,) = build_record([request(OXYCODONE_5, f.dosage(dose=tablets(1), frequency=4))]).medications
    zero = Timing(repeat=TimingRepeat(frequency=0, period=1, period_unit="d"))
    med = replace(med, dosages=(replace(med.dosages[0], timing=zero),))
    (item,) = calculate_mme([med]).items
    assert item.status == "not-computable"
    assert item.mme_per_day is None
