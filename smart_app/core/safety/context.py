"""What every rule sees (the record, the evaluation time, the settings, facts derived once for all rules) and the
four ways a rule reports its outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from smart_app.config import LocalDefaults
from smart_app.core.mme.report import MmeReport
from smart_app.core.mme.timeline import MmeTimeline
from smart_app.core.model import PatientRecord
from smart_app.core.outcomes import Citation, Evidence, Missing, Outcome, PlanKey, Severity, fit_summary
from smart_app.core.safety.catalogue import spec
from smart_app.core.safety.evidence import ConditionMatch, active_conditions
from smart_app.core.safety.exposure import KetamineExposure
from smart_app.core.safety.history import TreatmentHistory
from smart_app.core.safety.ketamine_order import KetamineOrder
from smart_app.core.safety.vitals import BpReading, WeightReading, latest_bp

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SafetyContext:
    record: PatientRecord
    on: datetime
    settings: LocalDefaults
    age: int | None
    weight: WeightReading | None
    orders: tuple[KetamineOrder, ...]
    history: TreatmentHistory  # ketamine treatments of the last 365 days (read once for every rule)
    mme: MmeReport | None = None
    exposure: KetamineExposure | None = None  # ketamine given and ordered over 30/365 days (engine computes it)
    timeline_source: Callable[[], MmeTimeline] | None = None  # MME/day over time, drafts left out; built once, lazily
    bp_source: Callable[[], BpReading | None] | None = None  # the latest BP in the lookback; read once, lazily
    # init=False: a copy made with dataclasses.replace (another date, other settings) starts with nothing derived
    _derived: dict[Callable[..., Any], Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def once(self, derive: Callable[[SafetyContext], T]) -> T:
        """`derive(self)`, worked out on the first call only: a fact several rules read the same way (the recent
        liver tests for the hepatic rule and the LFT check). `derive` must depend on the context alone, and its
        result is shared, so it must not be mutated (return a tuple)."""
        if derive not in self._derived:
            self._derived[derive] = derive(self)
        return self._derived[derive]  # type: ignore[no-any-return]

    @property
    def latest_bp(self) -> BpReading | None:
        """The most recent BP of the last `bp_lookback_days` (the cardiovascular rule and the ECG check both ask)."""
        if self.bp_source is not None:
            return self.bp_source()
        return latest_bp(self.record, self.on, self.settings.bp_lookback_days)

    @property
    def timeline(self) -> MmeTimeline | None:
        """The MME timeline, built on first use (only the course and post-taper rules need it, and only when the
        record has a course, a ketamine order or an opioid order)."""
        return self.timeline_source() if self.timeline_source is not None else None

    def conditions(self, *value_sets: str) -> list[ConditionMatch]:
        return active_conditions(self.record, value_sets, self.on, self.settings)

    @property
    def weight_kg(self) -> float | None:
        return self.weight.kg if self.weight else None

    @property
    def is_elderly(self) -> bool:
        return self.age is not None and self.age >= self.settings.elderly_age

    def local(self, name: str) -> str:
        """'<description> = <value> (local default, setting <name>)' for outcome text."""
        return self.settings.describe(name)


def fired(
    rule_id: str,
    severity: Severity,
    summary: str,
    detail: str,
    evidence: Iterable[Evidence] = (),
    *,
    citations: tuple[Citation, ...] | None = None,
    subject: str | None = None,
    wording: str | None = None,
    local_defaults: tuple[str, ...] = (),
    plans: tuple[PlanKey, ...] = (),
) -> Outcome:
    """The clinician should act or reconsider. Citations default to the rule's own (catalogue)."""
    return Outcome(
        rule_id=rule_id,
        status="fired",
        severity=severity,
        summary=fit_summary(summary),
        detail=detail,
        citations=citations if citations is not None else spec(rule_id).citations,
        evidence=tuple(evidence),
        subject=subject,
        wording=wording,
        local_defaults=local_defaults,
        plans=plans,
    )


def satisfied(
    rule_id: str,
    summary: str,
    evidence: Iterable[Evidence],
    *,
    detail: str = "",
    subject: str | None = None,
    local_defaults: tuple[str, ...] = (),
) -> Outcome:
    """The requirement is met; `evidence` is what met it."""
    return Outcome(
        rule_id=rule_id,
        status="satisfied",
        summary=fit_summary(summary),
        detail=detail,
        citations=spec(rule_id).citations,
        evidence=tuple(evidence),
        subject=subject,
        local_defaults=local_defaults,
    )


def not_applicable(
    rule_id: str, summary: str, *, detail: str = "", subject: str | None = None, evidence: Iterable[Evidence] = ()
) -> Outcome:
    """The rule does not concern this patient or order."""
    return Outcome(
        rule_id=rule_id,
        status="not-applicable",
        summary=fit_summary(summary),
        detail=detail,
        citations=spec(rule_id).citations,
        evidence=tuple(evidence),
        subject=subject,
    )


def not_evaluable(
    rule_id: str,
    summary: str,
    missing: Iterable[Missing],
    *,
    detail: str = "",
    subject: str | None = None,
    evidence: Iterable[Evidence] = (),
    local_defaults: tuple[str, ...] = (),
) -> Outcome:
    """The rule could not be judged; `missing` names the data that was missing and why."""
    return Outcome(
        rule_id=rule_id,
        status="not-evaluable",
        summary=fit_summary(summary),
        detail=detail,
        citations=spec(rule_id).citations,
        evidence=tuple(evidence),
        missing=tuple(missing),
        subject=subject,
        local_defaults=local_defaults,
    )


def names_of(matches: list[ConditionMatch]) -> str:
    """'A' / 'A and B' / 'A and 2 more' for one-line summaries (each distinct label once)."""
    labels = list(dict.fromkeys(m.condition.code.label for m in matches))
    if len(labels) <= 2:
        return " and ".join(labels)
    return f"{labels[0]} and {len(labels) - 1} more"
