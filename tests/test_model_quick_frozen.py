"""core/model.py `quick_frozen` and `HashOnce`: the faster __init__ and the kept hash change nothing a caller sees
(parameters and defaults, equality, hash value, immutability, replace, copy and pickle)."""

from __future__ import annotations

import copy
import inspect
import pickle
from dataclasses import FrozenInstanceError, dataclass, fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from smart_app.core import model as m

CLASSES = [c for c in vars(m).values() if isinstance(c, type) and is_dataclass(c) and c.__module__ == m.__name__]
QUICK = [c for c in CLASSES if c is not m.PatientRecord]
HASHED = [c for c in CLASSES if issubclass(c, m.HashOnce)]


def test_the_classes_memos_key_on_keep_their_hash() -> None:
    names = {c.__name__ for c in HASHED}
    assert names >= {"Coding", "Concept", "Quantity", "Ratio", "Period", "TimingRepeat", "Timing", "DoseAndRate"}
    assert {"Dosage", "Ingredient"} <= names


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_the_signature_is_the_dataclass_fields_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    expected = [(f.name, inspect.Parameter.empty if f.default is f.default_factory else f.default) for f in fields(cls)]
    assert [(p.name, p.default) for p in params] == expected
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)


def sample(cls: type, variant: int = 0) -> Any:
    """An instance with every required field set (strings, or the nested value the field needs)."""
    when = datetime(2026, 1, 1 + variant, tzinfo=UTC)
    required: dict[str, Any] = {
        "system": m.LOINC,
        "code": f"c{variant}" if cls is m.Coding else m.Concept((m.Coding(m.LOINC, f"c{variant}"),), "x"),
        "value": 5.0 + variant,
        "numerator": m.Quantity(1.0 + variant, "mg"),
        "denominator": None,
        "item": m.Concept(text=f"item {variant}"),
        "resource_type": "MedicationRequest",
        "id": f"id-{variant}",
        "status": "active",
        "medication": m.Concept(text=f"med {variant}"),
        "questionnaire": "http://example.org/q",
        "authored": when,
        "reference": f"Observation/{variant}",
        "message": "bad",
        "reason": f"none {variant}",
    }
    names = [f.name for f in fields(cls) if f.default is f.default_factory]  # both MISSING: required
    return cls(**{name: required[name] for name in names})


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_instances_stay_read_only_and_equal_by_value(cls: type) -> None:
    a, b, other = sample(cls), sample(cls), sample(cls, 1)
    assert a == b and a is not b
    first = fields(cls)[0].name
    with pytest.raises(FrozenInstanceError):
        setattr(a, first, None)
    assert replace(a) == a
    assert copy.copy(a) == a and copy.deepcopy(a) == a and pickle.loads(pickle.dumps(a)) == a
    if any(f.default is f.default_factory for f in fields(cls)):
        assert a != other
    assert not hasattr(a, "__dict__")


@pytest.mark.parametrize("cls", HASHED, ids=lambda c: c.__name__)
def test_the_kept_hash_is_the_dataclass_hash_and_never_stale(cls: type) -> None:
    a = sample(cls)
    plain = hash(tuple(getattr(a, f.name) for f in fields(cls)))  # what @dataclass(frozen=True) hashes
    assert hash(a) == plain and hash(a) == plain  # computed, then kept
    assert hash(sample(cls)) == plain  # an equal value, hashed on its own
    for made in (copy.copy(a), copy.deepcopy(a), pickle.loads(pickle.dumps(a)), replace(a)):
        assert hash(made) == plain and made == a
    other = sample(cls, 1)
    if other != a:  # a changed field is a new instance with its own hash
        changed = replace(a, **{f.name: getattr(other, f.name) for f in fields(cls)})
        assert hash(changed) == hash(tuple(getattr(other, f.name) for f in fields(cls)))


def test_memo_keys_built_from_nested_values_match_equal_values() -> None:
    def dosage(n: int) -> m.Dosage:
        repeat = m.TimingRepeat(frequency=n, period=1.0, period_unit="d", bounds_duration=m.Quantity(5.0, "d"))
        rate = m.DoseAndRate(dose=m.Quantity(float(n), "mg"), type=m.Concept((m.Coding(None, "ordered"),)))
        return m.Dosage("x", m.Timing(repeat=repeat), route=m.Concept(text="oral"), dose_and_rate=(rate,), sequence=1)

    memo = {dosage(n): n for n in range(1, 6)}
    assert [memo[dosage(n)] for n in range(1, 6)] == [1, 2, 3, 4, 5]
    assert dosage(1) != dosage(2)


def _engine_classes() -> list[type]:
    from smart_app.core.mme import dose, engine, products, report, timeline, units
    from smart_app.core.safety import exposure

    found = [report.MmeItem, units.Strength, products.OtherIngredient, products.OpioidProduct, engine.Assessed]
    return [*found, dose.Amount, timeline.MedicationSpan, timeline.TimelineSegment, exposure.ExposureEntry]


@pytest.mark.parametrize("cls", _engine_classes(), ids=lambda c: c.__name__)
def test_the_engine_values_keep_their_dataclass_signature(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    expected = [(f.name, inspect.Parameter.empty if f.default is f.default_factory else f.default) for f in fields(cls)]
    assert [(p.name, p.default) for p in params] == expected


def test_a_product_hashes_as_its_dataclass_would_and_keys_memos_by_value() -> None:
    from smart_app.core.mme.products import OpioidProduct, parse_name
    from smart_app.core.mme.units import Strength

    product = parse_name("oxycodone hydrochloride 5 MG Oral Tablet")
    assert product is not None and isinstance(product, OpioidProduct) and isinstance(product.strength, Strength)
    assert hash(product) == hash(tuple(getattr(product, f.name) for f in fields(OpioidProduct)))
    twin = replace(product)
    assert twin == product and hash(twin) == hash(product)
    other = replace(product, dose_form="Extended Release Oral Tablet")
    assert other != product and {product: 1, other: 2}[twin] == 1


def test_a_class_with_post_init_is_refused() -> None:
    """quick_frozen's __init__ does not call __post_init__, so a class that needs one must keep the dataclass's."""

    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    with pytest.raises(TypeError, match="__post_init__"):
        m.quick_frozen(Checked)
