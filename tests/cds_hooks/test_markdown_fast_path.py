"""`markdown.text` skips `translate` for text with nothing to escape: the same result for every text."""

from __future__ import annotations

import random

from smart_app.cds_hooks import markdown as md


def test_the_fast_path_escapes_exactly_what_translate_escapes() -> None:
    escaped = {chr(code) for code in md._ESCAPES}
    assert escaped == set("\\&<>[]`|")
    alphabet = [*escaped, "a", "é", " ", "\n", "*", "_", "(", ")", "!", "-", "#"]
    rng = random.Random(3)
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert md.text(value) == value.translate(md._ESCAPES)
        assert (md._SPECIAL.search(value) is not None) == any(c in escaped for c in value)
    assert md.text(None) == "" and md.text("") == ""
