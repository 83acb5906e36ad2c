"""SMART app overview benchmark: time to build the page model (assessment, course history, charts) and to render
the HTML, for the bundled sample patients, from their FHIR resources already read (no network).

Prints medians over many runs, in milliseconds, and the HTML size. Run: `.venv/bin/python
benchmarks/bench_smart_overview.py`. The browser test (`tests/smart/test_e2e_browser.py` with
SMART_E2E_SCREENSHOTS) records the full page load through the test EHR in metrics.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jinja2 import Environment, FileSystemLoader, select_autoescape

from smart_app.config import LocalDefaults
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import build_record
from smart_app.smart import views
from smart_app.smart.launch_context import LaunchContext
from smart_app.smart.oauth import TokenSet
from smart_app.smart.overview import overview_page
from smart_app.smart.patient_data import PatientData
from smart_app.smart.scopes import GrantedScopes

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = ("healthy", "cardiac-uncontrolled-bp", "high-mme", "ketamine-series")
RUNS = 60


def _median_ms(fn: object, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    env = Environment(loader=FileSystemLoader(ROOT / "smart_app/smart/templates"), autoescape=select_autoescape())
    env.filters["inline_markdown"] = views.inline_markdown
    env.globals["url_for"] = lambda name, **kw: f"/smart/{kw.get('path', '')}"
    template = env.get_template("overview.html")
    tokens = TokenSet("at", GrantedScopes("patient/*.rs patient/MedicationRequest.c"), LaunchContext(patient="p"))
    defaults = LocalDefaults()
    on = datetime.now(UTC)
    print(f"{'patient':<26} {'page model ms':>14} {'HTML render ms':>15} {'HTML KiB':>9}")
    for name in PATIENTS:
        bundle = orjson.loads((ROOT / f"smart_app/samples/patients/{name}.json").read_bytes())
        resources = list(iter_resources(bundle))
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        data = PatientData(patient, build_record(resources), ())
        page = overview_page(data, tokens, defaults, on=on)
        html = template.render(page=page, context=tokens.context, request=None)
        model_ms = _median_ms(lambda data=data: overview_page(data, tokens, defaults, on=on))
        render_ms = _median_ms(lambda page=page: template.render(page=page, context=tokens.context, request=None))
        print(f"{name:<26} {model_ms:>14.2f} {render_ms:>15.2f} {len(html.encode()) / 1024:>9.1f}")


if __name__ == "__main__":
    main()
