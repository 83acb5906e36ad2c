"""A draft order must be for the patient in context: another patient's order is never checked against this record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cds_hooks.support import cards_of, client, ketamine_infusion, order_sign, sample_patient, topic

KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"


def _with_subject(request: dict[str, Any], reference: str) -> dict[str, Any]:
    for entry in request["context"]["draftOrders"]["entry"]:
        entry["resource"]["subject"] = {"reference": reference}
    return request


def test_a_draft_for_another_patient_is_not_checked_and_the_card_says_so(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    request = _with_subject(order_sign(resources, [ketamine_infusion(200)]), "Patient/someone-else")
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert not any(topic(card).startswith("DOSE-") for card in cards)  # 200 mg/h would otherwise be flagged
    gap = next(card for card in cards if topic(card) == "DATA-UNAVAILABLE")
    assert "different patient" in gap["detail"]


def test_an_absolute_reference_to_the_same_patient_is_checked(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    request = order_sign(resources, [ketamine_infusion(200)])
    patient_id = request["context"]["patientId"]
    request = _with_subject(request, f"https://ehr.example.org/fhir/Patient/{patient_id}")
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert any(topic(card) == "DOSE-RATE" for card in cards)
