"""Start-up warms the HTTP routes and the card-issued insert without leaving a trace: no stored row, no log line of
a refused call, and the first real call after start is answered and counted as any other."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.auth import AuthConfig, JwtVerifier, TrustedIssuer
from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.storage import FeedbackStore
from smart_app.storage.tables import CardIssued, FeedbackRow
from tests import fhir_factory as f
from tests.cds_hooks.support import order_sign, oxycodone_draft

KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-key-1"})


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _rows(store: FeedbackStore) -> tuple[int, int]:
    with store.engine.connect() as connection:
        issued = connection.scalar(select(func.count()).select_from(CardIssued))
        feedback = connection.scalar(select(func.count()).select_from(FeedbackRow))
    return int(issued or 0), int(feedback or 0)


@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "auth"])
def test_start_up_stores_nothing_and_logs_no_refused_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, auth: bool
) -> None:
    caplog.set_level(logging.INFO, logger="smart_app")
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    issuer = TrustedIssuer("https://ehr.example.org/", jwks={"keys": [KEY.as_dict(private=False)]})
    verifier = JwtVerifier(AuthConfig(issuers=(issuer,)))
    settings = ServiceSettings(auth_enabled=auth, public_base_url="https://cds.example.org")
    app = create_app(settings, store=store, verifier=verifier if auth else None, warm=True)
    with TestClient(app):
        assert "warmed up" in caplog.text
        app.state.card_writer().flush()
        assert _rows(store) == (0, 0)
    refused = [r.getMessage() for r in caplog.records if r.name == "smart_app.cds_hooks"]
    assert not [m for m in refused if "401" in m or "400" in m or "failed" in m], refused


def test_the_first_call_after_a_warm_start_is_answered_and_counted(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    app = create_app(ServiceSettings(auth_enabled=False), store=store, warm=True)
    with TestClient(app) as client:
        # 2 tablets of 5 mg oxycodone 4 times a day: 60 MME/day, one card
        response = client.post(
            "/cds-services/opioid-mme-order-sign",
            json=order_sign([f.patient()], [oxycodone_draft(2, 4)], queries=OPIOID_QUERIES),
        )
        assert response.status_code == 200, response.text
        cards = response.json()["cards"]
        assert cards
        assert app.state.card_writer().flush()
        assert _rows(store) == (len(cards), 0)


def test_warming_the_store_writes_no_row(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    store.warm()
    store.warm()
    assert _rows(store) == (0, 0)
    store.record_cards_issued("opioid-mme-order-sign", "hook-1", {"card-1": "OPI-MME"})
    assert _rows(store) == (1, 0)
