"""The SMART app's protocol writes (table `smart_protocol_write`): one draft order set per protocol-builder form,
and the audit of who wrote what, including every override of "not recommended" with its written reason.

Idempotency: a form carries a one-time nonce; `claim` inserts the row keyed by it, so of two submissions of the
same form (a double click, a browser resubmit, two workers) exactly one claims it and writes; the others find the
row and show its receipt. The database is the feedback store's (`DATABASE_URL`, else the SQLite default), with
the schema from the Alembic migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from smart_app.storage.store import open_current_engine
from smart_app.storage.tables import ProtocolWrite

WRITING, WRITTEN, FAILED = "writing", "written", "failed"


@dataclass(frozen=True, slots=True)
class WrittenItem:
    """A resource created in the EHR: its reference and what it is."""

    reference: str
    what: str


@dataclass(frozen=True, slots=True)
class NotWrittenItem:
    """A resource of the order set that is not in the EHR, and why."""

    resource_type: str
    what: str
    why: str


@dataclass(frozen=True, slots=True)
class WriteClaim:
    form_nonce: str
    receipt: str
    session_key: str
    patient: str
    protocol_id: str
    protocol_status: str
    status_reasons: tuple[str, ...]
    override_reason: str | None
    requester: str | None


@dataclass(frozen=True, slots=True)
class WriteRecord:
    form_nonce: str
    receipt: str
    session_key: str
    patient: str
    protocol_id: str
    protocol_status: str
    status_reasons: tuple[str, ...]
    override_reason: str | None
    requester: str | None
    state: str
    started_at: datetime
    finished_at: datetime | None
    written: tuple[WrittenItem, ...] = field(default=())
    not_written: tuple[NotWrittenItem, ...] = field(default=())
    problem: str | None = None

    @property
    def overridden(self) -> bool:
        return self.override_reason is not None


def _record(row: ProtocolWrite) -> WriteRecord:
    return WriteRecord(
        form_nonce=row.form_nonce,
        receipt=row.receipt,
        session_key=row.session_key,
        patient=row.patient,
        protocol_id=row.protocol_id,
        protocol_status=row.protocol_status,
        status_reasons=tuple(str(r) for r in row.status_reasons),
        override_reason=row.override_reason,
        requester=row.requester,
        state=row.state,
        started_at=row.started_at,
        finished_at=row.finished_at,
        written=tuple(WrittenItem(str(w["reference"]), str(w["what"])) for w in row.written),
        not_written=tuple(
            NotWrittenItem(str(n["resource_type"]), str(n["what"]), str(n["why"])) for n in row.not_written
        ),
        problem=row.problem,
    )


class ProtocolWriteStore:
    def __init__(self, database_url: str | None = None, *, migrate_schema: bool | None = None) -> None:
        self.engine = open_current_engine(database_url, migrate_schema=migrate_schema)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def claim(self, claim: WriteClaim, *, now: datetime | None = None) -> WriteRecord | None:
        """Claim the form for writing: None when this call claimed it (the caller writes), else the record of the
        submission that claimed it first (nothing must be written again)."""
        row = ProtocolWrite(
            form_nonce=claim.form_nonce,
            receipt=claim.receipt,
            session_key=claim.session_key,
            patient=claim.patient,
            protocol_id=claim.protocol_id,
            protocol_status=claim.protocol_status,
            status_reasons=list(claim.status_reasons),
            override_reason=claim.override_reason,
            requester=claim.requester,
            state=WRITING,
            written=[],
            not_written=[],
            problem=None,
            started_at=now or datetime.now(UTC),
            finished_at=None,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            existing = self.by_nonce(claim.form_nonce)
            assert existing is not None  # the key that conflicted is there
            return existing
        return None

    def finish(
        self,
        form_nonce: str,
        *,
        written: Sequence[WrittenItem],
        not_written: Sequence[NotWrittenItem],
        problem: str | None = None,
    ) -> WriteRecord:
        """Record what the write did: "written" when anything reached the EHR, else "failed"."""
        with self._sessions.begin() as session:
            row = session.get(ProtocolWrite, form_nonce)
            assert row is not None, "finish() of a form that was never claimed"
            row.state = WRITTEN if written else FAILED
            row.written = [{"reference": w.reference, "what": w.what} for w in written]
            row.not_written = [{"resource_type": n.resource_type, "what": n.what, "why": n.why} for n in not_written]
            row.problem = problem
            row.finished_at = datetime.now(UTC)
            return _record(row)

    def by_nonce(self, form_nonce: str) -> WriteRecord | None:
        with self._sessions() as session:
            row = session.get(ProtocolWrite, form_nonce)
            return _record(row) if row is not None else None

    def by_receipt(self, receipt: str, session_key: str) -> WriteRecord | None:
        """The write with this receipt, only for the session that made it."""
        with self._sessions() as session:
            query = select(ProtocolWrite).where(
                ProtocolWrite.receipt == receipt, ProtocolWrite.session_key == session_key
            )
            row = session.scalars(query).first()
            return _record(row) if row is not None else None

    def last_written(self, session_key: str, patient: str, protocol_id: str) -> WriteRecord | None:
        """This session's latest write of this protocol for this patient (to warn before writing it again)."""
        with self._sessions() as session:
            query = (
                select(ProtocolWrite)
                .where(
                    ProtocolWrite.session_key == session_key,
                    ProtocolWrite.patient == patient,
                    ProtocolWrite.protocol_id == protocol_id,
                    ProtocolWrite.state == WRITTEN,
                )
                .order_by(ProtocolWrite.started_at.desc())
            )
            row = session.scalars(query).first()
            return _record(row) if row is not None else None

    def overrides(self) -> list[WriteRecord]:
        """Every write of a protocol ordered although marked against the patient, newest first (the audit)."""
        with self._sessions() as session:
            query = (
                select(ProtocolWrite)
                .where(ProtocolWrite.override_reason.is_not(None))
                .order_by(ProtocolWrite.started_at.desc())
            )
            return [_record(row) for row in session.scalars(query)]


def as_json(record: WriteRecord) -> dict[str, Any]:
    """Plain JSON of a write record (audit exports, tests)."""
    return {
        "receipt": record.receipt,
        "patient": record.patient,
        "protocol_id": record.protocol_id,
        "protocol_status": record.protocol_status,
        "status_reasons": list(record.status_reasons),
        "override_reason": record.override_reason,
        "requester": record.requester,
        "state": record.state,
        "written": [{"reference": w.reference, "what": w.what} for w in record.written],
        "not_written": [{"resource_type": n.resource_type, "what": n.what, "why": n.why} for n in record.not_written],
        "problem": record.problem,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
    }
