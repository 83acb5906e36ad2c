"""Generated resources are validated once per validity key, and the key never lets an invalid one through."""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
from typing import Any

import pytest

from smart_app.cds_hooks.services import default_registry
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.cds_hooks.warmup import GC_THRESHOLDS, warm_up
from smart_app.config import local_defaults
from smart_app.core.protocols.catalogue import list_protocols
from smart_app.fhir import resources as generated
from smart_app.fhir.orders import build_order_set


def _order_set(weight: float, patient: str) -> tuple[dict[str, Any], ...]:
    protocol = list_protocols()[0].id
    order_set = build_order_set(
        protocol, weight_kg=weight, age=40, patient_reference=f"Patient/{patient}", settings=local_defaults()
    )
    return order_set.medication_requests + order_set.service_requests


def test_the_same_structure_for_another_patient_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _order_set(70, "a")
    validations: list[str] = []
    real = generated.get_fhir_model_class

    def counting(name: str) -> Any:
        validations.append(name)
        return real(name)

    monkeypatch.setattr(generated, "get_fhir_model_class", counting)
    assert _order_set(83.4, "b")
    assert validations == []


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("subject", "reference"), ""),  # blank text is not normalised away
        (("subject", "reference"), "\x0b"),
        (("authoredOn",), "2026-02-30"),
        (("authoredOn",), "2026-11-15T09:00:00"),
        (("status",), "dr aft  x"),
        (("intent",), 5),
        (("note",), [None]),
    ],
)
def test_an_invalid_leaf_is_still_caught_after_the_valid_shape_was_seen(path: tuple[str, ...], bad: Any) -> None:
    resource = copy.deepcopy(_order_set(70, "c")[0])
    generated.validated(resource)
    target: Any = resource
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = bad
    with pytest.raises(generated.InvalidGeneratedResource):
        generated.validated(resource)


def test_numbers_keep_what_fhir_integer_types_distinguish() -> None:
    assert generated._normalised(5) == 1 and generated._normalised(0) == 0 and generated._normalised(-3) == -1
    assert generated._normalised(2**31) == 2**31  # beyond a 32-bit integer: kept as it is
    assert generated._normalised(2.5) == 0.5 and generated._normalised(3.0) == 1.0
    assert generated._normalised(float("inf")) == float("inf")


def test_warm_up_answers_every_service_and_freezes_the_heap(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smart_app.cds_hooks.warmup")
    thresholds = gc.get_threshold()
    try:
        asyncio.run(warm_up(default_registry(), ServiceSettings(auth_enabled=False), local_defaults()))
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
        assert "warmed up" in caplog.text and "failed" not in caplog.text
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_number_given_as_text_is_never_normalised_as_text() -> None:
    quantity = {"resourceType": "Observation", "valueQuantity": {"value": "5"}, "identifier": [{"value": "5"}]}
    key = generated._normalised(quantity)
    assert key["valueQuantity"]["value"] == "5" and key["identifier"][0]["value"] == "s"
