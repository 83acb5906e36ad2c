"""Feedback storage (SQLAlchemy 2.0): cards issued per rule, clinicians' accept/override feedback, and a report.

The database is `DATABASE_URL` when set (e.g. `postgresql+psycopg://user:pw@host/db`, needs the `postgres`
extra), otherwise an SQLite file at `./var/smart_app.sqlite3` (the embedded default, one host). The schema comes
from the Alembic migrations (`smart_app.storage.migrate`): opening a store upgrades it to head unless
`SMART_APP_DATABASE_AUTO_MIGRATE=false`, in which case an old schema is a one-line error. Feedback writes commit
before the call returns, so the feedback endpoint answers 200 only for feedback that is on disk; the service's
card-issued rows go through one bounded writer (`smart_app.storage.writer`). The URL is never logged (it may hold
a password).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, Insert, create_engine, event, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from smart_app.storage import migrate
from smart_app.storage.feedback import FeedbackItem
from smart_app.storage.tables import AnalyticsDropped, CardIssued, FeedbackRow

DEFAULT_SQLITE_PATH = Path("var") / "smart_app.sqlite3"
TOP_REASONS = 3


class StorageConfigError(RuntimeError):
    """The database URL is malformed, its driver is not installed, or its schema is not current (one line)."""


class StorageSettings(BaseSettings):
    """Storage settings from the environment (`SMART_APP_` prefix)."""

    model_config = SettingsConfigDict(env_prefix="SMART_APP_", extra="ignore", frozen=True)

    database_auto_migrate: bool = Field(True, description="upgrade the schema when a store opens the database")
    card_queue_size: int = Field(10_000, gt=0, description="responses whose card-issued rows may wait to be written")
    card_batch_size: int = Field(500, gt=0, description="most responses' rows written in one commit")
    card_commit_interval_s: float = Field(
        0.2, ge=0, le=10, description="how long the writer gathers responses before a commit (0: at once)"
    )


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """One card-issued row: exactly what the table needs, nothing of the request or the card."""

    card_uuid: str
    service_id: str
    rule_id: str
    hook_instance: str | None
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class OverrideReasonCount:
    system: str | None
    code: str | None
    display: str | None
    count: int

    def __str__(self) -> str:
        label = self.display or self.code or "no reason given"
        return f"{label} ({self.count})"


@dataclass(frozen=True, slots=True)
class RuleFeedbackCount:
    """Feedback for one rule id; `rule_id` None collects feedback on cards this service has no record of."""

    rule_id: str | None
    issued: int
    accepted: int
    overridden: int
    top_override_reasons: tuple[OverrideReasonCount, ...]


def resolve_database_url(database_url: str | None = None) -> str:
    """Explicit URL, else `DATABASE_URL`, else the SQLite default; `postgres://` is read as psycopg 3."""
    url = database_url or os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
    for legacy in ("postgres://", "postgresql://"):
        if url.startswith(legacy):
            url = "postgresql+psycopg://" + url[len(legacy) :]
    return url


class FeedbackStore:
    def __init__(self, database_url: str | None = None, *, migrate_schema: bool | None = None) -> None:
        """Open the database; upgrade its schema (default: `SMART_APP_DATABASE_AUTO_MIGRATE`) or check it."""
        self.engine = open_current_engine(database_url, migrate_schema=migrate_schema)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def record_card_issued(self, service_id: str, card_uuid: str, rule_id: str, hook_instance: str | None) -> None:
        self.record_cards_issued(service_id, hook_instance, {card_uuid: rule_id})

    def record_cards_issued(self, service_id: str, hook_instance: str | None, cards: Mapping[str, str]) -> None:
        """Remember which rule (card topic code) each returned card came from: `cards` maps card uuid -> rule id."""
        now = datetime.now(UTC)
        self.write_issued([IssuedCard(uuid, service_id, rule, hook_instance, now) for uuid, rule in cards.items()])

    def write_issued(self, rows: Sequence[IssuedCard], *, dropped: int = 0) -> None:
        """Card-issued rows (and a count of rows dropped before them) in one transaction; a card already
        recorded (a retried response) keeps its one row."""
        if not rows and not dropped:
            return
        with self._sessions.begin() as session:
            if rows:
                values = [
                    {
                        "card_uuid": r.card_uuid,
                        "service_id": r.service_id,
                        "rule_id": r.rule_id,
                        "hook_instance": r.hook_instance,
                        "issued_at": r.issued_at,
                    }
                    for r in rows
                ]
                session.execute(self._insert_new_cards(), values)
            if dropped:
                session.add(AnalyticsDropped(recorded_at=datetime.now(UTC), rows_dropped=dropped))

    def warm(self) -> None:
        """Open a pooled connection and compile the card-issued insert, writing nothing (rolled back), so that the
        first response's rows cost what later ones do (the first compile took the serving worker's CPU)."""
        row = {"card_uuid": "warm-up", "service_id": "warm-up", "rule_id": "warm-up", "hook_instance": None}
        with self._sessions() as session:
            session.execute(self._insert_new_cards(), [{**row, "issued_at": datetime.now(UTC)}])
            session.rollback()

    def ping(self) -> None:
        """One `SELECT 1` on a pooled connection (the health check): raises the driver's error when it fails."""
        with self.engine.connect() as connection:
            connection.execute(select(1))

    def dropped_issued_rows(self) -> int:
        """Card-issued rows the service dropped under load (its writer queue was full): the report's issued counts
        are lower than the truth by at most this many."""
        with self._sessions() as session:
            return int(session.scalar(select(func.coalesce(func.sum(AnalyticsDropped.rows_dropped), 0))) or 0)

    def _insert_new_cards(self) -> Insert:
        match self.engine.dialect.name:
            case "postgresql":
                return postgresql.insert(CardIssued).on_conflict_do_nothing(index_elements=["card_uuid"])
            case "sqlite":
                return sqlite.insert(CardIssued).on_conflict_do_nothing(index_elements=["card_uuid"])
            case _:  # pragma: no cover - the product runs on SQLite or PostgreSQL
                return insert(CardIssued).prefix_with("IGNORE")

    def record(self, service_id: str, feedback: Sequence[FeedbackItem]) -> int:
        """Store feedback in one transaction, committed before returning; returns the number of new rows.

        A client may resend the same feedback (spec: "may receive feedback for the same card ... multiple
        times"); an item already stored (same card, outcome and outcomeTimestamp) is not counted twice.
        """
        try:
            return self._record_once(service_id, feedback)
        except IntegrityError:  # a concurrent request stored the same item first; the retry skips it
            return self._record_once(service_id, feedback)

    def report(self) -> list[RuleFeedbackCount]:
        """Issued/accepted/overridden counts per rule id, with the most frequent override reasons."""
        with self._sessions() as session:
            counts = session.execute(select(CardIssued.rule_id, func.count()).group_by(CardIssued.rule_id))
            issued = {rule_id: count for rule_id, count in counts}
            # The rule is looked up when feedback is stored; feedback that arrived before its card's row was written
            # (another replica's writer, or this one's queue) finds it here.
            rows = session.execute(
                select(
                    func.coalesce(FeedbackRow.rule_id, CardIssued.rule_id),
                    FeedbackRow.outcome,
                    FeedbackRow.override_reason_system,
                    FeedbackRow.override_reason_code,
                    FeedbackRow.override_reason_display,
                ).outerjoin(CardIssued, CardIssued.card_uuid == FeedbackRow.card_uuid)
            )
            outcomes: Counter[tuple[str | None, str]] = Counter()
            reasons: dict[str | None, Counter[tuple[str | None, str | None, str | None]]] = {}
            for rule_id, outcome, system, code, display in rows:
                outcomes[rule_id, outcome] += 1
                if outcome == "overridden":
                    reasons.setdefault(rule_id, Counter())[system, code, display] += 1
        rule_ids: set[str | None] = {*issued, *(rule for rule, _ in outcomes)}
        return [
            RuleFeedbackCount(
                rule_id=rule_id,
                issued=issued.get(rule_id, 0) if rule_id is not None else 0,
                accepted=outcomes[rule_id, "accepted"],
                overridden=outcomes[rule_id, "overridden"],
                top_override_reasons=tuple(
                    OverrideReasonCount(system, code, display, count)
                    for (system, code, display), count in reasons.get(rule_id, Counter()).most_common(TOP_REASONS)
                ),
            )
            for rule_id in sorted(rule_ids, key=lambda r: (r is None, r or ""))
        ]

    def _record_once(self, service_id: str, feedback: Sequence[FeedbackItem]) -> int:
        received_at = datetime.now(UTC)
        stored = 0
        with self._sessions.begin() as session:
            rules = _rules_of(session, {item.card for item in feedback})
            seen: set[tuple[str, str, datetime]] = set()
            for item in feedback:
                identity = (item.card, item.outcome, item.outcomeTimestamp)
                if identity in seen or _already_stored(session, item):
                    continue
                seen.add(identity)
                session.add(_row(service_id, item, rules.get(item.card), received_at))
                stored += 1
        return stored


def open_current_engine(database_url: str | None, *, migrate_schema: bool | None = None) -> Engine:
    """The database (`resolve_database_url`) with its schema at head: upgraded (default:
    `SMART_APP_DATABASE_AUTO_MIGRATE`) or checked; StorageConfigError in one line when it cannot be."""
    engine = open_engine(resolve_database_url(database_url))
    if migrate_schema is None:
        migrate_schema = StorageSettings().database_auto_migrate
    try:
        if migrate_schema:
            migrate.upgrade(engine)
        else:
            migrate.require_current(engine)
    except migrate.SchemaNotCurrentError as exc:
        engine.dispose()
        raise StorageConfigError(str(exc)) from exc
    except OperationalError as exc:
        engine.dispose()
        raise StorageConfigError(f"feedback database cannot be opened: {describe_database_error(exc)}") from exc
    return engine


POSTGRES_CONNECT_TIMEOUT_S = 5


def open_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageConfigError("database URL is not a valid SQLAlchemy URL") from exc
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The service writes from a threadpool; SQLite waits up to 15 s for a concurrent writer.
        connect_args = {"check_same_thread": False, "timeout": 15}
    elif parsed.get_backend_name() == "postgresql":
        # An unreachable host fails a feedback POST (503) and the health check in seconds, not after TCP's minutes.
        connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        if parsed.get_backend_name() == "postgresql":
            raise StorageConfigError(
                "the database URL names PostgreSQL but its driver (psycopg) is not installed: "
                "pip install 'smart-app[postgres]'"
            ) from exc
        raise StorageConfigError(f"no driver for database backend {parsed.get_backend_name()!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_durable)
    return engine


def _sqlite_durable(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the report read while the service writes; synchronous=FULL makes each commit survive a power loss.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _rules_of(session: Session, card_uuids: set[str]) -> dict[str, str]:
    if not card_uuids:
        return {}
    query = select(CardIssued.card_uuid, CardIssued.rule_id).where(CardIssued.card_uuid.in_(card_uuids))
    return {card_uuid: rule_id for card_uuid, rule_id in session.execute(query)}


def _already_stored(session: Session, item: FeedbackItem) -> bool:
    query = select(FeedbackRow.id).where(
        FeedbackRow.card_uuid == item.card,
        FeedbackRow.outcome == item.outcome,
        FeedbackRow.outcome_timestamp == item.outcomeTimestamp,
    )
    return session.execute(query.limit(1)).first() is not None


def _row(service_id: str, item: FeedbackItem, rule_id: str | None, received_at: datetime) -> FeedbackRow:
    override = item.overrideReason
    reason = override.reason if override else None
    return FeedbackRow(
        received_at=received_at,
        service_id=service_id,
        card_uuid=item.card,
        rule_id=rule_id,
        outcome=item.outcome,
        accepted_suggestions=[s.id for s in item.acceptedSuggestions],
        override_reason_system=reason.system if reason else None,
        override_reason_code=reason.code if reason else None,
        override_reason_display=reason.display if reason else None,
        user_comment=override.userComment if override else None,
        outcome_timestamp=item.outcomeTimestamp,
    )


def describe_database_error(exc: Exception) -> str:
    """One line from the driver's message (which names host and user at most, never the password)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0][:200]}" if lines else type(cause).__name__
