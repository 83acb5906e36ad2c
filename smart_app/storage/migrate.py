"""Schema migrations (Alembic) of the feedback database: upgrade to the shipped head, or check it is there.

`smart-app serve` upgrades at start-up, once, before its workers start (`SMART_APP_DATABASE_AUTO_MIGRATE`, default
true); `smart-app db upgrade` does the same as a release step, after which services may run with auto-migrate
off: each then checks the schema is at head and refuses to start with a one-line message when it is not.

Several processes may start at once: on PostgreSQL an advisory lock (held to the end of the migration transaction;
PostgreSQL DDL is transactional) and on SQLite a lock file beside the database let one migrate while the others
wait and then find nothing to do. A database made by create_all before migrations existed (tables, no
`alembic_version`) is stamped at revision 0001, the schema it has, and upgraded from there.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"  # the schema create_all made before migrations
_PG_LOCK_ID = 0x5A4D_4150  # any constant shared by every process of the product ("SMAP")


class SchemaNotCurrentError(RuntimeError):
    """The database schema is older (or newer) than this version of the product expects."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply every migration up to `revision`; returns the revisions before and after (equal: nothing to do)."""
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})")
        before = MigrationContext.configure(connection).get_current_revision()
        config = alembic_config(connection)
        if before is None and inspect(connection).has_table("cds_card_issued"):
            command.stamp(config, BASELINE)
            log.warning("feedback database had no migration history: stamped at %s (its schema)", BASELINE)
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("feedback database schema upgraded from %s to %s", before or "empty", after)
    return before, after


def require_current(engine: Engine) -> None:
    """Raise SchemaNotCurrentError unless the database is at the shipped head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"feedback database schema is at {current or 'no revision'}, this version needs {head}: "
            "run `smart-app db upgrade` (or set SMART_APP_DATABASE_AUTO_MIGRATE=true)"
        )


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # PostgreSQL locks inside its transaction; an in-memory SQLite has one connection
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
