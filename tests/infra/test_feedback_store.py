"""Feedback storage: validation of the CDS Hooks feedback body, durable writes, and the per-rule report, on SQLite
and on a real PostgreSQL server."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from smart_app.cli import main
from smart_app.storage import FeedbackRequest, FeedbackStore, StorageConfigError
from smart_app.storage.store import resolve_database_url

SERVICE = "ketamine-order-select"
REASON_SYSTEM = "https://cds.example.org/override-reason"


def accepted(card: str, when: str = "2026-11-21T10:05:31Z") -> dict[str, Any]:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": f"sugg-{card}"}],
        "outcomeTimestamp": when,
    }


def overridden(card: str, reason: str | None = None, when: str = "2026-11-21T10:06:00Z") -> dict[str, Any]:
    item: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": when}
    if reason:
        item["overrideReason"] = {
            "reason": {"system": REASON_SYSTEM, "code": reason, "display": reason.replace("-", " ")},
            "userComment": "Discussed with the pain team.",
        }
    return item


def parse(*items: dict[str, Any]) -> FeedbackRequest:
    return FeedbackRequest.model_validate({"feedback": list(items)})


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test on the embedded default (an SQLite file) and on a real PostgreSQL server (tests/services.py)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


def seeded_store(url: str) -> FeedbackStore:
    store = FeedbackStore(url)
    store.record_cards_issued(SERVICE, "hook-1", {"c1": "KET-BP-01", "c2": "KET-BP-01", "c3": "KET-BP-01"})
    store.record_card_issued(SERVICE, "c4", "MME-CALC-01", "hook-2")
    return store


def test_report_counts_accepted_and_overridden_per_rule(database_url: str) -> None:
    store = seeded_store(database_url)
    stored = store.record(
        SERVICE,
        parse(
            accepted("c1"),
            overridden("c2", "benefit-outweighs-risk"),
            overridden("c3", "benefit-outweighs-risk"),
            overridden("c4"),
        ).feedback,
    )
    assert stored == 4
    report = {row.rule_id: row for row in store.report()}
    bp, mme = report["KET-BP-01"], report["MME-CALC-01"]
    assert (bp.issued, bp.accepted, bp.overridden) == (3, 1, 2)
    assert [(r.code, r.count) for r in bp.top_override_reasons] == [("benefit-outweighs-risk", 2)]
    assert (mme.issued, mme.accepted, mme.overridden) == (1, 0, 1)
    assert [(r.code, r.count) for r in mme.top_override_reasons] == [(None, 1)]


def test_feedback_survives_a_restart(database_url: str) -> None:
    url = database_url
    first = seeded_store(url)
    first.record(SERVICE, parse(accepted("c1")).feedback)
    first.close()
    reopened = FeedbackStore(url)
    [row] = [r for r in reopened.report() if r.rule_id == "KET-BP-01"]
    assert row.accepted == 1 and row.issued == 3


def test_resent_feedback_is_not_counted_twice(database_url: str) -> None:
    store = seeded_store(database_url)
    assert store.record(SERVICE, parse(accepted("c1"), accepted("c1")).feedback) == 1
    assert store.record(SERVICE, parse(accepted("c1")).feedback) == 0
    # A later, distinct interaction with the same card is kept.
    assert store.record(SERVICE, parse(overridden("c1", when="2026-11-21T11:00:00Z")).feedback) == 1
    [row] = [r for r in store.report() if r.rule_id == "KET-BP-01"]
    assert (row.accepted, row.overridden) == (1, 1)


def test_concurrent_writers_lose_nothing(database_url: str) -> None:
    # The service writes from a threadpool: every acknowledged item must be in the database afterwards.
    store = FeedbackStore(database_url)
    store.record_cards_issued(SERVICE, "hook", {f"card-{i}": "KET-BP-01" for i in range(120)})

    def write(worker: int) -> int:
        items = [overridden(f"card-{worker * 15 + n}") for n in range(15)]
        return store.record(SERVICE, parse(*items).feedback)

    with ThreadPoolExecutor(max_workers=8) as pool:
        acknowledged = sum(pool.map(write, range(8)))
    [row] = FeedbackStore(database_url).report()
    assert acknowledged == 120 and row.overridden == 120


def test_feedback_on_an_unknown_card_is_kept_under_no_rule(database_url: str) -> None:
    store = FeedbackStore(database_url)
    store.record(SERVICE, parse(overridden("never-issued")).feedback)
    [row] = store.report()
    assert row.rule_id is None and row.overridden == 1


def test_same_instant_in_another_offset_is_the_same_feedback(database_url: str) -> None:
    store = seeded_store(database_url)
    store.record(SERVICE, parse(accepted("c1", "2026-11-21T10:05:31Z")).feedback)
    assert store.record(SERVICE, parse(accepted("c1", "2026-11-21T11:05:31+01:00")).feedback) == 0


@pytest.mark.parametrize(
    "item",
    [
        {"outcome": "accepted", "acceptedSuggestions": [{"id": "s"}], "outcomeTimestamp": "2026-11-21T10:00:00Z"},
        {"card": "c1", "outcome": "ignored", "outcomeTimestamp": "2026-11-21T10:00:00Z"},
        {"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z"},
        {"card": "c1", "outcome": "overridden"},
        {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00"},
        {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "yesterday"},
        {
            "card": "c1",
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-21T10:00:00Z",
            "overrideReason": {"reason": {"code": "x"}},
        },
        {"card": "", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00Z"},
        {"card": "c1", "outcome": "accepted", "acceptedSuggestions": [{}], "outcomeTimestamp": "2026-11-21T10:00:00Z"},
    ],
    ids=[
        "no-card",
        "unknown-outcome",
        "accepted-without-suggestions",
        "no-timestamp",
        "naive-timestamp",
        "not-a-timestamp",
        "reason-without-system",
        "empty-card",
        "suggestion-without-id",
    ],
)
def test_invalid_feedback_is_rejected(item: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse(item)


def test_body_without_feedback_array_is_rejected() -> None:
    with pytest.raises(ValidationError):
        FeedbackRequest.model_validate({"cards": []})


def test_spec_examples_are_accepted() -> None:
    request = parse(
        accepted("4e0a3a1e-3283-4575-ab82-028d55fe2719", "2021-12-11T10:05:31Z"),
        {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "overridden",
            "overrideReason": {"reason": {"code": "d7ecf885", "system": REASON_SYSTEM}, "userComment": "A comment."},
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        },
    )
    assert [item.outcome for item in request.feedback] == ["accepted", "overridden"]


def test_database_url_comes_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    FeedbackStore().record(SERVICE, parse(overridden("x")).feedback)
    assert (tmp_path / "feedback.sqlite3").exists()
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example.org/cds")
    assert resolve_database_url() == "postgresql+psycopg://u:p@db.example.org/cds"


def test_default_is_an_sqlite_file_under_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    FeedbackStore().record(SERVICE, parse(overridden("x")).feedback)
    assert (tmp_path / "var" / "smart_app.sqlite3").exists()


def test_postgres_without_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    with pytest.raises(StorageConfigError, match=r"smart-app\[postgres\]"):
        FeedbackStore("postgresql+psycopg://u:p@localhost/cds")


def test_feedback_report_cli_table_and_json(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url
    store = seeded_store(url)
    store.record(SERVICE, parse(accepted("c1"), overridden("c2", "patient-declined"), overridden("stray")).feedback)
    store.close()

    assert main(["feedback-report", "--database-url", url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["rule", "id", "issued", "accepted", "overridden", "top", "override", "reasons"]
    assert table[1].split()[:4] == ["KET-BP-01", "3", "1", "1"] and "patient declined (1)" in table[1]
    assert table[2].split() == ["MME-CALC-01", "1", "0", "0", "-"]
    assert table[3].startswith("(card not issued by this service)")

    assert main(["feedback-report", "--database-url", url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {
        "rule_id": "KET-BP-01",
        "issued": 3,
        "accepted": 1,
        "overridden": 1,
        "top_override_reasons": [
            {"system": REASON_SYSTEM, "code": "patient-declined", "display": "patient declined", "count": 1}
        ],
    }


def test_feedback_report_cli_on_empty_database(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback-report", "--database-url", database_url]) == 0
    assert "No cards issued" in capsys.readouterr().out


def test_feedback_report_cli_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback-report", "--database-url", "not a url"]) == 2
    assert "not a valid SQLAlchemy URL" in capsys.readouterr().err


def test_a_card_recorded_twice_keeps_one_row_with_its_rule(database_url: str) -> None:
    store = FeedbackStore(database_url)
    store.record_cards_issued("svc", "hook-1", {"card-a": "CI-CV", "card-b": "PRE-ECG"})
    store.record_cards_issued("svc", "hook-1", {"card-a": "CI-CV"})  # a retried response: no error, no duplicate
    issued = {row.rule_id: row.issued for row in store.report()}
    assert issued == {"CI-CV": 1, "PRE-ECG": 1}
