"""`smart-app demo` (the main job) and `smart-app serve` argument handling."""

from __future__ import annotations

import argparse
import os

import orjson
import pytest

from smart_app import cli
from smart_app.commands import demo, serve


def test_demo_runs_every_sample_scenario_through_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "authentication is OFF" in out
    for scenario in demo.SCENARIOS:
        assert scenario.title in out
    assert "[CRITICAL]" in out and "MME/day" in out and "suggestion [any]" in out


def test_demo_json_gives_the_raw_cds_hooks_responses(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--json"]) == 0
    results = orjson.loads(capsys.readouterr().out)
    assert len(results) == len(demo.SCENARIOS)
    assert all(r["status"] == 200 and isinstance(r["response"]["cards"], list) for r in results)


def test_serve_no_auth_warns_and_turns_auth_off_for_the_workers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    monkeypatch.setenv("SMART_APP_AUTH_ENABLED", "true")  # recorded, so the run's change is undone after the test
    args = argparse.Namespace(host="127.0.0.1", port=8123, workers=2, no_auth=True)
    assert serve.run(args) == 0
    assert "--no-auth" in capsys.readouterr().err
    assert calls[0]["port"] == 8123 and calls[0]["workers"] == 2 and calls[0]["factory"] is True
    assert os.environ["SMART_APP_AUTH_ENABLED"] == "false"


def test_serve_with_auth_and_no_trusted_clients_warns_that_all_calls_will_be_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.delenv("SMART_APP_CDS_TRUSTED_ISSUERS", raising=False)
    monkeypatch.delenv("SMART_APP_CDS_TRUSTED_ISSUERS_FILE", raising=False)
    assert serve.run(argparse.Namespace(host="127.0.0.1", port=8000, workers=1, no_auth=False)) == 0
    assert "401" in capsys.readouterr().err
