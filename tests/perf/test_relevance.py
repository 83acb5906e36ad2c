"""Skipping the observations and conditions no rule can read changes no finding (core/safety/windows.py).

The safety evaluation (every rule's outcome: fired, satisfied or not evaluable, with its evidence; the weight; the
baseline tests) and the MME are compared with and without the filter, for the bundled samples, the benchmark's
workload, and resources whose dates, statuses, units and codes are drawn at random around the look-back windows."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.workload import resources as workload_resources
from smart_app.config import LocalDefaults
from smart_app.core.mme import calculate_mme
from smart_app.core.safety import evaluate
from smart_app.core.safety.windows import relevance_for
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

ON = datetime(2026, 11, 20, 12, tzinfo=UTC)
KETAMINE = orjson.loads(files("smart_app.samples").joinpath("orders/ketamine-infusion-outpatient.json").read_bytes())


def _outcome(resources: list[dict[str, Any]], on: datetime, defaults: LocalDefaults, filtered: bool) -> Any:
    record = build_record(
        resources, draft_orders=[KETAMINE], relevant=relevance_for(on, defaults) if filtered else None
    )
    drafts = [m for m in record.medications if m.is_draft_order]
    report = evaluate(record, drafts=drafts, on=on, settings=defaults)
    mme = calculate_mme(record.medications, table=defaults.mme_table, on=on)
    return report.outcomes, report.weight_kg, report.weight_evidence, report.baseline_tests, mme.total_mme_per_day


def _same(resources: list[dict[str, Any]], on: datetime, defaults: LocalDefaults | None = None) -> None:
    defaults = defaults or LocalDefaults()
    assert _outcome(resources, on, defaults, True) == _outcome(resources, on, defaults, False)


@pytest.mark.parametrize("name", sorted(p.name for p in files("smart_app.samples").joinpath("patients").iterdir()))
@pytest.mark.parametrize("days", [-400, -30, 0, 45, 200, 800])
def test_samples_give_the_same_findings(name: str, days: int) -> None:
    data = orjson.loads(files("smart_app.samples").joinpath("patients").joinpath(name).read_bytes())
    _same(list(iter_resources(data)), ON + timedelta(days=days))


@pytest.mark.parametrize("days", [-300, 0, 100, 400])
def test_workload_gives_the_same_findings(days: int) -> None:
    _same(workload_resources(now=ON), ON + timedelta(days=days))


def test_the_filter_skips_most_of_an_old_record() -> None:
    resources = workload_resources(now=ON)
    kept = build_record(resources, relevant=relevance_for(ON, LocalDefaults()))
    everything = build_record(resources)
    assert len(kept.observations) < len(everything.observations) / 2
    assert len(kept.conditions) < len(everything.conditions)


CODES = [
    ("29463-7", "Body weight"),
    ("11524-6", "EKG"),
    ("1742-6", "ALT"),
    ("1920-8", "AST"),
    ("2106-3", "hCG"),
    ("8480-6", "Systolic"),
    ("8462-4", "Diastolic"),
    ("8867-4", "Heart rate"),
]


@st.composite
def observations(draw: st.DrawFn) -> list[dict[str, Any]]:
    found = []
    for i in range(draw(st.integers(0, 25))):
        code, display = draw(st.sampled_from(CODES))
        days = draw(st.integers(-20, 900))
        when = (ON - timedelta(days=days, hours=draw(st.integers(0, 23)))).strftime("%Y-%m-%dT%H:%M:%SZ")
        unit = draw(st.sampled_from(["kg", "[lb_av]", "stone", "U/L", "mm[Hg]"]))
        obs = f.observation(
            code,
            display,
            value=draw(st.sampled_from([0, 1, 70.5, 120, 250])),
            unit=unit,
            effective=when,
            status=draw(st.sampled_from(["final", "amended", "preliminary", "cancelled", "entered-in-error"])),
            rid=f"o{i}",
        )
        if draw(st.booleans()) and days > 200:
            obs.pop("effectiveDateTime")
            obs["issued"] = when
        found.append(obs)
    return found


@settings(
    max_examples=int(os.environ.get("RELEVANCE_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(observations(), st.integers(7, 400), st.integers(7, 400))
def test_random_observations_give_the_same_findings(obs: list[dict[str, Any]], ecg: int, weight: int) -> None:
    defaults = LocalDefaults(ecg_lookback_days=ecg, weight_lookback_days=weight)
    _same([f.patient(birth_date="1960-01-01"), *obs], ON, defaults)
