"""Reading FHIR input into the patient record: bundles, contained Medications, invalid resources."""

from __future__ import annotations

import pytest

from smart_app.core.model import RXNORM
from smart_app.fhir.bundle import FhirInputError, iter_resources, parse_json
from smart_app.fhir.record import build_record
from tests import fhir_factory as f


def test_bundle_resources_become_typed_record() -> None:
    mr = f.medication_request(
        "1049621",
        "oxycodone hydrochloride 5 MG Oral Tablet",
        dosages=[f.dosage(dose=f.dose_quantity(1), frequency=4, as_needed=True)],
    )
    data = f.bundle(f.patient(), mr, f.weight(80), f.condition(f.SNOMED, "59621000", "Essential hypertension"))
    record = build_record(iter_resources(data))
    assert record.demographics.gender == "female"
    (med,) = record.medications
    assert med.medication.has(RXNORM, "1049621")
    assert med.dosages[0].as_needed
    assert med.dosages[0].timing is not None and med.dosages[0].timing.repeat is not None
    assert med.dosages[0].timing.repeat.frequency == 4
    assert med.dosages[0].dose_and_rate[0].dose is not None
    assert med.dosages[0].dose_and_rate[0].dose.unit_key == "TAB"
    assert record.observations[0].value_quantity is not None
    assert record.observations[0].value_quantity.value == 80
    assert record.conditions[0].clinical_status == "active"


def test_contained_medication_is_resolved_with_ingredient_strength() -> None:
    mr = f.medication_request(
        None,
        "",
        medicationReference={"reference": "#m1"},
        contained=[
            {
                "resourceType": "Medication",
                "id": "m1",
                "code": {"text": "Oxycodone 5 mg tablet"},
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
    )
    (med,) = build_record([mr]).medications
    assert med.medication.label == "Oxycodone 5 mg tablet"
    assert med.ingredients[0].item.has(RXNORM, "7804")
    assert med.ingredients[0].strength is not None


def test_invalid_resource_is_reported_not_dropped() -> None:
    bad = f.medication_request("1049621", "oxycodone", rid="bad-1")
    bad["status"] = 5
    record = build_record([bad, f.weight(70)])
    assert record.medications == ()
    assert [p.reference for p in record.problems] == ["MedicationRequest/bad-1"]
    assert "status" in record.problems[0].message
    assert len(record.observations) == 1


def test_partial_dates_are_read() -> None:
    cond = f.condition(f.ICD10CM, "I10", "Essential (primary) hypertension", onsetDateTime="2019-03")
    (c,) = build_record([cond]).conditions
    assert c.onset is not None and (c.onset.year, c.onset.month) == (2019, 3)


@pytest.mark.parametrize("text", [b"{not json", b'{"no": "resourceType"}', b"[1, 2]"])
def test_non_fhir_input_raises_clear_error(text: bytes) -> None:
    with pytest.raises(FhirInputError):
        list(iter_resources(parse_json(text)))
