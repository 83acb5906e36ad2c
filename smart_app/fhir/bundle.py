"""Reading FHIR JSON: bytes or files to a flat list of resource dicts.

Only JSON decoding and Bundle flattening happen here; validation against the R4B models is done per resource,
and only for the resource types the caller uses (see `smart_app.fhir.record`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson


class FhirInputError(ValueError):
    """Input that is not FHIR JSON at all (unreadable file, malformed JSON, no resourceType)."""


def read_json_file(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FhirInputError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    return parse_json(data, origin=str(path))


def parse_json(data: bytes | str, *, origin: str = "input") -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FhirInputError(f"{origin}: not valid JSON ({exc})") from exc


def iter_resources(obj: Any, *, origin: str = "input") -> Iterator[dict[str, Any]]:
    """Yield every resource in a resource, a Bundle (nested Bundles too) or a JSON array of those."""
    if isinstance(obj, list):
        for item in obj:
            yield from iter_resources(item, origin=origin)
        return
    if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
        raise FhirInputError(f"{origin}: not a FHIR resource (no resourceType)")
    if obj["resourceType"] != "Bundle":
        yield obj
        return
    entries = obj.get("entry") or []
    if not isinstance(entries, list):
        raise FhirInputError(f"{origin}: Bundle.entry is not a list")
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue  # e.g. a search Bundle's OperationOutcome-less empty entry or a deleted history entry
        yield from iter_resources(resource, origin=f"{origin} entry[{index}]")


def load_files(paths: Iterable[Path]) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for path in paths:
        resources.extend(iter_resources(read_json_file(path), origin=str(path)))
    return resources
