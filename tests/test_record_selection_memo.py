"""PatientRecord keeps `observations_coded` / `conditions_coded` answers per frozen value-set codings (core/model.py
`_kept`): the same answers as the plain selection, never shared between records, a fresh list each time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from smart_app.core import model as m

HR = (m.LOINC, "8867-4")
BP = (m.LOINC, "8480-6")
HTN = (m.ICD10CM, "I10")


def obs(oid: str, code: tuple[str, str]) -> m.Observation:
    return m.Observation(oid, "final", m.Concept((m.Coding(*code),)), effective=datetime(2026, 1, 1, tzinfo=UTC))


def cond(cid: str, code: str) -> m.Condition:
    return m.Condition(cid, m.Concept((m.Coding(m.ICD10CM, code),)))


def test_kept_answers_equal_the_plain_selection_and_are_per_record() -> None:
    a = m.PatientRecord(observations=(obs("a1", HR), obs("a2", BP), obs("a3", HR)), conditions=(cond("c1", "I10."),))
    b = m.PatientRecord(observations=(obs("b1", BP),), conditions=())
    sets = [frozenset({HR}), frozenset({BP}), frozenset({HR, BP}), frozenset({(m.LOINC, "none")}), frozenset()]
    for codings in sets * 2:  # the second round is answered from what each record kept
        for record in (a, b):
            assert record.observations_coded(codings) == record.observations_coded(list(codings))
    assert [o.id for o in a.observations_coded(frozenset({HR}))] == ["a1", "a3"]
    assert [o.id for o in b.observations_coded(frozenset({HR}))] == []  # B never gets what A kept
    assert [o.id for o in b.observations_coded(frozenset({BP}))] == ["b1"]
    assert [c.id for c in a.conditions_coded(frozenset({HTN}))] == ["c1"]
    assert b.conditions_coded(frozenset({HTN})) == []
    # a record made from another (dataclasses.replace) keeps nothing of it
    c = replace(a, observations=(obs("c9", BP),))
    assert [o.id for o in c.observations_coded(frozenset({HR}))] == []
    assert [o.id for o in c.observations_coded(frozenset({BP}))] == ["c9"]
    assert c == replace(a, observations=(obs("c9", BP),))  # the kept answers are not part of equality


def test_each_answer_is_a_new_list() -> None:
    record = m.PatientRecord(observations=(obs("a1", HR),))
    first = record.observations_coded(frozenset({HR}))
    first.clear()
    assert [o.id for o in record.observations_coded(frozenset({HR}))] == ["a1"]
