"""The whole answer has a deadline: fetching gets what is left of it, and the data read are bounded so that
evaluation fits; what was left out is named on the data card."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.fhir.record import MAX_RESOURCES, build_record
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, client, ketamine_infusion, order_sign, sample_patient


def test_fetch_budget_is_what_is_left_of_the_deadline() -> None:
    settings = ServiceSettings(auth_enabled=False, answer_deadline_s=2.0, evaluation_reserve_s=0.5, fhir_budget_s=3.0)
    assert settings.fetch_budget_s() == pytest.approx(1.5)
    assert settings.fetch_budget_s(1.0) == pytest.approx(0.5)
    assert settings.fetch_budget_s(5.0) == pytest.approx(0.1)  # never nothing
    assert ServiceSettings(auth_enabled=False).fetch_budget_s() == pytest.approx(3.0)  # default: the FHIR budget


def test_deadline_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_APP_ANSWER_DEADLINE_S", "1.5")
    assert ServiceSettings().answer_deadline_s == 1.5


def test_record_keeps_the_newest_and_says_what_it_left_out() -> None:
    weights = [{**f.weight(60 + i % 30, f"2026-{1 + i % 12:02d}-01T09:00:00Z"), "id": f"w{i}"} for i in range(50)]
    record = build_record(weights, limits={"Observation": 10})
    assert len(record.observations) == 10
    kept = {o.id for o in record.observations}
    newest = sorted(weights, key=lambda w: str(w["effectiveDateTime"]), reverse=True)
    assert {str(w["effectiveDateTime"]) for w in newest[:10]} == {
        str(w["effectiveDateTime"]) for w in weights if w["id"] in kept
    }
    assert record.truncated == (
        "Only the newest 10 of 50 observations were evaluated, so that the answer stays within its deadline; "
        "older ones were not checked.",
    )
    assert build_record(weights).truncated == ()
    assert len(build_record(weights, limits=None).observations) == 50


def test_twenty_thousand_observations_are_answered_with_the_cut_named(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    many = [
        {
            **f.weight(70 + i % 5, f"20{10 + i % 16}-{1 + i % 12:02d}-01T09:00:00Z"),
            "id": f"many-{i}",
            "subject": {"reference": f"Patient/{patient}"},
        }
        for i in range(20_000)
    ]
    body = order_sign(resources + many, [ketamine_infusion(35)])
    with client(tmp_path, max_request_bytes=50_000_000) as c:
        started = time.monotonic()
        response = c.post("/cds-services/ketamine-safety-order-sign", json=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    details = " ".join(card.get("detail", "") for card in cards_of(response))
    limit = MAX_RESOURCES["Observation"]
    assert f"Only the newest {limit:,} of {20_000 + 2:,} observations were evaluated" in details
    assert elapsed < 30  # generous: it takes well under a second here; it took 3.8-4.0 s unbounded
