"""The EHR's bearer token goes only to the FHIR server it was issued for: parsed origins, never string prefixes.

Over HTTP against real loopback servers that record every request (tests/http_stub.py): the allow-listed EHR and
an "other" server that must never see the token (or any request).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.fhir.origins import fhir_server_problem
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, client, oxycodone_draft, sample_patient, topic
from tests.http_stub import StubRequest, StubResponse, StubServer, searchset, stub_server

TOKEN = "ehr-issued-bearer-token-42"
MME_SIGN = "/cds-services/opioid-mme-order-sign"


def _fhir(request: StubRequest) -> StubResponse:
    if request.path.endswith("/Patient/example"):
        return StubResponse(200, f.patient())
    return StubResponse(200, searchset([]))


@pytest.fixture
def other() -> Iterator[StubServer]:
    with stub_server(_fhir) as server:
        yield server


def _call(tmp_path: Path, fhir_server: str, allowlist: list[str]) -> list[dict[str, Any]]:
    """An opioid order-sign whose medication searches are not prefetched, so the service must fetch them."""
    resources = sample_patient("opioid-simple")
    prefetch = prefetch_for(resources, OPIOID_QUERIES)
    del prefetch["medicationStatements"]
    request = hook_request(
        "order-sign",
        patient_id="example",
        drafts=[oxycodone_draft()],
        prefetch=prefetch,
        fhir_server=fhir_server,
        access_token=TOKEN,
    )
    with client(tmp_path, fhir_server_allowlist=allowlist) as c:
        return cards_of(c.post(MME_SIGN, json=request))


def _gap(cards: list[dict[str, Any]]) -> str:
    return " ".join(str(c["detail"]) for c in cards if topic(c) == "DATA-UNAVAILABLE")


def _port_prefix(server: StubServer) -> str:
    """`http://127.0.0.1:4283` for a server on port 42830: a string prefix of its URL, but another origin."""
    return server.url[:-1]


def test_a_string_prefix_of_the_url_is_not_the_allow_listed_server(tmp_path: Path, other: StubServer) -> None:
    cards = _call(tmp_path, other.url + "/fhir", [_port_prefix(other)])
    assert other.requests == []  # not one request, so never the token
    assert "not on this service's allow-list" in _gap(cards)


def test_the_allow_listed_server_gets_the_token(tmp_path: Path, other: StubServer) -> None:
    _call(tmp_path, other.url + "/fhir/", [other.url + "/fhir"])
    assert other.requests and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in other.requests)


def test_a_path_is_allowed_on_segment_boundaries_only(tmp_path: Path, other: StubServer) -> None:
    cards = _call(tmp_path, other.url + "/fhirx", [other.url + "/fhir"])
    assert other.requests == [] and "allow-list" in _gap(cards)


@pytest.mark.parametrize("allowlist", [[], ["http://entry"]])
def test_a_fhir_server_with_userinfo_is_never_used(tmp_path: Path, other: StubServer, allowlist: list[str]) -> None:
    host = other.url.removeprefix("http://")
    cards = _call(tmp_path, f"http://entry@{host}/fhir", allowlist)
    assert other.requests == []
    assert "carries user credentials" in _gap(cards)


def test_a_redirect_to_another_origin_is_not_followed(tmp_path: Path, other: StubServer) -> None:
    def redirecting(request: StubRequest) -> StubResponse:
        return StubResponse(302, None, {"Location": f"{other.url}/fhir{request.target.split('/fhir', 1)[1]}"})

    with stub_server(redirecting) as ehr:
        cards = _call(tmp_path, ehr.url + "/fhir", [ehr.url + "/fhir"])
        assert ehr.requests and ehr.requests[0].headers.get("authorization") == f"Bearer {TOKEN}"
    assert other.requests == []  # the redirect target never hears from the service, with or without the token
    assert "302" in _gap(cards)


def test_a_next_link_to_another_origin_is_not_followed(tmp_path: Path, other: StubServer) -> None:
    def paging(request: StubRequest) -> StubResponse:
        return StubResponse(200, searchset([], next_url=f"{other.url}/fhir/MedicationStatement?page=2"))

    with stub_server(paging) as ehr:
        cards = _call(tmp_path, ehr.url + "/fhir", [ehr.url + "/fhir"])
    assert other.requests == []
    assert "next page is on another host" in _gap(cards)


@pytest.mark.parametrize(
    "url, allowlist, allowed",
    [
        ("https://ehr.example.org/fhir", ["https://ehr.example.org/fhir"], True),
        ("https://EHR.example.org:443/fhir/", ["https://ehr.example.org/fhir"], True),
        ("http://ehr.example.org:80/fhir/r4", ["http://ehr.example.org/fhir"], True),
        ("https://ehr.example.org/fhir", ["https://ehr.example.org"], True),
        ("https://ehr.example.org/fhir", ["https://ehr.example.org/"], True),
        ("https://ehr.example.org.evil.net/fhir", ["https://ehr.example.org"], False),
        ("https://ehr.example.org:8443/fhir", ["https://ehr.example.org/fhir"], False),
        ("http://ehr.example.org/fhir", ["https://ehr.example.org/fhir"], False),
        ("https://ehr.example.org/fhir2", ["https://ehr.example.org/fhir"], False),
        ("https://ehr.example.org/FHIR", ["https://ehr.example.org/fhir"], False),
        ("https://ehr.example.org/fhir?x=1", ["https://ehr.example.org/fhir"], False),
        ("https://a@ehr.example.org/fhir", [], False),
        ("https://:@ehr.example.org/fhir", [], False),
        ("https://ehr.example.org:99999/fhir", [], False),
        ("ftp://ehr.example.org/fhir", [], False),
        ("https:///fhir", [], False),
        ("https://ehr.example.org/fhir", [], True),
    ],
)
def test_allow_list_matching(url: str, allowlist: list[str], allowed: bool) -> None:
    assert (fhir_server_problem(url, allowlist) is None) is allowed


def test_prefetch_still_decides_when_the_fhir_server_is_refused(tmp_path: Path, other: StubServer) -> None:
    resources = sample_patient("opioid-simple")
    request = hook_request(
        "order-sign",
        patient_id="opioid-simple",  # the sample's own patient
        drafts=[oxycodone_draft()],
        prefetch=prefetch_for(resources, KETAMINE_QUERIES),
        fhir_server=f"http://x@{other.url.removeprefix('http://')}",
        access_token=TOKEN,
    )
    with client(tmp_path) as c:
        cards = cards_of(c.post(MME_SIGN, json=request))
    assert any(topic(card) == "MME" for card in cards) and other.requests == []
