"""`evaluate`: every safety rule over one patient record and its draft orders, as a `SafetyReport`.

Pure: no I/O, no clock except the default evaluation time. Patient rules always run; order rules (dose, route,
opioid plan) run only for ketamine among `drafts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from smart_app.config import LocalDefaults, local_defaults
from smart_app.core.findings import Evidence, Finding, sort_findings
from smart_app.core.mme.report import MmeReport
from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.core.safety.context import SafetyContext
from smart_app.core.safety.ketamine_order import KetamineOrder, is_ketamine, read_order
from smart_app.core.safety.rules import (
    aspiration,
    baseline_tests,
    cardiovascular,
    consent,
    dosing,
    endocrine,
    frequency,
    hepatic,
    neuro_ocular,
    opioids,
    pregnancy,
    psychiatric,
    rescue,
    route,
    substance,
)
from smart_app.core.safety.rules.baseline_tests import BaselineTestStatus
from smart_app.core.safety.vitals import current_weight

RULES: tuple[Callable[[SafetyContext], list[Finding]], ...] = (
    cardiovascular.check,
    psychiatric.check,
    hepatic.check,
    neuro_ocular.check,
    endocrine.check,
    pregnancy.check,
    substance.check,
    rescue.check,
    consent.check,
    aspiration.check,
    frequency.check,
    opioids.check,
    dosing.check,
    route.check,
)


@dataclass(frozen=True, slots=True)
class SafetyReport:
    findings: tuple[Finding, ...]  # critical first
    weight_kg: float | None
    weight_evidence: Evidence | None
    age: int | None
    ketamine_orders: tuple[KetamineOrder, ...]
    baseline_tests: tuple[BaselineTestStatus, ...]
    not_checked: tuple[str, ...]  # what could not be checked, and why
    evaluated_at: datetime


def evaluate(
    record: PatientRecord,
    *,
    drafts: Sequence[MedicationUse] = (),
    on: datetime | None = None,
    settings: LocalDefaults | None = None,
    mme: MmeReport | None = None,
) -> SafetyReport:
    """Findings for a patient about to receive ketamine; `on` is the evaluation time (default now, UTC)."""
    when = on or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    s = settings or local_defaults()
    weight = current_weight(record, when, s.weight_lookback_days)
    age = record.demographics.age_on(when.date())
    orders = tuple(read_order(d) for d in drafts if is_ketamine(d))
    ctx = SafetyContext(record=record, on=when, settings=s, age=age, weight=weight, orders=orders, mme=mme)
    if age is None:
        ctx.not_checked.append("age unknown (no Patient.birthDate): elderly thresholds not applied")
    for problem in record.problems:
        ctx.not_checked.append(f"{problem.reference} could not be read: {problem.message}")
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(ctx))
    baseline_findings, statuses = baseline_tests.assess(ctx)
    findings.extend(baseline_findings)
    if orders and weight is None:
        ctx.not_checked.append(
            f"no body weight within {s.weight_lookback_days} days (local default weight_lookback_days): "
            "mg/kg dose checks not done"
        )
    return SafetyReport(
        findings=tuple(sort_findings(findings)),
        weight_kg=weight.kg if weight else None,
        weight_evidence=weight.evidence if weight else None,
        age=age,
        ketamine_orders=orders,
        baseline_tests=statuses,
        not_checked=tuple(dict.fromkeys(ctx.not_checked)),
        evaluated_at=when,
    )
