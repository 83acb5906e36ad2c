"""End to end in a real browser: EHR launches of the SMART app, through authorization, to what the clinician sees
(summary strip, charts and their text alternatives, the checklist), a draft order written to the FHIR server, and
the app embedded in a cross-site EHR frame over https.

Debian's chromium (/usr/bin/chromium) driven by Playwright; never a downloaded browser. Skipped only when chromium
or Playwright is missing AND this is not CI; under CI (`CI` set) a missing browser is a failure. With
`SMART_E2E_SCREENSHOTS=<folder>` the tests save full-page screenshots there, and `metrics.json` (page heights and
load times) for review.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
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
from tests.smart.tls import self_signed_certificate

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
SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples"
PATIENT = "cardiac-uncontrolled-bp"
CLIENT_ID = "ketamine-smart-app"
APP_CONTEXT = '{"card": "ketamine-safety", "note": "<script>alert(1)</script>"}'
OVERRIDE_REASON = "Refractory CRPS; BP rechecked and controlled, cardiology agrees"
OVERRIDE_FIELDS = {"override": "yes", "override_reason": OVERRIDE_REASON}
VIEWPORT = {"width": 1280, "height": 800}
SHOTS = os.environ.get("SMART_E2E_SCREENSHOTS")

if not os.environ.get("CI"):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Frame, Page, sync_playwright  # noqa: E402


def _patient_bundle() -> dict[str, Any]:
    """The uncontrolled-BP cardiac sample patient, also on two opioids (taken from the opioid sample)."""
    cardiac = json.loads((SAMPLES / "patients" / f"{PATIENT}.json").read_text())
    opioids = json.loads((SAMPLES / "patients" / "opioid-simple.json").read_text())
    for entry in opioids["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationRequest":
            resource = {**resource, "id": f"cardiac-{resource['id']}", "subject": {"reference": f"Patient/{PATIENT}"}}
            cardiac["entry"].append({"resource": resource})
    return dict(cardiac)


def _all_samples() -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((SAMPLES / "all-samples-transaction.json").read_text())
    return bundle


DRAFT_ID = "e2e-draft-ketamine"


def _draft_order() -> dict[str, Any]:
    """A draft ketamine infusion the ketamine-series patient's clinician is working on (0.5 mg/kg/h at 68 kg)."""
    draft = json.loads((SAMPLES / "orders" / "ketamine-infusion-outpatient.json").read_text())
    draft["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]["value"] = 34
    return {**draft, "id": DRAFT_ID, "subject": {"reference": "Patient/ketamine-series"}}


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
    def __init__(self, app: FastAPI, port: int, *, host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None):
        ssl = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", **ssl)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
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


def _metric(name: str, value: Any) -> None:
    """Record a figure for review (SMART_E2E_SCREENSHOTS/metrics.json)."""
    if not SHOTS:
        return
    path = Path(SHOTS) / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=2))


def _shot(page: Page, name: str) -> None:
    """The whole page, and what the first screen shows (the summary strip is meant to be read there)."""
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
        page.screenshot(path=f"{SHOTS}/{name}-first-screen.png")


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, dict[str, Any]]]:
    """A real FHIR server holding every sample patient (the shipped transaction Bundle) and the e2e patient."""
    bundle = _patient_bundle()
    with running_fhir_server(_all_samples(), bundle, _draft_order()) as base:
        yield base, bundle


@pytest.fixture(scope="module")
def environment(
    upstream: tuple[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, SimulatedEhr, str, dict[str, Any]]]:
    """(app base URL, test EHR, upstream FHIR base, patient bundle): the app over plain http, top-level launches."""
    base, bundle = upstream
    port = _free_port()
    app_base = f"http://127.0.0.1:{port}"
    redirect_uri = f"{app_base}/smart/callback"
    with running_test_ehr(base, client_id=CLIENT_ID, redirect_uri=redirect_uri) as ehr:
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
            yield app_base, ehr, base, bundle
        writes.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        finally:
            browser.close()


def _launch(page: Page, app_base: str, ehr: SimulatedEhr, patient: str, **kwargs: Any) -> float:
    """An EHR launch to the overview; returns the seconds the overview took to load after sign-in."""
    launch = ehr.register_launch(patient, **kwargs)
    page.goto(f"{app_base}/smart/launch?iss={ehr.fhir_base}&launch={launch}")
    page.wait_for_url(f"{app_base}/smart/")
    started = time.monotonic()
    page.reload()
    return time.monotonic() - started


def _height(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollHeight"))


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

    load_s = _launch(page, app_base, ehr, PATIENT, app_context=APP_CONTEXT)
    _shot(page, "overview")
    height = _height(page)
    _metric("overview_height_px_cardiac_with_opioids", height)
    _metric("overview_load_s_cardiac_with_opioids", round(load_s, 3))
    assert height < 3300, f"the overview is {height} px tall for one patient"  # 5,398 px before the summary strip

    assert page.get_by_role("heading", level=1).inner_text() == "Ketamine and opioid safety overview"
    strip = page.get_by_role("region", name="Summary")
    tiles = strip.locator("li.tile")
    assert tiles.count() == 4  # opioids, contraindications, baseline tests, could not check (no draft in context)
    for i in range(tiles.count()):  # the whole strip is on the first screen
        box = tiles.nth(i).bounding_box()
        assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"]
    assert f"{mme.total_mme_per_day:g} MME/day" in page.locator("#tile-opioids").inner_text()
    concerns = page.locator("#tile-contraindications").inner_text()
    assert "1 critical" in concerns and critical[0].summary in concerns
    assert "ECG" in page.locator("#tile-baseline").inner_text()
    text = page.locator("main").inner_text()
    for finding in critical:
        assert finding.summary in text
    assert "Critical" in page.locator("#sev-critical").inner_text()
    ecg_row = page.locator("#baseline").locator("xpath=..").locator("tr", has_text="ECG")
    assert "NOT on file" in ecg_row.inner_text()
    assert page.get_by_role("region", name="Patient").is_visible()  # need_patient_banner was true
    # appContext is shown as text, never as markup.
    page.locator("#app-context > summary").click()
    assert "<script>alert(1)</script>" in page.locator("#app-context").inner_text()
    assert page.locator("script").count() == 0
    # The session cookie is HttpOnly and carries no token; over plain http it is SameSite=Lax.
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
    _shot(page, "protocols")
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


def test_charts_draw_the_course_and_say_it_in_words(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, _, _ = environment
    load_s = _launch(page, app_base, ehr, "ketamine-series")
    _shot(page, "overview-ketamine-series")
    _metric("overview_height_px_ketamine_series", _height(page))
    _metric("overview_load_s_ketamine_series", round(load_s, 3))
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0  # inline SVG, nothing fetched

    charts = page.locator("svg[role=img]")
    assert charts.count() == 3  # MME/day over time, each opioid's share, ketamine treatments with pain scores
    for i in range(charts.count()):
        svg = charts.nth(i)
        title_id, desc_id = (svg.get_attribute("aria-labelledby") or "").split()
        title = svg.locator(f"[id='{title_id}']").text_content() or ""
        desc = svg.locator(f"[id='{desc_id}']").text_content() or ""
        assert title and len(desc) > 40, (title, desc)
    mme_desc = page.locator("#chart-mme-desc").text_content() or ""
    assert "130 from" in mme_desc and "30 from 1 Aug 2026 to today" in mme_desc and "partly assumed" in mme_desc
    assert "Lines drawn at 50 and 90 MME/day (local defaults)" in mme_desc
    assert page.locator("svg.chart-mme .threshold").count() == 2
    assert page.locator("svg.chart-mme text", has_text="50: CDC 2022 precautions*").count() == 1
    assert page.locator("svg.chart-mme .mme-line.assumed").count() >= 1  # dashed, and the legend says what that is
    assert page.locator("svg.chart-mme .legend", has_text="period partly assumed").count() == 1
    pain_desc = page.locator("#chart-ketamine-desc").text_content() or ""
    assert "(3): 9 Mar 2026, 8 Jun 2026, 14 Sep 2026" in pain_desc and "8 on 9 Mar 2026" in pain_desc
    assert page.locator("svg.chart-ketamine .pain-point").count() == 6
    assert page.locator("svg.chart-ketamine .ketamine").count() == 3

    # Every chart has its figures as a table, folded under it.
    table_toggle = page.locator("#figure-mme details.chart-data > summary")
    table_toggle.click()
    rows = page.locator("#figure-mme table tbody tr")
    assert rows.count() >= 5 and "130" in rows.nth(2).inner_text()
    periods = page.locator("details.periods")
    periods.locator("summary").click()
    assert "ASSUMED" in periods.inner_text() and "expected supply" in periods.inner_text()
    assert "timeline_assumed_days" in periods.inner_text()


def test_the_draft_order_in_the_launch_context_gets_its_dose_check_in_the_summary(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, _, _ = environment
    context = [{"reference": f"MedicationRequest/{DRAFT_ID}", "role": "http://example.org/role/draft-order"}]
    _launch(page, app_base, ehr, "ketamine-series", fhir_context=context)
    _shot(page, "overview-draft-in-context")
    tile = page.locator("#tile-draft")
    assert tile.count() == 1
    text = tile.inner_text()
    assert "Draft order: ketamine 10 MG/ML Injectable Solution" in text
    assert "Dose within range" in text and "0.50 mg/kg/h" in text
    drafts = page.locator("#drafts").locator("xpath=..").inner_text()
    assert f"MedicationRequest/{DRAFT_ID}" in drafts and "Satisfied" in drafts


def test_headline_says_at_least_when_an_opioid_is_left_out(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, _, _ = environment
    _launch(page, app_base, ehr, "high-mme")
    _shot(page, "overview-high-mme")
    tile = page.locator("#tile-opioids").inner_text()
    assert "at least 120 MME/day" in tile
    assert "At or above 90: avoid or carefully justify" in tile
    assert "1 opioid left out of the total" in tile
    assert "4 opioids" in tile  # the one-species conversion finding sits with the opioid load
    shares = page.locator("#chart-shares-desc").text_content() or ""
    assert "Not in the total: morphine sulfate 15 MG Oral Tablet" in shares


def test_a_patient_on_no_opioids_reads_no_current_opioids(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, _, _ = environment
    _launch(page, app_base, ehr, "healthy")
    _shot(page, "overview-healthy")
    _metric("overview_height_px_healthy", _height(page))
    tile = page.locator("#tile-opioids").inner_text()
    assert "0 MME/day" in tile and "No current opioids" in tile and "not computable" not in tile
    assert page.locator("svg[role=img]").count() == 0  # nothing to draw: said in words instead
    assert "No opioid in the medication history" in page.locator("main").inner_text()


def test_the_checklist_shows_every_rule_with_its_status(
    environment: tuple[str, SimulatedEhr, str, dict[str, Any]], page: Page
) -> None:
    app_base, ehr, _, bundle = environment
    _launch(page, app_base, ehr, PATIENT)
    assessment = assess(build_record(iter_resources(bundle)), on=datetime.now(UTC), settings=LocalDefaults())
    by_status: dict[str, int] = {}
    for o in assessment.outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    labels = {
        "fired": "Needs attention",
        "not-evaluable": "Could not check",
        "satisfied": "Satisfied",
        "not-applicable": "Not applicable to this patient",
    }
    for status, count in by_status.items():
        group = page.locator(f"#checks-{status}")
        assert f"{labels[status]} ({count})" in (group.locator("summary").inner_text())
        # Could not check and satisfied are open; needs attention (in full under Findings) and not applicable fold.
        assert (group.get_attribute("open") is not None) == (status in ("not-evaluable", "satisfied"))
        assert group.locator("tbody tr").count() == count
    page.locator("#checks-fired > summary").click()
    fired = page.locator("#checks-fired").inner_text()
    assert "Needs attention (critical)" in fired and "Poorly controlled cardiovascular disease" in fired
    unchecked = page.locator("#checks-not-evaluable").inner_text()
    assert "why it could not be checked" in unchecked and "no fasting (nil-per-os) status" in unchecked
    page.locator("#checks-not-applicable > summary").click()
    assert "Not applicable" in page.locator("#checks-not-applicable").inner_text()
    _shot(page, "checklist")


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


# -- embedded: the EHR page on one site, the app in its frame on another, over https -------------------------


def _embedded_app(upstream: str, same_site: str, data: Path) -> Iterator[tuple[str, SimulatedEhr]]:
    """The app over https on `localhost` (a self-signed certificate) and the test EHR on `127.0.0.1`: two sites."""
    port = _free_port()
    app_base = f"https://localhost:{port}"
    redirect_uri = f"{app_base}/smart/callback"
    with (
        tempfile.TemporaryDirectory(prefix="smart-tls-") as folder,
        running_test_ehr(upstream, client_id=CLIENT_ID, redirect_uri=redirect_uri) as ehr,
    ):
        tls = self_signed_certificate(Path(folder))
        settings = SmartSettings(
            client_id=CLIENT_ID,
            redirect_uri=redirect_uri,
            session_secret="e2e-embedded-" + "s" * 40,
            allowed_issuers=(ehr.fhir_base,),
            cookie_same_site=same_site,  # type: ignore[arg-type]
        )
        writes = ProtocolWriteStore(f"sqlite:///{data / 'writes.sqlite3'}")
        main = FastAPI()
        main.mount("/smart", create_smart_app(settings, protocol_writes=writes))
        with _AppServer(main, port, host="localhost", tls=tls):
            yield app_base, ehr
        writes.close()


@pytest.fixture
def embedded_page() -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
        )
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1300}, ignore_https_errors=True)
        finally:
            browser.close()


def _open_in_ehr_frame(page: Page, app_base: str, ehr: SimulatedEhr, patient: str) -> Frame:
    launch = ehr.register_launch(patient, banner=False)  # the EHR shows its own banner
    ehr_root = ehr.fhir_base.removesuffix("/fhir")
    page.goto(f"{ehr_root}/ehr/chart?launch={launch}&app={app_base}/smart/launch")
    frame = page.frame_locator("#smart-app")
    frame.locator("h1").first.wait_for(timeout=20_000)
    (app_frame,) = [f for f in page.frames if f.url.startswith(app_base)]
    return app_frame


def test_embedded_in_a_cross_site_ehr_frame_the_launch_works_and_writes(
    upstream: tuple[str, dict[str, Any]], embedded_page: Page, tmp_path: Path
) -> None:
    base, _ = upstream
    for app_base, ehr in _embedded_app(base, "auto", tmp_path):
        frame = _open_in_ehr_frame(embedded_page, app_base, ehr, PATIENT)
        _shot(embedded_page, "embedded")
        assert frame.locator("h1").inner_text() == "Ketamine and opioid safety overview"
        assert urlsplit_host(embedded_page.url) != urlsplit_host(frame.url)  # two sites: 127.0.0.1 and localhost
        header = frame.locator("header").inner_text()
        assert "Patient:" in header and "Unknown" not in header  # named, although the EHR hides the app's banner
        assert frame.get_by_role("region", name="Patient").count() == 0
        cookie = next(c for c in embedded_page.context.cookies() if c["name"] == "smart_app_session")
        assert cookie["sameSite"] == "None" and cookie["secure"] is True and cookie["httpOnly"] is True
        assert cookie.get("partitionKey"), cookie  # partitioned under the EHR's site (CHIPS)

        # Writing from inside the frame: the form's CSRF token and the app's own Origin pass.
        frame.get_by_role("link", name="Protocol builder").click()
        frame.get_by_label("Single outpatient IV ketamine infusion (ASRA)").check()
        frame.get_by_role("button", name="Show orders").click()
        frame.get_by_label("I have reviewed the reasons above").check()
        frame.get_by_label("Reason for ordering it anyway").fill(OVERRIDE_REASON)
        frame.get_by_role("button", name="Write the draft orders to the EHR").click()
        frame.wait_for_url("**/smart/protocols?*receipt=*")
        assert "Written to the EHR" in frame.get_by_role("status").inner_text()
        _shot(embedded_page, "embedded-written")


def test_embedded_launch_fails_with_a_lax_cookie_which_is_what_the_setting_fixes(
    upstream: tuple[str, dict[str, Any]], embedded_page: Page, tmp_path: Path
) -> None:
    """The control: with SameSite=Lax the browser does not keep the cookie in the cross-site frame."""
    base, _ = upstream
    for app_base, ehr in _embedded_app(base, "lax", tmp_path):
        launch = ehr.register_launch(PATIENT)
        ehr_root = ehr.fhir_base.removesuffix("/fhir")
        embedded_page.goto(f"{ehr_root}/ehr/chart?launch={launch}&app={app_base}/smart/launch")
        frame = embedded_page.frame_locator("#smart-app")
        assert frame.locator("h1").inner_text(timeout=20_000) == "Your session has expired"


def urlsplit_host(url: str) -> str:
    return httpx.URL(url).host
