"""CDS Hooks service benchmark: an order-sign call with a 250-resource (~100 KB) prefetch.

Prints p50/p99 latency and requests/s in-process (ASGI transport, no network: the server-side cost) and over HTTP
against `smart-app serve --no-auth` under uvicorn with 1 and 2 workers, the worker RSS (from /proc), and beside
them a bare `orjson.loads` of the same body as the floor. A bounded number of requests; figures only, no pass/fail.
Targets: p50 <= 5 ms server-side; >= 400 req/s on 2 cores over HTTP; RSS <= 200 MB per worker.
Run: `.venv/bin/python benchmarks/bench_cds.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smart_app.cds_hooks.app import create_app  # noqa: E402
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES  # noqa: E402
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for  # noqa: E402
from smart_app.cds_hooks.settings import ServiceSettings  # noqa: E402
from smart_app.fhir.bundle import iter_resources  # noqa: E402
from smart_app.storage import FeedbackStore  # noqa: E402

SERVICE = "/cds-services/ketamine-safety-order-sign"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def _observation(i: int, patient: str) -> dict[str, Any]:
    code, display, unit, value = [
        ("29463-7", "Body weight", "kg", 70 + i % 5),
        ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 20 + i % 9),
        ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 22 + i % 7),
        ("8867-4", "Heart rate", "/min", 60 + i % 20),
    ][i % 4]
    day = 1 + i % 28
    return {
        "resourceType": "Observation",
        "id": f"bench-obs-{i}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"2026-{1 + i % 10:02d}-{day:02d}T09:00:00Z",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _condition(i: int, patient: str) -> dict[str, Any]:
    code, display = [("128200000", "Complex regional pain syndrome"), ("55822004", "Hyperlipidemia")][i % 2]
    return {
        "resourceType": "Condition",
        "id": f"bench-cond-{i}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient}"},
        "recordedDate": "2025-01-10",
    }


def request_body(n_resources: int = 250) -> bytes:
    """The healthy sample patient padded with realistic observations and conditions to `n_resources`."""
    sample = orjson.loads((ROOT / "smart_app/samples/patients/healthy.json").read_bytes())
    resources = list(iter_resources(sample))
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    i = 0
    while len(resources) < n_resources:
        resources.append(_condition(i, patient) if i % 10 == 0 else _observation(i, patient))
        i += 1
    draft = orjson.loads((ROOT / "smart_app/samples/orders/ketamine-infusion-outpatient.json").read_bytes())
    body = hook_request(
        "order-sign", patient_id=patient, drafts=[draft], prefetch=prefetch_for(resources, KETAMINE_QUERIES)
    )
    return orjson.dumps(body)


def bench_phases(body: bytes, n: int) -> str:
    """Where the server-side time goes: R4B validation into the record, and the safety rules."""
    from smart_app.core.safety import evaluate
    from smart_app.fhir.record import build_record

    request = orjson.loads(body)
    resources = [
        e["resource"]
        for v in request["prefetch"].values()
        if isinstance(v, dict) and v.get("entry")
        for e in v["entry"]
    ] + [v for v in request["prefetch"].values() if isinstance(v, dict) and "entry" not in v]
    drafts = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    record_ms, rules_ms = [], []
    for _ in range(n):
        t = time.perf_counter()
        record = build_record(resources, draft_orders=drafts)
        record_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        evaluate(record, drafts=[m for m in record.medications if m.is_draft_order])
        rules_ms.append((time.perf_counter() - t) * 1000)
    return (
        f"build_record (R4B validation) p50 {statistics.median(record_ms):.1f} ms; "
        f"safety evaluate p50 {statistics.median(rules_ms):.1f} ms"
    )


def _stats(latencies: list[float], wall: float) -> str:
    qs = statistics.quantiles(latencies, n=100)
    return f"p50 {qs[49] * 1000:6.2f} ms   p99 {qs[98] * 1000:6.2f} ms   {len(latencies) / wall:7.0f} req/s"


def bench_orjson(body: bytes, n: int) -> str:
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        orjson.loads(body)
        latencies.append(time.perf_counter() - t)
    return _stats(latencies, time.perf_counter() - start)


async def bench_in_process(body: bytes, n: int, tmp: Path) -> str:
    app = create_app(ServiceSettings(auth_enabled=False), store=FeedbackStore(f"sqlite:///{tmp / 'bench.sqlite3'}"))
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        first = await client.post(SERVICE, content=body, headers=headers)
        assert first.status_code == 200, first.text
        latencies = []
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            await client.post(SERVICE, content=body, headers=headers)
            latencies.append(time.perf_counter() - t)
        return _stats(latencies, time.perf_counter() - start)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_rss_mb(pid: int) -> list[float]:
    """RSS of the server process and its children (uvicorn workers), in MB, from /proc."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    sizes = []
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


async def _load(port: int, body: bytes, n: int, concurrency: int) -> str:
    url = f"http://127.0.0.1:{port}{SERVICE}"
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(count: int) -> None:
            for _ in range(count):
                t = time.perf_counter()
                response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code

        await asyncio.gather(*(worker(3) for _ in range(concurrency)))  # warm-up, not timed
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
        return _stats(latencies, time.perf_counter() - start)


def bench_http(body: bytes, n: int, workers: int, tmp: Path, concurrency: int) -> str:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / f'http-{workers}.sqlite3'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "smart_app.cli", "serve", "--no-auth", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            return "server did not start"
        figures = asyncio.run(_load(port, body, n, concurrency))
        rss = ", ".join(f"{mb:.0f}" for mb in _tree_rss_mb(server.pid))
        return f"{figures}   RSS MB (supervisor, workers): {rss}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


def main() -> None:
    import tempfile

    # `timeout` and Ctrl-C must still stop the uvicorn servers this script started (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement (default 300)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent HTTP clients (default 8)")
    args = parser.parse_args()
    body = request_body()
    n_resources = sum(
        len(v.get("entry", [])) if isinstance(v, dict) and "entry" in v else 1
        for v in orjson.loads(body)["prefetch"].values()
        if v is not None
    )
    print(f"order-sign request: {n_resources} prefetch resources, {len(body) / 1024:.0f} KB, {os.cpu_count()} CPUs")
    print(f"orjson.loads only           {bench_orjson(body, args.requests)}")
    print(f"phases                      {bench_phases(body, max(5, args.requests // 20))}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"in-process (ASGI)           {asyncio.run(bench_in_process(body, args.requests, Path(tmp)))}")
        for workers in (1, 2):
            label = f"HTTP, {workers} worker(s), c={args.concurrency}"
            print(f"{label:<28}{bench_http(body, args.requests, workers, Path(tmp), args.concurrency)}")


if __name__ == "__main__":
    main()
