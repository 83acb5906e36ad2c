"""End to end in a real browser: an EHR launch of the SMART app, through authorization, to what the clinician sees
and a draft order written to the FHIR server.

Debian's chromium (/usr/bin/chromium) driven by Playwright; never a downloaded browser. Skipped only when chromium
or Playwright is missing AND this is not CI; under CI (`CI` set) a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from smart_app.config import LocalDefaults
from smart_app.core.assessment import assess
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import build_record
from smart_app.smart.settings import SmartSettings
from smart_app.smart.web import create_smart_app
from smart_app.storage.protocol_writes import ProtocolWriteStore
from tests.fhir_server import running_fhir_server
from tests.smart.auth_server import SimulatedEhr, running_test_ehr

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients"
PATIENT = "cardiac-uncontrolled-bp"
CLIENT_ID = "ketamine-smart-app"
APP_CONTEXT = '{"card": "ketamine-safety", "note": "<script>alert(1)</script>"}'
OVERRIDE_REASON = "Refractory CRPS; BP rechecked and controlled, cardiology agrees"
OVERRIDE_FIELDS = {"override": "yes", "override_reason": OVERRIDE_REASON}

if not os.environ.get("CI"):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Page, sync_playwright  # noqa: E402


def _patient_bundle() -> dict[str, Any]:
    """The uncontrolled-BP cardiac sample patient, also on two opioids (taken from the opioid sample)."""
    cardiac = json.loads((SAMPLES / f"{PATIENT}.json").read_text())
    opioids = json.loads((SAMPLES / "opioid-simple.json").read_text())
    for entry in opioids["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationRequest":
            resource["subject"] = {"reference": f"Patient/{PATIENT}"}
            cardiac["entry"].append({"resource": resource})
    return dict(cardiac)


def _ketamine_drafts(upstream: str) -> list[dict[str, Any]]:
    """Every ketamine MedicationRequest on the FHIR server (all pages)."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{upstream}/MedicationRequest?_count=200"
    while url:
        bundle = httpx.get(url, timeout=10).json()
        found += [
            e["resource"]
            for e in bundle.get("entry", [])
            if "ketamine" in json.dumps(e["resource"].get("medicationCodeableConcept", {})).lower()
        ]
        url = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _AppServer:
    def __init__(self, app: FastAPI, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="smart-app", daemon=True)

    def __enter__(self) -> _AppServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the SMART app did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def environment(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, SimulatedEhr, str, dict[str, Any]]]:
    """(app base URL, test EHR, upstream FHIR base, patient bundle)."""
    bundle = _patient_bundle()
    port = _free_port()
    app_base = f"http://127.0.0.1:{port}"
    redirect_uri = f"{app_base}/smart/callback"
    with (
        running_fhir_server(bundle) as upstream,
        running_test_ehr(upstream, client_id=CLIENT_ID, redirect_uri=redirect_uri) as ehr,
    ):
        settings = SmartSettings(
            client_id=CLIENT_ID,
            client_type="public",
            redirect_uri=redirect_uri,
            session_secret="e2e-" + "s" * 40,
            allowed_issuers=(ehr.fhir_base,),
        )
        writes = ProtocolWriteStore(f"sqlite:///{tmp_path_factory.mktemp('writes') / 'writes.sqlite3'}")
        main = FastAPI()
        main.mount("/smart", create_smart_app(settings, protocol_writes=writes))
        with _AppServer(main, port):
            yield app_base, ehr, upstream, bundle
        writes.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_ehr_launch_shows_the_patients_safety_picture_and_writes_a_draft_order(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, upstream, bundle = environment
    record = build_record(iter_resources(bundle))
    assessment = assess(record, on=datetime.now(UTC), settings=LocalDefaults())
    mme = assessment.mme
    critical = [f for f in assessment.findings if f.severity == "critical"]
    ecg = [f for f in assessment.findings if "order-ecg" in f.plans]
    assert mme.total_mme_per_day is not None and critical and ecg  # the sample is what this test relies on

    launch = ehr.register_launch(PATIENT, app_context=APP_CONTEXT)
    page.goto(f"{app_base}/smart/launch?iss={ehr.fhir_base}&launch={launch}")
    page.wait_for_url(f"{app_base}/smart/")
    if os.environ.get("SMART_E2E_SCREENSHOTS"):
        page.screenshot(path=os.environ["SMART_E2E_SCREENSHOTS"] + "/overview.png", full_page=True)

    assert page.get_by_role("heading", level=1).inner_text() == "Ketamine and opioid safety overview"
    text = page.locator("main").inner_text()
    assert f"Total: {mme.total_mme_per_day:g} MME/day" in text
    for finding in critical:
        assert finding.summary in text
    assert "Critical" in page.locator("#sev-critical").inner_text()
    assert ecg[0].summary in text
    ecg_row = page.locator("#baseline").locator("xpath=..").locator("tr", has_text="ECG")
    assert "NOT on file" in ecg_row.inner_text()
    checklist = page.locator("#checklist").locator("xpath=..").inner_text()
    assert "Needs attention (critical)" in checklist and "Not applicable" in checklist
    assert page.get_by_role("region", name="Patient").is_visible()  # need_patient_banner was true
    # appContext is shown as text, never as markup.
    assert "<script>alert(1)</script>" in page.locator("#app-context").locator("xpath=..").inner_text()
    assert page.locator("script").count() == 0
    # The session cookie is HttpOnly and carries no token.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["smart_app_session"]["httpOnly"] is True
    assert cookies["smart_app_session"]["sameSite"] == "Lax"
    assert all(token not in cookies["smart_app_session"]["value"] for token in ehr.tokens)
    assert all(token not in page.content() for token in ehr.tokens)

    page.get_by_role("link", name="Protocol builder").click()
    page.get_by_label("Single outpatient IV ketamine infusion (ASRA)").check()
    page.get_by_role("button", name="Show orders").click()
    assert "The order set (FHIR JSON, every resource status draft)" in page.locator("main").inner_text()
    # Uncontrolled BP marks every protocol "not recommended": writing needs the override and a written reason.
    page.get_by_label("I have reviewed the reasons above").check()
    page.get_by_label("Reason for ordering it anyway").fill(OVERRIDE_REASON)
    form = {
        name: page.locator(f'input[type="hidden"][name="{name}"]').get_attribute("value") or ""
        for name in ("protocol", "csrf_token", "form_token")
    }
    before = _ketamine_drafts(upstream)
    # A double click on the write button: the browser may send the form twice; one draft set is written.
    page.get_by_role("button", name="Write the draft orders to the EHR").dblclick()
    page.wait_for_url("**/smart/protocols?*receipt=*")
    if os.environ.get("SMART_E2E_SCREENSHOTS"):
        page.screenshot(path=os.environ["SMART_E2E_SCREENSHOTS"] + "/protocols.png", full_page=True)
    status = page.get_by_role("status").inner_text()
    assert "Written to the EHR" in status and "Override recorded" in status and OVERRIDE_REASON in status
    created_id = status.split("MedicationRequest/")[1].split(":")[0]
    receipt_url = page.url

    # The browser resubmits the same form (history, a retried request): nothing more is written.
    replay = page.request.post(f"{app_base}/smart/protocols", form=form | OVERRIDE_FIELDS, max_redirects=0)
    assert replay.status == 303 and replay.headers["location"] == receipt_url
    page.reload()  # the result page is a GET: reloading it writes nothing either
    assert "Written to the EHR" in page.get_by_role("status").inner_text()

    after = _ketamine_drafts(upstream)
    assert len(after) == len(before) + 1  # one ketamine draft for one form
    stored = httpx.get(f"{upstream}/MedicationRequest/{created_id}", timeout=10).json()
    assert stored["status"] == "draft"
    assert stored["subject"]["reference"] == f"Patient/{PATIENT}"
    assert "ketamine" in stored["medicationCodeableConcept"]["text"]
    assert any(OVERRIDE_REASON in n["text"] for n in stored["note"])


def test_standalone_launch_gets_the_patient_from_the_ehr(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, _, _ = environment
    ehr.standalone_patient = PATIENT  # what the EHR's patient picker would return
    page.goto(f"{app_base}/smart/launch?iss={ehr.fhir_base}")
    page.wait_for_url(f"{app_base}/smart/")
    assert "MME/day" in page.locator("main").inner_text()


def test_launch_from_an_unknown_ehr_is_refused_in_the_browser(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, _, _, _ = environment
    response = page.goto(f"{app_base}/smart/launch?iss=https://evil.example.org/fhir&launch=x")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "This EHR is not allowed"
