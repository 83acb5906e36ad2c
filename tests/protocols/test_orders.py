"""Generated order sets: valid FHIR drafts with their source, findings respected, missing data said out loud."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class

from smart_app.core.protocols import list_protocols
from tests.protocols import helpers as h

OUTPATIENT = "asra-outpatient-single-infusion"
ECG_LOINC = "34534-8"
PAIN_LOINC = "72514-3"  # eCQM Standardized Pain Assessment Tool 2.16.840.1.113883.3.526.3.1028
LFT_LOINC = {"1742-6", "1920-8", "6768-6", "1975-2"}


@pytest.mark.parametrize("protocol_id", [p.id for p in list_protocols()])
@pytest.mark.parametrize(("weight", "age"), [(50, 40), (80, 55), (120, 30), (80, 78)])
def test_every_resource_is_valid_fhir_and_names_protocol_and_source(protocol_id: str, weight: float, age: int) -> None:
    order_set = h.build_order_set(
        protocol_id, weight_kg=weight, age=age, findings=(h.ecg_finding(), h.lft_finding()), intent="order"
    )
    assert order_set.medication_requests, protocol_id
    title = order_set.protocol.title
    for resource in order_set.resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert resource["status"] == "draft"
        assert resource["intent"] == "order"
        subject = resource["for"] if resource["resourceType"] == "Task" else resource["subject"]
        assert subject == {"reference": "Patient/example"}
        assert resource["text"]["status"] == "generated"
        assert title.split(" (")[0].replace("&", "&amp;") in resource["text"]["div"]
        notes = " ".join(n["text"] for n in resource["note"])
        assert title in notes and "Source:" in notes


def test_ketamine_order_is_a_coded_draft_with_route_rate_and_category() -> None:
    on = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45, on=on, patient_reference="Patient/p1")
    request = h.ketamine_request(order_set)
    assert request["intent"] == "proposal"
    assert request["authoredOn"] == on.isoformat()
    assert request["subject"] == {"reference": "Patient/p1"}
    assert h.rxnorm_codes((request,)) == ["238082"]
    assert request["category"][0]["coding"][0]["code"] == "outpatient"
    dosage = request["dosageInstruction"][0]
    assert dosage["route"]["coding"][0]["code"] == "47625008"
    assert dosage["timing"]["repeat"] == {"count": 1, "duration": 4.0, "durationUnit": "h"}


def test_multiday_orders_are_bounded_inpatient_infusions() -> None:
    request = h.ketamine_request(h.build_order_set("inpatient-multiday-sc-infusion", weight_kg=80, age=45))
    dosage = request["dosageInstruction"][0]
    assert request["category"][0]["coding"][0]["code"] == "inpatient"
    assert dosage["route"]["coding"][0]["code"] == "34206005"
    assert dosage["timing"]["repeat"]["boundsDuration"] == {
        "value": 7,
        "unit": "d",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    assert "3 to 7 days" in dosage["text"]


def test_weekday_series_is_ten_weekday_sessions() -> None:
    request = h.ketamine_request(h.build_order_set("anzca-appendix-i-schwartzman-2009", weight_kg=80, age=45))
    repeat = request["dosageInstruction"][0]["timing"]["repeat"]
    assert repeat["count"] == 10
    assert repeat["dayOfWeek"] == ["mon", "tue", "wed", "thu", "fri"]
    assert repeat["duration"] == 4


def test_rescue_medications_are_named_but_doses_left_to_the_prescriber() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45)
    assert h.ketamine_request(order_set) is order_set.medication_requests[0]  # ketamine first
    companions = order_set.medication_requests[1:]
    assert h.rxnorm_codes(tuple(companions)) == ["311700", "884173", "26225"]
    for request in companions:
        dosage = request["dosageInstruction"][0]
        assert "doseAndRate" not in dosage  # no source gives a dose: none is invented
        assert "local protocol" in dosage["text"]
        assert dosage["asNeededCodeableConcept"]["text"]
    midazolam = companions[0]
    assert "hallucinations" in midazolam["dosageInstruction"][0]["asNeededCodeableConcept"]["text"].lower()
    assert "L1162-1164" in " ".join(n["text"] for n in midazolam["note"])
    ondansetron = companions[2]
    assert "to be chosen" in ondansetron["medicationCodeableConcept"]["text"]


def test_monitoring_orders_cover_bp_heart_rate_spo2_and_sedation_after_a_baseline_pain_score() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45)
    assert h.loinc_codes(order_set.service_requests) == [PAIN_LOINC, "85354-9", "8867-4", "59408-5", "9279-1"]
    pain = order_set.service_requests[0]
    assert "Before the first ketamine dose" in pain["occurrenceTiming"]["code"]["text"]
    assert "Guideline Question 8" in " ".join(n["text"] for n in pain["note"])
    sedation = order_set.service_requests[-1]
    assert sedation["code"] == {"text": "Sedation score (validated scale, local choice)"}
    assert "No code is verified" in " ".join(n["text"] for n in sedation["note"])
    assert "local protocol" in order_set.service_requests[1]["occurrenceTiming"]["code"]["text"]


def test_ecg_is_ordered_only_when_the_safety_engine_asks() -> None:
    without = h.build_order_set(OUTPATIENT, weight_kg=80, age=45)
    with_ecg = h.build_order_set(OUTPATIENT, weight_kg=80, age=45, findings=(h.ecg_finding(),))
    assert ECG_LOINC not in h.loinc_codes(without.service_requests)
    ecg = [r for r in with_ecg.service_requests if ECG_LOINC in h.loinc_codes((r,))]
    assert len(ecg) == 1
    assert "PRE-ECG" in ecg[0]["reasonCode"][0]["text"]
    assert with_ecg.status == "available"  # an info finding does not hold the protocol back


def test_lft_finding_orders_baseline_and_post_infusion_panels() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45, findings=(h.lft_finding(),))
    lfts = [r for r in order_set.service_requests if set(h.loinc_codes((r,))) & LFT_LOINC]
    assert len(lfts) == 8
    baseline, post = lfts[:4], lfts[4:]
    assert set(h.loinc_codes(tuple(baseline))) == set(h.loinc_codes(tuple(post))) == LFT_LOINC
    assert len({r["requisition"]["value"] for r in baseline}) == 1
    assert {r["requisition"]["value"] for r in baseline}.isdisjoint({r["requisition"]["value"] for r in post})
    assert all(r["occurrenceTiming"]["code"]["text"].startswith("After") for r in post)
    assert order_set.service_requests[-1] is post[-1]  # monitoring first, post-infusion tests last


def test_baseline_only_lft_suggestion_orders_no_post_infusion_tests() -> None:
    baseline_only = h.finding("PRE-LFT", "info", "Alcohol use disorder: consider baseline LFTs", "order-lft-baseline")
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45, findings=(baseline_only,))
    timings = [r["occurrenceTiming"]["code"]["text"] for r in order_set.service_requests if "requisition" in r]
    assert len(timings) == 4 and not any(t.startswith("After") for t in timings)


@pytest.mark.parametrize("weight", [None, 0, -70, math.nan])
def test_missing_or_unusable_weight_cannot_compute_and_orders_no_ketamine(weight: float | None) -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=weight, age=45, findings=(h.ecg_finding(),))
    assert order_set.status == "cannot-compute"
    assert order_set.medication_requests == ()
    assert any("weight" in r.lower() for r in order_set.reasons)
    assert "weight" in order_set.dose_summary.lower()
    assert {i.key for i in order_set.instructions} >= {"consent-off-label", "opioid-one-species"}
    assert h.loinc_codes(order_set.service_requests) == [ECG_LOINC]  # pre-infusion test still offered


@pytest.mark.parametrize("protocol_id", [p.id for p in list_protocols()])
def test_critical_contraindication_marks_every_protocol_not_recommended(protocol_id: str) -> None:
    critical = h.critical_cv()
    order_set = h.build_order_set(protocol_id, weight_kg=80, age=45, findings=(critical,))
    assert order_set.status == "not-recommended"
    assert any(critical.summary in r for r in order_set.reasons)
    ketamine = h.ketamine_request(order_set)  # still generated, so that a clinician can override
    assert any("Not recommended" in n["text"] and "CI-CV" in n["text"] for n in ketamine["note"])


def test_contraindication_outranks_missing_weight() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=None, age=45, findings=(h.critical_cv(),))
    assert order_set.status == "not-recommended"
    assert any("weight" in r for r in order_set.reasons)


def test_warning_finding_calls_for_caution() -> None:
    moderate_liver = h.finding("CI-HEP", "warning", "Moderate hepatic impairment: use judiciously with monitoring")
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45, findings=(moderate_liver,))
    assert order_set.status == "caution"
    assert order_set.reasons == (f"CI-HEP: {moderate_liver.summary}",)


def test_child_is_not_offered_adult_protocols() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=40, age=12)
    assert order_set.status == "not-recommended"
    assert any("children" in r and "local default" in r for r in order_set.reasons)


def test_unknown_age_is_said_not_assumed() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=None)
    assert order_set.status == "caution"
    assert any("Age unknown" in r for r in order_set.reasons)


def test_instructions_carry_consent_opioid_follow_up_and_response_criteria() -> None:
    order_set = h.build_order_set("inpatient-multiday-infusion", weight_kg=80, age=45)
    by_key = {i.key: i for i in order_set.instructions}
    assert "conditional off-label" in by_key["consent-off-label"].text
    assert by_key["consent-off-label"].citation.section == "1.4"
    assert "one opioid species" in by_key["opioid-one-species"].text
    assert "24-48 hours" in by_key["phone-follow-up"].text
    assert by_key["discharge-plan"].citation.section.startswith("3.5")
    criteria = by_key["response-criteria"]
    assert "30%" in criteria.text and "20%" in criteria.text
    assert criteria.citation.section == "Guideline Question 8" and criteria.citation.grade


def test_oral_order_is_coded_by_ingredient_and_marked_research_only() -> None:
    order_set = h.build_order_set("oral-follow-on", weight_kg=80, age=45)
    request = h.ketamine_request(order_set)
    assert h.rxnorm_codes((request,)) == ["6130"]
    assert request["category"][0]["coding"][0]["code"] == "community"
    assert request["dosageInstruction"][0]["route"]["coding"][0]["code"] == "26643006"
    # 0.5 mg/kg x 80 kg = 40 mg every 6 h = 160 mg/day: capped at 35 mg (140 mg/day, within 150 mg/day)
    assert request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 35
    assert "research context" in request["text"]["div"]
    assert len(order_set.medication_requests) == 1  # no infusion companions or monitoring for oral doses
    codes = h.loinc_codes(order_set.service_requests)
    assert codes[0] == PAIN_LOINC and set(codes[1:]) == LFT_LOINC  # a 7-day course: baseline and post-course LFTs


def test_illustrative_order_carries_the_disclaimer_in_the_resource() -> None:
    request = h.ketamine_request(h.build_order_set("anzca-appendix-i-amr-2010", weight_kg=80, age=45))
    assert "does not endorse" in request["text"]["div"]
    assert any("does not endorse" in n["text"] for n in request["note"])


def test_bad_intent_is_rejected() -> None:
    with pytest.raises(ValueError, match="intent"):
        h.build_order_set(OUTPATIENT, weight_kg=80, age=45, intent="plan")  # type: ignore[arg-type]


@pytest.mark.parametrize(("weight", "age"), [("80", 45), (True, 45), (80, "45"), (80, -3)])
def test_malformed_inputs_are_reported_not_crashed_on(weight: object, age: object) -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=weight, age=age)  # type: ignore[arg-type]
    assert order_set.status in ("cannot-compute", "caution")
    assert order_set.reasons
