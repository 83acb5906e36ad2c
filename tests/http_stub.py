"""A small real HTTP server on a free loopback port, answering with a test's own handler (fault injection).

    def handler(request: StubRequest) -> StubResponse:
        return StubResponse(200, {"resourceType": "Bundle", ...})

    with stub_server(handler) as server:
        server.url            # e.g. "http://127.0.0.1:54321"
        server.requests       # every request received, in order (path with query, headers)

Used where a mock transport would hide what matters: the service's own HTTP client, real sockets, redirects and
headers as sent (a FHIR server that pages forever or returns another patient's data, a JWK Set server). The server
runs in a daemon thread and is shut down when the block ends, also when it raises.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class StubRequest:
    method: str
    target: str  # path and query as received
    headers: dict[str, str]  # lower-cased names

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


@dataclass(frozen=True)
class StubResponse:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StubServer:
    url: str
    requests: list[StubRequest]


Handler = Callable[[StubRequest], StubResponse]


@contextmanager
def stub_server(handler: Handler) -> Iterator[StubServer]:
    received: list[StubRequest] = []

    class _Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            request = StubRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            received.append(request)
            response = handler(request)
            body = response.body
            payload = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
            self.send_response(response.status)
            headers = {"Content-Type": "application/fhir+json", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http-stub", daemon=True)
    thread.start()
    try:
        yield StubServer(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def searchset(resources: list[dict[str, Any]], *, next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
