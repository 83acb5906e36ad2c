"""Issue 15 through `smart-app check`: each course rule is a finding on its history and only a checklist item on its
near miss (`findings` are fired outcomes; `checks` every rule's outcome)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from smart_app.cli import main
from tests import course_histories as h
from tests import fhir_factory as f
from tests.cds_hooks.support import ketamine_infusion

DAY = datetime(2026, 11, 21, 12, tzinfo=UTC)


def _check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    resources: list[dict[str, Any]],
    order: dict[str, Any] | None = None,
    *,
    as_json: bool = True,
) -> Any:
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(f.bundle(*h.patient(), h.weight(DAY), *resources)))
    argv = ["check", str(patient), "--date", "2026-11-21"]
    if order is not None:
        order_file = tmp_path / "order.json"
        order_file.write_text(json.dumps(order))
        argv += ["--order", str(order_file)]
    assert main([*argv, "--json"] if as_json else argv) == 0
    out = capsys.readouterr().out
    return json.loads(out) if as_json else out


def _fired(data: dict[str, Any]) -> dict[str, str]:
    return {x["rule_id"]: x["severity"] for x in data["findings"]}


def _status(data: dict[str, Any], rule: str) -> str:
    return str(next(c["status"] for c in data["checks"] if c["rule_id"] == rule))


def test_weekly_series_without_and_with_a_documented_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without = _check(tmp_path, capsys, h.weekly_series(DAY), ketamine_infusion(35))
    assert _fired(without)["FREQ-RESPONSE"] == "warning"
    review = next(x for x in without["findings"] if x["rule_id"] == "FREQ-RESPONSE")
    assert review["plans"] == ["record-response"]
    responded = _check(tmp_path, capsys, h.weekly_series(DAY, pain_scores=(8, 4)), ketamine_infusion(35))
    assert "FREQ-RESPONSE" not in _fired(responded) and _status(responded, "FREQ-RESPONSE") == "satisfied"


def test_lorazepam_with_oxycodone_and_its_near_miss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    both = _check(tmp_path, capsys, [h.oxycodone(), h.lorazepam()])
    assert _fired(both) == {"OPI-BZD": "warning", "OPI-NALOXONE": "info"}
    bzd = next(x for x in both["findings"] if x["rule_id"] == "OPI-BZD")
    assert bzd["source"]["document"] == "CDC-2022" and bzd["source"]["external"] is True
    alone = _check(tmp_path, capsys, [h.oxycodone()])
    assert not {"OPI-BZD", "OPI-NALOXONE"} & set(_fired(alone))
    assert _status(alone, "OPI-BZD") == "satisfied"


def test_an_opioid_order_after_a_taper_and_its_near_miss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    after_taper = _check(tmp_path, capsys, h.taper_to_off(DAY), h.oxycodone_draft(1, 2))
    assert _fired(after_taper)["POST-TAPER"] == "warning"
    taper = next(x for x in after_taper["findings"] if x["rule_id"] == "POST-TAPER")
    assert "post_taper_fall_percent" in taper["local_defaults"] and taper["source"]["lines"] == "L1397–1399"
    stable = _check(tmp_path, capsys, [h.stable_oxycodone(DAY)], h.oxycodone(1, 2, status="draft", rid="draft-prn"))
    assert "POST-TAPER" not in _fired(stable) and _status(stable, "POST-TAPER") == "satisfied"


def test_a_five_day_course_and_a_single_infusion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    five = _check(tmp_path, capsys, [], h.five_day_infusion())
    assert _fired(five)["PRE-LFT"] == "warning"
    assert five["ketamine_exposure"]["planned"][0]["days"] == 5
    single = _check(tmp_path, capsys, [], ketamine_infusion(35))
    assert "PRE-LFT" not in _fired(single) and _status(single, "PRE-LFT") == "not-applicable"


def test_the_opioid_baseline_and_the_exposure_are_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = [*h.weekly_series(DAY), h.stable_oxycodone(DAY)]
    data = _check(tmp_path, capsys, history)
    baseline = next(c for c in data["checks"] if c["rule_id"] == "OPI-BASELINE")
    assert baseline["status"] == "satisfied" and "30 MME/day" in baseline["summary"]
    month = data["ketamine_exposure"]["windows"][0]
    assert (month["days"], month["treatment_days"], month["total_mg"]) == (30, 4, 560)
    text = _check(tmp_path, capsys, history, as_json=False)
    assert "Ketamine exposure: 560 mg on 4 treatment days in the last 30 days" in text
    assert "OPI-BASELINE" in text and "FREQ-RESPONSE" in text
