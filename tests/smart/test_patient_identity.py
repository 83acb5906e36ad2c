"""The SMART app reads only the launched patient's data: a server that returns another patient's is not believed."""

from __future__ import annotations

import asyncio
import copy
from contextlib import AbstractContextManager
from typing import Any

import pytest

from smart_app.fhir.client import FhirClient
from smart_app.smart.patient_data import PatientDataError, load_patient_data
from smart_app.smart.scopes import GrantedScopes
from tests.cds_hooks.support import sample_patient
from tests.http_stub import StubRequest, StubResponse, StubServer, searchset, stub_server

SCOPES = GrantedScopes(
    "launch openid fhirUser patient/Patient.rs patient/Condition.rs patient/Observation.rs "
    "patient/MedicationRequest.rs patient/MedicationStatement.rs patient/MedicationAdministration.rs "
    "patient/AllergyIntolerance.rs patient/Consent.rs"
)


def _server(resources: list[dict[str, Any]], patient: dict[str, Any]) -> AbstractContextManager[StubServer]:
    def handler(request: StubRequest) -> StubResponse:
        kind = request.path.rstrip("/").rsplit("/", 2)
        if kind[-2] == "Patient":
            return StubResponse(200, patient)
        return StubResponse(200, searchset([r for r in resources if r["resourceType"] == kind[-1]]))

    return stub_server(handler)


def _load(base: str, patient_id: str) -> Any:
    async def go() -> Any:
        async with FhirClient(base, access_token="t") as fhir:
            return await load_patient_data(fhir, patient_id, SCOPES, budget_s=5)

    return asyncio.run(go())


def test_another_patients_resources_are_left_out_and_said() -> None:
    resources = sample_patient("opioid-simple")
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    orders = [r for r in resources if r["resourceType"] == "MedicationRequest"]
    foreign = []
    for order in orders:
        other = copy.deepcopy(order)
        other["id"] = "n-" + order["id"]
        other["subject"] = {"reference": "Patient/neighbour"}
        foreign.append(other)
    with _server([*resources, *foreign, *copy.deepcopy(orders)], patient) as server:
        data = _load(server.url + "/fhir", patient["id"])
    assert sorted(m.id for m in data.record.medications) == sorted(o["id"] for o in orders)  # once each, no neighbour
    assert data.foreign_resources == len(foreign)
    assert any("of another patient were ignored" in s for s in data.gap_sentences)


def test_a_different_patient_than_the_one_launched_is_refused() -> None:
    with _server([], {"resourceType": "Patient", "id": "someone-else"}) as server, pytest.raises(PatientDataError):
        _load(server.url + "/fhir", "example")
