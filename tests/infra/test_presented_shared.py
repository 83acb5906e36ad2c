"""Cards shown at order-select are not repeated at order-sign when another worker answers the sign (the memory is
in Redis, as keyed digests); when that memory cannot be read or its key was rotated, the card is shown again (the
safe direction), and the call is answered all the same."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.storage import FeedbackStore
from smart_app.storage.shared import RedisState, digest_key, state_cipher
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, order_sign, sample_order, sample_patient, topic
from tests.services import running_redis

SIGN = "/cds-services/ketamine-safety-order-sign"
SELECT = "/cds-services/ketamine-safety-order-select"
PATIENT = "healthy"  # the sample patient's id
STATE_KEY = Fernet.generate_key().decode()


def _worker(tmp_path: Path, url: str, prefix: str, name: str, key: str = STATE_KEY) -> TestClient:
    """One worker of a deployment: its own app, store client and Redis connection; the deployment's key."""
    cipher = state_cipher(SecretStr(key))
    assert cipher is not None
    state = RedisState.from_url(url, cipher, prefix=prefix, digest_key=digest_key(SecretStr(key)))
    store = FeedbackStore(f"sqlite:///{tmp_path / f'{name}.sqlite3'}")
    return TestClient(create_app(ServiceSettings(auth_enabled=False), store=store, shared_state=state))


def _calls() -> tuple[dict[str, Any], dict[str, Any]]:
    delirium = f.condition(f.ICD10CM, "F05", "Delirium due to known physiological condition")  # a precaution
    psychosis = f.condition(f.ICD10CM, "F20.9", "Schizophrenia, unspecified")  # a contraindication
    for condition in (delirium, psychosis):
        condition["subject"] = {"reference": f"Patient/{PATIENT}"}
    resources = [*sample_patient(PATIENT), delirium, psychosis]
    draft = sample_order("ketamine-infusion-outpatient")
    select = order_sign(resources, [draft], hook="order-select", selections=[f"MedicationRequest/{draft['id']}"])
    return select, order_sign(resources, [draft])


def _topics(client: TestClient, path: str, body: dict[str, Any]) -> set[str]:
    return {topic(card) for card in cards_of(client.post(path, json=body))}


def test_a_precaution_shown_at_select_by_one_worker_is_not_repeated_at_sign_by_another(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    select, sign = _calls()
    with _worker(tmp_path, redis_url, redis_prefix, "a") as a, _worker(tmp_path, redis_url, redis_prefix, "b") as b:
        assert {"CI-DEL", "CI-PSY"} <= _topics(a, SELECT, select)
        at_sign = _topics(b, SIGN, sign)
    assert "CI-PSY" in at_sign  # a contraindication is shown at signing whatever was shown before
    assert "CI-DEL" not in at_sign
    stored = redis.Redis.from_url(redis_url)
    keys = stored.keys(redis_prefix + "*")
    assert keys and all(PATIENT not in k.decode() for k in keys)
    assert all(PATIENT.encode() not in (stored.get(k) or b"") for k in keys)  # keyed digests only


def test_another_key_means_another_memory_and_the_precaution_is_shown_again(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    select, sign = _calls()
    rotated = Fernet.generate_key().decode()
    with (
        _worker(tmp_path, redis_url, redis_prefix, "a") as a,
        _worker(tmp_path, redis_url, redis_prefix, "b", key=f"{rotated},{STATE_KEY}") as b,
    ):
        _topics(a, SELECT, select)
        assert {"CI-DEL", "CI-PSY"} <= _topics(b, SIGN, sign)


def test_an_unreachable_memory_shows_the_precaution_again_and_the_call_is_answered(
    tmp_path: Path, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    select, sign = _calls()
    caplog.set_level(logging.WARNING, logger="smart_app.cds_hooks.presented")
    with running_redis() as url, _worker(tmp_path, url, redis_prefix, "a") as a:
        _topics(a, SELECT, select)
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(url).shutdown(nosave=True)
        assert {"CI-DEL", "CI-PSY"} <= _topics(a, SIGN, sign)
    assert "could not be read" in caplog.text and PATIENT not in caplog.text
