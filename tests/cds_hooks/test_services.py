"""Each service end to end through the FastAPI app: the cards a clinician would see for the bundled samples."""

from __future__ import annotations

from pathlib import Path

import orjson
import respx

from smart_app.cds_hooks.cards import TOPIC_SYSTEM
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.core.mme import calculate_mme
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.cds_hooks.support import (
    cards_of,
    client,
    ketamine_infusion,
    order_sign,
    oxycodone_draft,
    patient_id,
    sample_order,
    sample_patient,
    topic,
)

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
LAUNCH = "https://cds.example.org/smart/launch"
KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"
KETAMINE_SELECT = "/cds-services/ketamine-safety-order-select"
OPIOID_SIGN = "/cds-services/opioid-mme-order-sign"
SUMMARY = "/cds-services/ketamine-opioid-summary"


def test_contraindicated_patient_gets_a_critical_card_first_with_source_override_reasons_and_link(
    tmp_path: Path,
) -> None:
    resources = sample_patient("cardiac-uncontrolled-bp")
    draft = sample_order("ketamine-infusion-outpatient")
    with client(tmp_path, launch_url=LAUNCH) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [draft])))
    ranks = [SEVERITY_RANK[card["indicator"]] for card in cards]
    assert ranks == sorted(ranks), "critical first"
    first = cards[0]
    assert first["indicator"] == "critical" and topic(first) == "CI-CV"
    assert first["source"]["topic"]["system"] == TOPIC_SYSTEM
    assert first["source"]["url"].startswith("https://")
    assert "172/104" in first["detail"] and "| Observation/" in first["detail"], "evidence with the value"
    assert all(r["display"] for r in first["overrideReasons"])
    link = first["links"][0]
    assert link["type"] == "smart" and link["url"] == LAUNCH
    assert orjson.loads(link["appContext"]) == {
        "patient": patient_id(resources),
        "draftOrders": [f"MedicationRequest/{draft['id']}"],
    }
    assert len({card["uuid"] for card in cards}) == len(cards)
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["source"]["label"]
        if card["indicator"] in ("critical", "warning"):
            assert card["overrideReasons"]


def test_missing_ecg_card_suggests_a_baseline_ecg_service_request(tmp_path: Path) -> None:
    resources = [r for r in sample_patient("needs-ecg") if r.get("id") != "needs-ecg-ecg"]  # no ECG on file
    with client(tmp_path) as c:
        cards = cards_of(
            c.post(KETAMINE_SIGN, json=order_sign(resources, [sample_order("ketamine-infusion-outpatient")]))
        )
    ecg = next(card for card in cards if topic(card) == "PRE-ECG")
    assert ecg["selectionBehavior"] == "any"
    suggestion = ecg["suggestions"][0]
    assert suggestion["uuid"] and suggestion["isRecommended"] is True
    action = suggestion["actions"][0]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["code"]["coding"][0]["code"] == "34534-8"
    assert action["resource"]["subject"] == {"reference": f"Patient/{patient_id(resources)}"}


def test_order_select_without_a_dose_skips_mg_per_kg_checks_and_offers_protocols(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    bare = ketamine_infusion(None)
    too_fast = ketamine_infusion(300)  # about 4 mg/kg/h for the sample's weight: outside every range
    with client(tmp_path) as c:
        select = cards_of(
            c.post(
                KETAMINE_SELECT,
                json=order_sign(resources, [bare], hook="order-select", selections=["MedicationRequest/draft-ket"]),
            )
        )
        sign = cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [too_fast])))
    assert not [card for card in select if topic(card).startswith("DOSE-")]
    protocol = next(card for card in select if topic(card) == "PROTOCOL")
    assert protocol["selectionBehavior"] == "at-most-one"
    assert sum(bool(s["isRecommended"]) for s in protocol["suggestions"]) == 1
    delete, *creates = protocol["suggestions"][0]["actions"]
    assert delete == {
        "type": "delete",
        "description": delete["description"],
        "resourceId": "MedicationRequest/draft-ket",
    }
    first_resources = [a["resource"] for a in creates]
    assert first_resources[0]["resourceType"] == "MedicationRequest"
    assert "ketamine" in orjson.dumps(first_resources[0]).decode().lower()
    assert any(topic(card) == "DOSE-RATE" and card["indicator"] != "info" for card in sign)


def test_opioid_draft_gets_an_mme_card_whose_total_includes_the_draft(tmp_path: Path) -> None:
    resources = sample_patient("high-mme")
    draft = oxycodone_draft(2, 4)
    with client(tmp_path) as c:
        cards = cards_of(c.post(OPIOID_SIGN, json=order_sign(resources, [draft], queries=OPIOID_QUERIES)))
    (card,) = cards
    total = card["extension"]["total_mme_per_day"]
    assert isinstance(total, float)
    without_draft = calculate_mme(build_record(resources).medications).total_mme_per_day
    assert without_draft is not None and total > without_draft
    assert card["indicator"] == "warning" and f"{total:.1f} MME/day" in card["summary"]
    assert topic(card) == "MME" and card["extension"]["table"] == "cdc-2022"
    assert "local default" in card["detail"] and "x 1.5" in card["detail"]
    drafts = [m for m in card["extension"]["medications"] if m["id"] == "MedicationRequest/draft-oxy"]
    assert drafts and drafts[0]["status"] == "counted"


def test_small_opioid_dose_below_the_first_level_gets_no_card(tmp_path: Path) -> None:
    resources = [f.patient()]
    with client(tmp_path) as c:
        response = c.post(OPIOID_SIGN, json=order_sign(resources, [oxycodone_draft(1, 2)], queries=OPIOID_QUERIES))
    assert response.status_code == 200 and response.json() == {"cards": []}  # 15 MME/day: nothing to act on


def test_opioid_total_just_at_the_first_level_gets_a_warning_card(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        # 2 x 5 mg oxycodone every 6 h = 40 mg/day x 1.5 = 60 MME/day
        (card,) = cards_of(
            c.post(OPIOID_SIGN, json=order_sign([f.patient()], [oxycodone_draft(2, 4)], queries=OPIOID_QUERIES))
        )
    assert card["indicator"] == "warning" and card["overrideReasons"]
    assert card["extension"]["mme_level"] == "precaution"
    assert "at or above 50" in card["summary"] and "local default" in card["summary"]


@respx.mock(assert_all_called=False)
def test_draft_of_another_drug_gets_no_cards_and_no_fhir_traffic(tmp_path: Path, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.route(host="ehr.example.org")
    amoxicillin = f.medication_request(
        "617993", "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension", status="draft"
    )
    body = hook_request(
        "order-sign", patient_id="example", drafts=[amoxicillin], fhir_server="https://ehr.example.org/fhir"
    )
    with client(tmp_path) as c:
        for path in (KETAMINE_SIGN, OPIOID_SIGN):
            response = c.post(path, json=body)
            assert response.status_code == 200 and response.json() == {"cards": []}
        select = {**body, "hook": "order-select"}
        assert c.post(KETAMINE_SELECT, json=select).json() == {"cards": []}
    assert not route.called


def test_patient_view_summary_shows_mme_and_ketamine_flags(tmp_path: Path) -> None:
    resources = sample_patient("psychosis-glaucoma")
    body = hook_request(
        "patient-view", patient_id=patient_id(resources), prefetch=prefetch_for(resources, KETAMINE_QUERIES)
    )
    with client(tmp_path, launch_url=LAUNCH) as c:
        card = cards_of(c.post(SUMMARY, json=body))[0]
    assert card["indicator"] == "warning" and topic(card) == "SUMMARY"
    assert "contraindication" in card["summary"]
    assert "CI-PSY" in card["detail"] or "CI-ICP" in card["detail"]
    assert card["links"][0]["type"] == "smart"
    assert "total_mme_per_day" in card["extension"]


def test_dstu2_medication_order_with_pill_units_is_counted(tmp_path: Path) -> None:
    order = {
        "resourceType": "MedicationOrder",
        "id": "sandbox-order-1",
        "status": "draft",
        "patient": {"reference": "Patient/example"},
        "dateWritten": "2026-11-21",
        "medicationCodeableConcept": f.rxnorm("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
        "dosageInstruction": [
            {
                "doseQuantity": {"value": 2, "system": "http://unitsofmeasure.org", "code": "{pill}"},
                "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnits": "d"}},
            }
        ],
    }
    body = hook_request(
        "order-sign", patient_id="example", drafts=[order], prefetch=prefetch_for([f.patient()], OPIOID_QUERIES)
    )
    with client(tmp_path) as c:
        (card,) = cards_of(c.post(OPIOID_SIGN, json=body))
    (item,) = card["extension"]["medications"]
    assert item["status"] == "counted"
    # 2 tablets x 5 mg x 4/day = 40 mg oxycodone/day; CDC 2022 factor 1.5
    assert card["extension"]["total_mme_per_day"] == 2 * 5 * 4 * 1.5


def test_an_opioid_draft_without_timing_is_named_not_counted_as_zero(tmp_path: Path) -> None:
    draft = oxycodone_draft()
    del draft["dosageInstruction"][0]["timing"]  # no frequency: MME/day cannot be known
    with client(tmp_path) as c:
        (card,) = cards_of(c.post(OPIOID_SIGN, json=order_sign([f.patient()], [draft], queries=OPIOID_QUERIES)))
    assert card["extension"]["total_mme_per_day"] is None
    assert "could not be calculated" in card["summary"]
    assert "Not in the total" in card["detail"] and "oxycodone" in card["detail"]


def test_correct_order_for_a_healthy_patient_gets_no_card_at_select_sign_or_chart_open(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    draft = sample_order("ketamine-infusion-outpatient")
    select = order_sign(resources, [draft], hook="order-select", selections=[f"MedicationRequest/{draft['id']}"])
    chart = hook_request(
        "patient-view", patient_id=patient_id(resources), prefetch=prefetch_for(resources, KETAMINE_QUERIES)
    )
    with client(tmp_path) as c:
        for path, body in (
            (KETAMINE_SELECT, select),
            (KETAMINE_SIGN, order_sign(resources, [draft])),
            (SUMMARY, chart),
        ):
            response = c.post(path, json=body)
            assert response.status_code == 200 and response.json() == {"cards": []}, path


def test_near_misses_stay_silent_while_the_true_alert_fires(tmp_path: Path) -> None:
    healthy = sample_patient("healthy")
    with client(tmp_path) as c:
        at_limit = cards_of(c.post(KETAMINE_SIGN, json=order_sign(healthy, [ketamine_infusion(60)])))
        too_fast = cards_of(c.post(KETAMINE_SIGN, json=order_sign(healthy, [ketamine_infusion(300)])))
    assert not any(topic(card).startswith("DOSE-") for card in at_limit)  # below 1 mg/kg/h for the sample's weight
    assert [card["indicator"] for card in too_fast if topic(card) == "DOSE-RATE"] == ["critical"]


def test_ketamine_card_about_opioids_carries_the_opioid_load(tmp_path: Path) -> None:
    resources = sample_patient("high-mme")
    with client(tmp_path) as c:
        cards = cards_of(
            c.post(KETAMINE_SIGN, json=order_sign(resources, [sample_order("ketamine-infusion-outpatient")]))
        )
    opioid = next(card for card in cards if topic(card) == "OPI-1SPECIES")
    load = opioid["extension"]
    assert isinstance(load["total_mme_per_day"], float) and load["mme_table"] == "cdc-2022"
    assert load["left_out"] == 1 and load["complete"] is False  # the sample's free-text morphine is not counted
    assert not [card for card in cards if topic(card) == "MME"]  # no second card for the load


def test_order_sign_after_order_select_repeats_contraindications_but_not_precautions(tmp_path: Path) -> None:
    delirium = f.condition(f.ICD10CM, "F05", "Delirium due to known physiological condition")
    psychosis = f.condition(f.ICD10CM, "F20.9", "Schizophrenia, unspecified")
    for condition in (delirium, psychosis):
        condition["subject"] = {"reference": "Patient/healthy"}  # this patient's: another's would be ignored
    resources = [*sample_patient("healthy"), delirium, psychosis]
    draft = sample_order("ketamine-infusion-outpatient")
    select = order_sign(resources, [draft], hook="order-select", selections=[f"MedicationRequest/{draft['id']}"])
    with client(tmp_path) as c:
        alone = {topic(card) for card in cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [draft])))}
    with client(tmp_path) as c:
        at_select = {topic(card) for card in cards_of(c.post(KETAMINE_SELECT, json=select))}
        at_sign = {topic(card) for card in cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [draft])))}
    assert {"CI-DEL", "CI-PSY"} <= at_select
    assert "CI-PSY" in at_sign  # a contraindication is always shown at signing
    assert "CI-DEL" not in at_sign  # the precaution was shown moments ago for this draft
    assert {"CI-DEL", "CI-PSY"} <= alone  # an EHR that calls only order-sign still sees both
