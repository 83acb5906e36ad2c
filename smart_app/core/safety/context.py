"""What every rule sees: the record, the evaluation time, the settings, and the facts derived once for all rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from smart_app.config import LocalDefaults
from smart_app.core.findings import Citation, Evidence, Finding, Severity
from smart_app.core.mme.report import MmeReport
from smart_app.core.model import PatientRecord
from smart_app.core.safety.evidence import ConditionMatch, active_conditions
from smart_app.core.safety.ketamine_order import KetamineOrder
from smart_app.core.safety.vitals import WeightReading


@dataclass(frozen=True, slots=True)
class SafetyContext:
    record: PatientRecord
    on: datetime
    settings: LocalDefaults
    age: int | None
    weight: WeightReading | None
    orders: tuple[KetamineOrder, ...]
    mme: MmeReport | None = None
    not_checked: list[str] = field(default_factory=list)  # rules append what they could not check, and why

    def conditions(self, *value_sets: str) -> list[ConditionMatch]:
        return active_conditions(self.record, value_sets, self.on)

    @property
    def weight_kg(self) -> float | None:
        return self.weight.kg if self.weight else None

    @property
    def is_elderly(self) -> bool:
        return self.age is not None and self.age >= self.settings.elderly_age

    def local(self, name: str) -> str:
        """'<description> = <value> (local default, setting <name>)' for finding text."""
        return self.settings.describe(name)


def finding(
    rule_id: str,
    severity: Severity,
    summary: str,
    detail: str,
    citations: tuple[Citation, ...],
    evidence: tuple[Evidence, ...] | list[Evidence] = (),
    *,
    wording: str | None = None,
    local_defaults: tuple[str, ...] = (),
    suggestions: tuple[str, ...] = (),
) -> Finding:
    """A Finding with evidence as a tuple (rules build lists); a summary built from long record labels is clipped
    so that it stays a one-line card summary (< 140 characters) rather than failing."""
    return Finding(
        rule_id=rule_id,
        severity=severity,
        summary=summary if len(summary) < 140 else summary[:138] + "…",
        detail=detail,
        citations=citations,
        evidence=tuple(evidence),
        wording=wording,
        local_defaults=local_defaults,
        suggestions=suggestions,
    )


def names_of(matches: list[ConditionMatch]) -> str:
    """'A' / 'A and B' / 'A and 2 more' for one-line summaries (each distinct label once)."""
    labels = list(dict.fromkeys(m.condition.code.label for m in matches))
    if len(labels) <= 2:
        return " and ".join(labels)
    return f"{labels[0]} and {len(labels) - 1} more"
