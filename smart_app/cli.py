"""`smart-app` command line: one subcommand per module in `smart_app.commands`.

Each command module exposes `register(subparsers)`, which adds its parser and sets `handler` to a function
`(args) -> int`. Heavy imports (web framework, HTTP client) stay inside the handlers so that start-up is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from smart_app.fhir.bundle import FhirInputError

COMMAND_MODULES: tuple[str, ...] = (
    "smart_app.commands.feedback_report",
    "smart_app.commands.db",
    "smart_app.commands.mme",
    "smart_app.commands.check",
    "smart_app.commands.outcomes_report",
    "smart_app.commands.protocol",
    "smart_app.commands.serve",
    "smart_app.commands.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smart-app",
        description="Ketamine and opioid (MME) clinical decision support: CDS Hooks service and SMART app.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except FhirInputError as exc:
        print(f"smart-app: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
