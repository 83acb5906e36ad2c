"""`evaluate`: every safety rule of the catalogue over one patient record and its draft orders, as a `SafetyReport`.

Pure: no I/O, no clock, no environment; the evaluation time and the local defaults are passed in. Every rule in
the catalogue yields exactly one outcome (one per draft ketamine order for order rules). Where the caller could not
supply a category of data a rule needs (`PatientRecord.gaps`), a rule that found nothing reports `not-evaluable`
rather than "not applicable": absence of data is never reassurance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache

from smart_app.config import LocalDefaults
from smart_app.core.mme.engine import Assessed
from smart_app.core.mme.report import MmeReport
from smart_app.core.mme.timeline import mme_timeline
from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.core.outcomes import Evidence, Missing, Outcome, sort_fired
from smart_app.core.safety.catalogue import RULES, spec
from smart_app.core.safety.context import SafetyContext
from smart_app.core.safety.exposure import KetamineExposure, ketamine_exposure
from smart_app.core.safety.history import YEAR_DAYS, treatment_history
from smart_app.core.safety.ketamine_order import KetamineOrder, is_ketamine, read_order
from smart_app.core.safety.rules import (
    aspiration,
    baseline_mme,
    baseline_tests,
    cardiovascular,
    consent,
    dosing,
    endocrine,
    frequency,
    hepatic,
    neuro_ocular,
    opioids,
    post_taper,
    pregnancy,
    psychiatric,
    rescue,
    response,
    route,
    sedation,
    substance,
)
from smart_app.core.safety.rules.baseline_tests import BaselineTestStatus
from smart_app.core.safety.vitals import current_weight, latest_bp

CHECKS: tuple[Callable[[SafetyContext], list[Outcome]], ...] = (
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
    response.check,
    opioids.check,
    baseline_mme.check,
    post_taper.check,
    sedation.check,
    dosing.check,
    route.check,
)


@dataclass(frozen=True, slots=True)
class SafetyReport:
    outcomes: tuple[Outcome, ...]  # every rule's outcome, in catalogue order
    weight_kg: float | None
    weight_evidence: Evidence | None
    age: int | None
    ketamine_orders: tuple[KetamineOrder, ...]
    baseline_tests: tuple[BaselineTestStatus, ...]
    evaluated_at: datetime
    exposure: KetamineExposure  # ketamine given and ordered over 30 and 365 days, and what the drafts plan

    @property
    def findings(self) -> tuple[Outcome, ...]:
        """The fired outcomes, critical first."""
        return tuple(sort_fired(self.outcomes))

    @property
    def not_evaluable(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "not-evaluable")

    def outcome(self, rule_id: str, subject: str | None = None) -> Outcome:
        """The outcome of one rule (for an order rule, of one draft; the first when `subject` is None)."""
        return next(o for o in self.outcomes if o.rule_id == rule_id and (subject is None or o.subject == subject))


def _with_gaps(outcome: Outcome, record: PatientRecord) -> Outcome:
    """A rule that found nothing in data the caller could not fully supply could not really look."""
    if outcome.status != "not-applicable":
        return outcome
    needs = spec(outcome.rule_id).needs
    missing = tuple(
        Missing(gap.resource_type, f"{'some ' if gap.partial else ''}{gap.resource_type} data: {gap.reason}")
        for gap in record.gaps
        if gap.resource_type in needs
    )
    if not missing:
        return outcome
    return replace(
        outcome,
        status="not-evaluable",
        summary=f"{spec(outcome.rule_id).title}: not checked on complete data",
        missing=missing,
    )


def _complete(outcomes: list[Outcome], orders: tuple[KetamineOrder, ...]) -> list[Outcome]:
    """Catalogue order, and a guard that every rule answered (a rule module that forgot one is a bug)."""
    by_rule: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_rule.setdefault(o.rule_id, []).append(o)
    ordered: list[Outcome] = []
    for rule in RULES:
        found = by_rule.get(rule.id)
        expected = len(orders) if rule.phase == "order" and orders else 1
        if not found or len(found) != expected:
            raise AssertionError(f"rule {rule.id} yielded {len(found or [])} outcome(s), expected {expected}")
        ordered.extend(found)
    return ordered


def evaluate(
    record: PatientRecord,
    *,
    drafts: Sequence[MedicationUse] = (),
    on: datetime,
    settings: LocalDefaults,
    mme: MmeReport | None = None,
    mme_assessed: Sequence[Assessed | None] | None = None,
) -> SafetyReport:
    """Every rule's outcome for a patient about to receive ketamine; `on` is the evaluation time.

    `mme_assessed`: `record.medications` as assessed for `mme` (by position), reused by the MME timeline."""
    when = on if on.tzinfo is not None else on.replace(tzinfo=UTC)
    weight = current_weight(record, when, settings.weight_lookback_days)
    age = record.demographics.age_on(when.date())
    orders = tuple(read_order(d) for d in drafts if is_ketamine(d))
    history = treatment_history(record, when, YEAR_DAYS)
    exposure = ketamine_exposure(record, orders, when, weight.kg if weight else None)
    timeline = cache(lambda: mme_timeline(record.medications, on=when, settings=settings, current=mme_assessed))
    ctx = SafetyContext(
        record=record,
        on=when,
        settings=settings,
        age=age,
        weight=weight,
        orders=orders,
        history=history,
        mme=mme,
        exposure=exposure,
        timeline_source=timeline,
        bp_source=cache(lambda: latest_bp(record, when, settings.bp_lookback_days)),
    )
    outcomes: list[Outcome] = []
    for check in CHECKS:
        outcomes.extend(check(ctx))
    baseline_outcomes, statuses = baseline_tests.assess(ctx)
    outcomes.extend(baseline_outcomes)
    return SafetyReport(
        outcomes=tuple(_with_gaps(o, record) for o in _complete(outcomes, orders)),
        weight_kg=weight.kg if weight else None,
        weight_evidence=weight.evidence if weight else None,
        age=age,
        ketamine_orders=orders,
        baseline_tests=statuses,
        evaluated_at=when,
        exposure=exposure,
    )
