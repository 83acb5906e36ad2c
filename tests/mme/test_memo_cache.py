"""`memo_cache` (smart_app/caching.py): the same answers as the function, per argument value, bounded in bytes."""

from __future__ import annotations

from smart_app import caching
from smart_app.core.mme.products import identify
from smart_app.core.model import MedicationUse
from smart_app.fhir.record import build_record
from tests import fhir_factory as f


def test_answers_are_per_argument_and_the_memo_stays_under_its_budget() -> None:
    calls: list[str] = []

    @caching.memo_cache(20_000)
    def shout(text: str, *, twice: bool = False) -> str:
        calls.append(text)
        return text.upper() * (2 if twice else 1)

    assert [shout("a"), shout("b"), shout("a"), shout("a", twice=True)] == ["A", "B", "A", "AA"]
    assert calls == ["a", "b", "a"]  # the keyword call is its own entry
    for i in range(2_000):
        assert shout(f"{i}-" + "x" * 100) == f"{i}-".upper() + "X" * 100
    assert shout.cache.bytes <= shout.cache.max_bytes  # type: ignore[attr-defined]
    shout.cache_clear()  # type: ignore[attr-defined]
    assert shout("a") == "A" and calls[-1] == "a"


def _med(code: str | None, display: str) -> MedicationUse:
    return build_record([f.patient(), f.medication_request(code, display)]).medications[0]


def test_a_product_identified_for_one_patient_never_answers_for_another() -> None:
    oxycodone = _med("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
    morphine = _med("892582", "morphine sulfate 15 MG Oral Tablet")
    named = _med(None, "oxycodone 10 mg tablet")
    for _ in range(2):  # the second round is answered from the memo
        found = [identify(m) for m in (oxycodone, morphine, named)]
        assert [p.ingredient if p else None for p in found] == ["oxycodone", "morphine", "oxycodone"]
        assert [p.strength.amount if p and p.strength else None for p in found] == [5.0, 15.0, 10.0]
