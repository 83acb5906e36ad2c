"""A retried hook call (same service, same client, byte-identical body) gets the first call's answer.

The clinician sees the same cards (same uuids, so feedback on either maps to one card), the card-issued analytics
count them once, and an answer that named missing data is computed again on the retry (the FHIR server may be
back). Anything else (another hookInstance, another order, another client, the window off) is a new call.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.auth import AuthError, VerifiedClient
from smart_app.cds_hooks.cards import DATA_TOPIC
from smart_app.cds_hooks.request_builder import hook_request
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.storage import FeedbackStore
from tests.cds_hooks.support import cards_of, client, ketamine_infusion, order_sign, sample_patient, topic

SIGN = "/cds-services/ketamine-safety-order-sign"


def _body(**kwargs: Any) -> bytes:
    return json.dumps(order_sign(sample_patient("ketamine-series"), [ketamine_infusion(40)], **kwargs)).encode()


def _post(http: TestClient, body: bytes, **headers: str) -> Any:
    return http.post(SIGN, content=body, headers={"Content-Type": "application/json", **headers})


def _uuids(response: Any) -> list[str]:
    return [card["uuid"] for card in cards_of(response)]


def _issued(http: TestClient, store: FeedbackStore) -> int:
    assert http.app.state.card_writer().flush(10)  # type: ignore[attr-defined]
    return sum(row.issued for row in store.report())


def test_a_retry_gets_the_same_cards_counted_once(tmp_path: Path) -> None:
    body = _body()
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    with TestClient(create_app(ServiceSettings(auth_enabled=False), store=store)) as http:
        first = _post(http, body)
        assert len(cards_of(first)) >= 1
        issued = _issued(http, store)
        assert issued == len(cards_of(first))
        again = _post(http, body)
        assert again.content == first.content  # same cards, same uuids
        assert _issued(http, store) == issued  # the retry's cards are not counted a second time


def test_a_new_hook_instance_or_order_is_a_new_call(tmp_path: Path) -> None:
    body = json.loads(_body())
    with client(tmp_path) as http:
        first = _uuids(_post(http, json.dumps(body).encode()))
        other_instance = {**body, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"}
        assert set(_uuids(_post(http, json.dumps(other_instance).encode()))).isdisjoint(first)
        changed = json.loads(_body())
        changed["hookInstance"] = body["hookInstance"]
        changed["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0][
            "rateQuantity"
        ]["value"] = 30
        assert set(_uuids(_post(http, json.dumps(changed).encode()))).isdisjoint(first)


def test_window_zero_evaluates_every_call(tmp_path: Path) -> None:
    body = _body()
    with client(tmp_path, retry_window_s=0) as http:
        first = _uuids(_post(http, body))
        assert set(_uuids(_post(http, body))).isdisjoint(first)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_an_answer_naming_missing_data_is_computed_again(tmp_path: Path) -> None:
    resources = sample_patient("ketamine-series")
    down = f"http://127.0.0.1:{_closed_port()}/fhir"
    body = hook_request(
        "order-sign",
        patient_id=next(str(r["id"]) for r in resources if r["resourceType"] == "Patient"),
        drafts=[ketamine_infusion(40)],
        prefetch={"patient": next(r for r in resources if r["resourceType"] == "Patient")},
        fhir_server=down,
        access_token="token-for-the-down-server",
    )
    raw = json.dumps(body).encode()
    with client(tmp_path) as http:
        first = _post(http, raw)
        assert DATA_TOPIC in {topic(card) for card in cards_of(first)}
        retry = _post(http, raw)
        assert DATA_TOPIC in {topic(card) for card in cards_of(retry)}
        assert set(_uuids(retry)).isdisjoint(_uuids(first))  # fetched and evaluated again, not replayed


class _TwoClients:
    """A verifier that knows two EHRs by their bearer token (the JWT checks themselves are tested elsewhere)."""

    async def verify(self, header: str | None, *, audience: str) -> VerifiedClient:
        issuers = {"Bearer ehr-a": "https://ehr-a.example.org/", "Bearer ehr-b": "https://ehr-b.example.org/"}
        if header not in issuers:
            raise AuthError("unknown")
        return VerifiedClient(iss=issuers[header], sub=None, jti=header, tenant=None)

    async def aclose(self) -> None:
        return None


def test_another_client_sending_the_same_body_is_a_new_call(tmp_path: Path) -> None:
    body = _body()
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    app = create_app(ServiceSettings(auth_enabled=True), verifier=_TwoClients(), store=store)  # type: ignore[arg-type]
    with TestClient(app) as http:
        first = _uuids(_post(http, body, Authorization="Bearer ehr-a"))
        assert _uuids(_post(http, body, Authorization="Bearer ehr-a")) == first
        assert set(_uuids(_post(http, body, Authorization="Bearer ehr-b"))).isdisjoint(first)
        assert _post(http, body).status_code == 401  # a retry is still authenticated first
