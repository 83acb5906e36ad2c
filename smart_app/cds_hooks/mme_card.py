"""The MME card: opioid total MME/day including the draft order, its derivation, and the CDC thresholds.

Thresholds are LocalDefaults (50 MME/day: CDC 2022 precautions; 90 MME/day: the CDC 2016 "avoid or carefully
justify" level, shown for comparison) and are labelled as such on the card. Medications left out of the total are
listed with the reason, so a total is never presented as complete when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smart_app.cds_hooks.cards import (
    MME_TOPIC,
    fit_summary,
    local_defaults_section,
    md_cell,
    new_uuid,
    override_reasons,
    source_for,
    sources_section,
)
from smart_app.cds_hooks.models import Card, Indicator, Link
from smart_app.config import LocalDefaults
from smart_app.core.findings import Citation
from smart_app.core.mme import MmeReport, mme_report_to_json

CDC_2022_THRESHOLDS = Citation(
    "CDC-2022",
    "Recommendations 4, 7 and 8",
    None,
    None,
    "before increasing to >= 50 MME/day, pause and reassess; at >= 50 MME/day add precautions (closer follow-up, "
    "offer naloxone). The numbers are guideposts, not rigid limits",
)
CDC_2016_THRESHOLD = Citation(
    "CDC-2016", "Recommendation 5", None, None, "avoid or carefully justify increasing dosage to >= 90 MME/day"
)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def classify(total: float | None, settings: LocalDefaults) -> tuple[Indicator, str]:
    """Indicator and the threshold sentence for a total (None: not computable)."""
    if total is None:
        return "info", "MME/day could not be calculated"
    if total >= settings.mme_high_threshold:
        return "warning", f"at or above {settings.mme_high_threshold:g} (CDC 2016 avoid-or-justify level)"
    if total >= settings.mme_precaution_threshold:
        return "warning", f"at or above {settings.mme_precaution_threshold:g}: CDC 2022 precautions apply"
    return "info", f"below {settings.mme_precaution_threshold:g}"


def _summary(report: MmeReport, sentence: str) -> str:
    total = report.total_mme_per_day
    if total is None:
        return fit_summary(
            f"Opioid MME/day could not be calculated for {len(report.left_out)} medication(s); see detail"
        )
    bound = "at least " if report.left_out else ""
    return fit_summary(f"Opioid total with this order: {bound}{_fmt(total)} MME/day, {sentence}")


def _table(report: MmeReport) -> str:
    rows = ["| Medication | Source | Derivation | MME/day |", "|---|---|---|---|"]
    for item in report.counted:
        mme = _fmt(item.mme_per_day) if item.mme_per_day is not None else ""
        note = " (maximum the order allows)" if item.maximum_allowed else ""
        rows.append(f"| {md_cell(item.name)} | {md_cell(item.source)} | {md_cell(item.derivation)}{note} | {mme} |")
    return "\n".join(rows)


def _left_out(report: MmeReport) -> str:
    lines = [f"- {item.name} ({item.source}): {item.reason or item.status}" for item in report.left_out]
    lines += [
        f"- {item.name} ({item.source}): counted once: {item.reason}"
        for item in report.items
        if item.status == "duplicate"
    ]
    return "**Not in the total**\n\n" + "\n".join(lines) if lines else ""


def mme_extension(report: MmeReport) -> dict[str, Any]:
    """The calculation for machines: numeric total (null when not computable), table, per-medication steps."""
    return {**mme_report_to_json(report), "complete": not report.left_out}


def mme_card(report: MmeReport, settings: LocalDefaults, *, links: Sequence[Link] = ()) -> Card:
    indicator, sentence = classify(report.total_mme_per_day, settings)
    table_source = Citation(report.document or "CDC-2022", f"MME conversion table ({report.table_citation})")
    parts: list[str] = []
    if report.total_mme_per_day is not None:
        parts.append(
            f"**Total: {_fmt(report.total_mme_per_day)} MME/day** ({sentence}), table {report.table_citation}."
        )
    if report.counted:
        parts.append(_table(report))
    left_out = _left_out(report)
    if left_out:
        parts.append(left_out)
    if report.cautions:
        parts.append("**Cautions**\n\n" + "\n".join(f"- {c}" for c in report.cautions))
    parts.append(sources_section((table_source, CDC_2022_THRESHOLDS, CDC_2016_THRESHOLD)))
    parts.append(local_defaults_section(("mme_table", "mme_precaution_threshold", "mme_high_threshold"), settings))
    return Card(
        uuid=new_uuid(),
        summary=_summary(report, sentence),
        indicator=indicator,
        detail="\n\n".join(parts),
        # CDC 2022 sets the thresholds the indicator follows; a deployment on the ANZCA table cites that table.
        source=source_for(CDC_2022_THRESHOLDS if report.document in ("", "CDC-2022") else table_source, MME_TOPIC),
        override_reasons=override_reasons() if indicator != "info" else None,
        links=list(links) or None,
        extension=mme_extension(report),
    )
