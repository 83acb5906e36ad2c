"""Discovery: derived from the service declarations, every field the spec requires, valid prefetch templates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from smart_app.cds_hooks.prefetch import OBSERVATIONS, PrefetchQuery, template_problems
from smart_app.cds_hooks.registry import HOOK_PREFETCH_FIELDS, InvalidServiceDeclaration, Registry
from smart_app.cds_hooks.services import default_registry
from smart_app.cds_hooks.services.opioid_order_sign import SERVICE as OPIOID
from tests.cds_hooks.support import client


def test_discovery_lists_every_registered_service_with_required_fields(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        response = c.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    declared = {s.id: s for s in default_registry()}
    assert {s["id"] for s in services} == set(declared)
    assert {s["hook"] for s in services} == {"order-select", "order-sign", "patient-view"}
    for service in services:
        assert service["hook"] == declared[service["id"]].hook
        assert service["description"] and service["title"]
        assert all(v not in (None, "", [], {}) for v in service.values()), "spec: no null or empty values"


def test_every_prefetch_template_is_in_the_restricted_subset_of_cds_hooks_2() -> None:
    for service in default_registry():
        assert service.prefetch, service.id
        for key, template in service.prefetch.items():
            assert template_problems(template, HOOK_PREFETCH_FIELDS[service.hook]) == [], (service.id, key)


@pytest.mark.parametrize(
    "template",
    [
        "MedicationRequest?patient={{context.draftOrders.id}}",  # not a root-level primitive field
        "Observation?patient={{context.patientId}}&code:text=ecg",  # modifier other than :in
        "Observation?patient={{context.patientId}}&date=sa2026-01-01",  # prefix outside eq/lt/gt/ge/le
        "Observation?patient={{context.patientId}}&_include=Observation:subject",  # _include not in subset
        "Patient/{{context.patientId}}/_history",  # not an instance read
        "Patient/{{userNobody}}",  # not a user identifier token
    ],
)
def test_invalid_templates_are_rejected(template: str) -> None:
    assert template_problems(template, HOOK_PREFETCH_FIELDS["order-sign"])


def test_a_service_with_an_invalid_template_fails_at_start_up() -> None:
    bad = PrefetchQuery("obs", "Observation?subject:Patient.name=x", "observations", "nothing")
    with pytest.raises(InvalidServiceDeclaration):
        Registry([replace(OPIOID, queries=(bad,))])


def test_no_auth_is_announced_in_discovery(tmp_path: Path) -> None:
    with client(tmp_path, auth_enabled=False) as c:
        services = c.get("/cds-services").json()["services"]
    assert all("--no-auth" in s["description"] for s in services)


def test_observation_prefetch_asks_only_for_the_codes_the_rules_read() -> None:
    template = OBSERVATIONS.template
    for code in ("34534-8", "29463-7", "1742-6", "85354-9"):  # ECG, body weight, ALT, BP panel
        assert f"http://loinc.org|{code}" in template
    assert "8867-4" not in template  # heart rate: no rule reads it
