"""The service against a real FHIR server (sekmet-fhir): no prefetch, data fetched with the client's token.

This is the path an EHR without prefetch support takes; the cards must be the same as with prefetch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cds_hooks.support import (
    SAMPLES,
    cards_of,
    client,
    hook_request,
    order_sign,
    patient_id,
    sample_order,
    sample_patient,
)
from tests.fhir_server import running_fhir_server

TOKEN = "opaque-ehr-access-token"
KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"


def _topics(cards: list[dict[str, object]]) -> list[tuple[str, str]]:
    return [(str(c["indicator"]), str(c["source"]["topic"]["code"])) for c in cards]  # type: ignore[index]


@pytest.fixture(scope="module")
def fhir_base() -> object:
    bundle = json.loads((SAMPLES / "patients" / "cardiac-uncontrolled-bp.json").read_text())
    with running_fhir_server(bundle, bearer_token=TOKEN) as base:
        yield base


def test_cards_from_fhir_server_match_cards_from_prefetch(fhir_base: str, tmp_path: Path) -> None:
    resources = sample_patient("cardiac-uncontrolled-bp")
    draft = sample_order("ketamine-infusion-outpatient")
    fetched = hook_request(
        "order-sign",
        patient_id=patient_id(resources),
        drafts=[draft],
        fhir_server=fhir_base,
        access_token=TOKEN,
    )
    with client(tmp_path) as c:
        from_server = cards_of(c.post(KETAMINE_SIGN, json=fetched))
        from_prefetch = cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [draft])))

    # The poorly controlled BP is on the server only: finding it proves the search ran with the token.
    assert ("critical", "CI-CV") in _topics(from_server)
    assert ("warning", "PRE-ECG") in _topics(from_server)
    assert _topics(from_server) == _topics(from_prefetch)


def test_a_wrong_token_gives_412_not_a_guess(fhir_base: str, tmp_path: Path) -> None:
    resources = sample_patient("cardiac-uncontrolled-bp")
    request = hook_request(
        "order-sign",
        patient_id=patient_id(resources),
        drafts=[sample_order("ketamine-infusion-outpatient")],
        fhir_server=fhir_base,
        access_token="not-the-token",
    )
    with client(tmp_path) as c:
        response = c.post(KETAMINE_SIGN, json=request)
    assert response.status_code == 412
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "401" in body["issue"][0]["diagnostics"]
