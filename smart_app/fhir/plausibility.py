"""Numbers no clinical record can hold, found where resources are read, before anything is computed with them.

A resource with such a number is reported as unreadable (an `InputProblem`, named on the data card) and left out,
like one that fails validation. Three kinds:

- any JSON number beyond +-1e15 (larger than any real count, dose or measurement; within it, products of doses,
  frequencies and factors stay finite and serialisable: orjson cannot write integers beyond 64 bits);
- a dose or rate in a medication's dosage beyond 1e9 (of any unit: a billion mg, mL or tablets per dose), or a
  timing period or duration beyond 1e8 (three years in seconds, the smallest unit);
- a body weight or blood pressure outside what can be measured in a living patient
  (`smart_app.core.safety.vitals.implausible`: e.g. 2^63 kg, which would otherwise give a dose too large to send).
"""

from __future__ import annotations

import math
from typing import Any

from smart_app.core.model import Observation
from smart_app.core.safety.vitals import implausible as implausible_vital

ANY_NUMBER_MAX = 1e15
DOSE_MAX = 1e9
TIMING_MAX = 1e8
_DOSAGE_ELEMENTS = frozenset({"dosageInstruction", "dosage"})
_DOSE_ELEMENTS = frozenset(
    {"doseAndRate", "maxDosePerPeriod", "maxDosePerAdministration", "dose", "rateQuantity", "rateRatio"}
)
_TIMING_NUMBERS = frozenset({"period", "periodMax", "duration", "durationMax"})
_MAX_DEPTH = 64


def raw_problem(resource: dict[str, Any]) -> str | None:
    """Why a resource's JSON holds an impossible number (see the module); None when every number is plausible."""
    return _walk(resource, (), 0)


def converted_problem(value: Any) -> str | None:
    """The same for the clinical core's reading of a resource (a body weight or blood pressure out of range)."""
    return implausible_vital(value) if isinstance(value, Observation) else None


def _walk(node: Any, path: tuple[str, ...], depth: int) -> str | None:
    if depth > _MAX_DEPTH:
        return None  # validation refuses such nesting anyway
    if isinstance(node, dict):
        for key, child in node.items():
            found = _walk(child, (*path, str(key)), depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(node, list):
        for child in node:
            found = _walk(child, path, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    where = ".".join(path) or "resource"
    try:
        number = float(node)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > ANY_NUMBER_MAX:
        return f"the number at {where} ({_short(node)}) is too large to be a clinical value"
    in_dosage = any(p in _DOSAGE_ELEMENTS for p in path)
    if in_dosage and any(p in _DOSE_ELEMENTS for p in path) and abs(number) > DOSE_MAX:
        return f"the dose at {where} ({_short(node)}) is not a plausible amount"
    if in_dosage and path and path[-1] in _TIMING_NUMBERS and abs(number) > TIMING_MAX:
        return f"the timing at {where} ({_short(node)}) is not a plausible period"
    return None


def _short(number: float) -> str:
    if isinstance(number, int) and abs(number) >= 10**15:
        digits = str(abs(number))
        return f"{'-' if number < 0 else ''}{digits[:6]}... ({len(digits)} digits)"
    return f"{number:.6g}"
