"""Protocol suggestions an EHR can apply: accepting one replaces the draft (delete + create, the spec's action
shapes), the selection behaviour is a deployment setting, and protocols are offered only where a clinician chooses
a regimen (order-select with no dose yet, order-sign with a flagged dose), never for an order that is already right.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from smart_app.config import LocalDefaults
from smart_app.core.alerts import ketamine_alerts
from smart_app.core.assessment import assess
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, client, ketamine_infusion, order_sign, topic

SELECT = "/cds-services/ketamine-safety-order-select"
SIGN = "/cds-services/ketamine-safety-order-sign"
DRAFT = "MedicationRequest/draft-ket"
USER = "Practitioner/dr-jones"
MONITORING_LOINC = {"85354-9", "8867-4", "59408-5", "9279-1"}
PAIN_LOINC = "72514-3"


def _recent(days: int = 2) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _healthy(weight: float = 70, birth_date: str = "1981-06-12") -> list[dict[str, Any]]:
    return [f.patient(birth_date), f.weight(weight, _recent()), f.blood_pressure(122, 78, _recent())]


def _select(c: Any, resources: list[dict[str, Any]], draft: dict[str, Any]) -> list[dict[str, Any]]:
    body = order_sign(resources, [draft], hook="order-select", selections=[f"MedicationRequest/{draft['id']}"])
    body["context"]["userId"] = USER
    return cards_of(c.post(SELECT, json=body))


def _sign(c: Any, resources: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = order_sign(resources, drafts)
    body["context"]["userId"] = USER
    return cards_of(c.post(SIGN, json=body))


def _protocol(cards: list[dict[str, Any]]) -> dict[str, Any]:
    return next(card for card in cards if topic(card) == "PROTOCOL")


def test_protocol_suggestion_deletes_the_draft_and_creates_valid_protocol_orders(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        card = _protocol(_select(c, _healthy(), ketamine_infusion(None)))
    assert card["selectionBehavior"] == "at-most-one"
    assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) == 1
    assert "removes the draft ketamine order" in card["detail"]
    for suggestion in card["suggestions"]:
        delete, *creates = suggestion["actions"]
        # The spec's delete: type, description and a relative reference in resourceId, no resource.
        assert set(delete) == {"type", "description", "resourceId"}
        assert delete["type"] == "delete" and delete["resourceId"] == DRAFT
        assert suggestion["label"].startswith("Replace the draft with: ")
        assert creates and all(a["type"] == "create" for a in creates)
        resources = [a["resource"] for a in creates]
        kinds = [r["resourceType"] for r in resources]
        assert kinds[0] == "MedicationRequest" and "ServiceRequest" in kinds and "Task" in kinds
        for resource in resources:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            assert resource["status"] == "draft" and resource["intent"] == "proposal"
            subject = resource["for"] if resource["resourceType"] == "Task" else resource["subject"]
            assert subject == {"reference": "Patient/example"}
            assert resource["requester"] == {"reference": USER}
            assert any("Source:" in n["text"] for n in resource["note"])
        codes = {
            c["code"] for r in resources if r["resourceType"] == "ServiceRequest" for c in r["code"].get("coding", [])
        }
        assert MONITORING_LOINC | {PAIN_LOINC} <= codes
        uncoded = [
            r["code"]["text"] for r in resources if r["resourceType"] == "ServiceRequest" and "coding" not in r["code"]
        ]
        assert uncoded == ["Sedation score (validated scale, local choice)"]  # no verified code: text only


def test_multiday_protocol_suggestion_carries_liver_tests_and_the_studied_regimen(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        card = _protocol(_select(c, _healthy(), ketamine_infusion(None)))
    multiday = next(s for s in card["suggestions"] if "100-hour IV" in s["label"])
    resources = [a["resource"] for a in multiday["actions"] if a["type"] == "create"]
    ketamine = resources[0]
    assert "1,813 mg" in " ".join(n["text"] for n in ketamine["note"])
    lft = [r for r in resources if r["resourceType"] == "ServiceRequest" and "liver function" in r["code"]["text"]]
    assert len(lft) == 8  # baseline and post-course ALT, AST, ALP, bilirubin
    assert "1,813 mg" in card["detail"]


def test_any_selection_behaviour_offers_one_self_contained_protocol(tmp_path: Path) -> None:
    with client(tmp_path, protocol_selection_behavior="any", launch_url="https://app.example.org/smart/launch") as c:
        card = _protocol(_select(c, _healthy(), ketamine_infusion(None)))
    assert card["selectionBehavior"] == "any"
    (suggestion,) = card["suggestions"]  # two regimens must never both be accepted
    assert suggestion["isRecommended"] is True
    assert suggestion["actions"][0] == {
        "type": "delete",
        "description": suggestion["actions"][0]["description"],
        "resourceId": DRAFT,
    }
    assert any(
        a["type"] == "create" and a["resource"]["resourceType"] == "MedicationRequest" for a in suggestion["actions"]
    )
    assert "Other protocols also fit" in card["detail"] and "choose one in the app" in card["detail"]
    assert card["links"][0]["type"] == "smart"


def test_a_draft_sent_without_an_id_cannot_be_deleted_and_the_card_says_so(tmp_path: Path) -> None:
    draft = ketamine_infusion(None)
    del draft["id"]
    with client(tmp_path) as c:
        body = order_sign(_healthy(), [draft], hook="order-select")
        card = _protocol(cards_of(c.post(SELECT, json=body)))
    assert all(a["type"] == "create" for s in card["suggestions"] for a in s["actions"])
    assert card["suggestions"][0]["label"].startswith("Order protocol: ")
    assert "cancel the draft yourself" in card["detail"]


def test_correct_order_at_order_sign_gets_no_protocol_card(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        cards = _sign(c, _healthy(), [ketamine_infusion(35)])  # 0.5 mg/kg/h for 4 h at 70 kg
    assert not [card for card in cards if topic(card) == "PROTOCOL"]


def test_flagged_dose_at_order_sign_offers_protocols_replacing_that_draft(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        cards = _sign(c, _healthy(), [ketamine_infusion(175)])  # 2.5 mg/kg/h: outside ASRA's range
    assert any(topic(card) == "DOSE-RATE" for card in cards)
    card = _protocol(cards)
    assert all(s["actions"][0]["resourceId"] == DRAFT for s in card["suggestions"])


@pytest.mark.parametrize("label", ["100-hour IV", "subcutaneous", "Single outpatient"])
def test_an_accepted_protocol_signed_as_suggested_gets_no_dose_or_protocol_card(tmp_path: Path, label: str) -> None:
    resources = _healthy()
    with client(tmp_path) as c:
        card = _protocol(_select(c, resources, ketamine_infusion(None)))
        suggestion = next(s for s in card["suggestions"] if label in s["label"])
        created = [dict(a["resource"]) for a in suggestion["actions"] if a["type"] == "create"]
        drafts = [
            {**r, "id": f"accepted-{i}"} for i, r in enumerate(created) if r["resourceType"] == "MedicationRequest"
        ]
        cards = _sign(c, resources, drafts)
    assert not [card for card in cards if topic(card) in ("PROTOCOL", "DOSE-RATE", "DOSE-MIN", "DOSE-BOLUS")], [
        card["summary"] for card in cards
    ]


def test_alert_policy_names_the_drafts_a_protocol_replaces() -> None:
    now = datetime.now(UTC)
    record = build_record(_healthy())
    bare, flagged, right = (
        ketamine_infusion(None, rid="bare"),
        ketamine_infusion(175, rid="fast"),
        ketamine_infusion(35, rid="right"),
    )

    def alerts(hook: str, draft: dict[str, Any]) -> Any:
        drafts = build_record([*_healthy(), {**draft, "subject": {"reference": "Patient/example"}}]).medications
        mine = tuple(m for m in drafts if m.reference == f"MedicationRequest/{draft['id']}")
        return ketamine_alerts(assess(record, drafts=mine, on=now, settings=LocalDefaults()), hook, LocalDefaults())

    assert alerts("order-select", bare).offer_protocols and alerts("order-select", bare).replace == (
        "MedicationRequest/bare",
    )
    assert alerts("order-sign", flagged).replace == ("MedicationRequest/fast",)
    assert not alerts("order-sign", right).offer_protocols and alerts("order-sign", right).replace == ()
    assert not alerts("order-select", right).offer_protocols  # dosed and right: no regimen to choose
