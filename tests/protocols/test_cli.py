"""`smart-app protocol`: list and order-set output a clinician or script would read."""

from __future__ import annotations

import orjson
import pytest

from smart_app.cli import main


def test_order_set_json_has_dose_orders_and_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "--id", "asra-outpatient-single-infusion", "--weight", "80", "--age", "45", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["status"] == "available"
    assert out["dose_summary"].startswith("0.5 mg/kg/h = 40 mg/h for 80 kg")
    assert out["medication_requests"][0]["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]["value"] == 40
    assert all(i["citation"]["label"] for i in out["instructions"])


def test_missing_weight_is_reported_not_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "--id", "inpatient-multiday-infusion", "--age", "45"]) == 0
    out = capsys.readouterr().out
    assert "Status: cannot-compute" in out
    assert "No current body weight" in out
    assert "MedicationRequest" not in out


def test_list_marks_protocols_for_an_elderly_patient(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "--list", "--weight", "70", "--age", "80", "--json"]) == 0
    rows = {row["protocol"]["id"]: row for row in orjson.loads(capsys.readouterr().out)}
    outpatient = rows["asra-outpatient-single-infusion"]
    assert outpatient["status"] == "caution" and outpatient["suggestible"] is True
    assert any("elderly" in r for r in outpatient["reasons"])
    assert rows["oral-follow-on"]["suggestible"] is False


def test_unknown_protocol_exits_2_with_known_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "--id", "nope", "--weight", "80"]) == 2
    assert "asra-outpatient-single-infusion" in capsys.readouterr().err


def test_nonpositive_weight_is_an_argument_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["protocol", "--id", "oral-follow-on", "--weight", "0"])
    assert exit_.value.code == 2
