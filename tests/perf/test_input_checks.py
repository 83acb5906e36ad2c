"""The cheaper checks of the reading layer answer as the plain ones did.

- `vitals.implausible` by its code index gives what matching each value set gave (the previous code is kept here).
- The one scan for large numbers (`record._may_hold_large_number`) never misses a number plausibility objects to.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_app.core.model import Coding, Concept, Observation, ObservationComponent, Quantity
from smart_app.core.safety import vitals
from smart_app.core.safety.evidence import quantity_in
from smart_app.core.safety.terminology import value_set
from smart_app.fhir import plausibility
from smart_app.fhir.record import _may_hold_large_number

LOINC = "http://loinc.org"


def _implausible_before(obs: Observation) -> str | None:
    if value_set("body-weight").contains(obs.code):
        q = obs.value_quantity
        kg = vitals._to_kg(q) if q is not None and q.value is not None else None
        if kg is not None and vitals._outside(kg, vitals.WEIGHT_KG):
            return f"body weight {q} is outside the plausible range {vitals._range_text(vitals.WEIGHT_KG, 'kg')}"
        return None
    limits_by_name = (
        ("systolic", value_set("systolic-bp"), vitals.SYSTOLIC_MMHG),
        ("diastolic", value_set("diastolic-bp"), vitals.DIASTOLIC_MMHG),
    )
    for code, quantity in [(obs.code, obs.value_quantity), *((c.code, c.value_quantity) for c in obs.components)]:
        value = quantity_in(quantity, vitals._MMHG)
        for name, members, limits in limits_by_name:
            if value is not None and members.contains(code) and vitals._outside(value, limits):
                text = vitals._range_text(limits, "mmHg")
                return f"{name} blood pressure {quantity} is outside the plausible range {text}"
    return None


_CODES = ["29463-7", " 29463-7 ", "3141-9", "8480-6", "8459-0", "8462-4", "85354-9", "8867-4", None]
_codings = st.builds(
    Coding, system=st.sampled_from([LOINC, "http://snomed.info/sct", None]), code=st.sampled_from(_CODES)
)
_concepts = st.builds(Concept, codings=st.lists(_codings, max_size=3).map(tuple))
_quantities = st.none() | st.builds(
    Quantity,
    value=st.none() | st.sampled_from([0.1, 5, 35, 70, 150, 250, 320, 700, float("nan")]),
    unit=st.none() | st.sampled_from(["kg", "mmHg", "lb", "g"]),
    code=st.none() | st.sampled_from(["kg", "mm[Hg]", "[lb_av]", "g"]),
)
_components = st.builds(ObservationComponent, code=_concepts, value_quantity=_quantities)
_observations = st.builds(
    Observation,
    id=st.just("o"),
    code=_concepts,
    value_quantity=_quantities,
    components=st.lists(_components, max_size=3).map(tuple),
)


@settings(max_examples=500)
@given(_observations)
def test_implausible_by_index_is_implausible_by_value_sets(obs: Observation) -> None:
    assert vitals.implausible(obs) == _implausible_before(obs)


_numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([10**8, 10**8 + 1, -(10**8) - 1, 10**9 + 1, 10**15 + 1, 2**53, -(2**62)]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e8, 100000000.5, -100000001.0, 1e9 + 0.5, 1e16, -1e16, 1.5e300, 9.999999999999998e15]),
)
_json = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "dose", "period"]), inner),
    max_leaves=12,
)
_DOSAGE = st.sampled_from(["dosageInstruction", "dosage", "value"])


@settings(max_examples=1000)
@given(_DOSAGE, st.sampled_from(["doseAndRate", "repeat", "x"]), st.sampled_from(["period", "dose", "y"]), _json)
def test_the_scan_never_misses_a_large_number(outer: str, middle: str, inner: str, value: Any) -> None:
    resource = {"resourceType": "MedicationRequest", outer: [{middle: {inner: value}}]}
    if plausibility.raw_problem(resource) is not None:
        assert _may_hold_large_number(orjson.dumps(resource))
