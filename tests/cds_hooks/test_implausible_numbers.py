"""Numbers no record can hold are data errors named on the data card, never a 500 or a dose computed from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.fhir import plausibility
from tests import fhir_factory as f
from tests.cds_hooks.support import client, ketamine_infusion, order_sign, oxycodone_draft, sample_patient, topic

SELECT = "/cds-services/ketamine-safety-order-select"
SIGN = "/cds-services/ketamine-safety-order-sign"
SUMMARY = "/cds-services/ketamine-opioid-summary"
MME_SIGN = "/cds-services/opioid-mme-order-sign"
ABSURD = [9223372036854775808, 18446744073709551615, 10**30, 1e300, -70, 0, 0.01, 700]


def _with_weight(value: float) -> list[dict[str, Any]]:
    resources = sample_patient("healthy")
    for r in resources:
        if r["resourceType"] == "Observation" and "29463-7" in json.dumps(r):
            r["valueQuantity"]["value"] = value
    return resources


def _post(tmp_path: Path, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client(tmp_path) as c:
        response = c.post(path, json=body)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = orjson.loads(response.content)["cards"]
    return cards


def _gap(cards: list[dict[str, Any]]) -> str:
    return " ".join(str(c["detail"]) for c in cards if topic(c) == "DATA-UNAVAILABLE")


@pytest.mark.parametrize("kg", ABSURD)
def test_an_impossible_body_weight_is_a_data_error_not_a_dose(tmp_path: Path, kg: float) -> None:
    resources = _with_weight(kg)
    for path, hook, draft in ((SELECT, "order-select", None), (SIGN, "order-sign", 20), (SUMMARY, "patient-view", 20)):
        cards = _post(tmp_path, path, order_sign(resources, [ketamine_infusion(draft)], hook=hook))
        gap = _gap(cards)
        assert "Observation/healthy-weight could not be read" in gap
        assert "outside the plausible range 0.2-650 kg" in gap or "too large to be a clinical value" in gap
        # No weight-based protocol dose from this weight: at most the card asking for a current weight.
        assert not any(c.get("suggestions") for c in cards if topic(c) == "PROTOCOL")


def test_a_plausible_weight_still_gives_protocols(tmp_path: Path) -> None:
    cards = _post(tmp_path, SELECT, order_sign(_with_weight(70), [ketamine_infusion(None)], hook="order-select"))
    assert any(c.get("suggestions") for c in cards if topic(c) == "PROTOCOL") and "plausible" not in _gap(cards)


@pytest.mark.parametrize("systolic", [1720, 5, -120, 10**20])
def test_an_impossible_blood_pressure_is_a_data_error(tmp_path: Path, systolic: float) -> None:
    resources = [r for r in sample_patient("healthy") if "85354-9" not in json.dumps(r)]
    reading = f.blood_pressure(systolic, 80, effective="2026-11-20T09:00:00Z")
    resources.append({**reading, "subject": {"reference": "Patient/healthy"}})
    cards = _post(tmp_path, SIGN, order_sign(resources, [ketamine_infusion(20)]))
    assert not any(topic(c) == "CI-CV" for c in cards)
    gap = _gap(cards)
    assert f"{reading['resourceType']}/{reading['id']} could not be read" in gap
    assert "systolic blood pressure" in gap or "too large" in gap


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("dose", 1e300, "too large"),
        ("dose", 5e9, "not a plausible amount"),
        ("dose", 9223372036854775808, "too large"),
        ("period", 1e300, "too large"),
        ("period", 1e9, "not a plausible period"),
    ],
)
def test_an_impossible_dose_or_timing_is_not_counted(tmp_path: Path, field: str, value: float, words: str) -> None:
    draft = oxycodone_draft()
    dosage = draft["dosageInstruction"][0]
    if field == "dose":
        dosage["doseAndRate"][0]["doseQuantity"]["value"] = value
    else:
        dosage["timing"]["repeat"]["period"] = value
    cards = _post(tmp_path, MME_SIGN, order_sign(sample_patient("opioid-simple"), [draft], queries=OPIOID_QUERIES))
    # The draft's drug is still known (oxycodone): it is named as left out of the total, never counted.
    assert words in _gap(cards) and "its dose could not be checked" in _gap(cards)
    mme = next(c for c in cards if topic(c) == "MME")
    assert mme["extension"]["complete"] is False and "left out" in mme["summary"]
    assert all(len(c["summary"]) < 140 for c in cards)


def test_raw_numbers() -> None:
    assert plausibility.raw_problem({"resourceType": "Observation", "valueQuantity": {"value": 72.5}}) is None
    assert plausibility.raw_problem({"a": [{"b": 2**63}]}) == (
        "the number at a.b (922337... (19 digits)) is too large to be a clinical value"
    )
    assert plausibility.raw_problem({"dosage": {"dose": {"value": 2e9}}}) is not None
    assert plausibility.raw_problem({"dosage": {"dose": {"value": 2e8}}}) is None
    assert plausibility.raw_problem({"valueInteger": 2e9}) is None  # only doses have the tighter bound
    assert plausibility.raw_problem({"flag": True, "text": "1e400"}) is None
