"""`smart-app outcomes-report (FILE... | --fhir-server URL [--token T] [--patient ID]...) [--days N] [--json]`

Effectiveness and safety outcomes per ketamine course (ANZCA PS12 1.3): for every patient, each course of the last
N days, the follow-ups and pain scores documented after it, the response on ASRA's criteria, the opioid change and
the adverse effects reported; then totals. From FHIR files (Bundles or resources; resources are grouped by their
patient), or from a FHIR server: the patients named with --patient, else every patient with a ketamine
administration or order, or a follow-up questionnaire, on that server. Output: a table, or JSON with `--json`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from smart_app.config import local_defaults
from smart_app.core.model import LOINC, PatientRecord
from smart_app.core.outcomes_report import CourseOutcome, OutcomesReport, outcomes_report
from smart_app.core.safety.course import follow_up_url, item_texts
from smart_app.core.safety.terminology import value_set
from smart_app.fhir.bundle import FhirInputError, load_files
from smart_app.fhir.record import build_record
from smart_app.mappings import read_json

_REFERENCE_FIELDS = ("subject", "patient")


def _evaluation_date(text: str) -> datetime:
    from smart_app.commands.check import _evaluation_date as end_of_day

    return end_of_day(text)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "outcomes-report",
        help="effectiveness and safety outcomes per ketamine course (ANZCA PS12 1.3), from files or a FHIR server",
        description="Responses and adverse events per ketamine course, from FHIR files or a FHIR server.",
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="FHIR R4 Bundles or resources (JSON)")
    parser.add_argument("--fhir-server", metavar="URL", help="read from this FHIR R4 server instead of files")
    parser.add_argument("--token", metavar="TOKEN", help="bearer token for the FHIR server (optional)")
    parser.add_argument(
        "--patient", action="append", default=[], metavar="ID", help="only this patient (repeatable; server only)"
    )
    parser.add_argument("--days", type=int, default=365, metavar="N", help="courses of the last N days (365)")
    parser.add_argument("--date", type=_evaluation_date, metavar="YYYY-MM-DD", help="report date (default: today)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help="time budget for the server (60 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(handler=run)


# -- reading ------------------------------------------------------------------------------------------------------


def _patient_of(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
        return f"Patient/{resource['id']}"
    for name in _REFERENCE_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and ref["reference"].startswith("Patient/"):
            return str(ref["reference"]).split("/_history", 1)[0]
    return None


def group_by_patient(resources: Iterable[dict[str, Any]]) -> dict[str, PatientRecord]:
    """One record per patient; shared resources without a patient (Medication) go to every record."""
    shared: list[dict[str, Any]] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        patient = _patient_of(resource)
        if patient is None:
            shared.append(resource)
        else:
            groups.setdefault(patient, []).append(resource)
    return {patient: build_record([*shared, *items]) for patient, items in groups.items()}


def _ketamine_codes() -> str:
    data = read_json("ketamine_products.json")["ketamine"]
    codes = [str(p["code"]) for p in data["products"]] + [str(data["ingredient"]["code"])]
    return ",".join(f"http://www.nlm.nih.gov/research/umls/rxnorm|{c}" for c in codes)


def _observation_codes() -> str:
    """The pain scores the response is judged on, and body weights (mg/kg amounts)."""
    codes = [*value_set("pain-score").concepts, *value_set("body-weight").concepts]
    return ",".join(dict.fromkeys(f"{c.system}|{c.code}" for c in codes if c.system == LOINC))


async def _from_server(
    base_url: str, token: str | None, patients: list[str], budget_s: float
) -> tuple[dict[str, PatientRecord], list[str]]:
    from smart_app.fhir.client import FhirClient

    problems: list[str] = []
    deadline = time.monotonic() + budget_s
    async with FhirClient(base_url, access_token=token, timeout_s=min(budget_s, 30.0)) as fhir:
        ids = list(dict.fromkeys(patients))
        if not ids:
            searches = [
                ("MedicationAdministration", {"code": _ketamine_codes()}),
                ("MedicationRequest", {"code": _ketamine_codes()}),
                ("QuestionnaireResponse", {"questionnaire": follow_up_url()}),
            ]
            for kind, params in searches:
                result = await fhir.search_all(kind, params, deadline=deadline)
                if not result.ok or not result.complete:
                    problems.append(f"finding patients: {result.problem}")
                for resource in result.resources:
                    patient = _patient_of(resource)
                    if patient is not None:
                        ids.append(patient.removeprefix("Patient/"))
            ids = list(dict.fromkeys(ids))
        queries = {
            "administrations": ("MedicationAdministration", {}),
            "requests": ("MedicationRequest", {}),
            "statements": ("MedicationStatement", {}),
            "observations": ("Observation", {"code": _observation_codes()}),
            "followUps": ("QuestionnaireResponse", {}),
        }
        records: dict[str, PatientRecord] = {}
        for patient_id in ids:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problems.append(f"Patient/{patient_id}: not read, time budget used up")
                continue
            read = await fhir.read(f"Patient/{patient_id}", deadline=deadline)
            resources: list[dict[str, Any]] = list(read.resources) if read.ok else []
            if not read.ok:
                problems.append(f"Patient/{patient_id}: {read.problem}")
            results = await fhir.fetch_patient_data(patient_id, queries, budget_s=remaining)
            for key, result in results.items():
                resources.extend(result.resources)
                if not result.ok or not result.complete:
                    problems.append(f"Patient/{patient_id} {key}: {result.problem}")
            # A server may ignore a search parameter and answer with everyone's resources: keep this patient's.
            grouped = group_by_patient(resources)
            others = len(set(grouped) - {f"Patient/{patient_id}"})
            if others:
                problems.append(
                    f"Patient/{patient_id}: the server returned resources of {others} other patient(s); left out"
                )
            if f"Patient/{patient_id}" in grouped:
                records[f"Patient/{patient_id}"] = grouped[f"Patient/{patient_id}"]
    return records, problems


# -- output -------------------------------------------------------------------------------------------------------


def _effect_label(effect: str) -> str:
    return effect if effect.startswith("other: ") else item_texts().get(effect, effect).split(" (")[0]


def course_to_json(c: CourseOutcome) -> dict[str, Any]:
    return {
        "patient": c.patient,
        "course": {
            "start": c.course.start.isoformat(),
            "end": c.course.end.isoformat(),
            "treatment_days": len(c.course.days),
            "ketamine_mg": c.ketamine_mg,
            "ketamine_mg_complete": c.mg_complete,
        },
        "follow_ups": c.follow_ups,
        "pain_scores": c.pain_scores,
        "response": c.verdict,
        "criteria": list(c.criteria),
        "relief_weeks": c.relief_weeks,
        "satisfied": c.satisfied,
        "adverse_effects": [_effect_label(e) for e in c.adverse_effects],
        "serious_adverse_event": c.serious,
    }


def report_to_json(report: OutcomesReport, problems: list[str]) -> dict[str, Any]:
    return {
        "evaluated_at": report.evaluated_at.isoformat(),
        "period_days": report.lookback_days,
        "questionnaire": follow_up_url(),
        "summary": {
            "patients": report.patients,
            "courses": len(report.courses),
            "courses_with_follow_up": report.with_follow_up,
            "response": report.count("response"),
            "no_response": report.count("no response"),
            "not_comparable": report.count("not comparable"),
            "not_documented": report.count("not documented"),
            "adverse_effects": {_effect_label(k): v for k, v in report.adverse_effect_counts.items()},
            "serious_adverse_events": report.serious,
        },
        "courses": [course_to_json(c) for c in report.courses],
        "problems": problems,
        "criteria": "ASRA Q8 and Table 6: >= 30% pain relief with satisfaction and/or objective benefit (function, "
        ">= 20% reduction in opioid use); ANZCA PS12 1.3 systematic reporting",
    }


def render(report: OutcomesReport, problems: list[str]) -> str:
    lines = [
        f"Ketamine outcomes per course, {report.evaluated_at:%Y-%m-%d}, last {report.lookback_days} days "
        f"(ANZCA PS12 1.3; response on ASRA Q8 criteria)",
        "",
    ]
    header = ("Patient", "Course", "Days", "Ketamine mg", "Follow-ups", "Response", "Adverse effects")
    rows = [header]
    for c in report.courses:
        mg = f"{c.ketamine_mg:.0f}" + ("" if c.mg_complete else "+")
        effects = ", ".join(_effect_label(e) for e in c.adverse_effects) or "none reported"
        if c.serious:
            effects += " [SERIOUS]"
        span = f"{c.course.start:%Y-%m-%d}" + (f" to {c.course.end:%Y-%m-%d}" if c.course.end != c.course.start else "")
        rows.append((c.patient, span, str(len(c.course.days)), mg, str(c.follow_ups), c.verdict, effects))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + "  " + r[-1])
    if not report.courses:
        lines.append("(no ketamine course in the period)")
    lines += ["", "Criteria documented per course:"]
    for c in report.courses:
        lines.append(f"  {c.patient} {c.course.start:%Y-%m-%d}: {'; '.join(c.criteria) or 'nothing documented'}")
    counts = report.adverse_effect_counts
    lines += [
        "",
        f"Patients {report.patients}; courses {len(report.courses)}; with a follow-up {report.with_follow_up}; "
        f"response {report.count('response')}; no response {report.count('no response')}; not comparable "
        f"{report.count('not comparable')}; not documented {report.count('not documented')}",
        "Adverse effects (courses): " + "; ".join(f"{_effect_label(k)} {v}" for k, v in counts.items()),
        f"Serious adverse events: {report.serious} (ANZCA PS12 3.5.5: report to the TGA or Medsafe)",
    ]
    if any(not c.mg_complete for c in report.courses):
        lines.append("Ketamine mg with '+': some records had no computable amount (a lower bound).")
    for p in problems:
        lines.append(f"Not read: {p}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if bool(args.files) == bool(args.fhir_server):
        raise FhirInputError("give FHIR files or --fhir-server URL (one of the two)")
    if args.patient and not args.fhir_server:
        raise FhirInputError("--patient is for --fhir-server; files are grouped by patient")
    problems: list[str] = []
    if args.fhir_server:
        records, problems = asyncio.run(_from_server(args.fhir_server, args.token, args.patient, args.timeout))
    else:
        records = group_by_patient(load_files(args.files))
    for patient, record in records.items():
        problems += [f"{patient} {p.reference}: {p.message}" for p in record.problems]
    on: datetime = args.date or datetime.now(UTC)
    report = outcomes_report(records, on=on, settings=local_defaults(), lookback_days=args.days)
    if args.json:
        data = orjson.dumps(report_to_json(report, problems), option=orjson.OPT_INDENT_2)
        sys.stdout.write(data.decode() + "\n")
    else:
        print(render(report, problems))
    return 0
