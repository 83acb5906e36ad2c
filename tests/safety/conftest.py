"""Fixtures for the safety tests; the FHIR builders themselves live in tests/safety/builders.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests import fhir_factory as f


@pytest.fixture
def weight_70() -> dict[str, Any]:
    """A body weight of 70 kg recorded a week before the evaluation date."""
    return f.weight(70, "2026-11-14T09:00:00Z")
