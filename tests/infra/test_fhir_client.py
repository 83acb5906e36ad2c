"""FhirClient against a mocked FHIR server: paging, token confinement, and every failure becoming a reason."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_app.fhir.client import FetchResult, FhirClient, FhirWriteError
from tests import fhir_factory as f

BASE = "https://ehr.example.org/fhir"
TOKEN = "secret-access-token-123"
PATIENT_ID = "pat-8891"


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "self", "url": f"{BASE}/Observation"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }


def search(resource_type: str = "Observation", *, budget_s: float = 5.0, **client_kw: Any) -> FetchResult:
    async def go() -> FetchResult:
        async with FhirClient(BASE, access_token=TOKEN, **client_kw) as fhir:
            return await fhir.search_all(resource_type, {"patient": PATIENT_ID}, deadline=time.monotonic() + budget_s)

    return asyncio.run(go())


@respx.mock
def test_follows_next_pages_on_the_same_server_with_the_token() -> None:
    first, second = f.weight(70), f.blood_pressure(130, 80)
    route = respx.get(f"{BASE}/Observation")
    route.side_effect = [
        httpx.Response(200, json=searchset(first, next_url=f"{BASE}/Observation?page=2")),
        httpx.Response(200, json=searchset(second)),
    ]
    result = search()
    assert result.ok and result.complete and result.problem is None
    assert [r["id"] for r in result.resources] == [first["id"], second["id"]]
    assert route.call_count == 2
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in route.calls)
    assert route.calls[0].request.url.params["patient"] == PATIENT_ID
    assert route.calls[1].request.url.params["page"] == "2"


@respx.mock
def test_relative_next_link_is_resolved_against_the_base_url() -> None:
    route = respx.get(f"{BASE}/Observation")
    route.side_effect = [
        httpx.Response(200, json=searchset(f.weight(70), next_url="Observation?page=2")),
        httpx.Response(200, json=searchset(f.weight(71))),
    ]
    result = search()
    assert result.complete and len(result.resources) == 2


@respx.mock
def test_next_link_to_another_host_is_not_followed_and_results_marked_incomplete() -> None:
    respx.get(f"{BASE}/Observation").respond(
        200, json=searchset(f.weight(70), next_url="https://evil.example.com/fhir/Observation?page=2")
    )
    foreign = respx.get("https://evil.example.com/fhir/Observation")
    result = search()
    assert not foreign.called  # the bearer token never leaves the EHR's origin
    assert result.ok and not result.complete
    assert len(result.resources) == 1
    assert result.problem is not None and "another host" in result.problem


@respx.mock
def test_page_cap_stops_endless_paging() -> None:
    pages = itertools.count(2)
    respx.get(f"{BASE}/Observation").mock(
        side_effect=lambda request: httpx.Response(
            200, json=searchset(f.weight(70), next_url=f"{BASE}/Observation?page={next(pages)}")
        )
    )
    result = search(max_pages=3)
    assert len(result.resources) == 3
    assert not result.complete and result.problem is not None and "3 pages" in result.problem


@respx.mock
def test_next_link_pointing_back_is_not_followed_forever() -> None:
    respx.get(f"{BASE}/Observation").respond(200, json=searchset(f.weight(70), next_url=f"{BASE}/Observation?page=1"))
    result = search()
    assert not result.complete and "repeats a page already read" in (result.problem or "")


@respx.mock
def test_timeout_is_reported_not_raised() -> None:
    respx.get(f"{BASE}/Observation").mock(side_effect=httpx.ReadTimeout("slow"))
    result = search(timeout_s=2.0)
    assert not result.ok and not result.complete
    assert result.problem == "Observation search timed out after 2.0 s"


@respx.mock
def test_unreachable_server_is_reported() -> None:
    respx.get(f"{BASE}/Condition").mock(side_effect=httpx.ConnectError("refused"))
    result = search("Condition")
    assert not result.ok and result.problem == "FHIR server unreachable for Condition search"


@pytest.mark.parametrize("base_url", ["not a url", "ftp://ehr.example.org/fhir", "http://[bad/fhir", ""])
def test_malformed_fhir_server_url_is_reported(base_url: str) -> None:
    async def go() -> FetchResult:
        async with FhirClient(base_url, access_token=TOKEN) as fhir:
            return await fhir.search_all("Observation", {"patient": PATIENT_ID}, deadline=time.monotonic() + 5)

    result = asyncio.run(go())
    assert not result.ok and result.problem == "FHIR server unreachable for Observation search"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "FHIR server returned 401 Unauthorized for Observation search"),
        (403, "FHIR server returned 403 Forbidden for Observation search"),
        (500, "FHIR server returned 500 Internal Server Error for Observation search"),
        (503, "FHIR server returned 503 Service Unavailable for Observation search"),
    ],
)
@respx.mock
def test_http_errors_become_reasons(status: int, expected: str) -> None:
    respx.get(f"{BASE}/Observation").respond(status, text="<html>error</html>")
    result = search()
    assert not result.ok and result.resources == []
    assert result.problem == expected


@respx.mock
def test_operation_outcome_diagnostics_are_reported_truncated() -> None:
    respx.get(f"{BASE}/Observation").respond(400, json=outcome("Unknown search parameter 'foo'. " + "x" * 500))
    result = search()
    assert not result.ok
    assert result.problem is not None
    assert result.problem.startswith("FHIR server returned 400 Bad Request for Observation search: Unknown search")
    assert len(result.problem) < 300


@respx.mock
def test_operation_outcome_with_200_is_a_failure() -> None:
    respx.get(f"{BASE}/Observation").respond(200, json=outcome("too many results"))
    result = search()
    assert not result.ok and result.problem == "Observation search returned an OperationOutcome: too many results"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>login page</html>", "response to Observation search is not JSON"),
        (b'{"resourceType": "Patient", "id": "x"}', "response to Observation search is not a FHIR Bundle"),
        (b"[1, 2, 3]", "response to Observation search is not a FHIR Bundle"),
        (b"", "response to Observation search is not JSON"),
    ],
)
@respx.mock
def test_garbage_bodies_become_reasons(body: bytes, expected: str) -> None:
    respx.get(f"{BASE}/Observation").respond(200, content=body)
    result = search()
    assert not result.ok and result.problem == expected


@respx.mock
def test_failure_on_a_later_page_keeps_earlier_pages_but_flags_incomplete() -> None:
    route = respx.get(f"{BASE}/Observation")
    route.side_effect = [
        httpx.Response(200, json=searchset(f.weight(70), next_url=f"{BASE}/Observation?page=2")),
        httpx.Response(500),
    ]
    result = search()
    assert result.ok and not result.complete and len(result.resources) == 1
    assert result.problem is not None and "500" in result.problem and "incomplete" in result.problem


@respx.mock
def test_outcome_entries_in_a_searchset_are_dropped() -> None:
    bundle = searchset(f.weight(70))
    bundle["entry"].append({"resource": outcome("some warning"), "search": {"mode": "outcome"}})
    respx.get(f"{BASE}/Observation").respond(200, json=bundle)
    result = search()
    assert [r["resourceType"] for r in result.resources] == ["Observation"]


@respx.mock
def test_fetch_patient_data_runs_queries_within_one_budget() -> None:
    async def never_answers(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=searchset())

    respx.get(f"{BASE}/Condition").respond(200, json=searchset(f.condition(f.SNOMED, "38341003", "Hypertension")))
    respx.get(f"{BASE}/Observation").mock(side_effect=never_answers)
    respx.get(f"{BASE}/MedicationRequest").respond(401)

    async def go() -> dict[str, FetchResult]:
        async with FhirClient(BASE, access_token=TOKEN, timeout_s=10.0) as fhir:
            return await fhir.fetch_patient_data(
                PATIENT_ID,
                {
                    "conditions": ("Condition", {"clinical-status": "active"}),
                    "vitals": ("Observation", {"category": "vital-signs"}),
                    "orders": ("MedicationRequest", {}),
                },
                budget_s=0.3,
            )

    results = asyncio.run(go())
    assert results["conditions"].ok and len(results["conditions"].resources) == 1
    # The limit named is what was left of the 0.3 s budget when the search started (less on a loaded machine).
    assert not results["vitals"].ok
    assert re.fullmatch(r"Observation search timed out after 0\.[0-3] s", results["vitals"].problem or "")
    assert not results["orders"].ok and "401" in (results["orders"].problem or "")
    assert results["conditions"].key == "conditions"


@respx.mock
def test_every_query_is_scoped_to_the_patient() -> None:
    observation = respx.get(f"{BASE}/Observation").respond(200, json=searchset())
    patient = respx.get(f"{BASE}/Patient").respond(200, json=searchset(f.patient()))

    async def go() -> None:
        async with FhirClient(BASE, access_token=TOKEN) as fhir:
            await fhir.fetch_patient_data(
                PATIENT_ID,
                {"obs": ("Observation", {"code": "29463-7"}), "pt": ("Patient", {})},
                budget_s=5,
            )
            await fhir.fetch_patient_data(
                PATIENT_ID, {"obs": ("Observation", {"subject": "Patient/{{context.patientId}}"})}, budget_s=5
            )

    asyncio.run(go())
    first, templated = (call.request.url.params for call in observation.calls)
    assert first["patient"] == PATIENT_ID and first["code"] == "29463-7"
    assert templated["subject"] == f"Patient/{PATIENT_ID}" and "patient" not in templated
    assert patient.calls[0].request.url.params["_id"] == PATIENT_ID


@respx.mock
def test_invalid_patient_id_fetches_nothing() -> None:
    route = respx.get(f"{BASE}/Observation").respond(200, json=searchset())

    async def go() -> dict[str, FetchResult]:
        async with FhirClient(BASE, access_token=TOKEN) as fhir:
            return await fhir.fetch_patient_data("x&_id=other", {"obs": ("Observation", {})}, budget_s=5)

    results = asyncio.run(go())
    assert not route.called
    assert not results["obs"].ok and "not a valid FHIR id" in (results["obs"].problem or "")


@respx.mock
def test_logs_carry_neither_token_nor_patient_id(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(f"{BASE}/Observation").respond(200, json=searchset(f.weight(70)))
    respx.get(f"{BASE}/Condition").respond(401, json=outcome(f"no access to Patient/{PATIENT_ID}"))
    with caplog.at_level(logging.DEBUG):
        search("Observation")
        search("Condition")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Observation search -> 200" in logged
    assert TOKEN not in logged and PATIENT_ID not in logged


@respx.mock
def test_read_by_reference() -> None:
    respx.get(f"{BASE}/Patient/{PATIENT_ID}").respond(200, json={**f.patient(), "id": PATIENT_ID})
    respx.get(f"{BASE}/Patient/gone").respond(404, json=outcome("Resource Patient/gone is not known"))

    async def go() -> tuple[FetchResult, FetchResult, FetchResult]:
        async with FhirClient(BASE, access_token=TOKEN) as fhir:
            deadline = time.monotonic() + 5
            return (
                await fhir.read(f"Patient/{PATIENT_ID}", deadline=deadline),
                await fhir.read("Patient/gone", deadline=deadline),
                await fhir.read("../admin", deadline=deadline),
            )

    found, missing, bad = asyncio.run(go())
    assert found.ok and found.resources[0]["id"] == PATIENT_ID
    assert not missing.ok and (missing.problem or "").startswith("FHIR server returned 404 Not Found for Patient read")
    assert not bad.ok and bad.problem == "reference is not of the form ResourceType/id"


@respx.mock
def test_create_returns_the_stored_resource() -> None:
    draft = f.medication_request("1049621", "oxycodone 5 MG Oral Tablet", status="draft", intent="proposal")
    route = respx.post(f"{BASE}/MedicationRequest").mock(
        side_effect=lambda request: httpx.Response(201, content=request.content.replace(b'"mr-', b'"srv-mr-'))
    )

    async def go() -> dict[str, Any]:
        async with FhirClient(BASE, access_token=TOKEN) as fhir:
            return await fhir.create(draft)

    created = asyncio.run(go())
    assert created["id"].startswith("srv-mr-") and created["status"] == "draft"
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert route.calls[0].request.headers["Content-Type"] == "application/fhir+json"


@respx.mock
def test_create_without_body_reads_back_the_location() -> None:
    draft = f.medication_request("1049621", "oxycodone 5 MG Oral Tablet", status="draft")
    respx.post(f"{BASE}/MedicationRequest").respond(
        201, headers={"Location": f"{BASE}/MedicationRequest/77/_history/1"}
    )
    respx.get(f"{BASE}/MedicationRequest/77").respond(200, json={**draft, "id": "77"})

    async def go() -> dict[str, Any]:
        async with FhirClient(BASE, access_token=TOKEN) as fhir:
            return await fhir.create(draft)

    assert asyncio.run(go())["id"] == "77"


@respx.mock
def test_create_refused_raises_with_status_and_outcome() -> None:
    respx.post(f"{BASE}/MedicationRequest").respond(422, json=outcome("MedicationRequest.subject is required"))

    async def go() -> None:
        async with FhirClient(BASE, access_token=TOKEN) as fhir:
            await fhir.create({"resourceType": "MedicationRequest"})

    with pytest.raises(FhirWriteError) as raised:
        asyncio.run(go())
    assert raised.value.status == 422
    assert "MedicationRequest.subject is required" in str(raised.value)


@respx.mock
def test_create_on_unreachable_server_raises_clear_error() -> None:
    respx.post(f"{BASE}/MedicationRequest").mock(side_effect=httpx.ConnectError("refused"))

    async def go() -> None:
        async with FhirClient(BASE, access_token=None) as fhir:
            await fhir.create({"resourceType": "MedicationRequest"})

    with pytest.raises(FhirWriteError, match="unreachable") as raised:
        asyncio.run(go())
    assert raised.value.status is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
BUNDLE_LIKE = st.fixed_dictionaries(
    {"resourceType": st.just("Bundle")},
    optional={"entry": JSON_VALUES, "link": JSON_VALUES, "type": JSON_VALUES},
)


@settings(max_examples=30, deadline=None)
@given(body=JSON_VALUES | BUNDLE_LIKE, status=st.sampled_from([200, 400, 404, 500]))
def test_any_json_answer_gives_a_result_never_an_exception(body: Any, status: int) -> None:
    with respx.mock:
        respx.get(f"{BASE}/Observation").respond(status, json=body)
        respx.get(url__regex=r".*").respond(200, json=body)
        result = search()
    assert isinstance(result, FetchResult)
    assert result.ok or result.problem
    assert all(isinstance(r, dict) and isinstance(r.get("resourceType"), str) for r in result.resources)
