"""Schema migrations (Alembic, shipped in the package) on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from smart_app.cli import main
from smart_app.storage import FeedbackStore, StorageConfigError, migrate
from smart_app.storage.store import open_engine
from smart_app.storage.tables import Base

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def test_the_migrated_schema_is_the_models(empty_database: str) -> None:
    engine = open_engine(empty_database)
    try:
        before, after = migrate.upgrade(engine)
        assert (before, after) == (None, migrate.head_revision())
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
        assert migrate.upgrade(engine) == (after, after)  # a second run has nothing to do
    finally:
        engine.dispose()


def test_every_revision_downgrades_and_upgrades_again(empty_database: str) -> None:
    engine = open_engine(empty_database)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            from alembic import command

            command.downgrade(migrate.alembic_config(connection), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        migrate.upgrade(engine)
        tables = {"cds_card_issued", "cds_feedback", "cds_analytics_dropped", "smart_protocol_write"}
        assert tables <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_database_made_by_create_all_is_stamped_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    legacy = create_engine(url)
    legacy_tables = [Base.metadata.tables["cds_card_issued"], Base.metadata.tables["cds_feedback"]]
    Base.metadata.create_all(legacy, tables=legacy_tables)  # what the service did before migrations
    legacy.dispose()
    store = FeedbackStore(url)
    store.record_cards_issued("svc", "hook", {"c1": "CI-CV"})
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    assert [row.rule_id for row in store.report()] == ["CI-CV"]


def test_with_auto_migrate_off_an_old_schema_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMART_APP_DATABASE_AUTO_MIGRATE", "false")
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    needs = rf"needs {migrate.head_revision()}: run `smart-app db upgrade`"
    with pytest.raises(StorageConfigError, match=needs) as raised:
        FeedbackStore(url)
    assert "\n" not in str(raised.value)
    assert main(["db", "upgrade", "--database-url", url]) == 0
    FeedbackStore(url).close()  # now current: opens without migrating


def test_db_command_reports_and_upgrades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["db", "current", "--database-url", url]) == 0
    assert "needs `smart-app db upgrade`" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert f"upgraded from (empty) to {migrate.head_revision()}" in capsys.readouterr().out
    assert main(["db", "current", "--database-url", url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_processes_starting_together_migrate_once(empty_database: str) -> None:
    # Replicas of one deployment may start at the same moment on an empty database: every one must come up.
    script = "import sys; from smart_app.storage import FeedbackStore; FeedbackStore(sys.argv[1]).close()"
    processes = [subprocess.Popen([sys.executable, "-c", script, empty_database]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    engine = open_engine(empty_database)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_missing_postgres_driver_is_one_line_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    with pytest.raises(
        StorageConfigError, match=r"^the database URL names PostgreSQL but its driver \(psycopg\) is not installed"
    ):
        FeedbackStore("postgresql+psycopg://u:p@127.0.0.1:5432/cds")
    assert main(["feedback-report", "--database-url", "postgresql://u:p@127.0.0.1:5432/cds"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'smart-app[postgres]'" in err and "u:p" not in err
