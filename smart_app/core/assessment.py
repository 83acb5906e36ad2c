"""The one use case of the clinical core: assess a patient's record and draft orders on a date, under a policy.

Every adapter (the CDS Hooks services, patient-view, the SMART app, the `check` and `mme` commands) calls `assess`
and only renders what it returns: the MME report and its level, every safety rule's outcome, and the protocol
options. The local defaults are passed in; the core never reads the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from smart_app.config import LocalDefaults
from smart_app.core.mme import MmeReport
from smart_app.core.mme.engine import assess_medications, report_of
from smart_app.core.mme.levels import MmeLevel, mme_level
from smart_app.core.model import DataGap, InputProblem, MedicationUse, PatientRecord
from smart_app.core.outcomes import Evidence, Outcome
from smart_app.core.protocols import ProtocolAssessment, assess_protocols
from smart_app.core.safety import BaselineTestStatus, KetamineOrder, SafetyReport, evaluate


@dataclass(frozen=True)
class Assessment:
    evaluated_at: datetime
    mme: MmeReport
    mme_level: MmeLevel
    safety: SafetyReport
    input_problems: tuple[InputProblem, ...]  # resources that could not be read
    gaps: tuple[DataGap, ...]  # data the caller could not supply
    settings: LocalDefaults
    monitored_setting: bool = False

    @cached_property
    def protocols(self) -> tuple[ProtocolAssessment, ...]:
        """Every catalogue protocol for this patient, catalogue order (computed when first asked for: most calls
        never show protocols)."""
        return assess_protocols(
            self.safety.weight_kg,
            self.safety.age,
            self.safety.findings,
            self.settings,
            monitored_setting=self.monitored_setting,
        )

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        return self.safety.outcomes

    @property
    def findings(self) -> tuple[Outcome, ...]:
        """Fired outcomes, critical first."""
        return self.safety.findings

    @property
    def ketamine_orders(self) -> tuple[KetamineOrder, ...]:
        return self.safety.ketamine_orders

    @property
    def baseline_tests(self) -> tuple[BaselineTestStatus, ...]:
        return self.safety.baseline_tests

    @property
    def weight_kg(self) -> float | None:
        return self.safety.weight_kg

    @property
    def weight_evidence(self) -> Evidence | None:
        return self.safety.weight_evidence

    @property
    def age(self) -> int | None:
        return self.safety.age


def assess(
    record: PatientRecord,
    *,
    drafts: Sequence[MedicationUse] = (),
    on: datetime,
    settings: LocalDefaults,
    monitored_setting: bool = False,
) -> Assessment:
    """MME (drafts included), every safety rule's outcome, and the protocol options for this patient.

    `drafts` are the draft orders being decided on (the hook's drafts, or none); `monitored_setting`: protocols are
    being chosen for a monitored setting (ASRA Table 6), so no rate cap applies."""
    when = on if on.tzinfo is not None else on.replace(tzinfo=UTC)
    # Each medication assessed once, for today's total and (where the day makes no difference) for the timeline.
    assessed = assess_medications(record.medications, table=settings.mme_table, on=when)
    mme = report_of(assessed, table=settings.mme_table)
    safety = evaluate(record, drafts=drafts, on=when, settings=settings, mme=mme, mme_assessed=assessed)
    return Assessment(
        evaluated_at=when,
        mme=mme,
        mme_level=mme_level(mme, settings),
        safety=safety,
        input_problems=record.problems,
        gaps=record.gaps,
        settings=settings,
        monitored_setting=monitored_setting,
    )
