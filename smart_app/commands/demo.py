"""`smart-app demo`: the main job without an EHR or network.

Bundled sample patients and draft orders become CDS Hooks order-sign requests (with prefetch, as an EHR would send
them) and go through the real FastAPI service in-process. Client authentication is disabled for this in-process
run only (there is no EHR to sign a JWT), and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

SAMPLES = resources.files("smart_app") / "samples"


@dataclass(frozen=True, slots=True)
class Scenario:
    title: str
    patient: str  # samples/patients/<name>.json
    order: str  # samples/orders/<name>.json
    service: str


SCENARIOS = (
    Scenario(
        "Healthy adult, outpatient ketamine infusion",
        "healthy",
        "ketamine-infusion-outpatient",
        "ketamine-safety-order-sign",
    ),
    Scenario(
        "Healthy adult, infusion rate that needs a monitored setting: protocols offered",
        "healthy",
        "ketamine-infusion-high-rate",
        "ketamine-safety-order-sign",
    ),
    Scenario(
        "Poorly controlled blood pressure (contraindicated)",
        "cardiac-uncontrolled-bp",
        "ketamine-infusion-outpatient",
        "ketamine-safety-order-sign",
    ),
    Scenario(
        "Coronary disease: baseline ECG needed",
        "needs-ecg",
        "ketamine-infusion-outpatient",
        "ketamine-safety-order-sign",
    ),
    Scenario(
        "Cirrhosis, high-rate infusion", "liver-disease", "ketamine-infusion-high-rate", "ketamine-safety-order-sign"
    ),
    Scenario(
        "Schizophrenia and glaucoma", "psychosis-glaucoma", "ketamine-infusion-outpatient", "ketamine-safety-order-sign"
    ),
    Scenario(
        "No current body weight: mg/kg checks impossible", "no-weight", "ketamine-bolus", "ketamine-safety-order-sign"
    ),
    Scenario("Epidural ketamine", "healthy", "ketamine-epidural", "ketamine-safety-order-sign"),
    Scenario(
        "High opioid dose plus a new oxycodone order (MME)", "high-mme", "oxycodone-5mg-q6h", "opioid-mme-order-sign"
    ),
    Scenario(
        "CDS Hooks sandbox DSTU2 MedicationOrder with {pill} units (MME)",
        "opioid-simple",
        "oxycodone-dstu2-medicationorder",
        "opioid-mme-order-sign",
    ),
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run bundled sample order-sign requests through the CDS service and print the cards",
        description="Sends sample CDS Hooks order-sign requests for the bundled patients through the real service "
        "in-process (no EHR, no network; client authentication off for this run) and prints the cards.",
    )
    parser.add_argument("--json", action="store_true", help="print the raw CDS Hooks responses as JSON")
    parser.set_defaults(handler=run)


def _load(kind: str, name: str) -> Any:
    return orjson.loads((SAMPLES / kind / f"{name}.json").read_bytes())


def build_request(scenario: Scenario) -> dict[str, Any]:
    from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
    from smart_app.cds_hooks.services import default_registry
    from smart_app.fhir.bundle import iter_resources

    patient = list(iter_resources(_load("patients", scenario.patient), origin=scenario.patient))
    service = default_registry().get(scenario.service)
    if service is None:
        raise KeyError(scenario.service)
    patient_id = next((str(r["id"]) for r in patient if r.get("resourceType") == "Patient"), "example")
    return hook_request(
        service.hook,
        patient_id=patient_id,
        drafts=[_load("orders", scenario.order)],
        prefetch=prefetch_for(patient, service.queries),
    )


async def _run_all(store_path: Path) -> list[tuple[Scenario, int, Any]]:
    import httpx

    from smart_app.cds_hooks.app import create_app
    from smart_app.cds_hooks.settings import ServiceSettings
    from smart_app.storage import FeedbackStore

    app = create_app(
        ServiceSettings(auth_enabled=False), store=FeedbackStore(f"sqlite:///{store_path / 'demo.sqlite3'}")
    )
    transport = httpx.ASGITransport(app=app)
    results = []
    async with httpx.AsyncClient(transport=transport, base_url="http://demo.local") as client:
        for scenario in SCENARIOS:
            response = await client.post(f"/cds-services/{scenario.service}", json=build_request(scenario))
            results.append((scenario, response.status_code, response.json()))
    app.state.card_writer().close()  # write the queued card-issued rows before the temporary database goes
    return results


def _print_card(card: dict[str, Any]) -> None:
    indicator = card["indicator"].upper()
    print(f"  [{indicator}] {card['summary']}")
    source = card["source"]
    topic = source.get("topic", {}).get("code", "")
    print(
        f"      source: {source['label']}" + (f" <{source['url']}>" if source.get("url") else "") + f" (rule {topic})"
    )
    for suggestion in card.get("suggestions", []):
        mark = " (recommended)" if suggestion.get("isRecommended") else ""
        print(f"      suggestion [{card['selectionBehavior']}]: {suggestion['label']}{mark}")
    extension = card.get("extension") or {}
    for item in extension.get("medications", []):
        figure = f"{item['mme_per_day']:.1f} MME/day" if item.get("mme_per_day") is not None else item["status"]
        why = f": {item['reason']}" if item.get("reason") else ""
        line = f"- {item['name']} ({item['source']}): {figure}{why}"
        print("      " + textwrap.shorten(line, 110, placeholder="…"))
    if card["source"].get("topic", {}).get("code") == "DATA-UNAVAILABLE":
        for line in card["detail"].splitlines():
            if line.startswith("- "):
                print(textwrap.fill(line, 110, initial_indent="      ", subsequent_indent="        "))


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="smart-app-demo-") as tmp:
        results = asyncio.run(_run_all(Path(tmp)))
    if args.json:
        sys.stdout.buffer.write(
            orjson.dumps(
                [
                    {"scenario": s.title, "service": s.service, "status": code, "response": body}
                    for s, code, body in results
                ],
                option=orjson.OPT_INDENT_2,
            )
        )
        print()
        return 0
    print("smart-app demo: sample CDS Hooks order-sign calls through the real service, in-process.")
    print(
        "Client JWT authentication is OFF for this in-process demo (no EHR to sign one); `smart-app serve` has it on.\n"
    )
    failures = 0
    for scenario, status, body in results:
        print(f"== {scenario.title}")
        print(f"   patient {scenario.patient}.json, draft {scenario.order}.json -> {scenario.service}: HTTP {status}")
        if status != 200:
            failures += 1
            print(f"   {body}")
            continue
        if not body["cards"]:
            print("  (no cards)")
        for card in body["cards"]:
            _print_card(card)
        print()
    return 1 if failures else 0
