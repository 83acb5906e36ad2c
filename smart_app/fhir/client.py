"""Async FHIR REST read client for the data a CDS request did not prefetch (and one write for the SMART app).

Failures never raise from the read side: a FHIR server that is slow, down, refuses the token or answers garbage
gives a `FetchResult` with `ok=False` and a reason a clinician-facing message can quote, so the caller can say
which data is missing instead of failing the request.

Privacy: the bearer token is attached only to requests on the origin of `base_url` (a `next` page link or a
redirect to another host is never followed), and logs carry resource type, HTTP status and elapsed time only:
never the token, the URL (it holds patient ids) or response bodies.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import orjson

from smart_app.fhir.origins import origin

log = logging.getLogger(__name__)


class _DropHttpxRequestLine(logging.Filter):
    """httpx logs every request's full URL at INFO; FHIR search URLs carry patient ids, so that line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(existing, _DropHttpxRequestLine) for existing in _httpx_log.filters):
    _httpx_log.addFilter(_DropHttpxRequestLine())

FHIR_JSON = "application/fhir+json"
# CDS Hooks prefetch token for the patient in context; also accepted in `fetch_patient_data` query params.
PATIENT_TOKEN = "{{context.patientId}}"

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DIAGNOSTICS_MAX = 200


@dataclass(frozen=True)
class FetchResult:
    """Outcome of one search or read.

    `ok` is False when nothing usable came back (`problem` says why). `complete` is False when paging stopped
    early (deadline, page cap, a `next` link to another host): `resources` then holds the pages read so far and
    `problem` says why the rest is missing, so a caller must not treat absence of a resource as a negative.
    """

    key: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    problem: str | None = None
    complete: bool = True
    status: int | None = None  # the HTTP status of a refused request (401: the token is no longer accepted)


class FhirWriteError(Exception):
    """A create the server refused or that never reached it; `status` is None when there was no HTTP answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Failure(Exception):
    """Internal: one request failed; the message is the human reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FhirClient:
    """Reads from one FHIR server with an optional bearer token. Use as `async with FhirClient(...) as fhir:`."""

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        timeout_s: float = 5.0,
        max_pages: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = origin(self.base_url)
        self._token = access_token
        self.timeout_s = timeout_s
        self.max_pages = max_pages
        # Redirects are not followed: a redirect to another host must not receive the token, and a FHIR search
        # that redirects is a misconfiguration worth reporting.
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": FHIR_JSON},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- reads ---------------------------------------------------------------------------------------------------

    async def search_all(
        self, resource_type: str, params: Mapping[str, str], *, deadline: float, key: str | None = None
    ) -> FetchResult:
        """Search `resource_type` and follow `Bundle.link[next]` until the last page, the page cap or `deadline`
        (a `time.monotonic()` instant). Entries of search mode `outcome` (OperationOutcome) are dropped."""
        key = key or resource_type
        what = f"{resource_type} search"
        if not _RESOURCE_TYPE.fullmatch(resource_type):
            return FetchResult(key, ok=False, problem=f"{resource_type!r} is not a FHIR resource type", complete=False)
        try:  # the first page's full URL, query string included, as it is sent
            url: str | None = str(httpx.URL(f"{self.base_url}/{resource_type}", params=dict(params)))
        except (httpx.InvalidURL, TypeError, ValueError):
            return FetchResult(key, ok=False, problem=f"{what}: the search URL is not valid", complete=False)
        resources: list[dict[str, Any]] = []
        seen: set[object] = set()
        pages = 0
        while url is not None:
            if pages >= self.max_pages:
                return _partial(key, resources, f"{what} stopped after {self.max_pages} pages: the data were truncated")
            try:
                body = await self._get_json(url, None, deadline=deadline, what=what)
                page_resources, next_url = _searchset_page(body, what)
            except _Failure as exc:
                if pages == 0:
                    return FetchResult(key, ok=False, problem=str(exc), complete=False, status=exc.status)
                return _partial(key, resources, f"{exc}; results incomplete")
            pages += 1
            resources.extend(page_resources)
            seen.add(_page_key(url))
            if next_url is None:
                break
            try:
                url = urljoin(self.base_url + "/", next_url)
            except ValueError:
                return _partial(key, resources, f"{what}: next page link is not a valid URL; the data were truncated")
            if not self._same_origin(url):
                return _partial(
                    key,
                    resources,
                    f"{what}: next page is on another host and was not followed; the data were truncated",
                )
            if _page_key(url) in seen:
                return _partial(
                    key, resources, f"{what}: next page link repeats a page already read; the data were truncated"
                )
        return FetchResult(key, resources)

    async def read(self, reference: str, *, deadline: float) -> FetchResult:
        """Read one resource by relative reference `Type/id`."""
        parts = reference.split("/")
        if len(parts) != 2 or not _RESOURCE_TYPE.fullmatch(parts[0]) or not _FHIR_ID.fullmatch(parts[1]):
            return FetchResult(
                reference, ok=False, problem="reference is not of the form ResourceType/id", complete=False
            )
        resource_type = parts[0]
        what = f"{resource_type} read"
        try:
            body = await self._get_json(f"{self.base_url}/{reference}", None, deadline=deadline, what=what)
        except _Failure as exc:
            return FetchResult(reference, ok=False, problem=str(exc), complete=False, status=exc.status)
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            problem = f"response to {what} is not a {resource_type}"
            return FetchResult(reference, ok=False, problem=problem, complete=False)
        return FetchResult(reference, [body])

    async def fetch_patient_data(
        self, patient_id: str, queries: Mapping[str, tuple[str, dict[str, str]]], *, budget_s: float
    ) -> dict[str, FetchResult]:
        """Run `queries` (key -> (resource type, search params)) concurrently within one total time budget.

        Every search is scoped to the patient: params may hold the CDS Hooks token `{{context.patientId}}`;
        when none does, `patient=<id>` (`_id=<id>` for Patient) is added, so a query never returns other
        patients' data.
        """
        if not _FHIR_ID.fullmatch(patient_id):
            reason = "patient id is not a valid FHIR id; nothing fetched"
            return {key: FetchResult(key, ok=False, problem=reason, complete=False) for key in queries}
        deadline = time.monotonic() + budget_s
        keys = list(queries)
        searches = [
            self.search_all(resource_type, _scoped(resource_type, params, patient_id), deadline=deadline, key=key)
            for key, (resource_type, params) in queries.items()
        ]
        outcomes = await asyncio.gather(*searches, return_exceptions=True)
        results: dict[str, FetchResult] = {}
        for key, outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, FetchResult):
                results[key] = outcome
            else:  # a bug, not a server problem; keep the request alive and say so
                log.error("FHIR query %s failed unexpectedly: %s", key, type(outcome).__name__)
                results[key] = FetchResult(key, ok=False, problem="internal error while fetching", complete=False)
        return results

    # -- write ---------------------------------------------------------------------------------------------------

    async def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """POST `resource` and return the stored resource (with its server id); raises `FhirWriteError`."""
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or not _RESOURCE_TYPE.fullmatch(resource_type):
            raise FhirWriteError("resource has no valid resourceType")
        what = f"{resource_type} create"
        started = time.monotonic()
        try:
            response = await self._http.post(
                f"{self.base_url}/{resource_type}",
                content=orjson.dumps(resource),
                headers={**self._auth_header(), "Content-Type": FHIR_JSON, "Prefer": "return=representation"},
            )
        except httpx.TimeoutException as exc:
            raise FhirWriteError(f"{what} timed out after {self.timeout_s:g} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FhirWriteError(f"FHIR server unreachable for {what}") from exc
        _log_exchange(what, response.status_code, started)
        body = _json_or_none(response.content)
        if not response.is_success:
            raise FhirWriteError(_status_problem(response, body, what), status=response.status_code)
        if isinstance(body, dict) and body.get("resourceType") == resource_type:
            return body
        location = response.headers.get("Location") or response.headers.get("Content-Location")
        if location:  # `Prefer: return=representation` is optional for servers: read the new version back
            ref = _relative_reference(location, self.base_url)
            if ref is not None:
                result = await self.read(ref, deadline=time.monotonic() + self.timeout_s)
                if result.ok:
                    return result.resources[0]
        problem = f"{what} succeeded but the server returned no {resource_type}"
        raise FhirWriteError(problem, status=response.status_code)

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _same_origin(self, url: str) -> bool:
        return self._origin is not None and origin(url) == self._origin

    def _auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def _get_json(self, url: str, params: Mapping[str, str] | None, *, deadline: float, what: str) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(f"{what} not started: time budget used up")
        # The token goes only to the configured server's origin.
        headers = self._auth_header() if self._same_origin(url) else {}
        started = time.monotonic()
        limit = min(self.timeout_s, remaining)
        try:
            async with asyncio.timeout(limit):
                response = await self._http.get(url, params=params, headers=headers, timeout=limit)
        except (TimeoutError, httpx.TimeoutException) as exc:
            log.warning("FHIR %s timed out after %.1f s", what, time.monotonic() - started)
            raise _Failure(f"{what} timed out after {limit:.1f} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # fhirServer comes from the CDS request: may be junk
            log.warning("FHIR %s: server unreachable (%s)", what, type(exc).__name__)
            raise _Failure(f"FHIR server unreachable for {what}") from exc
        _log_exchange(what, response.status_code, started)
        body = _json_or_none(response.content)
        if not response.is_success:
            raise _Failure(_status_problem(response, body, what), response.status_code)
        if body is None:
            raise _Failure(f"response to {what} is not JSON")
        return body


def _page_key(url: str) -> object:
    """What makes two page URLs the same page: origin, path and the decoded query parameters in any order."""
    parts = urlsplit(url)
    return origin(url), parts.path.rstrip("/"), tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))


def _scoped(resource_type: str, params: Mapping[str, str], patient_id: str) -> dict[str, str]:
    if any(PATIENT_TOKEN in value for value in params.values()):
        return {name: value.replace(PATIENT_TOKEN, patient_id) for name, value in params.items()}
    return {**params, ("_id" if resource_type == "Patient" else "patient"): patient_id}


def _partial(key: str, resources: list[dict[str, Any]], problem: str) -> FetchResult:
    return FetchResult(key, resources, ok=True, problem=problem, complete=False)


def _searchset_page(body: Any, what: str) -> tuple[list[dict[str, Any]], str | None]:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        raise _Failure(f"{what} returned an OperationOutcome: {_diagnostics(body)}")
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise _Failure(f"response to {what} is not a FHIR Bundle")
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise _Failure(f"response to {what} is not a valid Bundle (entry is not a list)")
    resources: list[dict[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        resources.append(resource)
    next_url = None
    links = body.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            next_url = link["url"]
    return resources, next_url


def _status_problem(response: httpx.Response, body: Any, what: str) -> str:
    reason = f"FHIR server returned {response.status_code} {response.reason_phrase} for {what}".rstrip()
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        diagnostics = _diagnostics(body)
        if diagnostics:
            reason += f": {diagnostics}"
    return reason


def _diagnostics(outcome: Mapping[str, Any]) -> str:
    texts: list[str] = []
    issues = outcome.get("issue")
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details")
        text = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None)
        if isinstance(text, str) and text.strip():
            texts.append(text.strip())
    joined = "; ".join(texts) or "no diagnostics given"
    return joined if len(joined) <= _DIAGNOSTICS_MAX else joined[: _DIAGNOSTICS_MAX - 1] + "…"


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None


def _relative_reference(location: str, base_url: str) -> str | None:
    """`[base]/Type/id[/_history/v]` -> `Type/id` when the location is on this server."""
    try:
        absolute = urljoin(base_url + "/", location)
    except ValueError:
        return None
    if not absolute.startswith(base_url + "/"):
        return None
    parts = absolute[len(base_url) + 1 :].split("/")
    return f"{parts[0]}/{parts[1]}" if len(parts) >= 2 else None


def _log_exchange(what: str, status: int, started: float) -> None:
    log.info("FHIR %s -> %d in %.0f ms", what, status, (time.monotonic() - started) * 1000)
