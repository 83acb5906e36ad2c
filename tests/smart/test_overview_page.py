"""The overview's page model without a browser: the headline's words, the summary strip, the charts' text
alternatives and escaping, and which draft orders of the launch are checked."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smart_app.config import LocalDefaults
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import build_record
from smart_app.smart.launch_context import FhirContextItem, LaunchContext, parse_app_context
from smart_app.smart.oauth import TokenSet
from smart_app.smart.overview import OverviewPage, overview_page, split_drafts
from smart_app.smart.patient_data import PatientData
from smart_app.smart.scopes import GrantedScopes
from tests import fhir_factory as f

SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients"
ON = datetime(2026, 12, 1, 12, tzinfo=UTC)
SCOPE = "patient/*.rs patient/MedicationRequest.c"


def _tokens(**context: Any) -> TokenSet:
    return TokenSet("at", GrantedScopes(SCOPE), LaunchContext(patient="p", **context))


def _page(resources: list[dict[str, Any]], defaults: LocalDefaults | None = None, **context: Any) -> OverviewPage:
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    data = PatientData(patient, build_record(resources), ())
    return overview_page(data, _tokens(**context), defaults or LocalDefaults(), on=ON)


def _sample(name: str) -> list[dict[str, Any]]:
    return list(iter_resources(json.loads((SAMPLES / f"{name}.json").read_text())))


def test_a_total_that_leaves_an_opioid_out_reads_at_least_with_its_level() -> None:
    page = _page(_sample("high-mme"))
    head = page.headline
    assert head.value == "at least 120 MME/day"
    assert head.qualifier == "1 opioid left out of the total (not computable)"
    assert head.level == "At or above 90: avoid or carefully justify" and head.tone == "critical"
    assert "local defaults" in head.levels_text and "CDC 2022" in head.levels_text


def test_no_current_opioids_is_zero_not_not_computable() -> None:
    page = _page(_sample("healthy"))
    assert (page.headline.value, page.headline.qualifier) == ("0 MME/day", "no current opioids")
    assert page.headline.level == "No current opioids"
    assert page.mme_chart is None and page.mme_history_note and "No opioid" in page.mme_history_note
    assert page.shares_chart is None and page.ketamine_chart is None


def test_opioids_none_of_which_can_be_computed_are_not_computable() -> None:
    no_dose = f.medication_statement("892582", "morphine sulfate 15 MG Oral Tablet")
    page = _page([f.patient(), f.weight(70), no_dose])
    assert page.headline.value == "not computable"
    assert page.headline.qualifier == "1 current opioid, none could be computed"
    assert page.headline.tone == "unknown"


def test_the_anzca_table_has_no_levels_unless_configured() -> None:
    page = _page(_sample("ketamine-series"), LocalDefaults(mme_table="anzca-2021"))
    assert page.headline.level == "No level configured for this table"
    assert page.mme_chart is not None and 'class="threshold' not in page.mme_chart.svg
    configured = _page(_sample("ketamine-series"), LocalDefaults(mme_table="anzca-2021", omedd_precaution_threshold=40))
    assert configured.mme_chart is not None and configured.mme_chart.svg.count('class="threshold') == 1


def test_every_finding_is_in_exactly_one_tile_of_the_summary_strip() -> None:
    for path in sorted(SAMPLES.glob("*.json")):
        page = _page(_sample(path.stem))
        assert [t.key for t in page.summary] == ["opioids", "contraindications", "baseline", "not-checked"]
        text = [" ".join(t.lines) for t in page.summary]
        for finding in page.assessment.findings:
            if finding.rule_id.startswith("PRE-"):  # baseline tests are named by test in their tile
                assert "needed" in text[2].lower()
                continue
            assert sum(finding.summary in t for t in text) == 1, (path.stem, finding.rule_id)


def test_the_charts_say_in_words_what_they_draw() -> None:
    page = _page(_sample("ketamine-series"))
    assert page.mme_chart and page.shares_chart and page.ketamine_chart
    for chart in (page.mme_chart, page.shares_chart, page.ketamine_chart):
        svg = str(chart.svg)
        assert svg.startswith("<svg") and 'role="img"' in svg
        title = re.search(r'<title id="chart-\w+-title">([^<]+)</title>', svg)
        desc = re.search(r'<desc id="chart-\w+-desc">([^<]+)</desc>', svg)
        assert title and desc and len(desc.group(1)) > 40
        assert chart.rows and all(len(row) == len(chart.headers) for row in chart.rows)
    assert "130 from 2 Feb 2026 to 3 Mar 2026 (period partly assumed)" in str(page.mme_chart.svg)
    assert [p[4].startswith("ASSUMED") for p in page.mme_periods] == [True, True, True, False]


def test_names_from_the_record_are_escaped_in_the_svg() -> None:
    name = 'oxycodone 5 mg <script>alert("x")</script>'
    evil = f.medication_request("1049621", name, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=4)])
    page = _page([f.patient(), f.weight(70), evil])
    assert page.shares_chart is not None
    svg = str(page.shares_chart.svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_only_draft_orders_of_this_record_named_by_the_launch_are_checked() -> None:
    draft = f.medication_request("238082", "ketamine 10 MG/ML Injectable Solution", status="draft", rid="d1")
    active = f.medication_request("238082", "ketamine 10 MG/ML Injectable Solution", rid="a1")
    record = build_record([f.patient(), draft, active])
    named = LaunchContext(
        patient="p",
        fhir_context=(FhirContextItem(reference="MedicationRequest/a1"),),
        app_context=parse_app_context('{"draftOrders": ["MedicationRequest/d1", "MedicationRequest/elsewhere"]}'),
    )
    rest, drafts = split_drafts(record, named)
    assert [d.reference for d in drafts] == ["MedicationRequest/d1"] and drafts[0].is_draft_order
    assert "MedicationRequest/d1" not in {m.reference for m in rest.medications}
    assert "MedicationRequest/a1" in {m.reference for m in rest.medications}  # not a draft: part of the record
    assert split_drafts(record, LaunchContext(patient="p")) == (record, ())
