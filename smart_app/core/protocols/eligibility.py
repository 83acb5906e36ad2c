"""Which protocols suit this patient: status and reasons per protocol, from age, weight and safety outcomes.

Statuses, worst first: "not-recommended" (a critical contraindication, a child, or a rate that needs a monitored
setting the order is not for; the clinician may still override), "cannot-compute" (no usable weight: never
guessed), "caution" (warnings, elderly or unknown age, non-endorsed protocols), "available".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from smart_app.config import LocalDefaults
from smart_app.core.model import quick_frozen
from smart_app.core.outcomes import Outcome, sort_fired
from smart_app.core.protocols.catalogue import Protocol, catalogue, citation_from, list_protocols
from smart_app.core.protocols.dosing import DoseError, DosePlan, InfusionPlan, fmt, plan_dose
from smart_app.core.safety.catalogue import spec
from smart_app.core.safety.limits import dose_limits

Status = Literal["available", "caution", "not-recommended", "cannot-compute"]
STATUS_ORDER: dict[Status, int] = {"not-recommended": 0, "cannot-compute": 1, "caution": 2, "available": 3}


@quick_frozen
@dataclass(frozen=True, slots=True)
class ProtocolAssessment:
    protocol: Protocol
    status: Status
    reasons: tuple[str, ...]  # why the protocol is marked; empty when available
    plan: DosePlan | None  # None when the dose cannot be computed
    notes: tuple[str, ...]  # how the dose was fitted to this patient (caps, lengthening, local defaults)
    dose_problem: str | None = None  # why no dose could be computed (plan is None)

    @property
    def suggestible(self) -> bool:
        """May be offered as a default or card suggestion: endorsed and not marked against."""
        return self.protocol.endorsed and self.status in ("available", "caution")


@quick_frozen
@dataclass(frozen=True, slots=True)
class _Verdict:
    status: Status
    reason: str


def monitored_threshold(age: int | None, settings: LocalDefaults) -> tuple[float, str]:
    """The infusion rate (mg/kg/h) at or above which a monitored setting is needed, and where it comes from."""
    limits = dose_limits()
    if age is not None and age >= settings.elderly_age:
        source = limits.elderly
        label = (
            f"{settings.describe('elderly_rate_monitored_mg_per_kg_h')} for age >= {settings.elderly_age} "
            f"(local default, setting elderly_age; {source})"
        )
        return settings.elderly_rate_monitored_mg_per_kg_h, label
    sources = f"{limits.monitored_q6}; {limits.monitored_setting}"
    rate = limits.monitored_setting_mg_per_kg_h
    return rate, f"{fmt(rate)} mg/kg/h ({sources})"


def _usable_age(age: object) -> int | None:
    """An age in whole years, or None when missing or not a usable number (then it is reported, not assumed)."""
    return age if isinstance(age, int) and not isinstance(age, bool) and age >= 0 else None


def _age_verdicts(age: int | None, settings: LocalDefaults) -> list[_Verdict]:
    if age is None:
        return [
            _Verdict(
                "caution",
                f"Age unknown: the lower monitoring threshold for elderly patients (age >= {settings.elderly_age}, "
                "local default) could not be checked.",
            )
        ]
    if age < settings.adult_age:
        cite = citation_from(catalogue()["adult_only_citation"])
        return [
            _Verdict(
                "not-recommended",
                f"Adult protocols; patient is {age} (adult from {settings.adult_age}, local default). "
                f'{cite.short}: "{cite.quote}"',
            )
        ]
    if age >= settings.elderly_age:
        cite = citation_from(catalogue()["elderly_clearance_citation"])
        return [
            _Verdict(
                "caution",
                f"Age {age} (elderly from {settings.elderly_age}, local default): lower thresholds for more intensive "
                f"monitoring apply (ASRA Q6); {cite.short}: reduced ketamine clearance with age.",
            )
        ]
    return []


def _outcome_verdicts(outcomes: Sequence[Outcome]) -> list[_Verdict]:
    """How the fired safety outcomes bear on every protocol, as the rule catalogue declares (`protocol_effect`)."""
    verdicts: list[_Verdict] = []
    for outcome in sort_fired(list(outcomes)):
        effect = spec(outcome.rule_id).protocol_effect
        if effect == "none" or outcome.severity == "info":
            continue
        status: Status = (
            "not-recommended" if effect == "contraindication" and outcome.severity == "critical" else "caution"
        )
        verdicts.append(_Verdict(status, f"{outcome.rule_id}: {outcome.summary}"))
    return verdicts


def _kind_verdicts(protocol: Protocol) -> list[_Verdict]:
    if protocol.kind == "recommended" or not protocol.disclaimer:
        return []
    return [_Verdict("caution", protocol.disclaimer)]


def _dose_verdicts(
    plan: DosePlan, threshold: float, label: str, monitored_setting: bool
) -> tuple[list[_Verdict], list[str]]:
    verdicts: list[_Verdict] = []
    notes = list(plan.notes)
    if isinstance(plan, InfusionPlan):
        if plan.needs_monitored_setting and not monitored_setting:
            verdicts.append(
                _Verdict(
                    "not-recommended",
                    f"Starting rate {fmt(plan.rate_mg_per_kg_h)} mg/kg/h reaches the rate needing a monitored setting "
                    f"with resuscitation equipment and airway/ACLS-trained staff: {label}. "
                    "Order only for a monitored setting.",
                )
            )
            notes.append("No titration above the starting rate unless the order is for a monitored setting.")
        if plan.capped_for_setting:
            notes.append(
                f"Titration ceiling capped at {fmt(plan.ceiling_mg_per_h)} mg/h, below {label}, because the order is "
                "not for a monitored setting."
            )
        if monitored_setting and plan.rate_mg_per_kg_h >= threshold:
            notes.append(f"Rate at or above {label}: ordered for a monitored setting as ASRA requires.")
    return verdicts, notes


def assess_protocol(
    protocol: Protocol,
    weight_kg: float | None,
    age: int | None,
    outcomes: Sequence[Outcome],
    settings: LocalDefaults,
    *,
    monitored_setting: bool = False,
) -> ProtocolAssessment:
    """Status, reasons and dose plan for one protocol. `monitored_setting`: the order is for a monitored setting
    (ASRA Table 6), so no rate cap applies."""
    return _assess(protocol, weight_kg, _Patient.of(age, outcomes, settings), settings, monitored_setting)


@dataclass(frozen=True, slots=True)
class _Patient:
    """What every protocol's assessment reads of the patient alone: worked out once for all the protocols."""

    verdicts: tuple[_Verdict, ...]  # of the fired outcomes and the age
    threshold: float
    label: str

    @staticmethod
    def of(age: int | None, outcomes: Sequence[Outcome], settings: LocalDefaults) -> _Patient:
        usable = _usable_age(age)
        threshold, label = monitored_threshold(usable, settings)
        verdicts = _outcome_verdicts(outcomes) + _age_verdicts(usable, settings)
        return _Patient(tuple(verdicts), threshold, label)


def _assess(
    protocol: Protocol, weight_kg: float | None, patient: _Patient, settings: LocalDefaults, monitored_setting: bool
) -> ProtocolAssessment:
    threshold, label = patient.threshold, patient.label
    verdicts = [*patient.verdicts, *_kind_verdicts(protocol)]
    plan: DosePlan | None = None
    dose_problem: str | None = None
    notes: list[str] = []
    try:
        plan = plan_dose(
            protocol,
            weight_kg,
            monitored_threshold_mg_per_kg_h=None if monitored_setting else threshold,
            settings=settings,
        )
    except DoseError as exc:
        dose_problem = str(exc)
        verdicts.append(_Verdict("cannot-compute", dose_problem))
    else:
        dose_verdicts, notes = _dose_verdicts(plan, threshold, label, monitored_setting)
        verdicts += dose_verdicts
    verdicts.sort(key=lambda v: STATUS_ORDER[v.status])
    status: Status = verdicts[0].status if verdicts else "available"
    return ProtocolAssessment(
        protocol=protocol,
        status=status,
        reasons=tuple(dict.fromkeys(v.reason for v in verdicts)),
        plan=plan,
        notes=tuple(notes),
        dose_problem=dose_problem,
    )


def assess_protocols(
    weight_kg: float | None,
    age: int | None,
    outcomes: Sequence[Outcome],
    settings: LocalDefaults,
    *,
    monitored_setting: bool = False,
) -> tuple[ProtocolAssessment, ...]:
    """Every catalogue protocol assessed for this patient, in catalogue order (recommended first)."""
    patient = _Patient.of(age, outcomes, settings)
    return tuple(_assess(p, weight_kg, patient, settings, monitored_setting) for p in list_protocols())


def suggested_protocols(assessments: Sequence[ProtocolAssessment]) -> tuple[ProtocolAssessment, ...]:
    """Protocols a card or screen may offer: endorsed ones not marked against, available before caution.
    Illustrative and research-only protocols (oral ketamine) are never suggested."""
    eligible = [a for a in assessments if a.suggestible]
    return tuple(sorted(eligible, key=lambda a: STATUS_ORDER[a.status], reverse=True))
