"""`smart-app protocol`: the ketamine protocol catalogue and weight-based draft order sets.

smart-app protocol --list [--weight KG --age N]       every protocol, with status and dose for the patient
smart-app protocol --id ID --weight KG --age N         the order set: dose, orders, instructions
options: --monitored (order is for a monitored setting), --intent order, --json
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

import orjson

WIDTH = 110


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "protocol",
        help="ketamine protocols: list them, or print a weight-based draft order set",
        description="Ketamine protocol catalogue (ASRA, ANZCA) and weight-based draft FHIR order sets.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="list every protocol (with status if weight/age given)")
    what.add_argument("--id", metavar="ID", help="protocol id to build an order set for")
    parser.add_argument("--weight", type=_positive, metavar="KG", help="body weight in kg (no weight: no dose)")
    parser.add_argument("--age", type=int, metavar="N", help="age in years")
    parser.add_argument("--monitored", action="store_true", help="the order is for a monitored setting")
    parser.add_argument("--intent", choices=("proposal", "order"), default="proposal", help="FHIR request intent")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from smart_app.config import local_defaults
    from smart_app.core.protocols import UnknownProtocolError, assess_protocols
    from smart_app.core.protocols.export import assessment_to_json
    from smart_app.fhir.orders import build_order_set, order_set_to_json

    settings = local_defaults()
    if args.list:
        assessments = assess_protocols(args.weight, args.age, (), settings, monitored_setting=args.monitored)
        if args.json:
            _print_json([assessment_to_json(a) for a in assessments])
            return 0
        for a in assessments:
            print(f"{a.protocol.id:40} {a.status:16} {a.protocol.kind_label}")
            print(_wrap(a.protocol.title, 4))
            if a.plan is not None:
                print(_wrap(f"Dose: {a.plan.summary()}", 4))
            for reason in a.reasons:
                print(_wrap(f"! {reason}", 4))
        return 0
    try:
        order_set = build_order_set(
            args.id,
            weight_kg=args.weight,
            age=args.age,
            intent=args.intent,
            patient_reference="Patient/example",
            settings=settings,
            monitored_setting=args.monitored,
        )
    except UnknownProtocolError as exc:
        print(f"smart-app: error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(order_set_to_json(order_set))
        return 0
    protocol = order_set.protocol
    print(f"{protocol.title}\n  {protocol.kind_label}; evidence: {protocol.grade}\n  Source: {protocol.source}")
    if protocol.disclaimer:
        print(_wrap(protocol.disclaimer, 2))
    print(_wrap(f"Studied regimen: {protocol.regimen.summary}", 2))
    print(_wrap(f"Cumulative dose: {protocol.regimen.cumulative}", 2))
    print(_wrap(f"Regimen source: {'; '.join(str(c) for c in protocol.regimen.citations)}", 2))
    print(_wrap(f"Weight: {protocol.weight_basis}", 2))
    print(f"\nStatus: {order_set.status}")
    for reason in order_set.reasons:
        print(_wrap(f"! {reason}", 2))
    print(f"\nDose: {order_set.dose_summary}")
    for note in order_set.notes:
        print(_wrap(f"- {note}", 2))
    print("\nDraft orders:")
    for resource in order_set.resources:
        print(_wrap(f"* {_describe(resource)}", 2))
    print("\nThe clinician must also see:")
    for instruction in order_set.instructions:
        print(_wrap(f"* {instruction.text} [{instruction.citation}]", 2))
    return 0


def _describe(resource: dict[str, Any]) -> str:
    if resource["resourceType"] == "MedicationRequest":
        dosage = resource["dosageInstruction"][0]
        return f"MedicationRequest: {resource['medicationCodeableConcept']['text']}: {dosage['text']}"
    if resource["resourceType"] == "Task":
        return f"Task: {resource['code']['text']}: {resource['description']}"
    return f"ServiceRequest: {resource['code']['text']} ({resource['occurrenceTiming']['code']['text']})"


def _wrap(text: str, indent: int) -> str:
    pad = " " * indent
    return textwrap.fill(text, WIDTH, initial_indent=pad, subsequent_indent=pad + "  ")


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
