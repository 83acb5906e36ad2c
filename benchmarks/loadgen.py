"""A small HTTP/1.1 load generator for bench_cds.py when Debian's `wrk` is not installed.

Runs in its own process (so it does not share the server's interpreter), keeps `concurrency` keep-alive
connections, and posts order-sign bodies made from the workload template (a new patient and new ids on every
request, or the same body). Prints one JSON line: requests, seconds, p50/p99 latency in ms, errors. Costlier per
request than wrk (Python), so its req/s are a lower bound on a 2-core machine.
Run: `python benchmarks/loadgen.py PORT TEMPLATE_FILE --requests N --concurrency C [--repeat]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path

PATIENT = b"XPATIENTX"
PREFIX = b"XRIDX"
SERVICE = "/cds-services/ketamine-safety-order-sign"


async def _client(
    port: int, template: bytes, repeat: bool, counter: list[int], total: int, latencies: list[float], run: str
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    fixed = template.replace(PATIENT, b"rp").replace(PREFIX, b"rr")
    while counter[0] < total:
        counter[0] += 1
        if repeat:
            body = fixed
        else:
            ident = f"{run}n{counter[0]}".encode()
            body = template.replace(PATIENT, b"p" + ident).replace(PREFIX, b"r" + ident)
        head = (
            f"POST {SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        writer.write(head + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if b" 200 " not in status_line:
            errors += 1
    writer.close()
    return errors


async def run(port: int, template: bytes, requests: int, concurrency: int, repeat: bool) -> dict[str, float]:
    latencies: list[float] = []
    counter = [0]
    run_id = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(_client(port, template, repeat, counter, requests, latencies, run_id) for _ in range(concurrency))
    )
    seconds = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": sum(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("template", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.port, args.template.read_bytes(), args.requests, args.concurrency, args.repeat))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
