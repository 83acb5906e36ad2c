"""FhirClient against a real FHIR server (sekmet-fhir started by the test) loaded with a sample patient."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smart_app.fhir.client import FetchResult, FhirClient
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.fhir_server import FhirServerError, running_fhir_server

TOKEN = "integration-token"
QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "conditions": ("Condition", {}),
    "orders": ("MedicationRequest", {}),
    "statements": ("MedicationStatement", {}),
    "observations": ("Observation", {"_count": "1"}),  # one per page, so paging is exercised
}


def sample_patient() -> tuple[dict[str, Any], dict[str, Any]]:
    """The sample patient, and an unrelated patient whose data must never come back."""
    other = {**f.patient(birth_date="1950-01-01", gender="male"), "id": "other"}
    other_weight = {**f.weight(95), "subject": {"reference": "Patient/other"}}
    sample = f.bundle(
        f.patient(),
        f.condition(f.SNOMED, "38341003", "Hypertensive disorder", rid="cond-htn"),
        f.medication_request(
            "1049621",
            "oxycodone hydrochloride 5 MG Oral Tablet",
            dosages=[f.dosage(dose=f.dose_quantity(1), frequency=4)],
            rid="mr-oxy",
        ),
        f.medication_statement(
            "892494", "morphine sulfate 10 MG Oral Tablet", dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)]
        ),
        f.weight(72),
        f.blood_pressure(172, 104),
    )
    return sample, f.bundle(other, other_weight)


@pytest.fixture(scope="module")
def fhir_base() -> Iterator[str]:
    with running_fhir_server(*sample_patient(), bearer_token=TOKEN) as base_url:
        yield base_url


def fetch(base_url: str, token: str | None) -> dict[str, FetchResult]:
    async def go() -> dict[str, FetchResult]:
        async with FhirClient(base_url, access_token=token, timeout_s=10.0) as fhir:
            return await fhir.fetch_patient_data("example", QUERIES, budget_s=30.0)

    return asyncio.run(go())


def test_searches_by_patient_return_that_patients_data_across_pages(fhir_base: str) -> None:
    results = fetch(fhir_base, TOKEN)
    assert all(r.ok and r.complete and r.problem is None for r in results.values()), results
    assert [r["id"] for r in results["conditions"].resources] == ["cond-htn"]
    assert [r["id"] for r in results["orders"].resources] == ["mr-oxy"]
    assert len(results["statements"].resources) == 1
    observations = results["observations"].resources
    assert sorted(o["code"]["coding"][0]["code"] for o in observations) == ["29463-7", "85354-9"]
    assert all(o["subject"]["reference"] == "Patient/example" for o in observations)


def test_fetched_resources_build_a_patient_record(fhir_base: str) -> None:
    results = fetch(fhir_base, TOKEN)
    resources = [r for result in results.values() for r in result.resources]
    record = build_record(resources)
    assert not record.problems
    assert len(record.medications) == 2 and len(record.conditions) == 1 and len(record.observations) == 2


def test_wrong_token_gives_401_reasons_not_errors(fhir_base: str) -> None:
    results = fetch(fhir_base, "not-the-token")
    assert all(not r.ok for r in results.values())
    assert results["conditions"].problem is not None
    assert results["conditions"].problem.startswith("FHIR server returned 401 Unauthorized for Condition search")


def test_read_and_create_against_the_real_server(fhir_base: str) -> None:
    draft = f.medication_request("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", status="draft")
    del draft["id"]
    draft["subject"] = {"reference": "Patient/other"}  # keep the sample patient's data as loaded

    async def go() -> tuple[dict[str, Any], FetchResult]:
        async with FhirClient(fhir_base, access_token=TOKEN) as fhir:
            created = await fhir.create(draft)
            return created, await fhir.read(f"MedicationRequest/{created['id']}", deadline=time.monotonic() + 10)

    created, read_back = asyncio.run(go())
    assert created["id"] and created["status"] == "draft"
    assert read_back.ok and read_back.resources[0]["id"] == created["id"]


def test_test_server_refuses_invalid_data_clearly_and_stops_on_exit() -> None:
    invalid = {"resourceType": "Observation", "id": "bad", "status": "not-a-status"}
    with pytest.raises(FhirServerError, match="refused"), running_fhir_server(f.bundle(invalid)):
        pass
    with running_fhir_server() as base_url:
        assert httpx.get(f"{base_url}/metadata").status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/metadata", timeout=2.0)
