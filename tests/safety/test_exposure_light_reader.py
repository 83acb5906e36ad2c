"""The ketamine exposure reads past orders with `read_doses`, which must read the amounts exactly as `read_order`
does: same steps, same sessions, and so the same exposure figures and wording, over orders of every shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.core.safety import exposure as exposure_module
from smart_app.core.safety.exposure import ketamine_exposure
from smart_app.core.safety.ketamine_order import PlannedDoses, is_ketamine, read_doses, read_order
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.test_order_shapes import dose, instruction, q, rate

ON = datetime(2026, 12, 1, 12, tzinfo=UTC)
SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients"
PREMIXED = ("1719599", "ketamine 1 MG/ML in sodium chloride")


def _past(*dosages: dict[str, Any], days_ago: int, rid: str, **extra: Any) -> dict[str, Any]:
    code = extra.pop("code", ("238082", "ketamine 10 MG/ML Injectable Solution"))
    start = (ON - timedelta(days=days_ago)).strftime("%Y-%m-%dT09:00:00Z")
    return f.medication_request(*code, dosages=list(dosages), status="completed", rid=rid, authoredOn=start, **extra)


def _shapes() -> list[dict[str, Any]]:
    """Past ketamine orders of many shapes: steps, ranges, typed entries, mL amounts, sessions, unreadable parts."""
    return [
        _past(instruction(rate(0.3)), days_ago=3, rid="a"),
        _past(instruction(rate(35, "mg/h"), dose(0.5)), days_ago=5, rid="b"),
        _past(instruction(dose(0.35), sequence=1, hours=None), instruction(rate(0.5), sequence=2), days_ago=8, rid="c"),
        _past(instruction({"rateRange": {"low": q(0.1, "mg/kg/h"), "high": q(0.4, "mg/kg/h")}}), days_ago=9, rid="d"),
        _past(instruction(rate(0.5, kind="calculated"), rate(0.3, kind="ordered")), days_ago=11, rid="e"),
        _past(instruction(rate(20, "mL/h")), days_ago=12, rid="f"),
        _past(instruction(rate(20, "mL/h")), days_ago=13, rid="g", code=PREMIXED),
        _past(instruction(rate(0.2), hours=100), days_ago=20, rid="h"),
        _past(instruction(rate(0.3)), days_ago=25, rid="i", dispenseRequest={"numberOfRepeatsAllowed": 4}),
        _past(
            {
                "doseAndRate": [rate(0.3)],
                "timing": {"repeat": {"duration": 4, "durationUnit": "h", "count": 5}},
            },
            days_ago=40,
            rid="j",
        ),
        _past(
            {
                "doseAndRate": [rate(0.3)],
                "timing": {
                    "repeat": {"duration": 4, "durationUnit": "h", "frequency": 1, "period": 1, "periodUnit": "d"}
                    | {"boundsDuration": {"value": 3, "unit": "d", "code": "d", "system": f.UCUM}}
                },
            },
            days_ago=60,
            rid="k",
        ),
        _past(instruction(rate(7, "furlongs/h")), days_ago=70, rid="l"),
        _past(instruction(dose(100, "mg"), hours=2), days_ago=80, rid="m"),
        _past(instruction(hours=None), days_ago=90, rid="n"),
        _past(days_ago=100, rid="o"),
    ]


def _orders(record: PatientRecord) -> list[MedicationUse]:
    return [m for m in record.medications if is_ketamine(m) and m.resource_type == "MedicationRequest"]


def _records() -> list[PatientRecord]:
    records = [build_record([f.patient("1975-05-01"), f.weight(70), *_shapes()])]
    for path in sorted(SAMPLES.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        records.append(build_record([e["resource"] for e in bundle.get("entry", [])]))
    return records


def test_the_light_reader_reads_every_shape_as_the_full_reader_does() -> None:
    orders = [m for record in _records() for m in _orders(record)]
    assert len(orders) >= 15
    for med in orders:
        full = read_order(med)
        assert read_doses(med) == PlannedDoses(full.steps, full.repeats), med.reference
        light = read_doses(med)
        assert (light.bolus, light.rate, light.duration_h) == (full.bolus, full.rate, full.duration_h)
        for weight in (None, 70.0, 3.5):
            assert light.total_mg(weight) == full.total_mg(weight)


@pytest.mark.parametrize("weight", [None, 70.0])
def test_the_exposure_is_the_same_as_with_the_full_reader(weight: float | None, monkeypatch: Any) -> None:
    for record in _records():
        light = ketamine_exposure(record, (), ON, weight)
        with monkeypatch.context() as patched:
            patched.setattr(exposure_module, "read_doses", read_order)
            full = ketamine_exposure(record, (), ON, weight)
        assert light == full
    shapes = ketamine_exposure(_records()[0], (), ON, weight)
    assert len({e.reference for e in shapes.entries}) >= 12  # the shapes were counted, not skipped
