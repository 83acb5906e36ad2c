"""The one bounded writer of card-issued rows: batched commits, a full queue drops and counts, close flushes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from smart_app.cli import main
from smart_app.storage import FeedbackRequest, FeedbackStore
from smart_app.storage.store import IssuedCard
from smart_app.storage.writer import CardIssuedWriter

SERVICE = "opioid-mme-order-sign"


def _store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(f"sqlite:///{tmp_path / 'writer.sqlite3'}")


def _issued(store: FeedbackStore) -> dict[str | None, int]:
    return {row.rule_id: row.issued for row in store.report()}


class _GatedStore(FeedbackStore):
    """A real store whose writes wait for `gate`, to hold the writer busy while the queue fills."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def write_issued(self, rows: Sequence[IssuedCard], *, dropped: int = 0) -> None:
        self.entered.set()
        self.gate.wait(30)
        self.batches.append(len(rows))
        super().write_issued(rows, dropped=dropped)


def test_rows_are_written_in_batches_by_one_thread(tmp_path: Path) -> None:
    store = _GatedStore(f"sqlite:///{tmp_path / 'batches.sqlite3'}")
    writer = CardIssuedWriter(store, queue_size=1000, batch_size=100)
    threads_before = threading.active_count()
    writer.submit(SERVICE, "hook-0", {"card-0": "MME"})
    assert store.entered.wait(10)  # the writer holds the first response while 250 more arrive
    for n in range(1, 251):
        assert writer.submit(SERVICE, f"hook-{n}", {f"card-{n}-a": "MME", f"card-{n}-b": "MME-HIGH"})
    assert threading.active_count() == threads_before  # no thread per response
    store.gate.set()
    assert writer.flush(10)
    stats = writer.close()
    assert (stats.written, stats.dropped) == (501, 0)
    assert store.batches == [1, 200, 200, 100]  # batch_size responses per commit, not one commit per response
    assert _issued(store) == {"MME": 251, "MME-HIGH": 250}


def test_a_full_queue_drops_and_counts_analytics_rows_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    store = _GatedStore(url)
    writer = CardIssuedWriter(store, queue_size=2, batch_size=10)
    writer.submit(SERVICE, "h0", {"c0": "MME"})
    assert store.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="smart_app.storage.writer"):
        accepted = [writer.submit(SERVICE, f"h{n}", {f"c{n}": "MME", f"c{n}-x": "MME-HIGH"}) for n in range(1, 6)]
    assert accepted == [True, True, False, False, False]  # the queue holds 2 responses; 3 dropped, not blocked
    assert "queue full, 2 analytics rows dropped so far" in caplog.text  # logged at the first drop
    assert writer.stats().dropped == 6
    # Feedback is not written through the queue: it is stored at once even while the writer is stuck.
    feedback = FeedbackRequest.model_validate(
        {"feedback": [{"card": "c5", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00Z"}]}
    )
    assert FeedbackStore(url).record(SERVICE, feedback.feedback) == 1
    store.gate.set()
    writer.close()
    assert store.dropped_issued_rows() == 6
    assert main(["feedback-report", "--database-url", url]) == 0
    assert "6 card-issued rows were dropped under load" in capsys.readouterr().out


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    store = _store(tmp_path)
    writer = CardIssuedWriter(store, queue_size=100, batch_size=7)
    for n in range(40):
        writer.submit(SERVICE, f"h{n}", {f"c{n}": "KET-BP-01"})
    writer.close()
    assert _issued(FeedbackStore(f"sqlite:///{tmp_path / 'writer.sqlite3'}")) == {"KET-BP-01": 40}
    assert writer.submit(SERVICE, "late", {"late": "KET-BP-01"}) is False  # after close: counted as dropped


def test_a_failed_write_is_counted_and_the_writer_goes_on(tmp_path: Path) -> None:
    class Flaky(FeedbackStore):
        failures = 1

        def write_issued(self, rows: Sequence[IssuedCard], *, dropped: int = 0) -> None:
            if self.failures:
                self.failures -= 1
                raise OSError("disk full")
            super().write_issued(rows, dropped=dropped)

    store = Flaky(f"sqlite:///{tmp_path / 'flaky.sqlite3'}")
    writer = CardIssuedWriter(store, queue_size=10, batch_size=10)
    writer.submit(SERVICE, "h1", {"lost": "MME"})
    assert writer.flush(10)
    writer.submit(SERVICE, "h2", {"kept": "MME"})
    stats = writer.close()
    assert (stats.written, stats.dropped) == (1, 1)
    assert _issued(store) == {"MME": 1} and store.dropped_issued_rows() == 1


def test_feedback_that_arrives_before_its_card_row_still_counts_for_the_rule(tmp_path: Path) -> None:
    # Another replica's writer may not have written the card yet when the feedback reaches this one.
    store = _store(tmp_path)
    feedback = FeedbackRequest.model_validate(
        {"feedback": [{"card": "early", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00Z"}]}
    )
    store.record(SERVICE, feedback.feedback)
    store.record_cards_issued(SERVICE, "hook", {"early": "MME-HIGH"})
    [row] = store.report()
    assert (row.rule_id, row.issued, row.overridden) == ("MME-HIGH", 1, 1)


def test_responses_within_the_commit_interval_share_one_commit(tmp_path: Path) -> None:
    """Under load a commit per call took its CPU from the calls: the writer gathers for `commit_interval_s`."""
    store = _GatedStore(f"sqlite:///{tmp_path / 'interval.sqlite3'}")
    store.gate.set()
    writer = CardIssuedWriter(store, queue_size=100, batch_size=100, commit_interval_s=2.0)
    for n in range(5):
        assert writer.submit(SERVICE, f"hook-{n}", {f"card-{n}": "MME"})
    assert writer.flush(10)  # within the interval and a moment: rows are late by at most the interval
    writer.close()
    assert store.batches == [5]
    assert _issued(store) == {"MME": 5}
