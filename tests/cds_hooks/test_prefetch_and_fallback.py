"""Every prefetch shape (absent, null, OperationOutcome, Bundle, paged Bundle) and the FHIR server fallback.

The service decides on whatever data it can get, shows every finding that data supports, names what it could not
check, and answers 412 only when no patient data at all could be had. A failing FHIR server never gives a 500.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.data import gather
from smart_app.cds_hooks.prefetch import CONDITIONS, KETAMINE_QUERIES, OBSERVATIONS, PATIENT
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from tests import fhir_factory as f
from tests.cds_hooks.support import FHIR_BASE, cards_of, client, patient_id, sample_order, sample_patient, topic

KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


def _searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _gather(prefetch: dict[str, Any] | None, *, server: bool = False) -> Any:
    body = hook_request(
        "order-sign",
        patient_id="example",
        fhir_server=FHIR_BASE if server else None,
        access_token="tok" if server else None,
    )
    if prefetch is not None:
        body["prefetch"] = prefetch
    return asyncio.run(gather(HookRequest.model_validate(body), (PATIENT, CONDITIONS, OBSERVATIONS), budget_s=2.0))


def test_each_prefetch_shape_without_a_fhir_server() -> None:
    htn = f.condition(f.SNOMED, "59621000", "Essential hypertension")
    data = _gather(
        {
            "patient": f.patient(),  # a read: the resource
            "conditions": _searchset(htn, next_url=f"{FHIR_BASE}/Condition?page=2"),  # first page only
            "observations": OUTCOME,  # the EHR's prefetch failed
        }
    )
    assert {r["resourceType"] for r in data.resources} == {"Patient", "Condition"}
    reasons = {u.query.key: u for u in data.unavailable}
    assert reasons["conditions"].partial and "first page" in reasons["conditions"].reason
    assert not reasons["observations"].partial and "timeout" in reasons["observations"].reason
    assert "no FHIR server" in reasons["observations"].reason


def test_null_means_no_data_and_absent_means_not_prefetched() -> None:
    data = _gather({"patient": f.patient(), "conditions": None})
    assert "conditions" in data.available  # null: the EHR has none, which is an answer
    assert [u.query.key for u in data.unavailable] == ["observations"]
    assert "not prefetched" in data.unavailable[0].reason


def test_no_prefetch_and_no_server_is_a_412_with_an_operation_outcome(tmp_path: Path) -> None:
    body = hook_request("order-sign", patient_id="example", drafts=[sample_order("ketamine-infusion-outpatient")])
    with client(tmp_path) as c:
        response = c.post(KETAMINE_SIGN, json=body)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"


def test_contraindication_is_shown_when_observations_failed_and_the_gap_is_named(tmp_path: Path) -> None:
    resources = sample_patient("psychosis-glaucoma")
    prefetch = prefetch_for(resources, KETAMINE_QUERIES)
    prefetch["observations"] = OUTCOME
    body = hook_request(
        "order-sign",
        patient_id=patient_id(resources),
        drafts=[sample_order("ketamine-infusion-outpatient")],
        prefetch=prefetch,
    )
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=body))
    assert cards[0]["indicator"] == "critical"
    gap = next(card for card in cards if topic(card) == "DATA-UNAVAILABLE")
    assert gap["indicator"] == "info"
    assert "Observations were unavailable" in gap["detail"] and "ECG/LFT look-back" in gap["detail"]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (httpx.Response(500, json=OUTCOME), "500"),
        (httpx.Response(401), "401"),
        (httpx.Response(403, text="<html>forbidden</html>"), "403"),
        (httpx.Response(200, text="not json at all"), "not JSON"),
        (httpx.ConnectTimeout("slow"), "timed out"),
        (httpx.ConnectError("down"), "unreachable"),
    ],
)
def test_fhir_server_failures_for_one_key_never_hide_findings_or_give_500(
    tmp_path: Path, failure: Any, reason: str
) -> None:
    resources = sample_patient("psychosis-glaucoma")
    prefetch = prefetch_for(resources, KETAMINE_QUERIES)
    del prefetch["observations"]  # the client chose not to prefetch them: the service must fetch
    body = hook_request(
        "order-sign",
        patient_id=patient_id(resources),
        drafts=[sample_order("ketamine-infusion-outpatient")],
        prefetch=prefetch,
        fhir_server=FHIR_BASE,
        access_token="opaque-token",
    )
    with respx.mock(assert_all_called=True) as mock:
        if isinstance(failure, Exception):
            mock.get(f"{FHIR_BASE}/Observation").mock(side_effect=failure)
        else:
            mock.get(f"{FHIR_BASE}/Observation").mock(return_value=failure)
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=body))
    assert cards[0]["indicator"] == "critical"
    gap = next(card for card in cards if topic(card) == "DATA-UNAVAILABLE")
    assert reason in gap["detail"]


def test_missing_keys_are_fetched_with_the_bearer_token_following_pages(tmp_path: Path) -> None:
    resources = sample_patient("cardiac-uncontrolled-bp")
    pid = patient_id(resources)
    by_type = {t: [r for r in resources if r["resourceType"] == t] for t in ("Patient", "Condition", "Observation")}
    page2 = f"{FHIR_BASE}/Condition?patient={pid}&page=2"
    body = hook_request(
        "order-sign",
        patient_id=pid,
        drafts=[sample_order("ketamine-infusion-outpatient")],
        fhir_server=FHIR_BASE,
        access_token="opaque-token",
    )
    with respx.mock(assert_all_called=False) as mock:
        mock.get(page2).respond(json=_searchset(*by_type["Condition"][1:]))
        conditions = mock.get(f"{FHIR_BASE}/Condition").respond(
            json=_searchset(*by_type["Condition"][:1], next_url=page2)
        )
        mock.get(f"{FHIR_BASE}/Patient").respond(json=_searchset(*by_type["Patient"]))
        mock.get(f"{FHIR_BASE}/Observation").respond(json=_searchset(*by_type["Observation"]))
        mock.get(url__regex=rf"{FHIR_BASE}/.*").respond(json=_searchset())
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=body))
    assert conditions.calls[0].request.headers["Authorization"] == "Bearer opaque-token"
    assert topic(cards[0]) == "CI-CV"
    assert "Condition/cardiac-htn" in cards[0]["detail"], "the hypertension Condition came from page 2"
    assert not [card for card in cards if topic(card) == "DATA-UNAVAILABLE"]


def test_paged_prefetch_bundle_is_completed_from_the_server(tmp_path: Path) -> None:
    resources = sample_patient("cardiac-uncontrolled-bp")
    pid = patient_id(resources)
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    prefetch = prefetch_for(resources, KETAMINE_QUERIES)
    prefetch["conditions"] = _searchset(conditions[0], next_url=f"{FHIR_BASE}/Condition?page=2")
    body = hook_request(
        "order-sign",
        patient_id=pid,
        drafts=[sample_order("ketamine-infusion-outpatient")],
        prefetch=prefetch,
        fhir_server=FHIR_BASE,
        access_token="opaque-token",
    )
    with respx.mock() as mock:
        mock.get(f"{FHIR_BASE}/Condition").respond(json=_searchset(*conditions))
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=body))
    assert "Condition/cardiac-htn" in cards[0]["detail"], "the rest of the paged prefetch was fetched"
    assert not [card for card in cards if topic(card) == "DATA-UNAVAILABLE"]


def test_server_down_and_no_prefetch_is_a_412(tmp_path: Path) -> None:
    body = hook_request(
        "order-sign",
        patient_id="example",
        drafts=[sample_order("ketamine-infusion-outpatient")],
        fhir_server=FHIR_BASE,
        access_token="opaque-token",
    )
    with respx.mock() as mock:
        mock.get(url__regex=rf"{FHIR_BASE}/.*").mock(side_effect=httpx.ConnectError("down"))
        with client(tmp_path) as c:
            response = c.post(KETAMINE_SIGN, json=body)
    assert response.status_code == 412
    assert "unreachable" in response.json()["issue"][0]["diagnostics"]


def test_a_slow_fhir_server_is_cut_off_by_the_budget_and_named(tmp_path: Path) -> None:
    resources = sample_patient("psychosis-glaucoma")
    prefetch = prefetch_for(resources, KETAMINE_QUERIES)
    del prefetch["observations"]

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=_searchset())

    body = hook_request(
        "order-sign",
        patient_id=patient_id(resources),
        drafts=[sample_order("ketamine-infusion-outpatient")],
        prefetch=prefetch,
        fhir_server=FHIR_BASE,
        access_token="opaque-token",
    )
    with respx.mock(assert_all_called=False) as mock:  # the hung call is cancelled, so never recorded
        mock.get(f"{FHIR_BASE}/Observation").mock(side_effect=hang)
        with client(tmp_path, fhir_budget_s=0.2) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=body))
    assert cards[0]["indicator"] == "critical"
    gap = next(card for card in cards if topic(card) == "DATA-UNAVAILABLE")
    # On a loaded machine the search may not even start within 0.2 s; either way the gap names the budget.
    assert "timed out" in gap["detail"] or "time budget used up" in gap["detail"]
    assert "Observations were unavailable" in gap["detail"]


def test_a_fhir_server_off_the_allow_list_is_not_contacted(tmp_path: Path) -> None:
    body = hook_request(
        "order-sign",
        patient_id="example",
        drafts=[sample_order("ketamine-infusion-outpatient")],
        fhir_server="https://internal.example.net/admin",
        access_token="opaque-token",
    )
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        with client(tmp_path, fhir_server_allowlist=(FHIR_BASE,)) as c:
            response = c.post(KETAMINE_SIGN, json=body)
    assert not route.called
    assert response.status_code == 412
    assert "allow-list" in response.json()["issue"][0]["diagnostics"]
