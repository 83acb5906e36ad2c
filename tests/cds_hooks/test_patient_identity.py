"""Only the context patient's data decide: another patient's resources are ignored and counted on the data card.

Over HTTP, from prefetch, from a fault-injecting FHIR server (a real HTTP server that answers with other patients'
data, self-referencing or endless `next` links) and from a real FHIR server (sekmet-fhir).
"""

from __future__ import annotations

import copy
import itertools
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import hook_request
from smart_app.fhir import identity
from tests import fhir_factory as f
from tests.cds_hooks.support import (
    cards_of,
    client,
    ketamine_infusion,
    order_sign,
    oxycodone_draft,
    patient_id,
    sample_patient,
    topic,
)
from tests.fhir_server import running_fhir_server
from tests.http_stub import StubRequest, StubResponse, StubServer, searchset, stub_server

KETAMINE_SIGN = "/cds-services/ketamine-safety-order-sign"
MME_SIGN = "/cds-services/opioid-mme-order-sign"
BASE = "https://ehr.example.org/fhir"


def _schizophrenia(subject: str | None, rid: str = "c-psy") -> dict[str, Any]:
    condition = f.condition(f.SNOMED, "58214004", "Schizophrenia", rid=rid)
    if subject is None:
        del condition["subject"]
    else:
        condition["subject"] = {"reference": subject}
    return condition


def _of(resource: dict[str, Any], reference: str, rid: str) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    copied["id"] = rid
    copied["subject"] = {"reference": reference}
    return copied


def _gap(cards: list[dict[str, Any]]) -> str:
    found = [c for c in cards if topic(c) == "DATA-UNAVAILABLE"]
    return str(found[0]["detail"]) if found else ""


def _mme(cards: list[dict[str, Any]]) -> float:
    card = next(c for c in cards if topic(c) == "MME")
    return float(card["extension"]["total_mme_per_day"])


# -- the matching rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/p1",
        "Patient/p1/_history/3",
        f"{BASE}/Patient/p1",
        f"{BASE}/Patient/p1/_history/12",
        "https://EHR.example.org:443/fhir/Patient/p1",  # host case and default port do not make another server
        "  Patient/p1 ",
    ],
)
def test_forms_of_a_reference_to_this_patient(reference: str) -> None:
    assert identity.refers_to_patient(reference, "p1", BASE)
    assert identity.refers_to_patient(reference, "p1", BASE + "/")


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/p2",
        "Patient/p10",
        "Patient/p1x",
        "Group/p1",
        "https://other.example.org/fhir/Patient/p1",  # the same id on another server is another patient
        "http://ehr.example.org/fhir/Patient/p1",  # another scheme is another origin
        "https://ehr.example.org:8443/fhir/Patient/p1",
        "https://ehr.example.org/fhir2/Patient/p1",
        "https://ehr.example.org/Patient/p1",
        "https://user@ehr.example.org/fhir/Patient/p1",
        "urn:uuid:6e6b0c2c-1b8e-4a4f-8e7b-0a1e5f1c9a11",
        "#p1",
        "Patient?identifier=p1",
        "fhir/Patient/p1",
        "",
    ],
)
def test_references_that_are_not_this_patient(reference: str) -> None:
    assert not identity.refers_to_patient(reference, "p1", BASE)


def test_without_a_fhir_base_an_absolute_reference_is_matched_by_its_patient_id() -> None:
    assert identity.refers_to_patient("https://anywhere.example/fhir/Patient/p1", "p1", None)
    assert not identity.refers_to_patient("https://anywhere.example/fhir/Patient/p2", "p1", None)


def test_screen_keeps_unattributed_only_from_a_patient_scoped_query() -> None:
    weight = f.weight(70)
    del weight["subject"]
    scoped = identity.screen([weight], "example", fhir_base=BASE)
    assert scoped.resources == (weight,) and scoped.unattributed == 1 and scoped.foreign == 0
    unscoped = identity.screen([weight], "example", fhir_base=BASE, patient_scoped=False)
    assert unscoped.resources == () and unscoped.foreign == 1


def test_the_patient_resource_itself_must_be_the_context_patient() -> None:
    screened = identity.screen([f.patient(), {**f.patient(), "id": "other"}], "example", fhir_base=None)
    assert [r["id"] for r in screened.resources] == ["example"] and screened.foreign == 1


def test_duplicates_keep_the_latest_version_where_the_first_stood() -> None:
    old = {**f.weight(70), "id": "w", "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00Z"}}
    new = {**f.weight(72), "id": "w", "meta": {"versionId": "2", "lastUpdated": "2026-02-01T00:00:00+00:00"}}
    other = f.weight(80)
    unique, dropped = identity.deduplicate([old, other, new, old])
    assert unique == [new, other] and dropped == 2
    by_version, _ = identity.deduplicate([{**new, "meta": {"versionId": "9"}}, {**old, "meta": {"versionId": "10"}}])
    assert by_version[0]["meta"]["versionId"] == "10"


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=12))
def test_deduplicate_keeps_one_of_each_id_in_first_seen_order(ids: list[str]) -> None:
    unique, dropped = identity.deduplicate([{"resourceType": "Observation", "id": i} for i in ids])
    assert [r["id"] for r in unique] == list(dict.fromkeys(ids))
    assert dropped == len(ids) - len(unique)


# -- prefetch -----------------------------------------------------------------------------------------------------


def test_another_patients_condition_in_prefetch_does_not_contraindicate(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    pid = patient_id(resources)
    request = order_sign([*resources, _schizophrenia("Patient/someone-else")], [ketamine_infusion(20)])
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert not any(topic(card) == "CI-PSY" for card in cards)
    assert "1 resource(s) of another patient were ignored" in _gap(cards)
    # The same condition naming this patient does fire: the rule is live, only the other patient's is ignored.
    own = order_sign([*resources, _schizophrenia(f"Patient/{pid}/_history/2")], [ketamine_infusion(20)])
    with client(tmp_path) as c:
        assert any(topic(card) == "CI-PSY" for card in cards_of(c.post(KETAMINE_SIGN, json=own)))


def test_another_patients_opioids_in_prefetch_do_not_add_to_the_mme(tmp_path: Path) -> None:
    resources = sample_patient("opioid-simple")
    foreign = [
        _of(r, "Patient/neighbour", f"n-{r['id']}") for r in resources if r["resourceType"] == "MedicationRequest"
    ]
    with client(tmp_path) as c:
        alone = cards_of(c.post(MME_SIGN, json=order_sign(resources, [oxycodone_draft()], queries=OPIOID_QUERIES)))
        mixed = cards_of(
            c.post(MME_SIGN, json=order_sign([*resources, *foreign], [oxycodone_draft()], queries=OPIOID_QUERIES))
        )
    assert _mme(alone) == _mme(mixed) == 80.0
    assert f"{len(foreign)} resource(s) of another patient were ignored" in _gap(mixed)
    assert "another patient" not in _gap(alone)


def test_the_same_resources_in_two_prefetch_keys_and_twice_in_a_bundle_count_once(tmp_path: Path) -> None:
    resources = sample_patient("opioid-simple")
    request = order_sign(resources, [oxycodone_draft()], queries=OPIOID_QUERIES)
    orders = request["prefetch"]["medicationRequests"]
    orders["entry"] = orders["entry"] + copy.deepcopy(orders["entry"])
    request["prefetch"]["medicationStatements"] = copy.deepcopy(orders)
    with client(tmp_path) as c:
        assert _mme(cards_of(c.post(MME_SIGN, json=request))) == 80.0


def test_a_patient_resource_of_another_patient_is_ignored(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    request = order_sign(resources, [ketamine_infusion(20)])
    request["prefetch"]["patient"] = {**request["prefetch"]["patient"], "id": "someone-else", "birthDate": "1930-01-01"}
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert "1 resource(s) of another patient were ignored" in _gap(cards)


def test_an_observation_naming_no_patient_is_used_and_the_card_says_so(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    for r in resources:
        if r["resourceType"] == "Observation":
            r.pop("subject", None)
    with client(tmp_path) as c:
        cards = cards_of(c.post(KETAMINE_SIGN, json=order_sign(resources, [ketamine_infusion(20)])))
    assert "name no patient; they were used because the EHR returned them in a search for this patient" in _gap(cards)


# -- from a FHIR server ---------------------------------------------------------------------------------------------


def _fhir_stub(by_type: dict[str, list[dict[str, Any]]], pid: str) -> AbstractContextManager[StubServer]:
    def handler(request: StubRequest) -> StubResponse:
        kind = request.path.rsplit("/", 1)[-1]
        if request.path.endswith(f"/Patient/{pid}"):
            return StubResponse(200, f.patient(id=pid))
        return StubResponse(200, searchset(by_type.get(kind, [])))

    return stub_server(handler)


def test_another_patients_data_from_the_fhir_server_are_ignored(tmp_path: Path) -> None:
    pid = "p-42"
    conditions: dict[str, list[dict[str, Any]]] = {}
    with _fhir_stub(conditions, pid) as server:
        base = server.url + "/fhir"
        conditions["Condition"] = [
            _schizophrenia("Patient/p-43", "c1"),
            _schizophrenia(f"{server.url.replace('127.0.0.1', 'localhost')}/fhir/Patient/{pid}", "c2"),  # other host
            _schizophrenia("Group/p-42", "c3"),
        ]
        request = hook_request(
            "order-sign", patient_id=pid, drafts=[ketamine_infusion(20)], fhir_server=base, access_token="t"
        )
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=request))
        assert not any(topic(card) == "CI-PSY" for card in cards)
        assert "3 resource(s) of another patient were ignored" in _gap(cards)

        conditions["Condition"] = [_schizophrenia(f"{base}/Patient/{pid}/_history/4", "c4")]
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=request))
        assert any(topic(card) == "CI-PSY" for card in cards)
        assert "another patient" not in _gap(cards)


@pytest.mark.parametrize("pages", ["self", "endless"])
def test_paging_loops_count_each_resource_once_and_say_the_data_were_truncated(tmp_path: Path, pages: str) -> None:
    orders = [r for r in sample_patient("opioid-simple") if r["resourceType"] in ("MedicationRequest", "Medication")]
    counter = itertools.count(2)
    base: list[str] = []

    def handler(request: StubRequest) -> StubResponse:
        if request.path.endswith("/Patient/opioid-simple"):
            return StubResponse(200, f.patient(id="opioid-simple"))
        if not request.path.endswith("/MedicationRequest"):
            return StubResponse(200, searchset([]))
        if pages == "self":  # the page's own full URL, query string included
            return StubResponse(200, searchset(orders, next_url=base[0] + request.target))
        following = f"{base[0]}/fhir/MedicationRequest?patient=opioid-simple&page={next(counter)}"
        return StubResponse(200, searchset(orders, next_url=following))

    with stub_server(handler) as server:
        base.append(server.url)
        request = hook_request(
            "order-sign",
            patient_id="opioid-simple",  # the sample's own patient
            drafts=[oxycodone_draft()],
            fhir_server=server.url + "/fhir",
            access_token="t",
        )
        with client(tmp_path) as c:
            cards = cards_of(c.post(MME_SIGN, json=request))
        med_pages = [r for r in server.requests if r.path.endswith("/MedicationRequest")]
    assert _mme(cards) == 80.0  # not doubled (self link) nor twentyfold (endless paging)
    assert "the data were truncated" in _gap(cards)
    assert len(med_pages) == (1 if pages == "self" else 20)


def test_real_fhir_server_absolute_references_on_its_base_are_this_patient(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    pid = patient_id(resources)
    with running_fhir_server(f.bundle(*resources)) as base:
        own = _schizophrenia(f"{base}/Patient/{pid}", "c-own")
        with httpx.Client() as http:
            put = http.put(f"{base}/Condition/c-own", json=own, headers={"Content-Type": "application/fhir+json"})
            assert put.status_code in (200, 201)
        request = hook_request("order-sign", patient_id=pid, drafts=[ketamine_infusion(20)], fhir_server=base)
        with client(tmp_path) as c:
            cards = cards_of(c.post(KETAMINE_SIGN, json=request))
    assert any(topic(card) == "CI-PSY" for card in cards)
    assert "another patient" not in _gap(cards)
