"""`smart-app mme`: human table, --json, --table, and bad input (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smart_app.cli import main
from tests import fhir_factory as f
from tests.mme.helpers import OXYCODONE_ER_10, request, tablets

SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["mme", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_cdc_worked_example_patient_totals_50(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SAMPLES / "opioid-simple.json"))
    assert code == 0
    assert "Total: 50.0 MME/day (CDC 2022), 2 medications counted, 0 left out" in out
    assert "Level: 50 MME/day, at or above 50 (CDC 2022" in out and "local default" in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_high_mme_sample_lists_the_left_out_medication_with_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SAMPLES / "high-mme.json"))
    assert code == 0
    assert "3 medications counted, 1 left out" in out
    words = " ".join(out.split())  # long lines are wrapped to 100 columns
    assert "MedicationStatement/morphine-reported): not-computable: dose only in free text" in words
    assert "Caution: MME factors must not be used to convert" in words


def test_json_output_has_totals_and_derivations(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SAMPLES / "high-mme.json"), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["table"] == "cdc-2022"
    counted = [m for m in data["medications"] if m["status"] == "counted"]
    assert data["total_mme_per_day"] == pytest.approx(sum(m["mme_per_day"] for m in counted))
    for med in data["medications"]:
        assert {"id", "mme_per_day", "status", "reason", "derivation", "factor", "daily_dose"} <= med.keys()
    left_out = [m for m in data["medications"] if m["status"] == "not-computable"]
    assert left_out and all(m["mme_per_day"] is None and m["reason"] for m in left_out)


def test_table_option_changes_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SAMPLES / "opioid-simple.json"), "--table", "anzca-2021", "--json")
    data = json.loads(out)
    assert code == 0 and data["table"] == "anzca-2021"
    hydrocodone = next(m for m in data["medications"] if m["ingredient"] == "hydrocodone")
    assert hydrocodone["status"] == "not-computable"


def test_nothing_computable_gives_null_total(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", f.bundle(f.patient(), request(OXYCODONE_ER_10, f.dosage(dose=tablets(1)))))
    code, out, _ = run(capsys, path, "--json")
    assert code == 0 and json.loads(out)["total_mme_per_day"] is None
    code, out, _ = run(capsys, path)
    assert "Total: none computable (CDC 2022), 0 medications counted, 1 left out" in out


def test_invalid_resource_is_reported_in_the_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = request(OXYCODONE_ER_10, f.dosage(dose=tablets(1), frequency=2), rid="broken")
    bad["status"] = 5
    path = write(tmp_path, "p.json", f.bundle(bad))
    code, out, _ = run(capsys, path)
    assert code == 0
    assert "MedicationRequest/broken: invalid FHIR at status" in " ".join(out.split())
    assert "No current opioid medications found" not in out  # an unreadable order may be an opioid
    assert "1 could not be read" in out
    code, out, _ = run(capsys, path, "--json")
    assert json.loads(out)["input_problems"][0]["reference"] == "MedicationRequest/broken"


@pytest.mark.parametrize(
    "content",
    ['{"hello": "world"}', "{not json", "[1, 2, 3]"],
)
def test_json_that_is_not_fhir_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    code, out, err = run(capsys, str(path))
    assert code == 2
    assert out == ""
    assert err.startswith("smart-app: error:") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read file" in err


def test_several_files_are_one_patient_and_duplicates_count_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dosage = f.dosage(dose=tablets(1), frequency=2)
    orders = write(tmp_path, "orders.json", f.bundle(request(OXYCODONE_ER_10, dosage, rid="rx-9")))
    home = write(tmp_path, "home.json", f.medication_statement(*OXYCODONE_ER_10, dosages=[dosage], rid="home-9"))
    code, out, _ = run(capsys, orders, home, "--json")
    data = json.loads(out)
    assert code == 0 and data["total_mme_per_day"] == pytest.approx(30)
    assert [m["status"] for m in data["medications"]] == ["counted", "duplicate"]


def test_json_numbers_carry_no_floating_point_noise(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    methadone = f.medication_request(
        "864706",
        "methadone hydrochloride 10 MG Oral Tablet",
        dosages=[f.dosage(dose=f.dose_quantity(20.5, "mg"), frequency=1)],
    )
    code, out, _ = run(capsys, write(tmp_path, "m.json", methadone), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["total_mme_per_day"] == 96.35  # 20.5 mg x 4.7, not 96.35000000000001
    assert data["medications"][0]["mme_per_day"] == 96.35
