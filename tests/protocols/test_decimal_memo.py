"""Dose plans turn each number into a Decimal once (`dosing._d` keeps them): the plans, their notes and their words
are those made with fresh Decimals, for every protocol over many weights, and 70 is never taken for 70.0."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.protocols import dosing
from smart_app.core.protocols.catalogue import list_protocols
from smart_app.core.protocols.dosing import DoseError, plan_dose

SETTINGS = LocalDefaults()
WEIGHTS = [0.9, 3.5, 12.25, 40, 55.5, 70, 70.0, 70.04, 83.3, 101, 142.7, 250.0]


def _plans() -> list[Any]:
    found: list[Any] = []
    for protocol in list_protocols():
        for weight in WEIGHTS:
            for threshold in (None, 0.5, 1.0):
                try:
                    plan = plan_dose(protocol, weight, monitored_threshold_mg_per_kg_h=threshold, settings=SETTINGS)
                except DoseError as exc:
                    found.append(str(exc))
                else:
                    found.append((plan, plan.summary()))
    return found


def test_plans_are_those_made_with_fresh_decimals(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = _plans()
    monkeypatch.setattr(dosing, "_d", lambda value: Decimal(str(value)))
    assert kept == _plans()


def test_an_int_and_an_equal_float_keep_their_own_decimal() -> None:
    assert str(dosing._d(70)) == "70" and str(dosing._d(70.0)) == "70.0"
    assert str(dosing._d(70)) == "70"
