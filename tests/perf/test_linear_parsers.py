"""No parser is super-linear in its input: a 32 kB or 1 MB medication name is answered at once.

Bounds are measured generously (seconds where the work takes milliseconds), never as tight timings."""

from __future__ import annotations

import time
from pathlib import Path

from smart_app.core.mme import products
from smart_app.core.mme.products import MAX_NAME_CHARS, parse_name
from tests.cds_hooks.support import cards_of, client, order_sign, sample_patient


def _seconds(func: object, *args: object) -> float:
    started = time.process_time()
    func(*args)  # type: ignore[operator]
    return time.process_time() - started


def test_long_names_cost_linear_time() -> None:
    assert _seconds(parse_name, "ketamine " + "a" * 32_000) < 0.5
    assert _seconds(parse_name, "oxycodone " + "a " * 500_000) < 2
    for hostile in ("oxycodone " + " " * 390, "oxycodone " + "1" * 390, "a" + " 1" * 195, "[" * 399 + "]"):
        assert _seconds(parse_name, hostile) < 0.5


def test_a_name_too_long_to_be_an_rxnorm_name_keeps_its_opioid_without_a_strength() -> None:
    product = parse_name("oxycodone hydrochloride 5 MG Oral Tablet " + "x" * MAX_NAME_CHARS)
    assert product is not None
    assert product.ingredient == "oxycodone" and product.strength is None
    assert product.source == "name (too long)"
    assert parse_name("x" * (MAX_NAME_CHARS + 1)) is None


def test_names_within_the_bound_parse_as_before() -> None:
    product = parse_name("12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet [OxyContin]")
    assert product is not None and product.strength is not None
    assert (product.ingredient, product.strength.amount, product.dose_form) == (
        "oxycodone",
        10.0,
        "Extended Release Oral Tablet",
    )
    combo = products.parse_name("acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet")
    assert combo is not None and combo.other_ingredients[0].name == "acetaminophen"


def test_a_draft_named_ketamine_plus_32000_letters_is_answered(tmp_path: Path) -> None:
    resources = sample_patient("healthy")
    text = "ketamine " + "a" * 32_000
    draft = {
        "resourceType": "MedicationRequest",
        "id": "long-name",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": text},
        "dosageInstruction": [{"text": text}],
    }
    with client(tmp_path) as c:
        started = time.monotonic()
        response = c.post("/cds-services/ketamine-safety-order-sign", json=order_sign(resources, [draft]))
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert isinstance(cards_of(response), list)
    assert elapsed < 10  # was 7 s of blocked event loop for this body; 1 MB ran for minutes
