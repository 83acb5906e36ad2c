"""Route of administration as one of the canonical routes of `mappings/medication_routes.json`.

Dosage.route (SNOMED code, else its text/display) wins; otherwise the product's dose form or name
("Transdermal System" -> transdermal, "Oral Tablet" -> oral). No route and no form: None, never a guess.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from smart_app.core.model import SNOMED, Concept
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


@lru_cache(maxsize=4096)
def route_in_text(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.lower()
    return next((route for pattern, route in _word_patterns() if pattern.search(lowered)), None)


def route_of_concept(route: Concept | None) -> str | None:
    if route is None:
        return None
    snomed = read_json("medication_routes.json")["snomed"]
    for code in route.codes(SNOMED):
        if code in snomed:
            return str(snomed[code])
    return route_in_text(route.text) or next((r for c in route.codings if (r := route_in_text(c.display))), None)
