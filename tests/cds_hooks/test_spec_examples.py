"""The CDS Hooks 2.0 specification's own example requests, sent as a real client would."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import respx

from smart_app.cds_hooks.cards import TOPIC_SYSTEM
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, client, topic

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "spec_examples.json").read_text())
SPEC_FHIR = "http://hooks.smarthealthit.org:9080"


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def test_spec_order_sign_example_for_amoxicillin_gets_no_cards(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        for service in ("ketamine-safety-order-sign", "opioid-mme-order-sign"):
            response = c.post(f"/cds-services/{service}", json=EXAMPLES["order_sign_request"])
            assert response.json() == {"cards": []}


def test_spec_order_sign_example_with_a_ketamine_draft_fetches_from_the_fhir_server(tmp_path: Path) -> None:
    request = copy.deepcopy(EXAMPLES["order_sign_request"])
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = f.rxnorm("238082", "ketamine 10 MG/ML Injectable Solution")
    psychosis = f.condition(f.SNOMED, "58214004", "Schizophrenia", rid="c1")
    psychosis["subject"] = {"reference": "Patient/1288992"}  # the example's patient: another's would be ignored
    with respx.mock(assert_all_called=False) as mock:
        conditions = mock.get(f"{SPEC_FHIR}/Condition").respond(json=_searchset(psychosis))
        mock.get(url__regex=rf"{SPEC_FHIR}/.*").respond(json=_searchset())
        with client(tmp_path) as c:
            cards = cards_of(c.post("/cds-services/ketamine-safety-order-sign", json=request))
    assert conditions.calls[0].request.url.params["patient"] == "1288992"
    assert "Authorization" not in conditions.calls[0].request.headers  # the example grants no token here
    assert topic(cards[0]) == "CI-PSY"
    assert cards[0]["source"]["topic"]["system"] == TOPIC_SYSTEM


def test_spec_patient_view_example_uses_the_token_and_is_silent_when_nothing_fires(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as mock:
        patient = mock.get(f"{SPEC_FHIR}/Patient").respond(
            json=_searchset(EXAMPLES["patient_view_request"]["prefetch"]["patientToGreet"])
        )
        mock.get(url__regex=rf"{SPEC_FHIR}/.*").respond(json=_searchset())
        with client(tmp_path) as c:
            cards = cards_of(c.post("/cds-services/ketamine-opioid-summary", json=EXAMPLES["patient_view_request"]))
    assert patient.calls[0].request.headers["Authorization"] == "Bearer some-opaque-fhir-access-token"
    assert cards == []  # no opioids, no contraindication: the chart opens without an interruption
