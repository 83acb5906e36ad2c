"""Draft orders as clients send them (DSTU2, {pill}, selections, unreadable drafts), and what the logs never hold."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import respx

from smart_app.cds_hooks.context import HookRequest, read_draft_orders
from smart_app.cds_hooks.dstu2 import medication_order_to_request
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.core.model import ORDERABLE_DRUG_FORM
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.cds_hooks.support import FHIR_BASE, cards_of, client, ketamine_infusion, oxycodone_draft, topic

SANDBOX_ORDER = {
    "resourceType": "MedicationOrder",
    "id": "order-123",
    "status": "draft",
    "patient": {"reference": "Patient/example"},
    "dateWritten": "2026-11-21",
    "medicationCodeableConcept": f.rxnorm("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
    "dosageInstruction": [
        {
            "doseQuantity": {"value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"},
            "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnits": "d"}},
            "asNeededBoolean": True,
        }
    ],
}


def test_dstu2_medication_order_becomes_a_valid_r4_draft_with_tablet_doses() -> None:
    request = medication_order_to_request(SANDBOX_ORDER)
    record = build_record((), draft_orders=[request])
    assert record.problems == ()
    (med,) = record.medications
    assert med.is_draft_order and med.status == "draft" and med.id == "order-123"
    dosage = med.dosages[0]
    dose = dosage.dose_and_rate[0].dose
    assert dose is not None and dose.value == 1 and dose.code == "TAB" and dose.system == ORDERABLE_DRUG_FORM
    assert dosage.timing is not None and dosage.timing.repeat is not None
    assert (dosage.timing.repeat.frequency, dosage.timing.repeat.period_unit) == (4, "d")
    assert dosage.as_needed


def test_r4_drafts_with_pill_units_are_normalised_too() -> None:
    draft = oxycodone_draft()
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {"value": 2, "code": "{pill}"}
    body = hook_request("order-sign", patient_id="example", drafts=[draft])
    (normalised,) = read_draft_orders(HookRequest.model_validate(body)).medication_requests
    assert normalised["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "TAB"
    assert draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "{pill}", "input untouched"


def test_order_select_checks_only_the_selected_draft(tmp_path: Path) -> None:
    patient = [f.patient()]
    drafts = [ketamine_infusion(None, rid="ket"), oxycodone_draft(rid="oxy")]
    prefetch = prefetch_for(patient, KETAMINE_QUERIES)
    with client(tmp_path) as c:
        other = c.post(
            "/cds-services/ketamine-safety-order-select",
            json=hook_request(
                "order-select",
                patient_id="example",
                drafts=drafts,
                prefetch=prefetch,
                selections=["MedicationRequest/oxy"],
            ),
        )
        ketamine = c.post(
            "/cds-services/ketamine-safety-order-select",
            json=hook_request(
                "order-select",
                patient_id="example",
                drafts=drafts,
                prefetch=prefetch,
                selections=["MedicationRequest/ket"],
            ),
        )
    assert other.json() == {"cards": []}
    (card,) = cards_of(ketamine)  # no dose yet and no weight: the protocols cannot be computed until one is recorded
    assert topic(card) == "PROTOCOL" and "body weight" in card["summary"] and not card.get("suggestions")


def test_an_unreadable_draft_is_reported_not_crashed_on(tmp_path: Path) -> None:
    broken = ketamine_infusion(35)
    broken["dosageInstruction"] = "35 mg/h IV"  # not a list of Dosage: invalid R4
    body = hook_request(
        "order-sign", patient_id="example", drafts=[broken], prefetch=prefetch_for([f.patient()], KETAMINE_QUERIES)
    )
    with client(tmp_path) as c:
        cards = cards_of(c.post("/cds-services/ketamine-safety-order-sign", json=body))
    gap = next(card for card in cards if topic(card) == "DATA-UNAVAILABLE")
    assert "MedicationRequest/draft-ket could not be read" in gap["detail"]


def test_logs_carry_the_hook_instance_but_never_tokens_or_patient_ids(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_patient, secret_token = "pat-4711-secret", "tok-very-secret"
    body = hook_request(
        "order-sign",
        patient_id=secret_patient,
        drafts=[ketamine_infusion(35)],
        fhir_server=FHIR_BASE,
        access_token=secret_token,
    )
    caplog.set_level(logging.DEBUG)
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{FHIR_BASE}/Condition").respond(status_code=401)
        mock.get(url__regex=rf"{FHIR_BASE}/.*").respond(json={"resourceType": "Bundle", "type": "searchset"})
        with client(tmp_path) as c:
            cards_of(c.post("/cds-services/ketamine-safety-order-sign", json=body))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert body["hookInstance"] in text
    assert secret_patient not in text and secret_token not in text
