"""The rule catalogue and the outcome model: one outcome per rule, typed statuses, knowledge declared once."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.assessment import assess
from smart_app.core.outcomes import Citation, Missing, Outcome
from smart_app.core.protocols.eligibility import monitored_threshold
from smart_app.core.safety.catalogue import CATALOGUE, RULES
from smart_app.core.safety.limits import dose_limits
from smart_app.fhir.bundle import load_files
from smart_app.fhir.record import build_record

SAMPLES = Path(str(resources.files("smart_app") / "samples"))
PATIENTS = sorted((SAMPLES / "patients").glob("*.json"))
ORDERS = [None, *sorted((SAMPLES / "orders").glob("ketamine-*.json")), SAMPLES / "orders" / "esketamine-nasal.json"]
ON = datetime(2026, 11, 21, 23, 59, tzinfo=UTC)
CITE = (Citation("ASRA", "Table 6"),)


@pytest.mark.parametrize("patient", PATIENTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("order", ORDERS, ids=lambda p: p.stem if p else "no-order")
def test_every_rule_yields_exactly_one_outcome_per_subject(patient: Path, order: Path | None) -> None:
    drafts = load_files([order]) if order else []
    record = build_record(load_files([patient]), draft_orders=drafts)
    assessment = assess(
        record, drafts=[m for m in record.medications if m.is_draft_order], on=ON, settings=LocalDefaults()
    )
    seen = [(o.rule_id, o.subject if CATALOGUE[o.rule_id].phase == "order" else None) for o in assessment.outcomes]
    assert len(seen) == len(set(seen))
    assert {rule for rule, _ in seen} == set(CATALOGUE)
    for o in assessment.outcomes:
        assert (o.severity is not None) == o.fired
        assert o.citations, o.rule_id
        if o.status == "not-evaluable":
            assert o.missing and all(m.reason for m in o.missing)


def test_severity_belongs_to_fired_outcomes_only() -> None:
    with pytest.raises(ValueError, match="severity"):
        Outcome("DOSE-RATE", "satisfied", "within range", CITE, severity="info")
    with pytest.raises(ValueError, match="severity"):
        Outcome("DOSE-RATE", "fired", "too fast", CITE)
    with pytest.raises(ValueError, match="missing"):
        Outcome("DOSE-MIN", "not-evaluable", "no duration", CITE)
    with pytest.raises(ValueError, match="plans"):
        Outcome("PRE-ECG", "satisfied", "ECG on file", CITE, plans=("order-ecg",))
    assert Outcome("DOSE-MIN", "not-evaluable", "x", CITE, missing=(Missing("order-duration", "none"),)).missing


def test_every_local_default_a_rule_declares_is_a_setting() -> None:
    fields = set(LocalDefaults.model_fields)
    for rule in RULES:
        assert set(rule.local_defaults) <= fields, rule.id
        assert rule.citations and rule.title


def test_reminders_are_procedural_and_never_dose_or_contraindication_rules() -> None:
    reminders = {r.id for r in RULES if r.reminder}
    assert reminders == {"CI-CONSENT", "CI-ASP", "OPI-PLAN"}


def test_protocols_and_dose_rules_read_the_same_limits() -> None:
    limits = dose_limits()
    rate, label = monitored_threshold(45, LocalDefaults())
    assert rate == limits.monitored_setting_mg_per_kg_h
    assert str(limits.monitored_setting) in label
    assert limits.infusion_min_mg_per_kg_h < limits.monitored_setting_mg_per_kg_h < limits.infusion_max_mg_per_kg_h
