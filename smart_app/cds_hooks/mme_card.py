"""The MME card: opioid total MME/day including the draft order, its derivation, and where it stands.

Where it stands is the core's one threshold policy (`core/mme/levels.py`: CDC levels on CDC tables, local defaults
labelled as such). Medications left out of the total are listed with the reason, so a total is never presented as
complete when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smart_app.cds_hooks import markdown as md
from smart_app.cds_hooks.cards import (
    MME_TOPIC,
    carried_section,
    local_defaults_section,
    new_uuid,
    override_reasons,
    source_for,
    sources_section,
)
from smart_app.cds_hooks.models import Card, Indicator, Link, Suggestion
from smart_app.config import LocalDefaults
from smart_app.core.mme import MmeReport, mme_report_to_json
from smart_app.core.mme.levels import MmeLevel
from smart_app.core.outcomes import Citation, Outcome, fit_summary


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def indicator_for(level: MmeLevel) -> Indicator:
    return "warning" if level.level in ("precaution", "high") else "info"


def _summary(report: MmeReport, level: MmeLevel) -> str:
    total = report.total_mme_per_day
    if total is None:
        return fit_summary(
            f"Opioid {report.figure} could not be calculated for {level.left_out} medication(s); see detail"
        )
    bound = "at least " if level.left_out else ""
    left = f" ({level.left_out} left out)" if level.left_out else ""
    return fit_summary(f"Opioid total with this order: {bound}{_fmt(total)} {report.figure}{left}, {level.sentence}")


def _table(report: MmeReport) -> str:
    rows = ["| Medication | Source | Derivation | MME/day |", "|---|---|---|---|"]
    for item in report.counted:
        mme = _fmt(item.mme_per_day) if item.mme_per_day is not None else ""
        note = " (maximum the order allows)" if item.maximum_allowed else ""
        rows.append(f"| {md.cell(item.name)} | {md.cell(item.source)} | {md.cell(item.derivation)}{note} | {mme} |")
    return "\n".join(rows)


def _left_out(report: MmeReport, unchecked: Sequence[str] = ()) -> str:
    lines = [f"- {md.cell(f'{item.name} ({item.source}): {item.reason or item.status}')}" for item in report.left_out]
    lines += [
        "- "
        + md.cell(f"Draft order {ref}: its drug could not be identified, so it may be an opioid this total leaves out")
        for ref in unchecked
    ]
    lines += [
        f"- {md.cell(f'{item.name} ({item.source}): counted once: {item.reason}')}"
        for item in report.items
        if item.status == "duplicate"
    ]
    return "**Not in the total**\n\n" + "\n".join(lines) if lines else ""


def mme_extension(report: MmeReport, level: MmeLevel) -> dict[str, Any]:
    """The calculation for machines: numeric total (null when not computable), table, level, per-medication steps."""
    highest = report.highest_total
    return {
        **mme_report_to_json(report),
        "complete": level.complete,
        "mme_level": level.level,
        "highest_total_mme_per_day": round(highest, 6) if highest is not None else None,
    }


def mme_card(
    report: MmeReport,
    level: MmeLevel,
    settings: LocalDefaults,
    *,
    links: Sequence[Link] = (),
    unchecked: Sequence[str] = (),
    suggestions: Sequence[Suggestion] = (),
    carried: Sequence[Outcome] = (),
) -> Card:
    """`unchecked`: draft orders whose drug could not be identified (counted in `level.left_out` by the caller);
    `carried`: fired outcomes the card also states (e.g. the naloxone offer at the precaution level), whose
    suggestions are `suggestions`."""
    indicator = indicator_for(level)
    table_source = Citation(report.document or "CDC-2022", f"MME conversion table ({report.table_citation})")
    parts: list[str] = []
    if report.total_mme_per_day is not None:
        bound = "at least " if level.at_least else ""
        parts.append(
            f"**Total: {bound}{_fmt(report.total_mme_per_day)} {report.figure}** ({level.sentence}), "
            f"table {report.table_citation}."
        )
    highest = report.highest_total
    if highest is not None and highest > (report.total_mme_per_day or 0.0):
        parts.append(
            f"An order steps up later: at the highest steps of the orders the total is {_fmt(highest)} "
            f"{report.figure} (each order's steps are in its derivation)."
        )
    if report.counted:
        parts.append(_table(report))
    left_out = _left_out(report, unchecked)
    if left_out:
        parts.append(left_out)
    if report.cautions:
        parts.append("**Cautions**\n\n" + "\n".join(f"- {c}" for c in report.cautions))
    also = carried_section(carried)
    if also:
        parts.append(also)
    parts.append(sources_section((table_source, *level.citations)))
    parts.append(local_defaults_section(("mme_table", *level.thresholds), settings))
    return Card(
        uuid=new_uuid(),
        summary=_summary(report, level),
        indicator=indicator,
        detail="\n\n".join(parts),
        # The levels' source when they apply (CDC 2022 on the CDC tables); otherwise the conversion table.
        source=source_for(level.citations[0] if level.citations else table_source, MME_TOPIC),
        override_reasons=override_reasons() if indicator != "info" else None,
        links=list(links) or None,
        suggestions=list(suggestions) or None,
        selection_behavior="any" if suggestions else None,
        extension=mme_extension(report, level),
    )
