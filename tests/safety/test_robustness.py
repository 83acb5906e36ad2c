"""Malformed or unusual draft orders never crash the engine; what cannot be read is reported."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.builders import ketamine_order, rules, run

UNITS = st.sampled_from(["mg/h", "mg/kg/h", "mL/h", "ug/kg/min", "mg", "mg/kg", "h", "drops", "", "mg/d", "g/h"])
VALUES = st.one_of(st.floats(min_value=-10, max_value=1e6, allow_nan=False), st.integers(0, 5000))


@settings(max_examples=60, deadline=None)
@given(rate_value=VALUES, rate_unit=UNITS, dose_value=VALUES, dose_unit=UNITS, hours=st.sampled_from([None, 0, 0.5, 4]))
def test_any_dose_or_rate_gives_a_report(
    rate_value: float, rate_unit: str, dose_value: float, dose_unit: str, hours: float | None
) -> None:
    draft = ketamine_order(rate=(rate_value, rate_unit), dose=(dose_value, dose_unit), hours=hours)
    report = run(f.weight(70, "2026-11-14T09:00:00Z"), drafts=(draft,))
    assert all(len(x.summary) < 140 and x.citations for x in report.findings)
    if not report.ketamine_orders:  # the order itself failed FHIR validation: said, not dropped
        record = build_record([f.patient("1975-05-01")], draft_orders=[draft])
        assert [p.reference for p in record.problems] == ["MedicationRequest/draft-ketamine"]
        return
    order = report.ketamine_orders[0]
    if order.rate is None and order.bolus is None:
        assert order.problems
        assert report.outcome("DOSE-RATE").status == "not-evaluable"


def test_zero_or_negative_rate_is_a_problem_not_a_low_dose() -> None:
    report = run(f.weight(70, "2026-11-14T09:00:00Z"), drafts=(ketamine_order(rate=(0, "mg/h")),))
    assert "DOSE-RATE" not in rules(report)
    rate = report.outcome("DOSE-RATE")
    assert rate.status == "not-evaluable"
    assert any("not a positive amount" in m.reason for m in rate.missing)
