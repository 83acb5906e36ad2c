"""The lean typed parse builds the same PatientRecord as full R4B validation, or hands the resource to R4B.

Sound means: whenever the lean path accepts a resource, R4B accepts it too (for every element the core reads)
and the core values are the same. Checked on the bundled samples, on the benchmark's workload, on hand-picked
cases where R4B is lenient or strict in ways a parser gets wrong, and on mutated resources (hypothesis).
"""

from __future__ import annotations

import copy
import os
from importlib.resources import files
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from benchmarks.workload import resources as workload_resources
from smart_app.fhir import lean
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import USED_TYPES, build_record, parse_resource, validate

SAMPLES = files("smart_app.samples")


def _sample_resources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for folder in ("patients", "orders"):
        for path in sorted(SAMPLES.joinpath(folder).iterdir(), key=lambda p: p.name):
            found.extend(iter_resources(orjson.loads(path.read_bytes())))
    return found


ALL = [r for r in _sample_resources() + workload_resources() if r.get("resourceType") in USED_TYPES]


@pytest.mark.parametrize("folder", ["patients", "orders"])
def test_samples_build_the_same_record_on_both_paths(folder: str) -> None:
    for path in SAMPLES.joinpath(folder).iterdir():
        resources = list(iter_resources(orjson.loads(path.read_bytes())))
        drafts = resources if folder == "orders" else []
        rest = [] if folder == "orders" else resources
        lean_record = build_record(rest, draft_orders=drafts)
        full_record = build_record(rest, draft_orders=drafts, full_validation=True)
        assert lean_record == full_record, path.name
        assert lean_record.problems == full_record.problems


def test_the_lean_path_reads_every_sample_and_workload_resource_itself() -> None:
    """The fast path is really taken for ordinary data (R4B only for the unusual)."""
    fallbacks = []
    for raw in ALL:
        try:
            lean.parse(raw)
        except lean.Unusual:
            fallbacks.append(f"{raw['resourceType']}/{raw.get('id')}")
    assert fallbacks == []


def test_workload_builds_the_same_record_on_both_paths() -> None:
    resources = workload_resources()
    assert build_record(resources) == build_record(resources, full_validation=True)


def _obs(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2026-11-15T09:00:00Z",
        "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


UNUSUAL = [
    _obs(effectiveDateTime="2026-11-15T23:59:60Z"),  # leap second: R4B keeps the text
    _obs(effectiveDateTime="2026-11-15T09:00:00.1234567Z"),  # beyond microseconds
    _obs(effectiveDateTime="2026-11-15T09:00:00"),  # no zone: R4B rejects
    _obs(effectiveDateTime="2026-02-30"),  # no such day: R4B rejects
    _obs(effectiveDateTime="2026-13"),
    _obs(valueQuantity={"value": "70", "unit": "kg"}),  # R4B accepts a decimal as text
    _obs(valueQuantity={"value": True}),
    _obs(valueBoolean=1),  # R4B accepts 1 as true
    _obs(_status={"extension": [{"url": "http://x", "valueString": "a"}]}),
    _obs(foo=1),  # not an element
    _obs(fhir_comments="x"),
    _obs(status=None, code=None),  # required elements missing
    _obs(valueString="a"),  # two value[x]
    _obs(code={"coding": [{"system": "http://loinc.org", "code": "29463 -7  x"}]}),  # code with two spaces
    _obs(code={"coding": [None]}),
    _obs(code={"text": ""}),
    _obs(code={"text": "\x0b"}),
    _obs(id="a b"),
    _obs(subject="Patient/p"),  # an unread element of the wrong kind
    _obs(contained=[{"resourceType": "Patient", "id": "x"}]),
    _obs(component=[{"valueString": "no code"}]),
    _obs(valueQuantity={"value": 10**30, "unit": "kg"}),  # beyond 64 bits: left to R4B
    {
        "resourceType": "Consent",
        "id": "c",
        "status": "active",
        "scope": {"text": "x"},
        "category": [{"text": "x"}],
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    },
    {
        "resourceType": "MedicationRequest",
        "id": "m",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
    },  # medication[x] is required
]


@pytest.mark.parametrize("raw", UNUSUAL, ids=lambda r: repr(r)[-60:])
def test_what_r4b_decides_differently_goes_to_r4b(raw: dict[str, Any]) -> None:
    with pytest.raises(lean.Unusual):
        lean.parse(raw)
    assert parse_resource(raw) == parse_resource(raw, full=True)


def test_full_path_still_names_what_it_cannot_read() -> None:
    record = build_record([_obs(effectiveDateTime="2026-02-30"), _obs(id="ok")])
    assert [p.reference for p in record.problems] == ["Observation/o1"]
    assert [o.id for o in record.observations] == ["ok"]


# --- mutated resources -----------------------------------------------------------------------------------------

TRICKY: list[Any] = [
    None,
    "",
    " ",
    "\x0b",
    "a  b",
    "x",
    "5",
    "final",
    "2024",
    "2024-02",
    "2024-02-30",
    "2024-02-29",
    "2024-01-01T10:00:00",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00:00.1234567+05:30",
    "2024-01-01T23:59:60Z",
    "2024-01-01T10:00:00-00:00",
    "08:00:00",
    "24:00:00",
    "http://loinc.org",
    0,
    1,
    -1,
    2**31,
    2**63,
    1.5,
    -0.0,
    1e308,
    True,
    False,
    {},
    [],
    [None],
    [{}],
    {"text": "a"},
    {"coding": []},
    {"extension": [{"url": "http://x", "valueString": "a"}]},
    {"reference": "Medication/x"},
    {"value": 1, "unit": "mg"},
]
EXTRA_KEYS = [
    *("_status", "foo", "fhir_comments", "valueString", "effectivePeriod", "contained", "extension", "id"),
    *("sequence", "type", "priorPrescription"),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(draw(st.sampled_from(ALL)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(raw) if p[0] != "resourceType"]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or not paths:
            target: Any = raw
            if paths and draw(st.booleans()):
                parent = draw(st.sampled_from(paths))
                for step in parent:
                    target = target[step]
            if isinstance(target, dict):
                target[draw(st.sampled_from(EXTRA_KEYS))] = draw(st.sampled_from(TRICKY))
            continue
        path = draw(st.sampled_from(paths))
        parent_value: Any = raw
        for step in path[:-1]:
            parent_value = parent_value[step]
        if action == "delete":
            del parent_value[path[-1]]
        else:
            parent_value[path[-1]] = copy.deepcopy(draw(st.sampled_from(TRICKY)))
    return raw


def _delete(raw: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Delete the deepest dict element that exists along an R4B error location (a missing required element's
    location goes past what the JSON holds: then its container element goes)."""
    target: Any = raw
    deepest: tuple[dict[str, Any], str] | None = None
    for step in loc:
        if isinstance(target, dict) and step in target:
            deepest = (target, step)
            target = target[step]
        elif isinstance(target, list) and isinstance(step, int) and step < len(target):
            target = target[step]
        else:
            break
    if deepest is None:
        return False
    del deepest[0][deepest[1]]
    return True


@settings(
    max_examples=int(os.environ.get("LEAN_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_lean_path_agrees_with_r4b_on_mutated_resources(raw: dict[str, Any]) -> None:
    try:
        value = lean.parse(raw)
    except lean.Unusual:
        return  # R4B decides: the same path as before, nothing to compare
    full = parse_resource(raw, full=True)
    if full.problem is None:
        assert value == full.value
        return
    # R4B rejects something the lean path accepted: it may only be in an element the core never reads. Removing
    # what R4B objects to (repeatedly) must leave the values the lean path read unchanged.
    stripped = copy.deepcopy(raw)
    for _ in range(10):
        try:
            model = validate(stripped)
        except ValidationError as exc:
            assert exc.errors()[0]["loc"], f"a resource-level error R4B raised that the lean path missed: {exc}"
            assert _delete(stripped, tuple(exc.errors()[0]["loc"])), exc
            continue
        assert model is not None
        assert lean.parse(stripped) == value
        return


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=10**12).map(float),
    ),
    st.sampled_from(["valueQuantity", "dosage"]),
)
def test_the_plausibility_shortcut_never_misses_a_number(number: float, where: str) -> None:
    from smart_app.fhir import plausibility
    from smart_app.fhir.record import _implausible

    raw: dict[str, Any] = _obs(valueQuantity={"value": number, "unit": "kg"})
    if where == "dosage":
        raw = {
            "resourceType": "MedicationRequest",
            "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": number}}]}],
        }
    assert _implausible(raw) == plausibility.raw_problem(raw)
