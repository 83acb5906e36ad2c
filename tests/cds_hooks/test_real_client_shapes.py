"""Requests as real CDS clients send them, over HTTP (issue 10): drugs by reference (Epic's draftOrders Bundle,
prefetch, the FHIR server), CDS Hooks sandbox R4 and STU3 drafts, Epic order-select with `selections` among
several drafts, order-sign with a ketamine and an opioid draft together, drafts that cannot be identified, and a
`fhirAuthorization` without `expires_in` or `subject`."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import respx

from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import prefetch_for
from tests import fhir_factory as f
from tests.cds_hooks.support import FHIR_BASE, cards_of, client, ketamine_infusion, oxycodone_draft, topic

KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"
KETAMINE_SELECT = "/cds-services/ketamine-safety-order-select"
OPIOID_SIGN = "/cds-services/opioid-mme-order-sign"
PATIENT = "example"
UCUM = f.UCUM


def patient_data(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [f.patient("1975-05-01"), f.weight(70), *extra]


def body(
    hook: str,
    entries: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    *,
    queries: tuple[Any, ...] = KETAMINE_QUERIES,
    selections: list[str] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A hook request whose draftOrders Bundle holds `entries` exactly as given (Medications too)."""
    context: dict[str, Any] = {
        "userId": "Practitioner/example",
        "patientId": PATIENT,
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e} for e in entries]},
    }
    if selections is not None:
        context["selections"] = selections
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch_for(resources, queries),
        **top,
    }


def ketamine_bag(mid: str = "ket-bag") -> dict[str, Any]:
    """An Epic-style Medication for a mixed bag: ketamine 1 mg/mL (the strength of the ingredient is stated)."""
    return {
        "resourceType": "Medication",
        "id": mid,
        "code": {"text": "ketamine 100 mg in sodium chloride 0.9% 100 mL infusion"},
        "ingredient": [
            {
                "itemCodeableConcept": f.rxnorm("6130", "ketamine"),
                "strength": {
                    "numerator": {"value": 1, "unit": "mg", "system": UCUM, "code": "mg"},
                    "denominator": {"value": 1, "unit": "mL", "system": UCUM, "code": "mL"},
                },
            }
        ],
    }


def by_reference(reference: str, ml_per_h: float, rid: str = "draft-ket") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationReference": {"reference": reference, "display": "ketamine infusion"},
        "dosageInstruction": [
            {
                "route": {"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")]},
                "timing": {"repeat": {"duration": 4, "durationUnit": "h"}},
                "doseAndRate": [{"rateQuantity": {"value": ml_per_h, "unit": "mL/h", "system": UCUM, "code": "mL/h"}}],
            }
        ],
    }


def oxycodone_medication(mid: str = "oxy-5") -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": mid,
        "code": f.rxnorm("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
    }


def oxycodone_by_reference(reference: str, tablets: float = 2, rid: str = "draft-oxy") -> dict[str, Any]:
    draft = oxycodone_draft(tablets, rid=rid)
    draft.pop("medicationCodeableConcept")
    draft["medicationReference"] = {"reference": reference}
    draft["subject"] = {"reference": f"Patient/{PATIENT}"}
    return draft


def test_epic_order_sign_with_the_medication_in_the_draft_orders_bundle_gets_full_checks(tmp_path: Path) -> None:
    entries = [by_reference("Medication/ket-bag", 210), ketamine_bag()]  # 210 mL/h of 1 mg/mL = 3 mg/kg/h
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=body("order-sign", entries, patient_data())))
    rate = next(card for card in cards if topic(card) == "DOSE-RATE")
    assert rate["indicator"] == "critical" and "3.00 mg/kg/h" in rate["summary"]


def test_epic_opioid_by_reference_in_the_bundle_is_counted(tmp_path: Path) -> None:
    entries = [oxycodone_by_reference("Medication/oxy-5"), oxycodone_medication()]
    with client(tmp_path) as c:
        (card,) = cards_of(
            c.post(OPIOID_SIGN, json=body("order-sign", entries, patient_data(), queries=OPIOID_QUERIES))
        )
    assert card["extension"]["total_mme_per_day"] == pytest.approx(60) and card["extension"]["complete"]


def test_a_medication_in_the_prefetch_resolves_the_reference(tmp_path: Path) -> None:
    resources = patient_data(ketamine_bag("bag-7"))
    request = body("order-sign", [by_reference("Medication/bag-7", 210)], resources)
    request["prefetch"]["medicationRequests"]["entry"].append({"resource": ketamine_bag("bag-7")})
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert any(topic(card) == "DOSE-RATE" and card["indicator"] == "critical" for card in cards)


def test_a_medication_read_from_the_fhir_server_resolves_the_reference(tmp_path: Path) -> None:
    request = body("order-sign", [by_reference("Medication/bag-9", 210)], patient_data(), fhirServer=FHIR_BASE)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(f"{FHIR_BASE}/Medication/bag-9").respond(json=ketamine_bag("bag-9"))
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert route.called
    assert any(topic(card) == "DOSE-RATE" and card["indicator"] == "critical" for card in cards)


def test_a_draft_whose_drug_cannot_be_identified_gets_a_card_naming_it_and_no_checks(tmp_path: Path) -> None:
    schizophrenia = f.condition(f.ICD10CM, "F20.9", "Schizophrenia, unspecified")
    draft = by_reference("Medication/gone", 35)
    draft["medicationReference"].pop("display")
    request = body("order-sign", [draft], patient_data(schizophrenia), fhirServer=FHIR_BASE)
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{FHIR_BASE}/Medication/gone").respond(status_code=404)
        with client(tmp_path) as c:
            ketamine = cards_of(c.post(KETAMINE_SIGN, json=request))
            opioid = cards_of(c.post(OPIOID_SIGN, json={**request, "hookInstance": str(uuid.uuid4())}))
    (card,) = ketamine  # no CI-PSY: nothing is run on a draft that may not be ketamine at all
    assert topic(card) == "DATA-UNAVAILABLE"
    assert "MedicationRequest/draft-ket" in card["detail"] and "could not be identified" in card["detail"]
    (card,) = opioid
    assert topic(card) == "DATA-UNAVAILABLE" and "MedicationRequest/draft-ket" in card["detail"]


def test_an_unreadable_draft_of_another_drug_runs_no_ketamine_checks(tmp_path: Path) -> None:
    midazolam = f.medication_request("311700", "midazolam 1 MG/ML Injectable Solution", status="draft", rid="mdz")
    midazolam["dosageInstruction"] = "2 mg IV"  # invalid R4
    schizophrenia = f.condition(f.ICD10CM, "F20.9", "Schizophrenia, unspecified")
    request = body("order-sign", [midazolam], patient_data(schizophrenia))
    with client(tmp_path) as c:
        assert cards_of(c.post(KETAMINE_SIGN, json=request)) == []
        assert cards_of(c.post(OPIOID_SIGN, json={**request, "hookInstance": str(uuid.uuid4())})) == []


def test_an_unreadable_draft_whose_drug_cannot_be_told_is_named_without_running_checks(tmp_path: Path) -> None:
    broken = {
        "resourceType": "MedicationRequest",
        "id": "odd",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": "ketamine?",
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    schizophrenia = f.condition(f.ICD10CM, "F20.9", "Schizophrenia, unspecified")
    with client(tmp_path) as c:
        (card,) = cards_of(c.post(KETAMINE_SIGN, json=body("order-sign", [broken], patient_data(schizophrenia))))
    assert topic(card) == "DATA-UNAVAILABLE" and "MedicationRequest/odd" in card["detail"]


def test_the_opioid_service_is_silent_for_a_non_opioid_order(tmp_path: Path) -> None:
    request = body("order-sign", [ketamine_infusion(35)], patient_data(), queries=OPIOID_QUERIES)
    with client(tmp_path) as c:
        assert cards_of(c.post(OPIOID_SIGN, json=request)) == []


def test_the_mme_card_never_claims_completeness_when_a_draft_was_left_out(tmp_path: Path) -> None:
    unknown = {
        "resourceType": "MedicationRequest",
        "id": "mystery",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": "Medication/nowhere"},
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    entries = [oxycodone_draft(1, per_day=2), unknown]  # 15 MME/day: below the first level
    request = body("order-sign", entries, patient_data(), queries=OPIOID_QUERIES)
    with client(tmp_path) as c:
        cards = cards_of(c.post(OPIOID_SIGN, json=request))
    mme = next(card for card in cards if topic(card) == "MME")
    assert mme["extension"]["complete"] is False
    assert "at least" in mme["summary"] and "MedicationRequest/mystery" in mme["detail"]


def test_an_opioid_draft_that_could_not_be_read_is_left_out_of_the_total_visibly(tmp_path: Path) -> None:
    broken = oxycodone_draft(rid="oxy-broken")
    broken["dosageInstruction"] = [{"timing": "QID"}]  # invalid R4 Timing
    entries = [oxycodone_draft(2, rid="oxy-ok"), broken]
    request = body("order-sign", entries, patient_data(), queries=OPIOID_QUERIES)
    with client(tmp_path) as c:
        cards = cards_of(c.post(OPIOID_SIGN, json=request))
    mme = next(card for card in cards if topic(card) == "MME")
    assert mme["extension"]["complete"] is False
    left = [m for m in mme["extension"]["medications"] if m["status"] == "not-computable"]
    assert left and "could not be read" in left[0]["reason"]


def _sandbox_r4_oxycodone() -> dict[str, Any]:
    """The sandbox's R4 draft: `category` as a single object, `{pill}` doses."""
    return {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "intent": "order",
        "category": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient"}
            ]
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": "2026-11-21",
        "medicationCodeableConcept": f.rxnorm("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
        "dosageInstruction": [
            {
                "doseAndRate": [{"doseQuantity": {"value": 2, "system": UCUM, "code": "{pill}"}}],
                "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
            }
        ],
    }


def test_sandbox_r4_drafts_with_a_single_category_object_are_checked(tmp_path: Path) -> None:
    request = body("order-sign", [_sandbox_r4_oxycodone()], patient_data(), queries=OPIOID_QUERIES)
    with client(tmp_path) as c:
        (card,) = cards_of(c.post(OPIOID_SIGN, json=request))
    assert card["extension"]["total_mme_per_day"] == pytest.approx(60) and card["extension"]["complete"]
    assert "with this order" in card["summary"]


def test_sandbox_stu3_drafts_are_converted(tmp_path: Path) -> None:
    stu3 = {
        "resourceType": "MedicationRequest",
        "id": "stu3-ket",
        "status": "draft",
        "intent": "order",
        "category": {"coding": [{"system": "http://hl7.org/fhir/medication-request-category", "code": "inpatient"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "requester": {"agent": {"reference": "Practitioner/example"}},
        "context": {"reference": "Encounter/e1"},
        "medicationCodeableConcept": f.rxnorm("238082", "ketamine 10 MG/ML Injectable Solution"),
        "dosageInstruction": [
            {
                "route": {"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")]},
                "timing": {"repeat": {"duration": 4, "durationUnit": "h"}},
                "rateQuantity": {"value": 210, "unit": "mg/h", "system": UCUM, "code": "mg/h"},
            }
        ],
    }
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=body("order-sign", [stu3], patient_data())))
    assert any(topic(card) == "DOSE-RATE" and card["indicator"] == "critical" for card in cards)
    assert not any(topic(card) == "DATA-UNAVAILABLE" and "stu3-ket" in card["detail"] for card in cards)


def test_epic_order_select_checks_the_selected_draft_among_several(tmp_path: Path) -> None:
    epidural = ketamine_infusion(35, rid="ket-epidural")
    epidural["dosageInstruction"][0]["route"] = {"coding": [{"system": f.SNOMED, "code": "404820008"}]}
    entries = [oxycodone_draft(rid="oxy"), epidural, ketamine_infusion(35, rid="ket-iv")]
    with client(tmp_path) as c:
        chosen = cards_of(
            c.post(
                KETAMINE_SELECT,
                json=body("order-select", entries, patient_data(), selections=["MedicationRequest/ket-epidural"]),
            )
        )
        other = cards_of(
            c.post(
                KETAMINE_SELECT,
                json=body("order-select", entries, patient_data(), selections=["MedicationRequest/oxy"]),
            )
        )
    neuraxial = next(card for card in chosen if topic(card) == "ROUTE-NEURAX")
    assert neuraxial["indicator"] == "critical"
    assert other == []


def test_order_sign_with_a_ketamine_and_an_opioid_draft_together(tmp_path: Path) -> None:
    entries = [ketamine_infusion(210, rid="ket"), oxycodone_draft(2, rid="oxy")]  # 3 mg/kg/h; 60 MME/day
    with client(tmp_path) as c:
        ketamine = cards_of(c.post(KETAMINE_SIGN, json=body("order-sign", entries, patient_data())))
        opioid = cards_of(c.post(OPIOID_SIGN, json=body("order-sign", entries, patient_data(), queries=OPIOID_QUERIES)))
    assert any(topic(card) == "DOSE-RATE" and card["indicator"] == "critical" for card in ketamine)
    assert not any("oxy" in (card.get("extension") or {}).get("subject", "") for card in ketamine)
    (mme,) = opioid
    assert mme["extension"]["total_mme_per_day"] == pytest.approx(60)
    assert [m["id"] for m in mme["extension"]["medications"]] == ["MedicationRequest/oxy"]


def test_fhir_authorization_without_expires_in_or_subject_is_accepted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "sandbox-token-secret"
    request = body(
        "order-sign",
        [ketamine_infusion(210)],
        patient_data(),
        fhirServer=FHIR_BASE,
        fhirAuthorization={"access_token": token, "token_type": "Bearer", "scope": "user/*.read"},
    )
    caplog.set_level(logging.INFO)
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert any(topic(card) == "DOSE-RATE" for card in cards)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "fhirAuthorization lacks expires_in, subject" in text
    assert token not in text
