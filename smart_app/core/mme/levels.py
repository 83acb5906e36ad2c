"""Where an opioid total stands against the configured MME levels: the one threshold policy every presenter uses.

The levels are external guideposts, not findings of the ketamine evidence base (RULES.md 0, MME.md 1): CDC 2022
asks to pause and reassess before >= 50 MME/day and to add precautions (closer follow-up, naloxone) at >= 50;
CDC 2016 said to avoid or carefully justify >= 90. Both are set on CDC's MME scale, so they are applied to totals
from the CDC tables only. The ANZCA oMEDD table is another scale: no source in the corpus sets an oMEDD threshold
(ANZCA points to PS01(PM) clause 2.1.5), so its totals are rated only against thresholds a deployment configures.
Every number here is a local default and is shown as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smart_app.config import LocalDefaults
from smart_app.core.mme.report import MmeReport
from smart_app.core.outcomes import Citation

# "none": no current opioid (0 MME/day); "unknown": opioids whose total could not be computed at all;
# "unrated": a total on a scale no threshold is configured for.
Level = Literal["none", "below", "precaution", "high", "unknown", "unrated"]

CDC_2022_LEVELS = Citation(
    "CDC-2022",
    "Recommendations 4, 7 and 8",
    None,
    None,
    "before increasing to >= 50 MME/day, pause and reassess; at >= 50 MME/day add precautions (closer follow-up, "
    "offer naloxone). The numbers are guideposts, not rigid limits",
)
CDC_2016_LEVEL = Citation(
    "CDC-2016", "Recommendation 5", None, None, "avoid or carefully justify increasing dosage to >= 90 MME/day"
)


@dataclass(frozen=True, slots=True)
class MmeLevel:
    level: Level
    total: float | None  # MME/day (or oMEDD mg/day); 0 with no current opioid; None when not computable
    left_out: int  # opioid medications the total does not include
    sentence: str  # "at or above 50 (CDC 2022 precautions; local default)", for cards and screens
    thresholds: tuple[str, ...]  # the LocalDefaults settings the level was judged against
    citations: tuple[Citation, ...]

    @property
    def complete(self) -> bool:
        return self.left_out == 0

    @property
    def at_least(self) -> bool:
        """The total is a lower bound: some opioid could not be counted."""
        return self.total is not None and self.left_out > 0

    @property
    def calls_for_attention(self) -> bool:
        """At or above the first level, or an opioid total that is not fully known."""
        return self.level in ("precaution", "high", "unknown") or (self.level != "none" and not self.complete)


def _thresholds(report: MmeReport, settings: LocalDefaults) -> tuple[float | None, float | None, tuple[str, ...]]:
    if report.table.startswith("cdc"):
        return (
            settings.mme_precaution_threshold,
            settings.mme_high_threshold,
            ("mme_precaution_threshold", "mme_high_threshold"),
        )
    return (
        settings.omedd_precaution_threshold,
        settings.omedd_high_threshold,
        ("omedd_precaution_threshold", "omedd_high_threshold"),
    )


def mme_level(report: MmeReport, settings: LocalDefaults) -> MmeLevel:
    left_out = len(report.left_out)
    total = report.total_mme_per_day
    precaution, high, names = _thresholds(report, settings)
    cdc = report.table.startswith("cdc")
    citations = (CDC_2022_LEVELS, CDC_2016_LEVEL) if cdc else ()
    if not report.items:
        return MmeLevel("none", 0.0, 0, "no current opioid", names, citations)
    if total is None:
        return MmeLevel("unknown", None, left_out, f"{report.figure} could not be calculated", names, citations)
    if precaution is None and high is None:
        sentence = f"no {report.figure} threshold is configured for the {report.table_label or report.table} table"
        return MmeLevel("unrated", total, left_out, sentence, names, citations)
    which = "CDC 2016 avoid-or-justify level" if cdc else "local high level"
    if high is not None and total >= high:
        return MmeLevel("high", total, left_out, f"at or above {high:g} ({which}; local default)", names, citations)
    which = "CDC 2022: reassess, add precautions, offer naloxone" if cdc else "local precaution level"
    if precaution is not None and total >= precaution:
        sentence = f"at or above {precaution:g} ({which}; local default)"
        return MmeLevel("precaution", total, left_out, sentence, names, citations)
    below = precaution if precaution is not None else high
    return MmeLevel("below", total, left_out, f"below {below:g} (local default)", names, citations)
