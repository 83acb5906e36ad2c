"""One bounded writer for the service's "card issued" rows: a single thread, a bounded queue, batched commits.

A service call hands over only what the rows need (service id, hookInstance, issue time, and each card's uuid and
rule id) with `submit()`, which never blocks and never touches the database. The writer thread gathers what arrives
within `commit_interval_s` of the first response (up to `batch_size` responses) and writes it in one transaction,
so under load one commit (one fsync on SQLite) carries many rows, and memory and threads stay flat however many
calls arrive. The interval matters for speed: committing as soon as one response was queued meant a commit per
call under load, and its CPU (SQLAlchemy, the driver) was taken from the calls in the same process.

Policy when the queue is full (the database is slower than the traffic, or down): the new response's rows are
dropped and counted; they are analytics only. The count is logged (at the first drop, then at most once a minute)
and written to `cds_analytics_dropped` with the next batch, so `smart-app feedback-report` can say its issued
counts are a lower bound. Feedback never goes through here: it is written and committed before its 200.
A failed write is counted as dropped the same way. `close()` (at service shutdown) writes what is queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from smart_app.storage.store import FeedbackStore, IssuedCard, StorageSettings

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class _Response:
    service_id: str
    hook_instance: str | None
    issued_at: datetime
    cards: tuple[tuple[str, str], ...]  # (card uuid, rule id)


@dataclass(frozen=True, slots=True)
class WriterStats:
    submitted: int  # rows accepted into the queue
    written: int  # rows committed
    dropped: int  # rows dropped (queue full or write failed)
    commits: int
    queued: int  # responses waiting


_STOP = object()


class CardIssuedWriter:
    def __init__(
        self,
        store: FeedbackStore,
        *,
        queue_size: int | None = None,
        batch_size: int | None = None,
        commit_interval_s: float | None = None,
    ) -> None:
        settings = StorageSettings() if None in (queue_size, batch_size, commit_interval_s) else None
        self._store = store
        self._batch = batch_size or (settings.card_batch_size if settings else 500)
        self._interval = (
            commit_interval_s if commit_interval_s is not None else settings.card_commit_interval_s if settings else 0.2
        )
        self._queue: queue.Queue[_Response | object] = queue.Queue(
            maxsize=queue_size or (settings.card_queue_size if settings else 10_000)
        )
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._submitted = self._written = self._dropped = self._commits = 0
        self._handled = 0  # rows written or dropped by the thread (the flush() watermark)
        self._unreported_drops = 0  # dropped rows not yet counted in the database
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="card-issued-writer", daemon=True)
        self._thread.start()

    def submit(self, service_id: str, hook_instance: str | None, cards: Mapping[str, str]) -> bool:
        """Queue one response's rows (`cards` maps card uuid -> rule id); False when they were dropped."""
        if not cards:
            return True
        item = _Response(service_id, hook_instance, datetime.now(UTC), tuple(cards.items()))
        if not self._closed:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                pass
            else:
                with self._lock:
                    self._submitted += len(item.cards)
                return True
        self._drop(len(item.cards), "queue full" if not self._closed else "writer closed")
        return False

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(self._submitted, self._written, self._dropped, self._commits, self._queue.qsize())

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row submitted so far is written (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._done:
            target = self._submitted
            while self._handled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def close(self, timeout_s: float = 10.0) -> WriterStats:
        """Write what is queued, stop the thread, and log the totals."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                log.error("card-issued writer: queue still full at shutdown; unwritten rows are lost")
            self._thread.join(timeout_s)
        stats = self.stats()
        log.info(
            "card-issued writer: %d rows written in %d commits, %d dropped",
            stats.written,
            stats.commits,
            stats.dropped,
        )
        return stats

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            gathered_until = time.monotonic() + self._interval
            while len(batch) < self._batch:
                wait = gathered_until - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._write([r for r in batch if isinstance(r, _Response)])
        if self._unreported_drops:
            self._write([])

    def _write(self, batch: list[_Response]) -> None:
        rows = [
            IssuedCard(uuid, r.service_id, rule, r.hook_instance, r.issued_at) for r in batch for uuid, rule in r.cards
        ]
        with self._lock:
            dropped_before = self._unreported_drops
        try:
            self._store.write_issued(rows, dropped=dropped_before)
        except Exception as exc:  # the database is down or refused the batch: analytics rows, counted as dropped
            log.error("card-issued writer: %d rows not written (%s)", len(rows), type(exc).__name__)
            with self._done:
                self._handled += len(rows)
                self._done.notify_all()
            self._drop(len(rows), "write failed")
            return
        with self._done:
            self._unreported_drops -= dropped_before
            self._written += len(rows)
            self._handled += len(rows)
            self._commits += 1
            self._done.notify_all()

    def _drop(self, rows: int, why: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._dropped += rows
            self._unreported_drops += rows
            total = self._dropped
            due = now - self._last_drop_log >= DROP_LOG_INTERVAL_S
            if due:
                self._last_drop_log = now
        if due:
            log.warning("card-issued writer: %s, %d analytics rows dropped so far (feedback is unaffected)", why, total)
