"""Every cache is bounded in bytes: large unique inputs never grow memory past a cache's cap."""

from __future__ import annotations

import pytest

from smart_app.caching import ENTRY_OVERHEAD, ByteBoundedLRU, ByteBoundedMemo, bounded_cache, size_of
from smart_app.core.mme import products
from smart_app.fhir import lean, record


def test_lru_evicts_by_bytes_and_refuses_oversized_entries() -> None:
    cache: ByteBoundedLRU[str, bytes] = ByteBoundedLRU(100_000, max_entries=10_000, max_entry_bytes=20_000)
    for i in range(1_000):
        cache.put(f"k{i}", b"x" * 9_000, 9_000)
        assert cache.bytes <= 100_000
    assert len(cache) == 100_000 // (9_000 + ENTRY_OVERHEAD)
    assert cache.get("k999") is not None and cache.get("k0") is None  # the oldest went first
    assert not cache.put("huge", b"x", 1_000_000)
    assert cache.get("huge") is None


def test_lru_keeps_recently_used_entries() -> None:
    cache: ByteBoundedLRU[str, int] = ByteBoundedLRU(3 * (10 + ENTRY_OVERHEAD), max_entry_bytes=1_000)
    for key in ("a", "b", "c"):
        cache.put(key, 1, 10)
    cache.get("a")
    cache.put("d", 1, 10)
    assert cache.get("a") == 1 and cache.get("b") is None


def test_memo_forgets_when_full() -> None:
    memo: ByteBoundedMemo[int, str] = ByteBoundedMemo(10_000, max_entry_bytes=2_000)
    for i in range(1_000):
        memo.put(i, "v", 500)
        assert memo.bytes <= 10_000
    memo.put(-1, "too big", 5_000)
    assert memo.get(-1) is None


def test_bounded_cache_decorator_accounts_arguments_and_results() -> None:
    calls = []

    @bounded_cache(50_000, max_entries=1_000)
    def echo(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert echo("a") == "A" and echo("a") == "A" and calls == ["a"]
    for i in range(500):
        echo(f"{i:05d}" * 200)  # 1 kB keys
        assert echo.cache.bytes <= 50_000  # type: ignore[attr-defined]


def test_size_of_counts_texts_in_dataclasses() -> None:
    small = products.OpioidProduct("oxycodone", None, name="x")
    large = products.OpioidProduct("oxycodone", None, name="x" * 100_000)
    assert size_of(large) > size_of(small) + 99_000


@pytest.mark.parametrize("n", [300])
def test_validated_resource_cache_stays_under_its_cap_with_unique_1mb_notes(n: int) -> None:
    """Resources only R4B reads (a primitive extension sends them to the full path) with a unique 1 MB note."""
    record.clear_validation_cache()
    note = "n" * 1_000_000
    for i in range(n):
        raw = {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "_status": {"extension": [{"url": "http://example.org/x", "valueString": "x"}]},
            "code": {"text": "Body weight"},
            "note": [{"text": f"{i} {note}"}],
        }
        record.build_record([raw])
        assert record.validation_cache().bytes <= record.validation_cache().max_bytes
    assert len(record.validation_cache()) == 0  # each entry is over the per-entry bound: none kept
    for i in range(2_000):  # many small unique ones: kept up to the byte cap
        raw = {"resourceType": "Observation", "id": f"s{i}", "status": "final", "_status": {"id": "x"}}
        raw["code"] = {"text": f"weight {i} " + "w" * 10_000}
        record.build_record([raw])
        assert record.validation_cache().bytes <= record.validation_cache().max_bytes
    record.clear_validation_cache()


def test_lean_memos_stay_under_their_caps_with_unique_large_texts() -> None:
    for i in range(3_000):
        raw = {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "code": {"text": f"{i} " + "c" * 3_000},
            "valueQuantity": {"value": i, "unit": "u" * 1_000},
        }
        record.build_record([raw])
        for memo in lean.MEMOS:
            assert memo.bytes <= memo.max_bytes


def test_name_caches_stay_under_their_caps_with_unique_long_names() -> None:
    for i in range(2_000):
        products.parse_name(f"oxycodone {i} MG " + "x" * 380)
        products.opioid_in_words(f"morphine {i} " + "y" * 390)
    for cached in (products._parse_name, products._opioid_in_words_cached, products._identify):
        assert cached.cache.bytes <= cached.cache.max_bytes  # type: ignore[attr-defined]
