from __future__ import annotations

import pytest

from smart_app.core.model import ICD10CM, SNOMED, Coding, Concept
from smart_app.core.safety.terminology import value_set, value_set_names


def concept(system: str, code: str) -> Concept:
    return Concept(codings=(Coding(system, code),))


@pytest.mark.parametrize("code", ["I10", "I10.", "i10"])
def test_icd10cm_codes_match_with_or_without_dots(code: str) -> None:
    assert value_set("hypertension").contains(concept(ICD10CM, code))


@pytest.mark.parametrize("code", ["H40.11X0", "H4011X0", "H40.9"])
def test_icd10cm_glaucoma_family_matches_every_h40_code(code: str) -> None:
    assert value_set("glaucoma").contains(concept(ICD10CM, code))


def test_icd10cm_family_does_not_match_neighbouring_chapter() -> None:
    assert not value_set("glaucoma").contains(concept(ICD10CM, "H41.0"))


def test_same_code_in_another_system_is_not_matched() -> None:
    assert not value_set("hypertension").contains(concept(SNOMED, "I10"))
    assert not value_set("hypertension").contains(concept("http://example.org/local-codes", "59621000"))


def test_snomed_codes_are_not_prefix_matched() -> None:
    assert value_set("hypertension").contains(concept(SNOMED, "59621000"))
    assert not value_set("hypertension").contains(concept(SNOMED, "596210001"))


def test_every_value_set_concept_is_verified_in_rules_md() -> None:
    for name in value_set_names():
        for c in value_set(name).concepts:
            assert c.status in ("VERIFIED", "VERIFIED (weak)"), (name, c.code)


def test_non_specific_codes_are_left_out() -> None:
    codes = {c.code for name in value_set_names() for c in value_set(name).concepts}
    assert "R41.0" not in codes and "D35.00" not in codes
