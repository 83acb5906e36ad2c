"""Route of administration as one of the canonical routes of `mappings/medication_routes.json`.

Dosage.route wins: its codes (SNOMED CT, HL7 v3, EHR identifiers: `mappings/route_codes.json` via `core/routes.py`),
else its text/display; otherwise the product's dose form or name ("Transdermal System" -> transdermal, "Oral
Tablet" -> oral). No route and no form: None, never a guess.
"""

from __future__ import annotations

import re
from functools import cache

from smart_app.caching import memo_cache
from smart_app.core.model import Concept
from smart_app.core.routes import RouteReading, read_route
from smart_app.mappings import read_json


@cache
def _word_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple(
        (re.compile(rf"(?<![a-z]){re.escape(word)}(?![a-z])"), route)
        for word, route in read_json("medication_routes.json")["words"]
    )


@cache
def parenteral_routes() -> frozenset[str]:
    return frozenset(read_json("medication_routes.json")["parenteral"])


@memo_cache(2 * 1024 * 1024)
def route_in_text(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.lower()
    return next((route for pattern, route in _word_patterns() if pattern.search(lowered)), None)


def read_dosage_route(route: Concept | None) -> RouteReading:
    return read_route(route, route_in_text)


# Every opioid dosage's route is read for today's total and again for the timeline; route concepts recur.
@memo_cache(2 * 1024 * 1024)
def route_of_concept(route: Concept | None) -> str | None:
    return read_dosage_route(route).route
