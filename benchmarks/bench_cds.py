"""CDS Hooks service benchmark: order-sign with a ~130 KB, 271-resource prefetch, FIRST SIGHT as the headline.

Real traffic is a new patient on every call, so the headline figures are first sight: every request has a new
patient id, new resource ids and a new hookInstance (benchmarks/workload.py), and nothing learnt from earlier
requests about those resources can be reused. The same body repeated is measured beside it.

Prints, with the machine's load average next to every block (other processes on the machine make wall-clock
figures noisy; CPU time per call is printed beside them):
- server-side: the ASGI app called in-process (no HTTP, no client in the process), p50/p99 wall time and CPU time;
- where the time goes: reading the record (lean parse), the safety evaluation, a bare `orjson.loads` floor;
- over HTTP against `smart-app serve --no-auth` (uvicorn) with 1 and 2 workers at concurrency 8: client-side
  p50/p99 and requests/s, from Debian's `wrk` (C, a Lua script makes each body) or, without it, the Python
  generator benchmarks/loadgen.py in its own process; the load generator is named in the output;
- RSS of each worker sampled every 2,000 requests up to 10,000 (flat, or not);
- the first request after start against the median of the next ones.
Figures only, no pass/fail. Targets (issue 12): server p50 <= 6 ms, p99 <= 20 ms; client p50 <= 8 ms; >= 200 req/s
with 2 workers (>= 400 repeated); RSS <= 200 MB per worker after 10,000 requests; first request <= 2x a warm one.
Run: `.venv/bin/python benchmarks/bench_cds.py [--requests N] [--rss-requests N] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.workload import SERVICE, Bodies, wrk_script  # noqa: E402
from smart_app.cds_hooks.app import create_app  # noqa: E402
from smart_app.cds_hooks.services import default_registry  # noqa: E402
from smart_app.cds_hooks.settings import ServiceSettings  # noqa: E402
from smart_app.cds_hooks.warmup import asgi_scope, warm_up  # noqa: E402
from smart_app.config import local_defaults  # noqa: E402
from smart_app.storage import FeedbackStore  # noqa: E402


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"[load {one:.2f} {five:.2f} {fifteen:.2f}, {os.cpu_count()} CPUs]"


def machine_reference(body: bytes) -> str:
    """How fast this machine runs Python and JSON, so figures from different machines can be compared: the
    targets were set on a machine where a bare `orjson.loads` of this body took about 0.5 ms."""
    started = time.thread_time()
    total = 0
    for i in range(2_000_000):
        total += i
    loop_ms = (time.thread_time() - started) * 1000
    loads = []
    for _ in range(30):
        started = time.thread_time()
        orjson.loads(body)
        loads.append((time.thread_time() - started) * 1000)
    return (
        f"machine reference: 2,000,000 Python additions {loop_ms:.0f} ms CPU; orjson.loads of the body "
        f"p50 {statistics.median(loads):.2f} ms CPU"
    )


def _q(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


# --- server-side, in-process ----------------------------------------------------------------------------------


async def _asgi_call(app: Any, body: bytes) -> tuple[int, bytes, float]:
    """One POST through the ASGI app; returns (status, body, time the last body byte was sent)."""
    scope = asgi_scope("POST", SERVICE, body)
    sent = False
    status: list[int] = []
    chunks: list[bytes] = []
    done: list[float] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                done.append(time.perf_counter())

    await app(scope, receive, send)
    return status[0], b"".join(chunks), done[0]


async def bench_in_process(make_body: Callable[[], bytes], n: int, tmp: Path) -> dict[str, float]:
    settings = ServiceSettings(auth_enabled=False)
    app = create_app(settings, store=FeedbackStore(f"sqlite:///{tmp / f'inproc-{uuid.uuid4().hex}.sqlite3'}"))
    await warm_up(default_registry(), settings, local_defaults())  # as `serve` does at start
    bodies = [make_body() for _ in range(n)]
    wall, cpu = [], []
    for body in bodies:
        started, cpu_started = time.perf_counter(), time.thread_time()
        status, out, finished = await _asgi_call(app, body)
        wall.append((finished - started) * 1000)
        cpu.append((time.thread_time() - cpu_started) * 1000)
        assert status == 200, out[:300]
    return {"p50": _q(wall, 50), "p99": _q(wall, 99), "cpu_p50": _q(cpu, 50), "cpu_p99": _q(cpu, 99)}


def varied_bodies() -> Callable[[], bytes]:
    """First-sight bodies whose every dateTime differs from any seen before as well: each from a template written
    minutes and seconds after the last (real patients' records share codes and dose texts, rarely a timestamp)."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    turn = itertools.count(1)
    return lambda: Bodies(now - timedelta(minutes=37 * (k := next(turn)), seconds=k)).first_sight()


def bench_phases(bodies: Bodies, n: int) -> str:
    """Where the server-side time goes, first sight, CPU time: JSON, record, safety evaluation."""
    from datetime import UTC, datetime

    from smart_app.core.safety import evaluate
    from smart_app.core.safety.windows import relevance_for
    from smart_app.fhir.record import build_record

    defaults = local_defaults()

    loads, record_ms, rules_ms = [], [], []
    for _ in range(n):
        body = bodies.first_sight()
        t = time.thread_time()
        request = orjson.loads(body)
        loads.append((time.thread_time() - t) * 1000)
        resources = [
            e["resource"]
            for v in request["prefetch"].values()
            if isinstance(v, dict) and v.get("entry")
            for e in v["entry"]
        ] + [v for v in request["prefetch"].values() if isinstance(v, dict) and "entry" not in v]
        drafts = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
        on = datetime.now(UTC)
        t = time.thread_time()
        record = build_record(resources, draft_orders=drafts, relevant=relevance_for(on, defaults))
        record_ms.append((time.thread_time() - t) * 1000)
        t = time.thread_time()
        evaluate(record, drafts=[m for m in record.medications if m.is_draft_order], on=on, settings=defaults)
        rules_ms.append((time.thread_time() - t) * 1000)
    return (
        f"orjson.loads p50 {statistics.median(loads):.2f} ms; build_record (relevance filter, lean parse) p50 "
        f"{statistics.median(record_ms):.2f} ms; safety evaluate p50 {statistics.median(rules_ms):.2f} ms (CPU)"
    )


# --- over HTTP -------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker_rss_mb(pid: int) -> list[float]:
    """RSS in MB of the uvicorn workers (the server's child processes other than multiprocessing's resource
    tracker), or of the server itself when it has no workers."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    children = [c for c in children if b"resource_tracker" not in _cmdline(c)]
    sizes = []
    for p in children or [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class Server:
    def __init__(self, workers: int, tmp: Path) -> None:
        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / f'http-{workers}-{uuid.uuid4().hex}.sqlite3'}"}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "smart_app.cli", "serve", "--no-auth"),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/cds-services", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("server did not start")
        self.ready_s = time.perf_counter() - self.started

    def rss(self) -> list[float]:
        return _worker_rss_mb(self.process.pid)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=20)


class LoadGenerator:
    """wrk when installed (C, one Lua-built body per request), else benchmarks/loadgen.py; each in its own process."""

    def __init__(self, template: bytes, tmp: Path, force_python: bool = False) -> None:
        self.template_path = tmp / "template.json"
        self.template_path.write_bytes(template)
        self.wrk = None if force_python else shutil.which("wrk")
        self.scripts = {}
        if self.wrk:
            for vary in (True, False):
                path = tmp / f"wrk-{'first' if vary else 'repeat'}.lua"
                path.write_text(wrk_script(self.template_path, vary=vary))
                self.scripts[vary] = path

    @property
    def name(self) -> str:
        return "wrk (Debian, Lua-built bodies)" if self.wrk else "benchmarks/loadgen.py (Python, own process)"

    def run(self, port: int, *, first_sight: bool, concurrency: int, requests: int, seconds: float) -> dict[str, Any]:
        if self.wrk:
            threads = min(2, concurrency)
            out = subprocess.run(
                [
                    *(self.wrk, "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s"),
                    *("--timeout", "10s", "-s", str(self.scripts[first_sight]), f"http://127.0.0.1:{port}"),
                    *("--", uuid.uuid4().hex[:8]),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("WRK "))
            n, micros, p50, p99, socket_errors, status_errors = line.split()[1:]
            return {
                "requests": int(n),
                "seconds": int(micros) / 1e6,
                "p50_ms": float(p50),
                "p99_ms": float(p99),
                "errors": int(socket_errors) + int(status_errors),
            }
        command = [sys.executable, str(ROOT / "benchmarks/loadgen.py"), str(port), str(self.template_path)]
        command += ["--requests", str(requests), "--concurrency", str(concurrency)]
        command += [] if first_sight else ["--repeat"]
        result: dict[str, Any] = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        return result


def _line(result: dict[str, Any]) -> str:
    rate = result["requests"] / result["seconds"]
    errors = f", {result['errors']} errors" if result["errors"] else ""
    return (
        f"client p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  {rate:6.0f} req/s "
        f"({result['requests']} requests{errors})"
    )


def first_request(server: Server, bodies: Bodies, warm_samples: int = 30) -> tuple[float, float]:
    """(first call after start, median of the next `warm_samples`), ms, client-side."""
    url = f"http://127.0.0.1:{server.port}{SERVICE}"
    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=30) as client:
        # Discovery first, as an EHR does, on the connection the calls then use: opening a connection costs a new
        # client ~2 ms against a warm server too, so it is not part of what start-up costs the first call.
        assert client.get(f"http://127.0.0.1:{server.port}/cds-services").status_code == 200
        t = time.perf_counter()
        assert client.post(url, content=bodies.first_sight(), headers=headers).status_code == 200
        first = (time.perf_counter() - t) * 1000
        warm = []
        for _ in range(warm_samples):
            t = time.perf_counter()
            client.post(url, content=bodies.first_sight(), headers=headers)
            warm.append((time.perf_counter() - t) * 1000)
    return first, statistics.median(warm)


def first_requests(server: Server, bodies: Bodies, tmp: Path, starts: int = 3) -> str:
    """The first request after start over `starts` fresh starts (one figure is one sample of a noisy event)."""
    results = [first_request(server, bodies)]
    for _ in range(starts - 1):
        other = Server(1, tmp)
        try:
            results.append(first_request(other, bodies))
        finally:
            other.stop()
    ratios = sorted(first / warm for first, warm in results)
    each = ", ".join(f"{first:.1f} / {warm:.1f} ms" for first, warm in results)
    return (
        f"first request after start / warm (median of the next 30), {starts} starts: {each}; ratio median "
        f"{statistics.median(ratios):.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f}x; target <= 2x; server ready "
        f"{server.ready_s:.1f} s after launch)"
    )


def bench_http(
    gen: LoadGenerator, bodies: Bodies, workers: int, tmp: Path, args: argparse.Namespace
) -> list[tuple[str, str]]:
    lines = []
    server = Server(workers, tmp)
    try:
        if workers == 1:
            lines.append(("first request", first_requests(server, bodies, tmp)))
        seconds = args.seconds
        rate = 100.0
        if workers == 1:
            # One client at a time: the latency a clinician's EHR sees when the service is not queueing calls.
            gen.run(server.port, first_sight=True, concurrency=1, requests=50, seconds=1)
            single = gen.run(server.port, first_sight=True, concurrency=1, requests=args.requests, seconds=seconds)
            lines.append(("HTTP 1w c=1 first sight", f"{_line(single)}  (target p50 <= 8 ms)  {load()}"))
        for first_sight in (True, False):
            gen.run(server.port, first_sight=first_sight, concurrency=args.concurrency, requests=200, seconds=1)
            result = gen.run(
                server.port,
                first_sight=first_sight,
                concurrency=args.concurrency,
                requests=args.requests,
                seconds=seconds,
            )
            if first_sight:
                rate = result["requests"] / result["seconds"]
            label = f"HTTP {workers}w c={args.concurrency} {'first sight' if first_sight else 'repeat'}"
            target = {(2, True): "  (target >= 200 req/s)", (2, False): "  (target >= 400 req/s)"}.get(
                (workers, first_sight), ""
            )
            lines.append((label, f"{_line(result)}{target}  {load()}"))
        if workers == 2 and args.rss_requests:
            done, samples = 0, []
            step = max(1, args.rss_requests // 5)
            while done < args.rss_requests:
                result = gen.run(
                    server.port, first_sight=True, concurrency=args.concurrency, requests=step, seconds=step / rate
                )
                done += result["requests"]
                samples.append(f"{done}: " + "/".join(f"{mb:.0f}" for mb in server.rss()))
            lines.append(("RSS MB per worker", f"after first-sight requests {'; '.join(samples)}  {load()}"))
    finally:
        server.stop()
    return lines


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` must still stop the servers started here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="in-process calls per measurement (default 300)")
    parser.add_argument("--seconds", type=float, default=8, help="seconds per HTTP measurement (default 8)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent HTTP connections (default 8)")
    parser.add_argument(
        "--rss-requests", type=int, default=10_000, help="first-sight requests before the last RSS sample"
    )
    parser.add_argument("--python-loadgen", action="store_true", help="use benchmarks/loadgen.py even if wrk is here")
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--in-process-only", action="store_true", help="skip the HTTP measurements")
    args = parser.parse_args()
    logging.getLogger("smart_app").setLevel(logging.ERROR)  # per-call notes would drown the figures
    if args.quick:
        args.requests, args.seconds, args.rss_requests = 50, 2, 500
    bodies = Bodies()
    sample = orjson.loads(bodies.first_sight())
    n_resources = sum(
        len(v.get("entry", [])) if isinstance(v, dict) and "entry" in v else 1
        for v in sample["prefetch"].values()
        if v is not None
    )
    print(
        f"order-sign: {n_resources} prefetch resources, {len(bodies.template) / 1024:.0f} KB, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(f"  {machine_reference(bodies.first_sight())}  {load()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gen = LoadGenerator(bodies.template, tmp, force_python=args.python_loadgen)
        first = asyncio.run(bench_in_process(bodies.first_sight, args.requests, tmp))
        repeat = asyncio.run(bench_in_process(bodies.repeat, args.requests, tmp))
        varied = asyncio.run(bench_in_process(varied_bodies(), args.requests, tmp))
        print("FIRST SIGHT: a new patient, new resource ids and a new hookInstance on every request")
        print(
            f"  server-side (in-process ASGI, {args.requests} calls): p50 {first['p50']:.2f} ms  p99 "
            f"{first['p99']:.2f} ms  (CPU p50 {first['cpu_p50']:.2f} ms, p99 {first['cpu_p99']:.2f} ms)  {load()}"
        )
        print("  (targets: p50 <= 6 ms, p99 <= 20 ms)")
        print(
            f"  every timestamp different too (no date read before): p50 {varied['p50']:.2f} ms  p99 "
            f"{varied['p99']:.2f} ms  (CPU p50 {varied['cpu_p50']:.2f} ms)"
        )
        print(f"  phases: {bench_phases(bodies, max(10, args.requests // 10))}")
        print("REPEAT: the same body on every request")
        print(
            f"  server-side (in-process ASGI, {args.requests} calls): p50 {repeat['p50']:.2f} ms  p99 "
            f"{repeat['p99']:.2f} ms  (CPU p50 {repeat['cpu_p50']:.2f} ms, p99 {repeat['cpu_p99']:.2f} ms)  {load()}"
        )
        if args.in_process_only:
            return
        print(f"HTTP load generator: {gen.name}")
        for workers in (1, 2):
            for label, text in bench_http(gen, bodies, workers, tmp, args):
                print(f"  {label:<30}{text}")


if __name__ == "__main__":
    main()
