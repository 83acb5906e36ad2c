"""The alert policy: which outcomes interrupt the clinician, at which hook (README "Alert policy").

A card is an interruption, so only a fired outcome that asks the clinician to act or reconsider becomes one;
satisfied and not-applicable outcomes never do (they are the checklist of the SMART app and of `smart-app check`).
What could not be checked and matters for this order is named on one information card, never shown as
reassurance. Procedural reminders the record can rarely satisfy (written off-label consent, nil-per-os status, a
negotiated opioid plan: `RuleSpec.reminder`) are instructions of every protocol order set and items of the app's
checklist; governance may also show them as one checklist card at order-select (`alert_reminders_at_order_select`).

Per hook:
- order-select: the drafts named in `selections` are assessed; a dose rule waits while the selection states no dose
  (its "no dose yet" is not a gap), and the protocol order sets are offered instead, each replacing that draft;
- order-sign: every fired outcome, except one already shown for the same draft at order-select (not repeated
  needlessly; contraindications and critical outcomes always show); a baseline test drafted with the order
  already satisfies its rule; protocols are offered only when the draft's dose was flagged, to replace that draft
  (never for an order that is already right);
- patient-view: one summary card only when a contraindication or precaution fired or the opioid load calls for
  attention; silent otherwise;
- opioid order-sign: the MME card at or above the first level (or when the total is not fully known), and a card
  for each fired opioid rule that judges the opioid being ordered (benzodiazepine, naloxone, post-taper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from smart_app.config import LocalDefaults
from smart_app.core.assessment import Assessment
from smart_app.core.outcomes import SEVERITY_ORDER, Need, Outcome, sort_fired
from smart_app.core.safety.catalogue import spec

Hook = Literal["patient-view", "order-select", "order-sign"]
# Needs that a fresh selection normally lacks: the clinician has not entered the dose yet.
_SELECTION_NEEDS: frozenset[Need] = frozenset({"order-dose", "order-duration"})
_SUMMARY_KINDS = frozenset({"contraindication", "precaution", "dose"})


@dataclass(frozen=True, slots=True)
class Alerts:
    cards: tuple[Outcome, ...]  # fired outcomes shown as cards, critical first
    unchecked: tuple[Outcome, ...]  # not-evaluable outcomes named on the information card
    reminders: tuple[Outcome, ...]  # procedural reminders for one checklist card (empty unless configured)
    offer_protocols: bool  # offer the protocol order sets (a regimen must be chosen or the dose was flagged)
    replace: tuple[str, ...] = ()  # the drafts a chosen protocol replaces ("MedicationRequest/draft-1")
    # Fired outcomes shown on another card rather than their own (`RuleSpec.carried_by`): (topic of the card that
    # carries it, the outcome). The carrying card adds the outcome's suggestions and names it.
    carried: tuple[tuple[str, Outcome], ...] = ()

    @property
    def silent(self) -> bool:
        return not (self.cards or self.unchecked or self.reminders or self.offer_protocols)

    def carried_by(self, topic: str) -> tuple[Outcome, ...]:
        return tuple(o for host, o in self.carried if host == topic)


MME_TOPIC = "MME"  # the MME card's topic (cds_hooks/cards.py uses the same code)


def _carry(
    cards: tuple[Outcome, ...], extra_topics: frozenset[str] = frozenset()
) -> tuple[tuple[Outcome, ...], tuple[tuple[str, Outcome], ...]]:
    """Move each fired outcome that another shown card carries (`RuleSpec.carried_by`) onto that card."""
    shown = {o.rule_id for o in cards} | extra_topics
    kept: list[Outcome] = []
    carried: list[tuple[str, Outcome]] = []
    for o in cards:
        host = next((t for t in spec(o.rule_id).carried_by if t in shown and t != o.rule_id), None)
        if host is None:
            kept.append(o)
        else:
            carried.append((host, o))
    return tuple(kept), tuple(carried)


def _kind(outcome: Outcome) -> str:
    return spec(outcome.rule_id).kind


def _always_at_signing(outcome: Outcome) -> bool:
    """Shown at order-sign even when order-select showed it: contraindications and critical outcomes."""
    return _kind(outcome) == "contraindication" or outcome.severity == "critical"


def _at_or_above_floor(outcome: Outcome, settings: LocalDefaults) -> bool:
    if _kind(outcome) == "contraindication":
        return True  # a contraindication that applies is always shown
    floor = SEVERITY_ORDER[settings.alert_min_severity]
    return outcome.severity is not None and SEVERITY_ORDER[outcome.severity] <= floor


def _undosed(assessment: Assessment) -> frozenset[str]:
    return frozenset(o.reference for o in assessment.ketamine_orders if not o.dosed)


def _awaiting_dose(outcome: Outcome, undosed: frozenset[str]) -> bool:
    return outcome.subject in undosed and all(m.need in _SELECTION_NEEDS for m in outcome.missing)


def ketamine_alerts(
    assessment: Assessment,
    hook: Hook,
    settings: LocalDefaults,
    *,
    shown_at_selection: Callable[[Outcome], bool] = lambda _: False,
) -> Alerts:
    """What the ketamine safety services show for the drafts assessed at `hook` (order-select or order-sign).

    `shown_at_selection`: whether this outcome's card was already shown for the same draft at order-select; such
    a card is not repeated at order-sign, except a contraindication or a critical outcome, always shown there."""
    undosed = _undosed(assessment) if hook == "order-select" else frozenset()
    cards = tuple(
        o
        for o in sort_fired(assessment.outcomes)
        if _at_or_above_floor(o, settings)
        and (hook != "order-sign" or _always_at_signing(o) or not shown_at_selection(o))
    )
    weight_asked = any("record-weight" in o.plans for o in assessment.findings)  # a dose card asks for it
    unchecked = tuple(
        o
        for o in assessment.outcomes
        if o.status == "not-evaluable"
        and not spec(o.rule_id).reminder
        and spec(o.rule_id).gaps_on_order_card
        and not _awaiting_dose(o, undosed)
        and not (weight_asked and all(m.need == "body-weight" for m in o.missing))
    )
    reminders: tuple[Outcome, ...] = ()
    if hook == "order-select" and settings.alert_reminders_at_order_select:
        reminders = tuple(o for o in assessment.outcomes if spec(o.rule_id).reminder and not o.fired)
    flagged = [o.subject for o in cards if "choose-protocol" in o.plans and o.subject]
    replace = tuple(dict.fromkeys([*sorted(undosed), *flagged]))
    offer = bool(undosed) or any("choose-protocol" in o.plans for o in cards)
    cards, carried = _carry(cards)
    return Alerts(cards, unchecked, reminders, offer, replace, carried)


def summary_alerts(assessment: Assessment, settings: LocalDefaults) -> Alerts:
    """patient-view: the contraindications and precautions of the record as it stands, if any fired."""
    cards = tuple(
        o
        for o in sort_fired(assessment.outcomes)
        if spec(o.rule_id).phase == "patient"
        and spec(o.rule_id).kind in _SUMMARY_KINDS
        and _at_or_above_floor(o, settings)
    )
    if not cards and not assessment.mme_level.calls_for_attention:
        return Alerts((), (), (), False)
    unchecked = tuple(
        o
        for o in assessment.outcomes
        if o.status == "not-evaluable"
        and not spec(o.rule_id).reminder
        and spec(o.rule_id).gaps_on_order_card
        and spec(o.rule_id).phase == "patient"
    )
    return Alerts(cards, unchecked, (), False)


def opioid_alert(assessment: Assessment) -> bool:
    """opioid order-sign: the MME card shows when the total reaches the first level or is not fully known."""
    return assessment.mme_level.calls_for_attention


def opioid_alerts(assessment: Assessment, settings: LocalDefaults) -> Alerts:
    """opioid order-sign: the fired opioid rules that also judge an opioid being ordered (`RuleSpec.opioid_order`:
    an opioid with a benzodiazepine, naloxone to offer, re-introduction after a taper), one card each, beside the
    MME card (`opioid_alert`). Their not-evaluable outcomes are named on the information card."""
    cards = tuple(
        o for o in sort_fired(assessment.outcomes) if spec(o.rule_id).opioid_order and _at_or_above_floor(o, settings)
    )
    # The MME card at or above the first level already says "offer naloxone": it carries that suggestion.
    at_level = opioid_alert(assessment) and assessment.mme_level.level in ("precaution", "high")
    cards, carried = _carry(cards, frozenset({MME_TOPIC}) if at_level else frozenset())
    mme_shown = opioid_alert(assessment)
    unchecked = tuple(
        o
        for o in assessment.outcomes
        if o.status == "not-evaluable"
        and spec(o.rule_id).opioid_order
        # the MME card already says the total could not be computed
        and not (mme_shown and all(m.need == "opioid-dose" for m in o.missing))
    )
    return Alerts(cards, unchecked, (), False, carried=carried)
