"""The answer's bytes (cds_hooks/models.py `cards_json`) are `orjson.dumps` of each card's `to_json`: for the sample
cards, for cards whose free-form parts are not plain JSON and for a mix of both; `new_uuid` (cards.py) writes the
bytes it draws as `uuid.UUID(version=4)` does."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from smart_app.cds_hooks import cards as cards_module
from smart_app.cds_hooks.models import (
    Card,
    cards_json,
)
from tests.cds_hooks.test_card_json import _cards, _full_card


def _plain(cards: list[Card]) -> bytes:
    return orjson.dumps({"cards": [c.to_json() for c in cards]})


def test_the_answer_of_the_sample_calls_is_the_plain_dump() -> None:
    cards = _cards()
    assert any(c.suggestions for c in cards)
    assert cards_json(cards) == _plain(cards)
    assert cards_json([]) == b'{"cards":[]}'


@pytest.mark.parametrize(
    "odd", [datetime(2026, 3, 1, tzinfo=UTC), (1, 2), uuid.UUID(int=5), float("nan"), {"a"}, b"x", 2**70]
)
def test_an_answer_with_a_part_that_is_not_plain_json_is_written_as_before(odd: Any) -> None:
    plain = _full_card({"total": 1}, {"resourceType": "Task"})
    odd_card = _full_card({"value": odd}, {"resourceType": "Task", "x": odd})
    for cards in ([odd_card], [plain, odd_card], [odd_card, plain]):
        try:
            expected: bytes | type[Exception] = _plain(cards)
        except TypeError:
            expected = TypeError
        if expected is TypeError:
            with pytest.raises(TypeError):
                cards_json(cards)
        else:
            assert cards_json(cards) == expected


def test_new_uuid_writes_the_drawn_bytes_as_a_version_4_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(200):
        drawn = os.urandom(16)
        monkeypatch.setattr(os, "urandom", lambda n, b=drawn: b[:n])
        assert cards_module.new_uuid() == str(uuid.UUID(bytes=drawn, version=4))
    monkeypatch.undo()
    made = {cards_module.new_uuid() for _ in range(1000)}
    assert len(made) == 1000 and all(uuid.UUID(u).version == 4 for u in made)
