"""`smart-app check` on orders written the way EHRs write them (issue 10): codes without display, drugs by
reference in a Bundle of draft orders, tapers, drafts that cannot be identified."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from smart_app.cli import main
from tests import fhir_factory as f

HEALTHY = Path(str(resources.files("smart_app") / "samples")) / "patients" / "healthy.json"
UCUM = f.UCUM
PATIENT = {"reference": "Patient/healthy"}


def check(capsys: pytest.CaptureFixture[str], tmp_path: Path, order: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    assert main(["check", str(HEALTHY), "--order", str(path), "--date", "2026-11-21", "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def infusion(route: dict[str, Any], mg_per_h: float = 35) -> dict[str, Any]:
    return {
        "route": route,
        "timing": {"repeat": {"duration": 4, "durationUnit": "h"}},
        "doseAndRate": [{"rateQuantity": {"value": mg_per_h, "unit": "mg/h", "system": UCUM, "code": "mg/h"}}],
    }


def test_an_epidural_route_coded_in_snomed_without_display_gets_the_neuraxial_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    order = f.medication_request(
        "238082",
        "ketamine 10 MG/ML Injectable Solution",
        dosages=[infusion({"coding": [{"system": f.SNOMED, "code": "404820008"}]})],
        status="draft",
        subject=PATIENT,
    )
    data = check(capsys, tmp_path, order)
    assert {(x["rule_id"], x["severity"]) for x in data["findings"]} >= {("ROUTE-NEURAX", "critical")}
    assert data["ketamine_orders"][0]["route"] == "epidural"


def test_a_bundle_with_the_referenced_medication_is_checked_in_full(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    medication = {
        "resourceType": "Medication",
        "id": "ket-bag",
        "code": {"text": "ketamine 100 mg in 100 mL sodium chloride 0.9%"},
        "ingredient": [
            {
                "itemCodeableConcept": f.rxnorm("6130", "ketamine"),
                "strength": {
                    "numerator": {"value": 1, "unit": "mg", "system": UCUM, "code": "mg"},
                    "denominator": {"value": 1, "unit": "mL", "system": UCUM, "code": "mL"},
                },
            }
        ],
    }
    dosage = infusion({"text": "IV"})
    dosage["doseAndRate"] = [{"rateQuantity": {"value": 300, "unit": "mL/h", "system": UCUM, "code": "mL/h"}}]
    order = {
        "resourceType": "MedicationRequest",
        "id": "epic-1",
        "status": "draft",
        "intent": "order",
        "subject": PATIENT,
        "medicationReference": {"reference": "Medication/ket-bag"},
        "dosageInstruction": [dosage],
    }
    data = check(capsys, tmp_path, f.bundle(order, medication))
    assert ("DOSE-RATE", "critical") in {(x["rule_id"], x["severity"]) for x in data["findings"]}


def test_an_opioid_taper_counts_its_current_step(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def step(tablets: int, sequence: int) -> dict[str, Any]:
        d = f.dosage(dose=f.dose_quantity(tablets), timing={"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}})
        return {**d, "sequence": sequence}

    taper = f.medication_request(
        "1049621",
        "oxycodone hydrochloride 5 MG Oral Tablet",
        dosages=[step(2, 1), step(1, 2)],
        status="draft",
        subject=PATIENT,
    )
    ketamine = f.medication_request(
        "238082",
        "ketamine 10 MG/ML Injectable Solution",
        dosages=[infusion({"text": "IV"})],
        status="draft",
        subject=PATIENT,
    )
    data = check(capsys, tmp_path, f.bundle(ketamine, taper))
    assert data["mme"]["total_mme_per_day"] == pytest.approx(60)


def test_a_draft_whose_drug_cannot_be_identified_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "mystery",
        "status": "draft",
        "intent": "order",
        "subject": PATIENT,
        "medicationReference": {"reference": "Medication/nowhere"},
    }
    data = check(capsys, tmp_path, order)
    assert data["not_checked"] == [
        {
            "reference": "MedicationRequest/mystery",
            "reason": "its medicationReference Medication/nowhere could not be resolved",
        }
    ]
    assert data["ketamine_orders"] == []
