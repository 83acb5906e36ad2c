"""Storage and shared-state benchmark: figures only, no pass/fail, a bounded amount of work.

1. The card-issued writer: 20,000 responses (2 cards each) submitted as fast as one thread can, into SQLite
   (synchronous=FULL, the embedded default) and, when a PostgreSQL server can be started, PostgreSQL: submit cost,
   rows written per second, commits, drops, and the writer's RSS growth.
2. Shared state per call: a jti claim (SET NX PX) and a session read, in-process vs a local redis-server.
3. Over HTTP: `smart-app serve` with client JWTs verified against Redis, small opioid order-sign calls at
   concurrency 8 for 1 and 2 workers: requests/s, p50/p99, threads and RSS per worker at the end.

Run: `.venv/bin/python benchmarks/bench_storage.py [--responses N] [--requests N]` (needs redis-server; PostgreSQL
optional). Servers are started on free loopback ports in temporary folders (tests/services.py) and stopped after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from smart_app.storage import FeedbackStore  # noqa: E402
from smart_app.storage.shared import MemoryState, RedisState, SharedState, state_cipher  # noqa: E402
from smart_app.storage.writer import CardIssuedWriter  # noqa: E402


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _threads(pid: int | str = "self") -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def bench_writer(url: str, label: str, responses: int) -> None:
    """Sustained rate (submitted in queue-sized waves, so none is dropped) and a burst of `responses` at once."""
    store = FeedbackStore(url)
    rss_before = _rss_mb()
    items = [
        (f"hook-{n}", {f"{n}-a-{uuid.uuid4()}": "MME", f"{n}-b-{uuid.uuid4()}": "MME-HIGH"}) for n in range(responses)
    ]
    writer = CardIssuedWriter(store)  # the service's defaults: queue 10,000 responses, batches of 500
    wave = 5_000
    start = time.perf_counter()
    for first in range(0, responses, wave):
        for hook, cards in items[first : first + wave]:
            writer.submit("opioid-mme-order-sign", hook, cards)
        writer.flush(120)
    sustained = time.perf_counter() - start
    stats = writer.close()
    print(
        f"  {label:10s} sustained {stats.written / sustained:7.0f} rows/s in {stats.commits} commits "
        f"({stats.written / max(stats.commits, 1):.0f} rows/commit), {stats.dropped} dropped"
    )
    burst = [(f"b{hook}", {f"b{uuid}": rule for uuid, rule in cards.items()}) for hook, cards in items]
    writer = CardIssuedWriter(store)
    start = time.perf_counter()
    for hook, cards in burst:
        writer.submit("opioid-mme-order-sign", hook, cards)
    submitted = time.perf_counter() - start
    writer.flush(120)
    stats = writer.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  {label:10s} burst of {responses} responses in {submitted * 1000:.0f} ms "
        f"({submitted / responses * 1e6:.1f} us each, never blocking): {stats.written} rows written, "
        f"{stats.dropped} dropped (queue full); RSS +{_rss_mb() - rss_before:.0f} MB, peak {peak:.0f} MB"
    )
    store.close()


async def _state_ops(state: SharedState, n: int) -> str:
    claims, gets = [], []
    await state.put("bench-session", state.seal(b"x" * 1500), 3600)
    for i in range(n):
        t = time.perf_counter()
        await state.claim(f"bench-jti-{uuid.uuid4()}-{i}", 300)
        claims.append(time.perf_counter() - t)
        t = time.perf_counter()
        sealed = await state.get("bench-session")
        assert sealed is not None and state.unseal(sealed) is not None
        gets.append(time.perf_counter() - t)
    await state.aclose()

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1e6

    return (
        f"jti claim p50 {p(claims, 50):5.0f} us p99 {p(claims, 99):5.0f} us; "
        f"session read+decrypt p50 {p(gets, 50):5.0f} us p99 {p(gets, 99):5.0f} us"
    )


def bench_state(redis_url: str, n: int) -> None:
    cipher = state_cipher(SecretStr(Fernet.generate_key().decode()))
    assert cipher is not None
    print(f"  in-process  {asyncio.run(_state_ops(MemoryState(), n))}")

    async def on_redis() -> str:
        return await _state_ops(RedisState.from_url(redis_url, cipher, prefix="bench:"), n)

    print(f"  redis       {asyncio.run(on_redis())}")


def _mme_call() -> bytes:
    from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
    from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
    from tests import fhir_factory as f
    from tests.cds_hooks.support import oxycodone_draft

    patient = f.patient(id="bench")
    body = hook_request(
        "order-sign",
        patient_id="bench",
        drafts=[oxycodone_draft(4, 4)],
        prefetch=prefetch_for([patient], OPIOID_QUERIES),
    )
    return json.dumps(body).encode()


async def _load(base: str, body: bytes, n: int, concurrency: int, key: Any) -> tuple[float, list[float]]:
    from joserfc import jwt

    endpoint = "/cds-services/opioid-mme-order-sign"
    latencies: list[float] = []
    now = int(time.time())
    claims = {"iss": "https://ehr.example/", "aud": "https://cds.example" + endpoint, "iat": now, "exp": now + 600}
    header = {"alg": "ES384", "kid": "k1", "typ": "JWT"}
    tokens = [  # signed before the clock starts: the figures are the server's, not the load generator's
        jwt.encode(header, {**claims, "jti": str(uuid.uuid4())}, key, algorithms=["ES384"])
        for _ in range(n + 5 * concurrency)
    ]

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=concurrency)) as c:

        async def worker(count: int) -> None:
            for _ in range(count):
                headers = {"Authorization": f"Bearer {tokens.pop()}", "Content-Type": "application/json"}
                t = time.perf_counter()
                response = await c.post(endpoint, content=body, headers=headers)
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code

        await asyncio.gather(*(worker(5) for _ in range(concurrency)))
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
        return time.perf_counter() - start, latencies


def bench_http(redis_url: str, requests: int, workdir: Path) -> None:
    from joserfc.jwk import ECKey

    from tests.services import running_serve

    key = ECKey.generate_key("P-384", parameters={"kid": "k1"})
    env = {
        "SMART_APP_REDIS_URL": redis_url,
        "SMART_APP_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:",
        "SMART_APP_STATE_KEY": Fernet.generate_key().decode(),
        "SMART_APP_PUBLIC_BASE_URL": "https://cds.example",
        "SMART_APP_CDS_TRUSTED_ISSUERS": json.dumps(
            [{"iss": "https://ehr.example/", "jwks": {"keys": [key.as_dict(private=False)]}}]
        ),
    }
    body = _mme_call()
    for workers in (1, 2):
        env["DATABASE_URL"] = f"sqlite:///{workdir / f'http-{workers}.sqlite3'}"
        with running_serve(env, "--workers", str(workers), workdir=workdir) as serve:
            wall, latencies = asyncio.run(_load(serve.base_url, body, requests, 8, key))
            qs = statistics.quantiles(latencies, n=100)
            children = _children(serve.process.pid)
            pids = children or [serve.process.pid]
            figures = ", ".join(f"{_rss_mb(p):.0f} MB/{_threads(p)} threads" for p in pids)
            print(
                f"  {workers} worker(s): {len(latencies) / wall:6.0f} req/s, p50 {qs[49] * 1000:5.1f} ms, "
                f"p99 {qs[98] * 1000:5.1f} ms; per worker after {requests} calls: {figures}"
            )


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    # uvicorn's supervisor spawns the workers with multiprocessing (skip its resource tracker)
    return [c for c in found if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]


@contextlib.contextmanager
def _maybe_postgres() -> Iterator[str | None]:
    try:
        from tests.services import running_postgres

        with running_postgres() as server:
            yield server.create_database()
    except BaseException as exc:  # pytest.skip outside pytest, or no server: PostgreSQL is optional here
        if isinstance(exc, KeyboardInterrupt):
            raise
        yield None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=20_000, help="responses submitted to the writer")
    parser.add_argument("--requests", type=int, default=2_000, help="HTTP calls per worker count")
    args = parser.parse_args()
    from tests.services import running_redis

    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp, running_redis() as redis_url:
        workdir = Path(tmp)
        print(f"card-issued writer, {args.responses} responses x 2 cards:")
        bench_writer(f"sqlite:///{workdir / 'writer.sqlite3'}", "sqlite", args.responses)
        with _maybe_postgres() as pg_url:
            if pg_url:
                bench_writer(pg_url, "postgresql", args.responses)
            else:
                print("  postgresql (no server could be started; skipped)")
        print("shared state per call (2,000 operations):")
        bench_state(redis_url, 2000)
        print(f"over HTTP, JWT verified, jti in Redis, {args.requests} opioid order-sign calls at concurrency 8:")
        bench_http(redis_url, args.requests, workdir)


if __name__ == "__main__":
    main()
