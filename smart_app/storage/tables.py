"""Database tables. Times are stored in UTC.

The schema is created and changed only by the Alembic migrations in `smart_app/storage/migrations/versions/`
(`smart-app db upgrade`, or at service start-up); a change here needs a new revision there
(tests/infra/test_migrations.py checks that the migrated schema equals these models).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CardIssued(Base):
    """A card the service returned, with the rule (card topic code) that produced it."""

    __tablename__ = "cds_card_issued"

    card_uuid: Mapped[str] = mapped_column(String(256), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128), index=True)
    hook_instance: Mapped[str | None] = mapped_column(String(256))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackRow(Base):
    """One feedback item as received; `rule_id` is looked up from `cds_card_issued` when it is stored."""

    __tablename__ = "cds_feedback"
    __table_args__ = (
        UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="uq_feedback_card_outcome_time"),
        Index("ix_feedback_rule_outcome", "rule_id", "outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service_id: Mapped[str] = mapped_column(String(128))
    card_uuid: Mapped[str] = mapped_column(String(256))
    rule_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[Any]] = mapped_column(JSON)
    override_reason_system: Mapped[str | None] = mapped_column(String(256))
    override_reason_code: Mapped[str | None] = mapped_column(String(256))
    override_reason_display: Mapped[str | None] = mapped_column(Text)
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AnalyticsDropped(Base):
    """Card-issued rows a service process dropped because its bounded writer queue was full (one row per batch).

    The report adds them up, so it can say that its issued counts are a lower bound.
    """

    __tablename__ = "cds_analytics_dropped"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows_dropped: Mapped[int] = mapped_column(Integer)


class ProtocolWrite(Base):
    """A draft order set the SMART app's protocol builder wrote, once per form (the form's one-time nonce is the
    key): the audit of who wrote what for which patient, and of every protocol ordered although marked "not
    recommended", with the clinician's written reason.

    `state` is "writing" from the moment the form is claimed until every create has answered, then "written" (at
    least the ketamine order is in the EHR) or "failed" (nothing was written). `written` lists the created
    references; `not_written` what was not written and why (no permission, or the EHR refused it).
    """

    __tablename__ = "smart_protocol_write"
    __table_args__ = (
        UniqueConstraint("receipt", name="uq_protocol_write_receipt"),
        Index("ix_protocol_write_patient", "patient", "protocol_id"),
    )

    form_nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    receipt: Mapped[str] = mapped_column(String(64))
    session_key: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the session id, never the id
    patient: Mapped[str] = mapped_column(String(256))
    protocol_id: Mapped[str] = mapped_column(String(128))
    protocol_status: Mapped[str] = mapped_column(String(32))
    status_reasons: Mapped[list[Any]] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    written: Mapped[list[Any]] = mapped_column(JSON)
    not_written: Mapped[list[Any]] = mapped_column(JSON)
    problem: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
