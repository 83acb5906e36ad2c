"""`markdown.text` skips `translate` for text with nothing to escape, and `markdown.cell` skips `split`/`join` for
single-line text: the same result as the plain forms for every text."""

from __future__ import annotations

import random
import sys

from smart_app.cds_hooks import markdown as md


def _plain_text(value: str | None) -> str:
    return value.translate(md._ESCAPES) if value else ""


def _plain_cell(value: str | None) -> str:
    return " ".join(_plain_text(value).split())


def test_the_fast_path_escapes_exactly_what_translate_escapes() -> None:
    escaped = {chr(code) for code in md._ESCAPES}
    assert escaped == set("\\&<>[]`|")
    alphabet = [*escaped, "a", "é", " ", "\n", "*", "_", "(", ")", "!", "-", "#"]
    rng = random.Random(3)
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert md.text(value) == _plain_text(value)
    assert md.text(None) == "" and md.text("") == ""


def test_every_character_split_splits_at_but_the_space_is_unprintable() -> None:
    """The premise of `cell`'s fast path, over all of Unicode (surrogates and unassigned code points included)."""
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if c != " " and len(f"a{c}b".split()) != 1:
            assert not c.isprintable(), hex(code)


def test_a_cell_is_the_plain_one_for_every_text() -> None:
    whitespace = [" ", "  ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2003", "\u3000"]
    others = ["a", "é", "|", "<", "[", "\\", "\x00", "\u200b", "😀", "-", "*"]
    rng = random.Random(5)
    for _ in range(20000):
        value = "".join(rng.choice(rng.choice((whitespace, others, others))) for _ in range(rng.randint(0, 10)))
        assert md.cell(value) == _plain_cell(value), repr(value)
    assert md.cell(None) == "" and md.cell("") == "" and md.cell(" ") == "" and md.cell("a b") == "a b"
