"""A citation's label is made once per distinct citation: the kept label is the one the citation makes, for every
citation of the rule catalogue, however often and in whatever order they are asked, and past the memo's bound."""

from __future__ import annotations

from dataclasses import replace

from smart_app.core import outcomes
from smart_app.core.outcomes import Citation
from smart_app.core.safety.catalogue import RULES


def _citations() -> list[Citation]:
    return list(dict.fromkeys(c for rule in RULES for c in rule.citations))


def test_every_catalogue_citation_keeps_its_own_label() -> None:
    citations = _citations()
    assert len(citations) > 10
    first = [str(c) for c in citations]
    again = [str(c) for c in reversed(citations)][::-1]
    assert first == again == [c._label() for c in citations]


def test_a_changed_field_is_another_label_and_the_bound_holds() -> None:
    base = _citations()[0]
    other = replace(base, lines="L1-L2", grade=None)
    assert str(other) == other._label() != str(base)
    for i in range(outcomes._LABELS_MAX + 10):
        assert str(replace(base, section=f"section {i}")).split(", ")[1] == f"section {i}"
    assert len(outcomes._LABELS) <= outcomes._LABELS_MAX
    assert str(base) == base._label()
