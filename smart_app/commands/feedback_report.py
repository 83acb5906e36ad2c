"""`smart-app feedback-report`: cards issued, accepted and overridden per rule id, from the feedback database."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from smart_app.storage import RuleFeedbackCount

NO_RULE = "(card not issued by this service)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "feedback-report",
        help="accept/override counts per rule from CDS Hooks feedback",
        description="Counts of CDS cards issued, accepted and overridden per rule id, with top override reasons.",
    )
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy database URL (default: $DATABASE_URL, else sqlite file ./var/smart_app.sqlite3)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from smart_app.storage import FeedbackStore, StorageConfigError

    try:
        store = FeedbackStore(args.database_url)
    except StorageConfigError as exc:
        print(f"smart-app: error: {exc}", file=sys.stderr)
        return 2
    try:
        rows = store.report()
        dropped = store.dropped_issued_rows()
    finally:
        store.close()
    if args.json:
        sys.stdout.write(orjson.dumps([_as_json(row) for row in rows], option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not rows:
        print("No cards issued and no feedback recorded yet.")
    else:
        print(_table(rows))
    if dropped:
        print(
            f"Note: {dropped} card-issued rows were dropped under load (the service's writer queue was full), "
            "so issued counts are a lower bound; feedback is never dropped."
        )
    return 0


def _as_json(row: RuleFeedbackCount) -> dict[str, Any]:
    return {
        "rule_id": row.rule_id,
        "issued": row.issued,
        "accepted": row.accepted,
        "overridden": row.overridden,
        "top_override_reasons": [
            {"system": r.system, "code": r.code, "display": r.display, "count": r.count}
            for r in row.top_override_reasons
        ],
    }


def _table(rows: list[RuleFeedbackCount]) -> str:
    header = ("rule id", "issued", "accepted", "overridden", "top override reasons")
    body = [
        (
            row.rule_id or NO_RULE,
            str(row.issued),
            str(row.accepted),
            str(row.overridden),
            "; ".join(str(r) for r in row.top_override_reasons) or "-",
        )
        for row in rows
    ]
    # Rule id left-aligned, counts right-aligned, reasons last and unpadded.
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header) - 1)]
    lines = []
    for line in (header, *body):
        cells = [line[0].ljust(widths[0])] + [line[i].rjust(widths[i]) for i in range(1, len(widths))]
        lines.append("  ".join([*cells, line[-1]]))
    return "\n".join(lines)
