"""Terminology and conversion tables as data files, each with its provenance.

Files live beside this module and are read with `importlib.resources`, so they ship inside the wheel.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import Any

import orjson


@cache
def read_json(name: str) -> Any:
    """A JSON mapping file by name (e.g. 'mme_factors.json'); cached, so callers must not mutate the result."""
    return orjson.loads(resources.files(__name__).joinpath(name).read_bytes())


@cache
def read_csv(name: str) -> tuple[dict[str, str], ...]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))
