"""GET /healthz, for load balancers: no authentication, nothing configured or patient-related in the answer, in
bounded time, against real servers stopped: 503 when Redis is gone (no call can be checked), 200 "warn" when only
the feedback database is (cards are still answered)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import redis
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.auth import AuthConfig, JwtVerifier, TrustedIssuer
from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.storage import FeedbackStore
from tests import fhir_factory as f
from tests.cds_hooks.support import order_sign, oxycodone_draft
from tests.infra.test_shared_state import redis_state
from tests.services import running_postgres, running_redis

ISSUER = "https://ehr.example.org/"


def _opioid_call() -> dict[str, Any]:
    return order_sign([f.patient()], [oxycodone_draft(2, 4)], queries=OPIOID_QUERIES)  # 60 MME/day: one card


def _verifier() -> JwtVerifier:
    key = ECKey.generate_key("P-384", parameters={"kid": "ehr-key-1"})
    return JwtVerifier(AuthConfig(issuers=(TrustedIssuer(ISSUER, jwks={"keys": [key.as_dict(private=False)]}),)))


def test_a_healthy_worker_answers_200_without_a_token_and_says_nothing_of_its_configuration(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(f"sqlite:///{database}")
    app = create_app(ServiceSettings(public_base_url="https://cds.example.org"), store=store, verifier=_verifier())
    with TestClient(app) as client:
        assert client.get("/cds-services").status_code == 401  # the service itself still needs a JWT
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "pass", "checks": {"database": "pass", "sharedState": "not configured"}}
    assert str(tmp_path) not in response.text and "sqlite" not in response.text


def test_a_stopped_postgresql_is_a_warning_and_cards_are_still_answered() -> None:
    with contextlib.ExitStack() as stack:
        with running_postgres() as server:
            store = FeedbackStore(server.create_database())
            client = stack.enter_context(TestClient(create_app(ServiceSettings(auth_enabled=False), store=store)))
            assert client.get("/healthz").status_code == 200
        # the server is stopped (immediate shutdown) as its block ends
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
        call = client.post("/cds-services/opioid-mme-order-sign", json=_opioid_call())
        store.close()
    assert response.status_code == 200  # the decision support itself does not need the feedback database
    body = response.json()
    assert body["status"] == "warn" and body["checks"]["database"].startswith("fail"), body
    assert body["checks"]["sharedState"] == "not configured"
    assert "127.0.0.1" not in response.text and "postgres" not in response.text.lower()
    assert elapsed < 6
    assert call.status_code == 200 and call.json()["cards"], call.text


def test_a_stopped_redis_makes_the_worker_unhealthy_and_a_restarted_check_recovers(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    with running_redis() as url:
        app = create_app(ServiceSettings(auth_enabled=False), store=store, shared_state=redis_state(url, redis_prefix))
        with TestClient(app) as client:
            assert client.get("/healthz").json()["checks"]["sharedState"] == "pass"
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis.from_url(url).shutdown(nosave=True)
            started = time.monotonic()
            response = client.get("/healthz")
            elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.json()["status"] == "fail"
    checks = response.json()["checks"]
    assert checks["database"] == "pass" and checks["sharedState"].startswith("fail"), checks
    assert "127.0.0.1" not in response.text
    assert elapsed < 4
    # the same worker with a reachable Redis is healthy again
    healthy = create_app(
        ServiceSettings(auth_enabled=False), store=store, shared_state=redis_state(redis_url, redis_prefix)
    )
    with TestClient(healthy) as client:
        assert client.get("/healthz").status_code == 200
