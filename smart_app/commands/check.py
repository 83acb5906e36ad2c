"""`smart-app check FILE [--order ORDER.json] [--date YYYY-MM-DD] [--json]`: ketamine safety findings.

FILE is the patient's data (a Bundle or resources); ORDER is the draft order (a MedicationRequest, or a Bundle of
draft orders as in CDS Hooks `draftOrders`). Output: the fired findings, then the checklist of every rule's outcome
(fired, satisfied with its evidence, not applicable, not checked and why); `--json` gives both (`findings`,
`checks`).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import orjson

from smart_app.config import local_defaults
from smart_app.core.assessment import assess
from smart_app.core.outcomes import PLAN_LABELS, Outcome
from smart_app.core.safety import SafetyReport
from smart_app.core.safety.export import safety_report_to_json
from smart_app.fhir.bundle import FhirInputError, load_files
from smart_app.fhir.drafts import mark_unreadable, read_drafts
from smart_app.fhir.record import build_record

WIDTH = 110


def _evaluation_date(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc
    # End of the day, so that results recorded on that date count.
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="ketamine safety check: contraindications, baseline ECG/LFT, draft-order dose and route",
        description="Ketamine safety findings for one patient and (optionally) a draft ketamine order.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="patient data: FHIR R4 Bundle or resources (JSON)")
    parser.add_argument("--order", type=Path, metavar="ORDER.json", help="draft MedicationRequest or Bundle of them")
    parser.add_argument("--date", type=_evaluation_date, metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    drafts_raw = load_files([args.order]) if args.order else []
    if args.order and not any(r.get("resourceType") == "MedicationRequest" for r in drafts_raw):
        raise FhirInputError(f"{args.order}: no MedicationRequest in the order file")
    patient_data = load_files([args.file])
    # Draft drugs by reference resolve from Medications in either file; a draft that is invalid in part is read
    # for its drug and marked, one whose drug cannot be told is named and not checked (as the CDS services do).
    medications = [r for r in (*patient_data, *drafts_raw) if r.get("resourceType") == "Medication"]
    orders = [r for r in drafts_raw if r.get("resourceType") == "MedicationRequest"]
    read = read_drafts(orders, medications)
    others = [r for r in drafts_raw if r.get("resourceType") not in ("MedicationRequest", "Medication")]
    record = build_record(
        [*patient_data, *(m for m in read.medications if m not in patient_data)],
        draft_orders=[*read.drafts, *others],
        full_validation=True,
    )
    record = mark_unreadable(record, read.unreadable)
    drafts = [m for m in record.medications if m.is_draft_order]
    on: datetime = args.date or datetime.now(UTC)
    assessment = assess(record, drafts=drafts, on=on, settings=local_defaults())
    if args.json:
        data = safety_report_to_json(assessment.safety)
        data["mme"] = {
            "total_mme_per_day": assessment.mme_level.total,
            "table": assessment.mme.table,
            "level": assessment.mme_level.level,
            "left_out": assessment.mme_level.left_out,
        }
        data["input_problems"] = [{"reference": p.reference, "message": p.message} for p in record.problems]
        data["not_checked"] = [{"reference": u.reference, "reason": u.reason} for u in read.unidentified]
        data["unreadable_drafts"] = [{"reference": ref, "message": why} for ref, why in read.unreadable.items()]
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(assessment.safety))
        for u in read.unidentified:
            print(f"Not checked: draft order {u.reference}: its drug could not be identified ({u.reason})")
        for ref, why in read.unreadable.items():
            print(f"Draft order {ref} could not be read in full ({why}): its dose could not be checked")
    return 0


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent)


def _finding_block(index: int, f: Outcome) -> list[str]:
    lines = [f"[{index}] {f.rule_id} ({f.severity}): {f.summary}"]
    lines += _wrap(f.detail.replace("**", ""), "    ")
    for e in f.evidence:
        when = f", {e.date:%Y-%m-%d}" if e.date else ""
        value = f": {e.value}" if e.value else ""
        lines.append(f"    evidence: {e.reference}: {e.description}{when}{value}")
    for c in f.citations:
        lines.append(f"    source: {c}")
    if f.local_defaults:
        lines.append(f"    local defaults: {', '.join(f.local_defaults)}")
    if f.plans:
        lines.append(f"    to do: {'; '.join(PLAN_LABELS[p] for p in f.plans)}")
    return lines


_STATUS_WORDS = {
    "fired": "FIRED",
    "satisfied": "ok",
    "not-applicable": "n/a",
    "not-evaluable": "NOT CHECKED",
}


def _checklist(report: SafetyReport) -> list[str]:
    """Every rule with its status, so that 'no finding' can be trusted (or seen not to be)."""
    width = max(len(o.rule_id) for o in report.outcomes)
    lines = ["Checklist (every rule):"]
    for o in report.outcomes:
        status = _STATUS_WORDS[o.status] + (f" {o.severity}" if o.severity else "")
        about = f" [{o.subject}]" if o.subject else ""
        lines.append(f"  {o.rule_id:<{width}}  {status:<16} {o.summary}{about}")
        for m in o.missing:
            lines += _wrap(f"missing: {m.reason}", " " * (width + 21))
    return lines


def render(report: SafetyReport) -> str:
    weight = f"{report.weight_kg:g} kg" if report.weight_kg is not None else "no recent weight"
    age = f"{report.age} y" if report.age is not None else "age unknown"
    lines = [f"Ketamine safety check, evaluated {report.evaluated_at:%Y-%m-%d} ({age}, {weight})"]
    for o in report.ketamine_orders:
        lines.append(f"Draft order: {o.reference} {o.name} ({o.drug}, route {o.route or 'not stated'})")
    exposure = report.exposure
    lines.append("Ketamine exposure: " + "; ".join(w.sentence() for w in exposure.windows))
    for p in exposure.planned:
        mg = f"{p.mg:.0f} mg" if p.mg is not None else "mg not computable"
        lines.append(f"Planned by {p.reference}: {mg} over {p.days} treatment day(s) ({p.how})")
    lines.append("")
    findings = report.findings
    if findings:
        rule_width = max(len(f.rule_id) for f in findings)
        lines.append(f"Findings (would interrupt the clinician): {len(findings)}")
        lines.append(f"{'#':>3}  {'SEVERITY':<8}  {'RULE':<{rule_width}}  SUMMARY")
        for i, f in enumerate(findings, 1):
            lines.append(f"{i:>3}  {(f.severity or '').upper():<8}  {f.rule_id:<{rule_width}}  {f.summary}")
    else:
        lines.append("Findings: none (no rule fired)")
    lines += ["", *_checklist(report)]
    for i, f in enumerate(findings, 1):
        lines.append("")
        lines.extend(_finding_block(i, f))
    return "\n".join(lines)
