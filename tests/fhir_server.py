"""A real FHIR R4 server for integration tests: sekmet-fhir (dev extra) in a subprocess on a free loopback port.

    with running_fhir_server(f.bundle(f.patient(), f.weight(70))) as base_url:
        ...  # base_url is e.g. "http://127.0.0.1:54321/fhir"

Bundles are loaded by transaction (a collection Bundle is converted: PUT for resources with an id, POST for the
rest). With `bearer_token`, the server accepts only that token (to test 401 handling). The server's data lives in
a temporary folder; the process group is stopped and the folder removed at exit, also when the body raises.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class FhirServerError(RuntimeError):
    """The test FHIR server could not be started or refused the test data."""


@contextmanager
def running_fhir_server(
    *bundles: dict[str, Any], bearer_token: str | None = None, startup_timeout_s: float = STARTUP_TIMEOUT_S
) -> Iterator[str]:
    executable = _sekmet_executable()
    with tempfile.TemporaryDirectory(prefix="sekmet-") as workdir:
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}/fhir"
        settings = Path(workdir) / "settings.yaml"
        settings.write_text(_settings_yaml(workdir, port, base_url, bearer_token), encoding="utf-8")
        log_path = Path(workdir) / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}
        env["SEKMET_CONFIG"] = str(settings)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [executable, "serve", "--config", str(settings)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stopping it leaves no children behind
            )
        try:
            headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
            with httpx.Client(timeout=10.0, headers=headers) as http:
                _wait_until_ready(http, process, base_url, log_path, startup_timeout_s)
                for bundle in bundles:
                    _load(http, base_url, bundle)
            yield base_url
        finally:
            _stop(process)


@pytest.fixture(scope="module")
def empty_fhir_server() -> Iterator[str]:
    """An empty server shared by a test module (import this fixture into the module to use it)."""
    with running_fhir_server() as base_url:
        yield base_url


def as_transaction(bundle: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A collection (or any) Bundle as a transaction: PUT Type/id when the resource has an id, else POST."""
    if bundle.get("resourceType") != "Bundle":
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bundle}]}
    entries = []
    for entry in bundle.get("entry") or []:
        resource = entry["resource"]
        rtype, rid = resource["resourceType"], resource.get("id")
        if rid:
            request = {"method": "PUT", "url": f"{rtype}/{rid}"}
            full_url = f"{base_url}/{rtype}/{rid}"
        else:
            request = {"method": "POST", "url": rtype}
            full_url = entry.get("fullUrl")
        entries.append({"fullUrl": full_url, "resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _sekmet_executable() -> str:
    beside_python = Path(sys.executable).parent / "sekmet"
    found = str(beside_python) if beside_python.exists() else shutil.which("sekmet")
    if found is None:
        raise FhirServerError("sekmet-fhir is not installed; install the dev extra: pip install -e '.[service,dev]'")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings_yaml(workdir: str, port: int, base_url: str, bearer_token: str | None) -> str:
    auth = f'server_auth: {{types: [bearer], tokens: ["{bearer_token}"]}}\n' if bearer_token else ""
    # The simulator would act on MedicationRequests (dispense them); tests need a plain store.
    return (
        f"base_url: {base_url}\n"
        "host: 127.0.0.1\n"
        f"port: {port}\n"
        f"data_dir: {workdir}/data\n"
        f"own_private_key_path: {workdir}/keys/sekmet_private.pem\n"
        "simulator: {enabled: false}\n"
        "log_inbound: false\n"
        f"{auth}"
    )


def _wait_until_ready(
    http: httpx.Client, process: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FhirServerError(f"sekmet exited with {process.returncode} at start:\n{_tail(log_path)}")
        try:
            if http.get(f"{base_url}/metadata", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise FhirServerError(f"sekmet did not answer within {timeout_s:g} s:\n{_tail(log_path)}")


def _load(http: httpx.Client, base_url: str, bundle: dict[str, Any]) -> None:
    response = http.post(
        base_url, json=as_transaction(bundle, base_url), headers={"Content-Type": "application/fhir+json"}
    )
    if response.status_code != 200:
        raise FhirServerError(f"transaction refused: {response.status_code} {response.text[:2000]}")
    for entry in response.json().get("entry", []):
        status = entry.get("response", {}).get("status", "")
        if not status.startswith("2"):
            raise FhirServerError(f"transaction entry refused: {status} {entry}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (the one this module started), politely first."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:  # already gone
        process.wait(timeout=STOP_TIMEOUT_S)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"
