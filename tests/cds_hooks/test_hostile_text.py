"""EHR free text reaches cards and pages as text, never as markup (HTML, links, images, tables)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from tests import fhir_factory as f
from tests.cds_hooks.support import cards_of, client, ketamine_infusion, order_sign

HOSTILE = (
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "![x](https://evil.example/x.png)",
    "<script>alert(2)</script>",
    "a | b |\n|---|---|\n| c | d |",
)


def _hostile_patient(text: str) -> list[dict[str, Any]]:
    schizophrenia = f.condition(f.ICD10CM, "F20.9", text)
    cirrhosis = f.condition(f.ICD10CM, "K70.30", "Alcoholic cirrhosis")
    cirrhosis["code"]["text"] = text
    morphine = f.medication_statement("892494", text, dosages=[{"text": text}])
    morphine["medicationCodeableConcept"]["text"] = text
    return [f.patient(), f.weight(70, "2026-11-14T09:00:00Z"), schizophrenia, cirrhosis, morphine]


def _assert_inert(markdown: str) -> None:
    assert not re.search(r"<\s*(img|script)", markdown, re.I), markdown
    assert not re.search(r"(?<!\\)\]\(javascript:", markdown)  # an escaped "\](" is text, not a link
    assert not re.search(r"!(?<!\\)\[x(?<!\\)\]\(", markdown)
    assert "| c | d |" not in markdown  # EHR text cannot add table rows


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_ehr_text_is_inert_on_every_card(tmp_path: Path, text: str) -> None:
    resources = _hostile_patient(text)
    drug = ketamine_infusion(35)
    drug["medicationCodeableConcept"]["text"] = "ketamine " + text
    chart = hook_request("patient-view", patient_id="example", prefetch=prefetch_for(resources, KETAMINE_QUERIES))
    opioid = f.medication_request("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", status="draft", rid="oxy")
    opioid["dosageInstruction"] = [
        {"text": text, "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}}}
    ]
    with client(tmp_path) as c:
        cards = [
            *cards_of(c.post("/cds-services/ketamine-safety-order-sign", json=order_sign(resources, [drug]))),
            *cards_of(c.post("/cds-services/ketamine-opioid-summary", json=chart)),
            *cards_of(
                c.post(
                    "/cds-services/opioid-mme-order-sign",
                    json=order_sign(resources, [opioid], queries=OPIOID_QUERIES),
                )
            ),
        ]
    assert cards
    for card in cards:
        _assert_inert(card.get("detail") or "")
        assert "<" not in card["summary"] and ">" not in card["summary"]
        for link in card.get("links") or []:
            assert link["url"].startswith(("http://", "https://"))
