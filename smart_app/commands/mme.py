"""`smart-app mme FILE...`: opioid MME/day per medication and in total, from FHIR R4 JSON files.

All files are read as one patient's record (a Bundle, single resources, or JSON arrays of them). Resources that
fail FHIR validation are listed with their message; they are not part of the total, and the output says so.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import orjson

from smart_app.config import MmeTable, local_defaults
from smart_app.core.mme import MmeItem, MmeReport, calculate_mme, mme_report_to_json
from smart_app.core.mme.levels import mme_level
from smart_app.core.model import InputProblem
from smart_app.fhir.bundle import load_files
from smart_app.fhir.record import build_record

WIDTH = 100
_WIDTHS = (34, 14, 6, 12)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mme",
        help="opioid morphine milligram equivalents per day from FHIR JSON",
        description="MME/day (or ANZCA oMEDD) per opioid medication and in total, with each figure's derivation.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="FHIR R4 JSON: Bundle or resources")
    parser.add_argument(
        "--table",
        choices=get_args(MmeTable),
        help="conversion table (default: the mme_table local default, normally cdc-2022)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    record = build_record(load_files(args.files), full_validation=True)
    table: MmeTable = args.table or local_defaults().mme_table
    report = calculate_mme(record.medications, table=table, on=datetime.now(UTC))
    if args.json:
        data = mme_report_to_json(report)
        data["input_problems"] = [{"reference": p.reference, "message": p.message} for p in record.problems]
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(report, record.problems, table_from_default=args.table is None))
    return 0


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "    ")


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _row(item: MmeItem) -> str:
    daily = f"{item.daily_dose:.1f} {item.daily_dose_unit}" if item.daily_dose is not None else "-"
    factor = f"{item.factor:.2f}".rstrip("0").rstrip(".") if item.factor is not None else "-"
    mme = f"{item.mme_per_day:.1f}" if item.mme_per_day is not None else "-"
    status = item.status if item.status != "counted" else "counted" + (" (max allowed)" if item.maximum_allowed else "")
    cells = [_cell(item.name, 34), daily, factor, mme]
    line = "  ".join(c.ljust(w) for c, w in zip(cells, _WIDTHS, strict=True))
    return line + "  " + status


def _level_notes(report: MmeReport) -> list[str]:
    """Where the total stands against the configured levels (the core's one threshold policy, core/mme/levels.py)."""
    level = mme_level(report, local_defaults())
    if level.level in ("none", "unknown"):
        return []
    bound = "at least " if level.at_least else ""
    note = f"Level: {bound}{level.total:g} {report.figure}, {level.sentence}."
    if level.level in ("precaution", "high") and report.table.startswith("cdc"):
        note += " Consider closer follow-up and offering naloxone (CDC 2022 Recommendation 8)."
    return _wrap(note, indent="")


def render(report: MmeReport, problems: tuple[InputProblem, ...] = (), *, table_from_default: bool = False) -> str:
    """The human-readable report: one row per opioid, the total, what was left out and why, and cautions."""
    lines: list[str] = []
    source = " (local default, setting mme_table)" if table_from_default else ""
    lines.append(f"Conversion table: {report.table_label}{source}")
    lines += _wrap(report.table_citation)
    lines.append("")
    if report.items:
        names = ("Medication", "Daily opioid", "Factor", report.figure)
        header = "  ".join(name.ljust(w) for name, w in zip(names, _WIDTHS, strict=True)) + "  Status"
        lines += [header, "-" * min(WIDTH, len(header) + 16)]
        lines += [_row(item) for item in report.items]
        lines.append("")
    elif problems:  # an unreadable resource may be an opioid: never present that as "none found"
        lines.append(f"No current opioid medications among the readable resources; {len(problems)} could not be read.")
    else:
        lines.append("No current opioid medications found.")
    counted, left_out = len(report.counted), len(report.left_out)
    total = (
        f"{report.total_mme_per_day:.1f} {report.figure}" if report.total_mme_per_day is not None else "none computable"
    )
    noun = "medication" if counted == 1 else "medications"
    lines.append(f"Total: {total} ({report.table_label}), {counted} {noun} counted, {left_out} left out")
    lines += _level_notes(report)
    derived = [i for i in report.items if i.derivation]
    if derived:
        lines.append("")
        lines.append("How each figure was derived:")
        for i in derived:
            lines += _wrap(f"{i.name}: {i.derivation}")
    others = [i for i in report.items if i.status != "counted"]
    if others:
        lines.append("")
        lines.append("Not in the total:")
        for i in others:
            lines += _wrap(f"{i.name} ({i.id}): {i.status}: {i.reason}")
    if problems:
        lines.append("")
        lines.append("Not read (invalid FHIR; any opioid in these is missing from the total):")
        for p in problems:
            lines += _wrap(f"{p.reference}: {p.message}")
    if report.cautions:
        lines.append("")
        for c in report.cautions:
            lines += _wrap(f"Caution: {c}", indent="")
    return "\n".join(lines)
