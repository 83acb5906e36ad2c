"""POST-TAPER: an opioid ordered after a substantial fall in MME/day, or far above the recent dose.

ISCRR (L1397-1399): "once patients have achieved opioid withdrawal, they essentially become 'opioid naive' and
close monitoring of their analgesic medication is essential to ensure that re-introduction of opioids are managed
carefully to avoid opioid toxicity or overdose". RULES.md 5.3.6 and 7 (POST-TAPER). No source says how large a
fall is "substantial" or how far above the recent dose an order is too far: both are local defaults.

From the MME timeline (drafts left out): today's MME/day, and the highest MME/day in the last
`post_taper_lookback_days`. With an opioid draft order (the opioid being ordered; its MME/day from the assessment's
MME report, which includes the drafts):
- fired (warning): today's MME/day is at least `post_taper_fall_percent` below that peak (a taper or withdrawal),
  or the order brings the total to `opioid_increase_ratio` times today's or more (far above the recent dose);
- satisfied: neither;
- not-evaluable: today's MME/day could not be computed.
Without an opioid draft the rule is not applicable (its summary names a taper when there was one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from smart_app.core.mme import opioid_ingredient
from smart_app.core.mme.timeline import TimelineSegment
from smart_app.core.model import MedicationUse
from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied

RULE = "POST-TAPER"
_DEFAULTS = ("post_taper_lookback_days", "post_taper_fall_percent", "opioid_increase_ratio", "timeline_assumed_days")


@dataclass(frozen=True, slots=True)
class Taper:
    today: TimelineSegment | None
    peak: TimelineSegment | None  # the highest computable MME/day in the look-back window
    fall_percent: float | None  # how far today's is below the peak (None: not computable or no peak)

    @property
    def tapered(self) -> bool:
        return self.fall_percent is not None and self.fall_percent > 0


def taper(ctx: SafetyContext) -> Taper:
    timeline = ctx.timeline
    if timeline is None:
        return Taper(None, None, None)
    today = timeline.on(ctx.on.date())
    since = ctx.on.date() - timedelta(days=ctx.settings.post_taper_lookback_days)
    window = [s for s in timeline.segments if s.last_day >= since and s.total is not None]
    peak = max(window, key=lambda s: s.total or 0.0) if window else None
    fall = None
    if today is not None and today.total is not None and peak is not None and peak.total:
        fall = (peak.total - today.total) / peak.total * 100
    return Taper(today, peak, fall)


def substantial_taper(ctx: SafetyContext) -> Taper | None:
    """The taper when it is substantial (local default), else None: POST-TAPER and OPI-NALOXONE share it."""
    found = taper(ctx)
    if found.fall_percent is not None and found.fall_percent >= ctx.settings.post_taper_fall_percent:
        return found
    return None


def opioid_drafts(ctx: SafetyContext) -> list[MedicationUse]:
    return [m for m in ctx.record.medications if m.is_draft_order and opioid_ingredient(m)]


def _draft_mme(ctx: SafetyContext, drafts: list[MedicationUse]) -> float | None:
    if ctx.mme is None:
        return None
    refs = {d.reference for d in drafts}
    values = [i.mme_per_day for i in ctx.mme.counted if i.id in refs and i.mme_per_day is not None]
    return sum(values) if values else None


def _segment_evidence(ctx: SafetyContext, segment: TimelineSegment, what: str) -> list[Evidence]:
    assert ctx.timeline is not None
    figure = ctx.timeline.figure
    total = f"{segment.total:g} {figure}" if segment.total is not None else "not computable"
    head = Evidence(
        "(timeline)",
        f"{what}: {segment.first_day:%Y-%m-%d} to {segment.last_day:%Y-%m-%d}"
        + (" (a period partly assumed)" if segment.assumed else ""),
        datetime.combine(segment.first_day, datetime.min.time()),
        total,
    )
    spans = [
        Evidence(s.reference, f"{s.name}: {s.how}", None, f"{s.mme_per_day:g} {figure}" if s.mme_per_day else None)
        for s in ctx.timeline.spans
        if s.reference in segment.counted or s.reference in segment.left_out
    ]
    return [head, *spans]


def check(ctx: SafetyContext) -> list[Outcome]:
    s = ctx.settings
    drafts = opioid_drafts(ctx)
    if not drafts and not any(opioid_ingredient(m) for m in ctx.record.medications):
        return [not_applicable(RULE, "No opioid being ordered")]  # and none in the record: no timeline to draw
    found = taper(ctx)
    figure = ctx.timeline.figure if ctx.timeline is not None else "MME/day"
    substantial = found.fall_percent is not None and found.fall_percent >= s.post_taper_fall_percent
    if not drafts:
        if substantial and found.peak is not None and found.today is not None:
            return [
                not_applicable(
                    RULE,
                    f"MME/day fell {found.fall_percent:.0f}% (from {found.peak.total:g} to {found.today.total:g}) "
                    "since the peak; no opioid being ordered",
                )
            ]
        return [not_applicable(RULE, "No opioid being ordered")]
    today = found.today
    evidence = [Evidence(d.reference, f"{d.medication.label} (draft order)", d.recorded) for d in drafts]
    if today is None or today.total is None or not today.complete:
        return [
            not_evaluable(
                RULE,
                f"Opioid order: whether it follows a taper could not be judged (today's {figure} not computable)",
                [Missing("opioid-dose", "today's MME/day without this order could not be fully computed")],
                evidence=evidence,
                local_defaults=_DEFAULTS,
            )
        ]
    if today.total == 0 and not substantial:
        return [
            not_applicable(
                RULE, f"No opioid in the last {s.post_taper_lookback_days} days: a new start, not a re-introduction"
            )
        ]
    added = _draft_mme(ctx, drafts)
    with_order = today.total + (added or 0.0)
    ratio = with_order / today.total if today.total > 0 else None
    far = ratio is not None and added is not None and ratio >= s.opioid_increase_ratio
    careful = (
        "ISCRR: after opioid withdrawal patients essentially become **'opioid naive'**; close monitoring is essential "
        "so that **re-introduction of opioids is managed carefully to avoid opioid toxicity or overdose**. Start low, "
        "review early, and offer naloxone (CDC 2022 Recommendation 8, external source: patients returning to a dose "
        "to which they have lost tolerance are at risk)."
    )
    order_text = f"{with_order:g} {figure} with this order" if added is not None else "this order's MME not computable"
    if substantial and found.peak is not None:
        peak = found.peak
        evidence += _segment_evidence(ctx, peak, "highest opioid load") + _segment_evidence(ctx, today, "today")
        return [
            fired(
                RULE,
                "warning",
                f"Opioid re-introduced after a taper ({peak.total:g} to {today.total:g} {figure} since "
                f"{peak.last_day:%Y-%m-%d}): may be effectively opioid-naive",
                f"The opioid load fell {found.fall_percent:.0f}% from {peak.total:g} {figure} "
                f"({peak.first_day:%Y-%m-%d} to {peak.last_day:%Y-%m-%d}) to {today.total:g} today ({order_text}). "
                f"A substantial fall: {ctx.local('post_taper_fall_percent')}. {careful}",
                evidence,
                wording="re-introduction managed carefully",
                local_defaults=_DEFAULTS,
            )
        ]
    if far and ratio is not None:
        evidence += _segment_evidence(ctx, today, "today")
        return [
            fired(
                RULE,
                "warning",
                f"Opioid order far above the recent dose: {today.total:g} to {with_order:g} {figure} (x{ratio:.1f}); "
                "re-introduce carefully",
                f"Today's opioid load is {today.total:g} {figure}; with this order it would be {with_order:g} "
                f"(x{ratio:.1f}; far above: {ctx.local('opioid_increase_ratio')}). Tolerance follows the recent dose, "
                f"not an earlier one. {careful}",
                evidence,
                wording="re-introduction managed carefully",
                local_defaults=_DEFAULTS,
            )
        ]
    return [
        satisfied(
            RULE,
            f"Opioid order in line with the recent dose ({today.total:g} {figure} today; {order_text})",
            evidence,
            local_defaults=_DEFAULTS,
        )
    ]
