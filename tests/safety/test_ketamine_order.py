from __future__ import annotations

from typing import Any

import pytest

from smart_app.core.model import MedicationUse
from smart_app.core.safety import is_esketamine, is_ketamine, read_order
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.builders import ketamine_order


def med(resource: dict[str, Any]) -> MedicationUse:
    record = build_record([], draft_orders=[resource])
    assert not record.problems, record.problems
    return record.medications[0]


def test_ketamine_scd_is_ketamine_not_esketamine() -> None:
    m = med(ketamine_order())
    assert is_ketamine(m) and not is_esketamine(m)


def test_esketamine_product_is_recognised_as_esketamine() -> None:
    m = med(ketamine_order(code=("2119381", "esketamine 140 MG/ML Nasal Spray")))
    assert is_ketamine(m) and is_esketamine(m)
    assert read_order(m).drug == "esketamine"


def test_uncoded_order_is_recognised_by_name() -> None:
    m = med(f.medication_request(None, "Ketamine 500 mg in 500 mL sodium chloride 0.9%", status="draft"))
    assert is_ketamine(m) and not is_esketamine(m)


def test_other_drug_is_not_ketamine() -> None:
    assert not is_ketamine(med(f.medication_request("311700", "midazolam 1 MG/ML Injectable Solution")))


def test_contained_medication_with_ingredient_code_is_ketamine() -> None:
    resource = f.medication_request(
        None,
        "infusion",
        status="draft",
        medicationReference={"reference": "#ket"},
        contained=[
            {
                "resourceType": "Medication",
                "id": "ket",
                "code": {"text": "Ketamine infusion 1 mg/mL"},
                "ingredient": [
                    {
                        "itemCodeableConcept": f.rxnorm("6130", "ketamine"),
                        "strength": {
                            "numerator": {"value": 1, "unit": "mg", "system": f.UCUM, "code": "mg"},
                            "denominator": {"value": 1, "unit": "mL", "system": f.UCUM, "code": "mL"},
                        },
                    }
                ],
            }
        ],
        dosageInstruction=[{"doseAndRate": [{"rateQuantity": {"value": 20, "unit": "mL/h", "code": "mL/h"}}]}],
    )
    m = med(resource)
    assert is_ketamine(m)
    order = read_order(m)
    assert order.mg_per_ml == 1
    assert order.rate is not None and order.rate.mg(None) == pytest.approx(20)


@pytest.mark.parametrize(
    ("rate", "expected_mg_per_kg_h"),
    [
        ((35, "mg/h"), 0.5),
        ((0.5, "mg/kg/h"), 0.5),
        ((0.5, "mg/(kg.h)"), 0.5),
        ((7, "ug/kg/min"), 0.42),
    ],
)
def test_rate_units_are_converted(rate: tuple[float, str], expected_mg_per_kg_h: float) -> None:
    order = read_order(med(ketamine_order(rate=rate)))
    assert order.rate is not None
    assert order.rate.mg_per_kg(70) == pytest.approx(expected_mg_per_kg_h)


def test_rate_ratio_per_minutes_is_converted() -> None:
    resource = ketamine_order(rate=None)
    resource["dosageInstruction"][0]["doseAndRate"] = [
        {
            "rateRatio": {
                "numerator": {"value": 20, "unit": "mg", "system": f.UCUM, "code": "mg"},
                "denominator": {"value": 30, "unit": "min", "system": f.UCUM, "code": "min"},
            }
        }
    ]
    order = read_order(med(resource))
    assert order.rate is not None and order.rate.mg(None) == pytest.approx(40)


def test_dose_over_a_duration_is_an_infusion_with_total() -> None:
    order = read_order(med(ketamine_order(rate=None, dose=(100, "mg"), hours=4)))
    assert order.bolus is None
    assert order.rate is not None and order.rate.mg(None) == pytest.approx(25)
    assert order.total_mg(None) == pytest.approx(100)


def test_dose_without_duration_is_a_bolus() -> None:
    order = read_order(med(ketamine_order(rate=None, dose=(20, "mg"), hours=None)))
    assert order.rate is None and order.bolus is not None and order.bolus.mg(None) == 20


def test_route_setting_and_repeats_are_read() -> None:
    order = read_order(med(ketamine_order(route="Epidural", category="outpatient", repeats=3)))
    assert (order.route, order.setting, order.repeats, order.is_serial) == ("epidural", "outpatient", 3, True)


def test_unreadable_units_are_reported_not_guessed() -> None:
    order = read_order(med(ketamine_order(rate=(5, "drops/min"))))
    assert order.rate is None
    assert any("drops/min" in p.reason for p in order.problems)


def test_ketamine_product_with_an_unlisted_rxnorm_code_is_recognised_by_name() -> None:
    m = med(f.medication_request("9999999", "ketamine hydrochloride 1 MG/ML in sodium chloride 100 ML bag"))
    assert is_ketamine(m) and not is_esketamine(m)
