"""MME.md section 5: each known defect of the CDC reference CQL, and the guideline's two worked examples."""

from __future__ import annotations

import pytest

from tests import fhir_factory as f
from tests.mme.helpers import (
    HYDROCODONE_APAP,
    METHADONE_10,
    OXYCODONE_ER_10,
    TAPENTADOL_50,
    TRAMADOL_50,
    dose_range,
    only_item,
    report,
    request,
    tablets,
)


def test_worked_example_hydrocodone_apap_5_325_qid_is_20_mme() -> None:
    item = only_item(request(HYDROCODONE_APAP, f.dosage(dose=tablets(1), frequency=4)))
    assert item.status == "counted"
    assert item.daily_dose == pytest.approx(20)
    assert item.mme_per_day == pytest.approx(20)
    assert item.ingredient == "hydrocodone"


def test_worked_example_oxycodone_er_10_bid_is_30_mme() -> None:
    item = only_item(request(OXYCODONE_ER_10, f.dosage(dose=tablets(1), frequency=2)))
    assert item.daily_dose == pytest.approx(20)
    assert item.mme_per_day == pytest.approx(30)
    assert item.derivation is not None and "1.5" in item.derivation and "30.0 MME/day" in item.derivation


def test_dose_range_uses_the_maximum_not_null() -> None:
    dosage = f.dosage(frequency=4, doseAndRate=[dose_range(1, 2)])
    item = only_item(request(HYDROCODONE_APAP, dosage))
    assert item.mme_per_day == pytest.approx(40)  # 2 tablets x 5 mg x 4/day
    assert item.maximum_allowed


def test_no_timing_is_not_computable_never_zero() -> None:
    rep = report(request(OXYCODONE_ER_10, f.dosage(dose=tablets(1))))
    (item,) = rep.items
    assert item.status == "not-computable"
    assert item.mme_per_day is None
    assert item.reason is not None and "timing" in item.reason
    assert rep.total_mme_per_day is None
    assert len(rep.left_out) == 1


def test_dose_in_ug_is_converted_to_mg_not_1000_times_too_much() -> None:
    item = only_item(request(OXYCODONE_ER_10, f.dosage(dose=f.dose_quantity(10000, "ug"), frequency=2)))
    assert item.mme_per_day == pytest.approx(30)


def test_hydrocodone_apap_recorded_as_325_mg_is_flagged_not_1300_mme() -> None:
    item = only_item(request(HYDROCODONE_APAP, f.dosage(dose=f.dose_quantity(325, "mg"), frequency=4)))
    assert item.status == "not-computable"
    assert item.mme_per_day is None
    assert item.reason is not None and "acetaminophen" in item.reason


def test_methadone_20_5_mg_per_day_cdc_2022_single_factor() -> None:
    item = only_item(request(METHADONE_10, f.dosage(dose=f.dose_quantity(20.5, "mg"), frequency=1)))
    assert item.factor == 4.7
    assert item.mme_per_day == pytest.approx(20.5 * 4.7)


@pytest.mark.parametrize(
    ("mg_per_day", "factor"),
    [(20.0, 4.0), (20.5, 8.0), (40.0, 8.0), (40.5, 10.0), (60.0, 10.0), (60.5, 12.0), (61.0, 12.0)],
)
def test_methadone_cdc_2016_bands_have_no_gap(mg_per_day: float, factor: float) -> None:
    dosage = f.dosage(dose=f.dose_quantity(mg_per_day, "mg"), frequency=1)
    item = only_item(request(METHADONE_10, dosage), table="cdc-2016")
    assert item.status == "counted"
    assert item.factor == factor
    assert item.mme_per_day == pytest.approx(mg_per_day * factor)


def test_tramadol_is_computed() -> None:
    item = only_item(request(TRAMADOL_50, f.dosage(dose=tablets(1), frequency=4)))
    assert item.mme_per_day == pytest.approx(200 * 0.2)


def test_tapentadol_is_computed() -> None:
    item = only_item(request(TAPENTADOL_50, f.dosage(dose=tablets(2), frequency=2)))
    assert item.mme_per_day == pytest.approx(200 * 0.4)


def test_dose_unit_tab_from_orderable_drug_form_works() -> None:
    dose = f.dose_quantity(2, "TAB")
    assert dose["system"] == "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"
    item = only_item(request(OXYCODONE_ER_10, f.dosage(dose=dose, frequency=2)))
    assert item.mme_per_day == pytest.approx(60)
