"""The protocol builder's words: status for people, reasons without rule ids or setting names, the short list with
the suggested protocol on top, the opioid-conversion warning among the reasons, no ".;"."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from smart_app.config import LocalDefaults
from smart_app.core.assessment import Assessment, assess
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import build_record
from smart_app.smart.protocol_words import STATUS_WORDS, for_people, protocol_choices

SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients"
ON = datetime(2026, 11, 21, 12, tzinfo=UTC)
SETTING_NAMES = re.compile("|".join(re.escape(n) for n in LocalDefaults.model_fields))


def _assessment(name: str) -> Assessment:
    record = build_record(iter_resources(json.loads((SAMPLES / f"{name}.json").read_text())))
    return assess(record, on=ON, settings=LocalDefaults())


def test_every_reason_of_every_protocol_for_every_sample_reads_for_people() -> None:
    defaults = LocalDefaults()
    for path in sorted(SAMPLES.glob("*.json")):
        short, others = protocol_choices(_assessment(path.stem).protocols, defaults)
        for choice in (*short, *others):
            assert choice.status_word in STATUS_WORDS.values()
            for note in choice.assessment.notes:
                assert not SETTING_NAMES.search(for_people(note, defaults)), (path.stem, note)
            for reason in choice.reasons:
                assert not SETTING_NAMES.search(reason), (path.stem, reason)
                assert ".;" not in reason and not re.match(r"^[A-Z]+-[A-Z0-9-]+: ", reason), reason


def test_the_short_list_holds_the_endorsed_protocols_with_the_suggested_one_on_top() -> None:
    short, others = protocol_choices(_assessment("healthy").protocols, LocalDefaults())
    assert all(c.assessment.protocol.endorsed for c in short)
    assert not any(c.assessment.protocol.endorsed for c in others)
    assert short[0].suggested and sum(c.suggested for c in short) == 1
    assert short[0].status_word == "Suitable for this patient"


def test_nothing_is_suggested_when_every_protocol_is_against_the_patient() -> None:
    short, _ = protocol_choices(_assessment("cardiac-uncontrolled-bp").protocols, LocalDefaults())
    assert not any(c.suggested for c in short)
    assert {c.status_word for c in short} == {"Not recommended for this patient"}
    assert any("Poorly controlled cardiovascular disease" in r for r in short[0].reasons)


def test_the_opioid_conversion_warning_is_among_the_reasons_when_it_applies() -> None:
    short, _ = protocol_choices(_assessment("high-mme").protocols, LocalDefaults())
    assert all(any("convert to one opioid species before ketamine" in r for r in c.reasons) for c in short)
    short, _ = protocol_choices(_assessment("ketamine-series").protocols, LocalDefaults())  # one opioid: no warning
    assert not any("opioid species" in r for c in short for r in c.reasons)


def test_local_defaults_are_shown_by_their_description_value_and_label() -> None:
    defaults = LocalDefaults()
    text = (
        f"Starting rate 1 mg/kg/h reaches the rate needing a monitored setting: "
        f"{defaults.describe('elderly_rate_monitored_mg_per_kg_h')} for age >= 65 "
        "(local default, setting elderly_age; ASRA Q6).; CI-CV: nothing"
    )
    assert for_people(text, defaults) == (
        "Starting rate 1 mg/kg/h reaches the rate needing a monitored setting: infusion rate needing a monitored "
        "setting in elderly patients: 0.75 mg/kg/h (local default) for age >= 65 (local default; ASRA Q6); CI-CV: "
        "nothing"
    )
    assert for_people("CI-CV: Poorly controlled BP", defaults) == "Poorly controlled BP"
    note = "Infusion length 4 h is a local default (setting ketamine_outpatient_infusion_hours)."
    assert for_people(note, defaults) == "Infusion length 4 h is a local default."
    assert for_people("NOT-A-RULE: text", defaults) == "NOT-A-RULE: text"  # only catalogue rule ids are dropped
