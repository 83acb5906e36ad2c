"""`smart-app db upgrade | current`: the feedback database's schema migrations (Alembic, shipped in the package)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "db",
        help="feedback database schema: upgrade to this version, or show the current revision",
        description="Schema migrations of the feedback database ($DATABASE_URL, else ./var/smart_app.sqlite3). "
        "`smart-app serve` also upgrades at start-up unless SMART_APP_DATABASE_AUTO_MIGRATE=false.",
    )
    parser.add_argument("action", choices=("upgrade", "current"), help="upgrade to head, or print the revisions")
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy database URL (default: $DATABASE_URL, else sqlite file ./var/smart_app.sqlite3)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from smart_app.storage import migrate
    from smart_app.storage.store import StorageConfigError, describe_database_error, open_engine, resolve_database_url

    try:
        engine = open_engine(resolve_database_url(args.database_url))
    except StorageConfigError as exc:
        print(f"smart-app db: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "current":
            current, head = migrate.current_revision(engine), migrate.head_revision()
            state = "up to date" if current == head else "needs `smart-app db upgrade`"
            print(f"database revision {current or '(none)'}; this version's head {head}: {state}")
            return 0
        before, after = migrate.upgrade(engine)
    except SQLAlchemyError as exc:  # the database refused or is unreachable: one line, never the URL
        print(f"smart-app db: error: {describe_database_error(exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"database upgraded from {before or '(empty)'} to {after}" if before != after else f"database at {after}")
    return 0
