"""Issue 15 over HTTP: each course rule's card on its realistic history, and no card on its near miss.

Cards only under the alert policy: a fired outcome that asks the clinician to act becomes a card (topic = rule id);
the naloxone offer rides on the card that states its reason (OPI-BZD, POST-TAPER or the MME card).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from tests import course_histories as h
from tests.cds_hooks.support import cards_of, client, ketamine_infusion, order_sign, topic

KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"
KETAMINE_SELECT = "/cds-services/ketamine-safety-order-select"
OPIOID_SIGN = "/cds-services/opioid-mme-order-sign"
TODAY = h.today()


def _cards(tmp_path: Path, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client(tmp_path) as c:
        return cards_of(c.post(path, json=body))


def _by_topic(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {topic(card): card for card in cards}


def _created(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["resource"] for s in card.get("suggestions") or [] for a in s["actions"] if a["type"] == "create"]


# -- FREQ-RESPONSE ---------------------------------------------------------------------------------------------------


def test_a_new_order_in_a_weekly_series_without_documented_response_gets_the_review_card(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY), *h.weekly_series(TODAY)]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))
    card = cards["FREQ-RESPONSE"]
    assert card["indicator"] == "warning" and "No documented response" in card["summary"]
    assert "reassess before initiating further treatments" in card["detail"]
    assert "ASRA/AAPM/ASA ketamine consensus 2018, Guideline Question 8" in card["source"]["label"]
    assert card["overrideReasons"]


def test_the_same_series_with_a_documented_response_gets_no_review_card(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY), *h.weekly_series(TODAY, pain_scores=(8, 4))]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))
    assert "FREQ-RESPONSE" not in cards


def test_a_series_continued_despite_no_response_is_flagged(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY), *h.weekly_series(TODAY, pain_scores=(8, 7))]
    card = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))["FREQ-RESPONSE"]
    assert card["indicator"] == "warning" and "by rote" in card["summary"]


# -- PRE-LFT: a 5-day course -----------------------------------------------------------------------------------------


def test_a_five_day_course_gets_the_liver_test_card_with_baseline_and_post_course_orders(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY)]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [h.five_day_infusion()])))
    card = cards["PRE-LFT"]
    assert card["indicator"] == "warning" and "multi-day, serial or high-dose course" in card["summary"]
    labels = [s["label"] for s in card["suggestions"]]
    assert labels == ["Order baseline liver function tests", "Order post-infusion liver function tests"]
    assert all(r["resourceType"] == "ServiceRequest" for r in _created(card))


def test_a_single_four_hour_infusion_gets_no_liver_test_card(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY)]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))
    assert "PRE-LFT" not in cards


# -- OPI-BZD and OPI-NALOXONE: lorazepam and oxycodone --------------------------------------------------------------


def test_an_oxycodone_order_for_a_patient_on_lorazepam_gets_the_sedation_card_with_naloxone(tmp_path: Path) -> None:
    resources = [*h.patient(), h.lorazepam()]
    body = order_sign(resources, [h.oxycodone_draft()], queries=OPIOID_QUERIES)  # 30 MME/day: no MME card
    (card,) = _cards(tmp_path, OPIOID_SIGN, body)
    assert topic(card) == "OPI-BZD" and card["indicator"] == "warning"
    assert "oxycodone" in card["summary"] and "lorazepam" in card["summary"]
    assert card["extension"]["total_mme_per_day"] == 30.0 and card["extension"]["mme_table"] == "cdc-2022"
    assert "external source" in card["detail"] and "Offer naloxone" in card["detail"]
    (naloxone,) = _created(card)
    assert naloxone["resourceType"] == "MedicationRequest"
    assert naloxone["medicationCodeableConcept"]["coding"][0]["code"] == "7242"
    assert "per local formulary" in naloxone["medicationCodeableConcept"]["text"]


def test_the_same_oxycodone_order_without_a_benzodiazepine_gets_no_card(tmp_path: Path) -> None:
    body = order_sign(h.patient(), [h.oxycodone_draft()], queries=OPIOID_QUERIES)
    with client(tmp_path) as c:
        assert c.post(OPIOID_SIGN, json=body).json() == {"cards": []}


def test_a_ketamine_order_for_a_patient_on_lorazepam_and_oxycodone_says_it_on_the_opioid_card(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY), h.oxycodone(), h.lorazepam()]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))
    card = cards["OPI-BZD"]
    assert "midazolam" in card["detail"] and card["extension"]["total_mme_per_day"] == 30.0
    assert "OPI-NALOXONE" not in cards  # carried by the sedation card
    assert [r["medicationCodeableConcept"]["coding"][0]["code"] for r in _created(card)] == ["7242"]


def test_the_protocol_rescue_order_carries_the_caution_for_a_patient_on_opioids(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY), h.oxycodone(), h.lorazepam()]
    bare = ketamine_infusion(None)
    body = order_sign(resources, [bare], hook="order-select", selections=[f"MedicationRequest/{bare['id']}"])
    protocol = _by_topic(_cards(tmp_path, KETAMINE_SELECT, body))["PROTOCOL"]
    midazolam = [r for r in _created(protocol) if "midazolam" in r.get("medicationCodeableConcept", {}).get("text", "")]
    assert midazolam
    assert all(any("an opioid and a benzodiazepine" in n["text"] for n in r["note"]) for r in midazolam)


# -- POST-TAPER: a taper over months ----------------------------------------------------------------------------------


def test_an_opioid_order_after_a_taper_gets_the_post_taper_card_through_the_opioid_service(tmp_path: Path) -> None:
    resources = [*h.patient(), *h.taper_to_off(TODAY)]
    body = order_sign(resources, [h.oxycodone_draft(2, 4)], queries=OPIOID_QUERIES)  # 60 MME/day
    cards = _by_topic(_cards(tmp_path, OPIOID_SIGN, body))
    assert set(cards) == {"MME", "POST-TAPER"}
    card = cards["POST-TAPER"]
    assert card["indicator"] == "warning" and "opioid-naive" in card["summary"]
    assert "ISCRR evidence review 2021" in card["source"]["label"]
    assert [r["medicationCodeableConcept"]["coding"][0]["code"] for r in _created(card)] == ["7242"]
    assert not _created(cards["MME"])  # the naloxone offer is on one card only


def test_an_opioid_order_in_line_with_a_stable_dose_gets_no_card(tmp_path: Path) -> None:
    resources = [*h.patient(), h.stable_oxycodone(TODAY)]
    prn = h.oxycodone(1, 2, status="draft", rid="draft-prn")  # 30 + 15 MME/day: below 50, not far above
    with client(tmp_path) as c:
        assert c.post(OPIOID_SIGN, json=order_sign(resources, [prn], queries=OPIOID_QUERIES)).json() == {"cards": []}


def test_the_opioid_service_asks_only_for_medications_and_still_judges_the_taper(tmp_path: Path) -> None:
    resources = [*h.patient(), *h.taper_to_off(TODAY)]
    body = hook_request(
        "order-sign",
        patient_id="example",
        drafts=[h.oxycodone_draft(1, 2)],
        prefetch=prefetch_for(resources, OPIOID_QUERIES),
    )
    cards = _by_topic(_cards(tmp_path, OPIOID_SIGN, body))
    assert "POST-TAPER" in cards and "DATA-UNAVAILABLE" not in cards


# -- one card per reason ------------------------------------------------------------------------------------------


def test_the_response_review_rides_on_the_treatments_per_year_card(tmp_path: Path) -> None:
    monthly = [h.ketamine_given(TODAY, days) for days in (220, 185, 150, 115, 80, 45, 10)]  # 7 separate courses
    resources = [*h.patient(), h.weight(TODAY), *monthly]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))
    assert "FREQ" in cards and "FREQ-RESPONSE" not in cards
    assert "**Also**" in cards["FREQ"]["detail"] and "(FREQ-RESPONSE)" in cards["FREQ"]["detail"]


def test_nothing_documented_while_follow_ups_could_not_be_had_is_named_not_alerted(tmp_path: Path) -> None:
    from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES

    resources = [*h.patient(), h.weight(TODAY), *h.weekly_series(TODAY)]
    body = order_sign(resources, [ketamine_infusion(35)])
    body["prefetch"]["observations"] = {"resourceType": "OperationOutcome", "issue": [{"code": "timeout"}]}
    assert {q.key for q in KETAMINE_QUERIES} >= {"observations", "questionnaireResponses"}
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, body))
    assert "FREQ-RESPONSE" not in cards
    assert "Response documented before the next treatment" in cards["DATA-UNAVAILABLE"]["detail"]


def test_a_carried_offer_is_not_repeated_on_its_own_card_at_order_sign(tmp_path: Path) -> None:
    resources = [*h.patient(), h.weight(TODAY), h.oxycodone(), h.lorazepam()]
    draft = ketamine_infusion(35)
    select = order_sign(resources, [draft], hook="order-select", selections=[f"MedicationRequest/{draft['id']}"])
    with client(tmp_path) as c:
        at_select = _by_topic(cards_of(c.post(KETAMINE_SELECT, json=select)))
        at_sign = _by_topic(cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [draft]))))
    assert "OPI-BZD" in at_select and "OPI-NALOXONE" not in at_select
    assert "OPI-NALOXONE" not in at_sign and "OPI-BZD" not in at_sign  # shown moments before, not repeated


def test_an_opioid_baseline_that_cannot_be_computed_is_not_named_on_the_orders_information_card(
    tmp_path: Path,
) -> None:
    unknown = h.oxycodone()
    del unknown["dosageInstruction"][0]["timing"]  # no frequency: MME/day not computable
    resources = [*h.patient(), h.weight(TODAY), unknown]
    cards = _by_topic(_cards(tmp_path, KETAMINE_SIGN, order_sign(resources, [ketamine_infusion(35)])))
    assert "OPI-BASELINE" not in (cards.get("DATA-UNAVAILABLE") or {}).get("detail", "")
