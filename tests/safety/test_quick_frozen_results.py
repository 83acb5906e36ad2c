"""The result classes of the safety core and the protocols given `quick_frozen` keep the dataclass's parameters and
defaults, stay read-only, and compare and hash by value as before."""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, fields, replace
from typing import Any

import pytest

from smart_app.core.outcomes import Evidence, Missing
from smart_app.core.protocols.dosing import AsraMinimum, InfusionPlan
from smart_app.core.protocols.eligibility import ProtocolAssessment, _Verdict
from smart_app.core.safety.amounts import Amount
from smart_app.core.safety.evidence import ConditionMatch
from smart_app.core.safety.ketamine_order import Dose, PlannedDoses, Step
from smart_app.core.safety.rules.hepatic import LiverTest
from smart_app.core.safety.rules.sedation import Taken
from smart_app.core.safety.vitals import BpReading

CLASSES = [
    Evidence,
    Missing,
    AsraMinimum,
    InfusionPlan,
    ProtocolAssessment,
    _Verdict,
    Amount,
    ConditionMatch,
    Dose,
    PlannedDoses,
    Step,
    LiverTest,
    Taken,
    BpReading,
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_signature_is_the_dataclass_fields_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.default) for p in params] == [
        (f.name, inspect.Parameter.empty if f.default is f.default_factory else f.default) for f in fields(cls)
    ]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_instances_are_read_only_and_equal_by_value(cls: type) -> None:
    values: dict[str, Any] = {f.name: (f"v-{f.name}",) for f in fields(cls)}
    one, two = cls(**values), cls(*values.values())
    assert one == two and hash(one) == hash(two)
    assert all(getattr(one, name) == value for name, value in values.items())
    first = fields(cls)[0].name
    with pytest.raises(FrozenInstanceError):
        setattr(one, first, "changed")
    changed = replace(one, **{first: ("other",)})
    assert changed != one and getattr(changed, first) == ("other",)


def test_defaults_are_kept() -> None:
    assert Evidence("Observation/1", "x") == Evidence("Observation/1", "x", None, None)
    assert Dose((Amount(1.0, False, "1 mg"),)).step == ""
