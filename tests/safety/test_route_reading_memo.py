"""The ketamine reader's route words are matched with one pattern per route, and a dosage route's reading is kept
per concept: both answer as the plain reading does, for every word of the table and for concepts asked in turn."""

from __future__ import annotations

import re

from smart_app.core.model import SNOMED, Coding, Concept
from smart_app.core.routes import read_route
from smart_app.core.safety.ketamine_order import _catalogue, _route_reading, route_of


def _plain_route_of(text: str) -> str | None:
    lowered = text.lower()
    for name, words in _catalogue().routes:
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", lowered) for w in words):
            return name
    return None


def _texts() -> list[str]:
    words = [w for _, ws in _catalogue().routes for w in ws]
    texts = [w for w in words] + [w.upper() for w in words] + [f"give {w} slowly" for w in words]
    texts += (
        [f"x{w}" for w in words]
        + [f"{w}y" for w in words]
        + [f"{a} then {b}" for a, b in zip(words, words[3:], strict=False)]
    )
    return [*texts, "", "Injectable Solution", "IV push", "i.v.", "via PO route", "topically", "im-", "sim", "prn"]


def test_one_pattern_per_route_reads_every_text_as_the_word_loop() -> None:
    texts = _texts()
    assert len(texts) > 150
    assert [route_of(t) for t in texts] == [_plain_route_of(t) for t in texts]


def test_a_kept_route_reading_is_that_concepts_own() -> None:
    concepts = [
        Concept((Coding(SNOMED, "47625008", "Intravenous route"),), "Intravenous"),
        Concept((Coding(SNOMED, "404820008", "Epidural route"),), "IV"),  # a conflict, said so
        Concept((Coding(SNOMED, "72607000", "Intrauterine"),)),  # a code the table does not hold
        Concept(text="Intravenous"),
        Concept(text="subcut"),
        Concept(text="by mouth"),
        Concept(text="IT"),
    ]
    for _ in range(2):  # asked again, in turn: each keeps its own reading
        for concept in concepts:
            assert _route_reading(concept) == read_route(concept, _plain_route_of)
    assert len({_route_reading(c) for c in concepts}) == len(concepts)
