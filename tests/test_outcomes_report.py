"""`smart-app outcomes-report`: responses and adverse events per ketamine course (ANZCA PS12 1.3), from a bundle file
and from a real FHIR server, as a table and as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from smart_app.cli import main
from smart_app.fhir.follow_up import questionnaire_response
from tests import course_histories as h
from tests import fhir_factory as f
from tests.fhir_server import running_fhir_server

DAY = datetime(2026, 11, 21, 12, tzinfo=UTC)


def _for(patient_id: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resources as another patient's (id and subject references)."""
    out = []
    for r in resources:
        r = json.loads(json.dumps(r))
        if r["resourceType"] == "Patient":
            r["id"] = patient_id
        else:
            r["id"] = f"{patient_id}-{r['id']}"
            r["subject"] = {"reference": f"Patient/{patient_id}"}
        out.append(r)
    return out


def _follow_up(days_ago: int, **answers: str) -> dict[str, Any]:
    built = questionnaire_response(
        answers, patient_reference="Patient/example", authored=datetime.fromisoformat(h.at(DAY, days_ago))
    )
    assert built.resource is not None, built.problems
    return {**built.resource, "id": f"qr-{days_ago}"}


def _two_patients() -> dict[str, Any]:
    reported = [
        *h.patient(),
        h.weight(DAY),
        *h.weekly_series(DAY, pain_scores=(8, 4)),
        _follow_up(3, pain="3", **{"pain-relief": "60", "relief-weeks": "3", "ae-urinary": "yes", "ae-serious": "no"}),
    ]
    unreported = [*h.patient(), h.weight(DAY), *h.weekly_series(DAY)]
    return f.bundle(*_for("reported", reported), *_for("unreported", unreported))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["outcomes-report", *argv, "--date", "2026-11-21"]) == 0
    return capsys.readouterr().out


def test_a_bundle_of_two_patients_gives_one_row_per_course_and_the_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_two_patients()))
    data = json.loads(_run(capsys, str(path), "--json"))
    summary = data["summary"]
    assert (summary["patients"], summary["courses"], summary["courses_with_follow_up"]) == (2, 2, 1)
    assert (summary["response"], summary["not_documented"]) == (1, 1)
    assert summary["adverse_effects"]["Urinary symptoms"] == 1 and summary["serious_adverse_events"] == 0
    reported = next(c for c in data["courses"] if c["patient"] == "Patient/reported")
    assert reported["response"] == "response" and reported["follow_ups"] == 1 and reported["relief_weeks"] == 3
    assert reported["course"]["treatment_days"] == 4 and reported["course"]["ketamine_mg"] == 560
    assert any("reported relief 60%" in c for c in reported["criteria"])
    assert data["questionnaire"].endswith("/Questionnaire/ketamine-follow-up")
    table = _run(capsys, str(path))
    assert "Patient/reported" in table and "Patient/unreported" in table
    assert "not documented" in table and "Urinary symptoms" in table
    assert "with a follow-up 1" in table


def test_a_serious_adverse_event_is_flagged_for_reporting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resources = [
        *h.patient(),
        *h.weekly_series(DAY),
        _follow_up(2, pain="7", **{"ae-hypertension": "yes", "ae-serious": "yes"}),
    ]
    path = tmp_path / "serious.json"
    path.write_text(json.dumps(f.bundle(*resources)))
    table = _run(capsys, str(path))
    assert "[SERIOUS]" in table and "Serious adverse events: 1" in table and "TGA or Medsafe" in table


def test_files_and_a_server_together_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outcomes-report"]) == 2
    assert "give FHIR files or --fhir-server" in capsys.readouterr().err


def test_from_a_real_fhir_server_with_a_token_and_by_patient(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fhir_server(_two_patients(), bearer_token="secret") as base:
        everyone = json.loads(_run(capsys, "--fhir-server", base, "--token", "secret", "--json"))
        one = json.loads(_run(capsys, "--fhir-server", base, "--token", "secret", "--patient", "reported", "--json"))
        refused = json.loads(_run(capsys, "--fhir-server", base, "--patient", "reported", "--json"))
    assert {c["patient"] for c in everyone["courses"]} == {"Patient/reported", "Patient/unreported"}
    assert everyone["summary"]["courses_with_follow_up"] == 1
    assert [c["patient"] for c in one["courses"]] == ["Patient/reported"] and not one["problems"]
    assert one["courses"][0]["response"] == "response"
    assert refused["courses"] == [] and refused["problems"]  # no token: nothing read, and said
