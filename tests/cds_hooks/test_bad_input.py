"""Bad input never crashes the service: arbitrary JSON in context and prefetch gives 200, 400 or 412, never 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from tests.cds_hooks.support import client, ketamine_infusion

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
resource_like = st.fixed_dictionaries(
    {
        "resourceType": st.sampled_from(
            [
                "Bundle",
                "Patient",
                "Condition",
                "OperationOutcome",
                "Observation",
                "x",
                "MedicationRequest",
                "MedicationOrder",
            ]
        )
    },
    optional={
        "entry": json_values,
        "link": json_values,
        "id": json_values,
        "code": json_values,
        "issue": json_values,
        "dosageInstruction": json_values,
    },
)
prefetch_values = st.dictionaries(
    st.sampled_from([q.key for q in KETAMINE_QUERIES]), st.none() | resource_like | json_values, max_size=8
)
entries = st.lists(st.builds(lambda r: {"resource": r}, resource_like | json_values), max_size=3)
draft_orders = st.one_of(json_values, st.builds(lambda e: {"resourceType": "Bundle", "entry": e}, entries))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with client(tmp_path_factory.mktemp("fuzz")) as c:
        yield c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefetch=prefetch_values, drafts=draft_orders, selections=json_values)
def test_arbitrary_context_and_prefetch_never_give_a_500(
    api: TestClient, prefetch: dict[str, Any], drafts: Any, selections: Any
) -> None:
    body = {
        "hook": "order-sign",
        "hookInstance": "fuzz",
        "context": {"patientId": "example", "draftOrders": drafts, "selections": selections},
        "prefetch": prefetch,
    }
    for service in ("ketamine-safety-order-sign", "opioid-mme-order-sign"):
        response = api.post(f"/cds-services/{service}", json=body)
        assert response.status_code in (200, 400, 412), response.text


@settings(max_examples=30, deadline=None)
@given(prefetch=prefetch_values)
def test_a_ketamine_draft_with_arbitrary_prefetch_is_decided_or_412(api: TestClient, prefetch: dict[str, Any]) -> None:
    body = {
        "hook": "order-sign",
        "hookInstance": "fuzz",
        "context": {
            "patientId": "example",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": ketamine_infusion(35)}]},
        },
        "prefetch": prefetch,
    }
    response = api.post("/cds-services/ketamine-safety-order-sign", json=body)
    assert response.status_code in (200, 412), response.text


dosage_like = st.dictionaries(
    st.sampled_from(["doseQuantity", "doseRange", "timing", "route", "rateRatio", "asNeededBoolean", "text"]),
    json_values | st.fixed_dictionaries({"repeat": json_values}) | st.fixed_dictionaries({"code": json_values}),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["MedicationOrder", "MedicationRequest"]),
    dosages=st.lists(dosage_like | json_values, max_size=3),
    status=json_values,
)
def test_malformed_medication_drafts_are_reported_not_crashed_on(
    api: TestClient, kind: str, dosages: Any, status: Any
) -> None:
    draft = {**ketamine_infusion(35), "resourceType": kind, "status": status, "dosageInstruction": dosages}
    body = {
        "hook": "order-sign",
        "hookInstance": "fuzz",
        "context": {"patientId": "example", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
        "prefetch": {"patient": None},
    }
    response = api.post("/cds-services/ketamine-safety-order-sign", json=body)
    assert response.status_code == 200, response.text
