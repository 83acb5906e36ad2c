"""Identifying the opioid and its strength: RxNorm product table, Medication.ingredient, normalized names."""

from __future__ import annotations

import pytest

from smart_app.core.mme import opioid_ingredient
from smart_app.core.mme.products import parse_name, products_from_rows
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.mme.helpers import only_item, report, tablets


@pytest.mark.parametrize(
    ("name", "ingredient", "amount", "per", "form"),
    [
        ("oxycodone hydrochloride 5 MG Oral Tablet", "oxycodone", 5, "unit", "Oral Tablet"),
        (
            "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet",
            "oxycodone",
            10,
            "unit",
            "Extended Release Oral Tablet",
        ),
        ("acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet", "hydrocodone", 5, "unit", "Oral Tablet"),
        ("72 HR fentanyl 0.025 MG/HR Transdermal System", "fentanyl", 25, "hr", "Transdermal System"),
        ("morphine sulfate 2 MG/ML Oral Solution", "morphine", 2, "mL", "Oral Solution"),
        ("buprenorphine 8 MG / naloxone 2 MG Sublingual Tablet", "buprenorphine", 8, "unit", "Sublingual Tablet"),
        (
            "hydrocodone bitartrate 5 MG / acetaminophen 325 MG Oral Tablet [Norco]",
            "hydrocodone",
            5,
            "unit",
            "Oral Tablet",
        ),
        ("Oxycodone HCl 5 mg oral tablet", "oxycodone", 5, "unit", "oral tablet"),
        (
            "dihydrocodeine bitartrate 16 MG / acetaminophen 325 MG Oral Capsule",
            "dihydrocodeine",
            16,
            "unit",
            "Oral Capsule",
        ),
    ],
)
def test_normalized_names_are_parsed(name: str, ingredient: str, amount: float, per: str, form: str) -> None:
    product = parse_name(name)
    assert product is not None
    assert product.ingredient == ingredient
    assert product.strength is not None
    assert product.strength.amount == pytest.approx(amount)
    assert product.strength.per == per
    assert product.dose_form == form


def test_combination_keeps_the_other_ingredient_strength() -> None:
    product = parse_name("acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet")
    assert product is not None
    (other,) = product.other_ingredients
    assert other.name == "acetaminophen"
    assert other.strength is not None and other.strength.amount == 325


@pytest.mark.parametrize("name", ["naloxone 4 MG/ACTUAT Nasal Spray", "acetaminophen 500 MG Oral Tablet", "", None])
def test_non_opioids_are_not_parsed_as_opioids(name: str | None) -> None:
    assert parse_name(name) is None


def test_loader_reads_product_table_columns() -> None:
    rows = [
        {
            "rxcui": "999001",
            "name": "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet",
            "tty": "SCD",
            "opioid_ingredient": "codeine",
            "opioid_ingredient_rxcui": "2670",
            "strength_value": "30",
            "strength_unit": "MG",
            "dose_form": "Oral Tablet",
            "other_ingredients": "acetaminophen 300 MG",
            "source": "test",
        },
        {
            "rxcui": "999002",
            "name": "72 HR fentanyl 0.05 MG/HR Transdermal System",
            "tty": "SCD",
            "opioid_ingredient": "fentanyl",
            "opioid_ingredient_rxcui": "4337",
            "strength_value": "0.05",
            "strength_unit": "MG/HR",
            "dose_form": "Transdermal System",
            "other_ingredients": "",
            "source": "test",
        },
    ]
    table = products_from_rows(rows)
    codeine = table["999001"]
    assert codeine.ingredient == "codeine"
    assert codeine.strength is not None and codeine.strength.amount == 30
    assert codeine.other_ingredients[0].strength is not None
    assert codeine.other_ingredients[0].strength.amount == 300
    patch = table["999002"]
    assert patch.strength is not None and (patch.strength.amount, patch.strength.per) == (50, "hr")


def test_rxnorm_product_code_alone_gives_strength() -> None:
    mr = f.medication_request("1049502", "", dosages=[f.dosage(dose=tablets(1), frequency=2)])
    mr["medicationCodeableConcept"] = {"coding": [{"system": f.RXNORM, "code": "1049502"}]}  # no display, no text
    item = only_item(mr)
    assert item.product == "RxNorm product 1049502"
    assert item.mme_per_day == pytest.approx(30)


def test_ingredient_level_code_without_strength_is_not_computable() -> None:
    dosage = f.dosage(dose=tablets(1), frequency=2, route=("26643006", "Oral route"))
    item = only_item(f.medication_request("7804", "oxycodone", dosages=[dosage]))
    assert item.ingredient == "oxycodone"
    assert item.product == "RxNorm ingredient code"
    assert item.status == "not-computable"
    assert item.reason is not None and "strength unknown" in item.reason


def test_ingredient_level_code_with_dose_in_mg_is_computable() -> None:
    dosage = f.dosage(dose=f.dose_quantity(10, "mg"), frequency=2, route=("26643006", "Oral route"))
    item = only_item(f.medication_request("7804", "oxycodone", dosages=[dosage]))
    assert item.mme_per_day == pytest.approx(30)


def test_contained_medication_ingredient_strength_is_used() -> None:
    mr = f.medication_request(
        None,
        "",
        medicationReference={"reference": "#m1"},
        contained=[
            {
                "resourceType": "Medication",
                "id": "m1",
                "code": {"text": "Oxycodone immediate release"},
                "form": {"text": "Oral Tablet"},
                "ingredient": [
                    {
                        "itemCodeableConcept": f.rxnorm("7804", "oxycodone"),
                        "strength": {
                            "numerator": {"value": 5, "unit": "mg", "system": f.UCUM, "code": "mg"},
                            "denominator": {"value": 1, "unit": "TAB"},
                        },
                    }
                ],
            }
        ],
        dosageInstruction=[f.dosage(dose=tablets(2), frequency=3)],
    )
    item = only_item(mr)
    assert item.product == "Medication.ingredient"
    assert item.mme_per_day == pytest.approx(5 * 2 * 3 * 1.5)


def test_name_only_medication_is_read_from_its_text() -> None:
    mr = f.medication_request(
        None, "morphine sulfate 15 MG Oral Tablet", dosages=[f.dosage(dose=tablets(1), frequency=3)]
    )
    item = only_item(mr)
    assert item.product == "read from the medication name"
    assert item.mme_per_day == pytest.approx(45)


def test_opioid_ingredient_for_safety_rules() -> None:
    record = build_record(
        [
            f.medication_request("351267", "buprenorphine 8 MG / naloxone 2 MG Sublingual Tablet"),
            f.medication_request(None, "naloxone 4 MG/ACTUAT Nasal Spray"),
            f.medication_request("7804", "oxycodone"),
            f.medication_request(None, "gabapentin 300 MG Oral Capsule"),
        ]
    )
    assert [opioid_ingredient(m) for m in record.medications] == ["buprenorphine", None, "oxycodone", None]


def test_non_opioids_are_not_items() -> None:
    rep = report(f.medication_request(None, "gabapentin 300 MG Oral Capsule", dosages=[f.dosage(frequency=3)]))
    assert rep.items == ()
    assert rep.total_mme_per_day is None
    assert rep.cautions == ()
