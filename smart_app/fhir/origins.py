"""Origins and base URLs compared as parsed URLs, never as strings: where a bearer token may go.

An origin is (scheme, host, port) with the scheme and host lower-cased and the default port (80 for http, 443 for
https) filled in, so `https://EHR.example.org:443` and `https://ehr.example.org` are one origin, and
`http://127.0.0.1:42830` is not `http://127.0.0.1:4283`. A URL carrying userinfo (`https://user@host/`) has no
origin here: a token is never sent to it, and it is never taken as a FHIR server.

A FHIR base is an origin plus a path; an allow-list entry covers a URL when the origins are equal and the URL's
path is the entry's path or continues it at a segment boundary (`/fhir` covers `/fhir` and `/fhir/r4`, not
`/fhirx`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class BaseUrl:
    origin: Origin
    path: str  # without a trailing slash; "" for the root

    def covers(self, other: BaseUrl) -> bool:
        """`other` is this base or below it (same origin, path equal or continuing at a `/`)."""
        if other.origin != self.origin:
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")


def has_userinfo(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return "@" in parts.netloc


def origin(url: str) -> Origin | None:
    """The URL's origin; None for anything but an http(s) URL with a host and no userinfo."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. a port that is not a number or out of range
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return Origin(scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme])


def base_url(url: str) -> BaseUrl | None:
    """The URL as a FHIR base; None when it has no origin (see `origin`) or carries a query or fragment."""
    found = origin(url)
    if found is None:
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return None
    return BaseUrl(found, parts.path.rstrip("/"))


def fhir_server_problem(url: str, allowlist: Sequence[str]) -> str | None:
    """Why the service must not fetch from (and send the EHR's token to) `url`; None when it may.

    An empty `allowlist` allows any well-formed server (for a sandbox); userinfo is refused always."""
    if has_userinfo(url):
        return "the EHR's FHIR server URL carries user credentials, so it was not used"
    target = base_url(url)
    if target is None:
        return "the EHR's FHIR server URL is not a usable http(s) base URL"
    if allowlist and not any(entry is not None and entry.covers(target) for entry in map(base_url, allowlist)):
        return "the EHR's FHIR server is not on this service's allow-list"
    return None
