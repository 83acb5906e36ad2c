"""How the protocol builder words and orders the protocols for a clinician (presentation only).

- status words for people ("Not recommended for this patient", never `not-recommended`);
- reasons as a clinician reads them: without rule ids or setting names (a local default is shown by its
  description, its value and "local default"), and without ".;" where sentences are joined;
- a short list first: the endorsed protocols, the ones that suit this patient first, the first of them marked as
  the suggested one; the illustrative and research-only regimens after it, folded.

Doses, eligibility and the order set are the core's (core/protocols, fhir/orders); this module only presents them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from smart_app.config import LocalDefaults
from smart_app.core.protocols import ProtocolAssessment
from smart_app.core.protocols.eligibility import STATUS_ORDER, Status
from smart_app.core.safety.catalogue import CATALOGUE

STATUS_WORDS: dict[Status, str] = {
    "available": "Suitable for this patient",
    "caution": "Use with caution for this patient",
    "cannot-compute": "Dose cannot be computed for this patient",
    "not-recommended": "Not recommended for this patient",
}
# Units a setting's value is in, from the end of its name.
_UNITS = (("_mg_per_kg_h", " mg/kg/h"), ("_mg_per_kg", " mg/kg"), ("_mg_per_ml", " mg/mL"), ("_days", " days"))
_NAMES = "(?:" + "|".join(sorted(map(re.escape, LocalDefaults.model_fields), key=len, reverse=True)) + r")\b"
_SETTING = re.compile(r"\s*\(setting " + _NAMES + r"\)|,? setting " + _NAMES)
_RULE_PREFIX = re.compile(r"^(?P<rule>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*): ")
_DOT_SEMICOLON = re.compile(r"\.\s*;")


def _unit(name: str) -> str:
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


def for_people(text: str, defaults: LocalDefaults) -> str:
    """A reason or note as a clinician should read it: local defaults by description and value, no setting names,
    no rule-id prefix, no ".;"."""
    for name, field in LocalDefaults.model_fields.items():
        described = defaults.describe(name)
        if described in text:
            value = f"{getattr(defaults, name)}{_unit(name)}"
            text = text.replace(described, f"{field.description}: {value} (local default)")
    match = _RULE_PREFIX.match(text)
    if match and match.group("rule") in CATALOGUE:
        text = text[match.end() :]
    text = _SETTING.sub("", text)
    text = text.replace("(local default (local default", "(local default").replace("local default; local", "local")
    return _DOT_SEMICOLON.sub(";", text).strip()


@dataclass(frozen=True, slots=True)
class ProtocolChoice:
    assessment: ProtocolAssessment
    status_word: str
    reasons: tuple[str, ...]  # for people
    suggested: bool  # the one to consider first for this patient

    @property
    def id(self) -> str:
        return self.assessment.protocol.id


def _choice(a: ProtocolAssessment, defaults: LocalDefaults, suggested: bool) -> ProtocolChoice:
    reasons = tuple(dict.fromkeys(for_people(r, defaults) for r in a.reasons))
    return ProtocolChoice(a, STATUS_WORDS[a.status], reasons, suggested)


def protocol_choices(
    assessments: Sequence[ProtocolAssessment], defaults: LocalDefaults
) -> tuple[tuple[ProtocolChoice, ...], tuple[ProtocolChoice, ...]]:
    """(the short list: endorsed protocols, suitable first, the first suitable one suggested; the other regimens)."""
    endorsed = sorted(
        (a for a in assessments if a.protocol.endorsed),
        key=lambda a: -STATUS_ORDER[a.status],  # available, caution, cannot-compute, not-recommended; stable
    )
    first = next((a for a in endorsed if a.suggestible), None)
    short = tuple(_choice(a, defaults, a is first) for a in endorsed)
    others = tuple(_choice(a, defaults, False) for a in assessments if not a.protocol.endorsed)
    return short, others


def status_word(status: Status) -> str:
    return STATUS_WORDS[status]
