from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from smart_app.cli import main

SAMPLES = Path(str(resources.files("smart_app") / "samples"))
PATIENTS, ORDERS = SAMPLES / "patients", SAMPLES / "orders"
OUTPATIENT = ORDERS / "ketamine-infusion-outpatient.json"


def check_json(capsys: pytest.CaptureFixture[str], patient: str, order: Path | None = OUTPATIENT) -> dict[str, object]:
    argv = ["check", str(PATIENTS / f"{patient}.json"), "--date", "2026-11-21", "--json"]
    if order is not None:
        argv += ["--order", str(order)]
    assert main(argv) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def by_rule(data: dict[str, object]) -> dict[str, str]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return {f["rule_id"]: f["severity"] for f in findings}


def test_json_output_has_findings_with_evidence_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    data = check_json(capsys, "cardiac-uncontrolled-bp")
    findings = data["findings"]
    assert isinstance(findings, list) and findings
    first = findings[0]
    assert first["rule_id"] == "CI-CV" and first["severity"] == "critical"
    assert {"rule_id", "severity", "summary", "evidence", "source", "wording", "local_defaults"} <= set(first)
    assert first["source"]["document"] == "ANZCA-PS"
    assert any(e["value"] == "172/104 mmHg" for e in first["evidence"])
    assert data["weight_kg"] == 82
    assert {b["test"] for b in data["baseline_tests"]} == {"ECG", "LFT"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("patient", "expected"),
    [
        ("cardiac-uncontrolled-bp", {"CI-CV": "critical", "PRE-ECG": "warning"}),
        ("needs-ecg", {"PRE-ECG": "warning", "CI-CV": "warning"}),
        ("liver-disease", {"CI-HEP": "critical", "PRE-LFT": "info"}),
        ("psychosis-glaucoma", {"CI-PSY": "critical", "CI-ICP-IOP": "critical"}),
        ("no-weight", {"DOSE-RATE": "warning"}),
    ],
)
def test_sample_patients_give_their_key_findings(
    capsys: pytest.CaptureFixture[str], patient: str, expected: dict[str, str]
) -> None:
    found = by_rule(check_json(capsys, patient))
    assert {rule: found.get(rule) for rule in expected} == expected


def test_correct_order_for_a_healthy_patient_has_no_finding_and_a_full_checklist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = check_json(capsys, "healthy")
    assert data["findings"] == []
    checks = {(c["rule_id"], c["subject"]): c for c in data["checks"]}  # type: ignore[union-attr]
    rate = checks[("DOSE-RATE", "MedicationRequest/draft-ketamine-infusion-outpatient")]
    assert rate["status"] == "satisfied" and rate["severity"] is None and rate["evidence"]
    assert checks[("PRE-ECG", None)]["status"] == "not-applicable"
    assert checks[("CI-CONSENT", None)]["status"] in ("satisfied", "not-evaluable")
    assert {c["status"] for c in checks.values()} <= {"satisfied", "not-applicable", "not-evaluable"}


@pytest.mark.parametrize(
    ("patient", "order", "rule"),
    [
        ("healthy", "ketamine-infusion-high-rate", "DOSE-RATE"),
        ("needs-ecg", "ketamine-infusion-outpatient", "PRE-ECG"),
        ("cardiac-uncontrolled-bp", "ketamine-infusion-outpatient", "CI-CV"),
    ],
)
def test_a_fired_check_is_a_finding_and_its_near_miss_is_not(
    capsys: pytest.CaptureFixture[str], patient: str, order: str, rule: str
) -> None:
    fired = check_json(capsys, patient, ORDERS / f"{order}.json")
    assert rule in by_rule(fired)
    near_miss = check_json(capsys, "healthy", OUTPATIENT)
    assert rule not in by_rule(near_miss)
    assert all(c["status"] != "fired" for c in near_miss["checks"] if c["rule_id"] == rule)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("order", "rule", "severity"),
    [
        ("ketamine-infusion-high-rate", "DOSE-RATE", "warning"),
        ("ketamine-bolus", "DOSE-BOLUS", "warning"),
        ("ketamine-oral", "ORAL", "warning"),
        ("ketamine-epidural", "ROUTE-NEURAX", "critical"),
        ("esketamine-nasal", "DOSE-ESKETAMINE", "warning"),
    ],
)
def test_sample_orders_fire_their_rule(
    capsys: pytest.CaptureFixture[str], order: str, rule: str, severity: str
) -> None:
    assert by_rule(check_json(capsys, "healthy", ORDERS / f"{order}.json")).get(rule) == severity


def test_human_output_is_a_table_then_evidence_and_sources(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", str(PATIENTS / "needs-ecg.json"), "--order", str(OUTPATIENT), "--date", "2026-11-21"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "SEVERITY" in out and "PRE-ECG" in out
    assert "Checklist (every rule):" in out
    assert "evidence: Observation/needs-ecg-ecg" in out
    assert "source: ASRA/AAPM/ASA ketamine consensus 2018, Table 6, Preinfusion tests" in out


def test_patient_without_order_still_gets_patient_rules(capsys: pytest.CaptureFixture[str]) -> None:
    data = check_json(capsys, "psychosis-glaucoma", order=None)
    assert data["ketamine_orders"] == []
    assert "CI-PSY" in by_rule(data)


def test_bad_input_is_a_clear_error_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["check", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({"resourceType": "Patient", "id": "p"}))
    assert main(["check", str(patient), "--order", str(patient)]) == 2
    assert "no MedicationRequest" in capsys.readouterr().err


def test_invalid_date_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", str(PATIENTS / "healthy.json"), "--date", "21/11/2026"])
    assert exc.value.code == 2


def test_order_file_may_be_a_bundle_of_draft_orders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    order = json.loads(OUTPATIENT.read_text())
    bundle = tmp_path / "draft-orders.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}))
    data = check_json(capsys, "healthy", bundle)
    orders = data["ketamine_orders"]
    assert isinstance(orders, list) and len(orders) == 1
    assert orders[0]["rate_mg_per_kg_h"] == pytest.approx(0.5)
