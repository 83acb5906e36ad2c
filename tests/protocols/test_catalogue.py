"""The protocol catalogue: every protocol cites its source, non-endorsed ones say so, oral is research-only."""

from __future__ import annotations

import pytest

from smart_app.core.protocols import (
    UnknownProtocolError,
    find_protocol,
    get_protocol,
    list_protocols,
    suggested_protocols,
)
from smart_app.mappings import read_json
from tests.protocols import helpers as h

ANZCA_APPENDIX_I_ROWS = 6  # ANZCA-PS Appendix I-A lists six regimens (L399-423)


def test_every_protocol_cites_a_known_document_with_a_grade() -> None:
    documents = read_json("guidelines.json")["documents"]
    for protocol in list_protocols():
        assert protocol.citations, protocol.id
        assert all(c.document in documents for c in protocol.citations), protocol.id
        assert any(c.grade for c in protocol.citations), f"{protocol.id} has no graded citation"
        assert protocol.grade, protocol.id
        assert protocol.citations[0].short in protocol.source


def test_every_instruction_names_its_source() -> None:
    for protocol in list_protocols():
        for instruction in protocol.instructions:
            assert instruction.text
            assert instruction.citation.document in read_json("guidelines.json")["documents"]


def test_catalogue_has_the_required_protocols() -> None:
    ids = {p.id for p in list_protocols()}
    assert {"asra-outpatient-single-infusion", "inpatient-multiday-infusion", "oral-follow-on"} <= ids
    appendix = [p for p in list_protocols() if p.id.startswith("anzca-appendix-i-")]
    assert len(appendix) == ANZCA_APPENDIX_I_ROWS


def test_asra_outpatient_protocol_carries_asra_numbers() -> None:
    protocol = get_protocol("asra-outpatient-single-infusion")
    rate = protocol.dosing.rate_mg_per_kg_h
    assert rate is not None
    assert (rate.start, rate.min, rate.max) == (0.5, 0.5, 2.0)
    assert protocol.dosing.enforce_asra_minimum
    assert protocol.setting == "outpatient"
    assert any(c.section == "Guideline Question 3" and c.grade == "Grade C, low certainty" for c in protocol.citations)


def test_illustrative_protocols_carry_the_not_endorsed_disclaimer() -> None:
    illustrative = [p for p in list_protocols() if p.kind == "illustrative-not-endorsed"]
    assert len(illustrative) == ANZCA_APPENDIX_I_ROWS
    for protocol in illustrative:
        assert protocol.disclaimer and "does not endorse" in protocol.disclaimer
        assert "illustrative-not-endorsed" in protocol.instruction_keys
        assert not protocol.endorsed


def test_oral_protocol_is_research_only_with_both_sources() -> None:
    oral = get_protocol("oral-follow-on")
    assert oral.kind == "research-only"
    assert oral.route == "oral"
    assert oral.disclaimer and "outside a research context" in oral.disclaimer
    texts = " ".join(i.text for i in oral.instructions)
    assert "research context" in texts
    assert "low-level evidence" in texts
    assert any(c.document == "ASRA" and c.grade and "low certainty" in c.grade for c in oral.citations)


@pytest.mark.parametrize("age", [30, 50, 80])
def test_only_recommended_protocols_are_ever_suggested(age: int) -> None:
    suggested = suggested_protocols(h.assess_protocols(80, age))
    assert all(a.protocol.kind == "recommended" for a in suggested)
    assert "oral-follow-on" not in {a.protocol.id for a in suggested}


def test_oral_protocol_is_never_available_as_a_default() -> None:
    oral = next(a for a in h.assess_protocols(70, 45) if a.protocol.id == "oral-follow-on")
    assert oral.status != "available"
    assert any("research context" in r for r in oral.reasons)


def test_unknown_protocol_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as error:
        get_protocol("ketamine-by-rote")
    assert isinstance(error.value, UnknownProtocolError)
    assert "asra-outpatient-single-infusion" in str(error.value)
    assert find_protocol("ketamine-by-rote") is None
