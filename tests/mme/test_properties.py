"""Properties of the MME report over generated patients: total, proportionality, order independence."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import fhir_factory as f
from tests.mme.helpers import (
    BUPRENORPHINE_NALOXONE_8,
    FENTANYL_25,
    HYDROCODONE_APAP,
    METHADONE_10,
    MORPHINE_15,
    OXYCODONE_5,
    OXYCODONE_ER_10,
    TAPENTADOL_50,
    TRAMADOL_50,
    code_timing,
    only_item,
    report,
    request,
)

TABLET_PRODUCTS = [
    HYDROCODONE_APAP,
    OXYCODONE_ER_10,
    OXYCODONE_5,
    METHADONE_10,
    TRAMADOL_50,
    TAPENTADOL_50,
    MORPHINE_15,
]
ALL_PRODUCTS = [*TABLET_PRODUCTS, FENTANYL_25, BUPRENORPHINE_NALOXONE_8, (None, "gabapentin 300 MG Oral Capsule")]
TABLES = st.sampled_from(["cdc-2022", "cdc-2016", "anzca-2021"])

timings = st.one_of(
    st.none(),
    st.builds(
        lambda n, p, u: {"repeat": {"frequency": n, "period": p, "periodUnit": u}},
        st.integers(1, 6),
        st.sampled_from([1, 4, 6, 8, 12, 24]),
        st.sampled_from(["h", "d"]),
    ),
    st.sampled_from(["BID", "TID", "QID", "Q6H", "QD", "XYZ"]).map(code_timing),
)


@st.composite
def medication(draw: st.DrawFn, index: int) -> dict[str, Any]:
    product = draw(st.sampled_from(ALL_PRODUCTS))
    unit = "PATCH" if product is FENTANYL_25 else draw(st.sampled_from(["TAB", "TAB", "mg"]))
    value = draw(st.sampled_from([0.5, 1, 2, 3])) if unit != "mg" else draw(st.sampled_from([2.5, 5, 10, 20.5, 30]))
    dosage = f.dosage(dose=f.dose_quantity(value, unit), timing=draw(timings), as_needed=draw(st.booleans()))
    status = draw(st.sampled_from(["active", "active", "active", "completed", "unknown"]))
    if draw(st.booleans()):
        return f.medication_statement(product[0], product[1], dosages=[dosage], status=status, rid=f"ms-{index}")
    return f.medication_request(product[0], product[1], dosages=[dosage], status=status, rid=f"mr-{index}")


patients = st.integers(0, 8).flatmap(lambda n: st.tuples(*(medication(i) for i in range(n))))


@settings(max_examples=60, deadline=None)
@given(resources=patients, table=TABLES)
def test_total_is_the_sum_of_counted_items(resources: tuple[dict[str, Any], ...], table: Any) -> None:
    rep = report(*resources, table=table)
    counted = [i.mme_per_day for i in rep.items if i.status == "counted"]
    assert all(m is not None for m in counted)
    if counted:
        assert rep.total_mme_per_day == pytest.approx(sum(m for m in counted if m is not None))
    else:
        assert rep.total_mme_per_day is None
    assert all(i.mme_per_day is None for i in rep.items if i.status != "counted")
    assert len(rep.counted) + len(rep.left_out) + sum(i.status == "duplicate" for i in rep.items) == len(rep.items)


@settings(max_examples=60, deadline=None)
@given(
    product=st.sampled_from([p for p in TABLET_PRODUCTS if p is not METHADONE_10]),
    tablets=st.sampled_from([0.5, 1, 2, 3]),
    frequency=st.integers(1, 6),
    table=TABLES,
)
def test_doubling_a_scheduled_dose_doubles_its_mme(
    product: tuple[str, str], tablets: float, frequency: int, table: Any
) -> None:
    def mme(count: float) -> float | None:
        dosage = f.dosage(dose=f.dose_quantity(count, "TAB"), frequency=frequency)
        return only_item(request(product, dosage), table=table).mme_per_day

    single, double = mme(tablets), mme(tablets * 2)
    if single is None:
        assert double is None  # no factor in this table: never computed for any dose
    else:
        assert double == pytest.approx(2 * single)


@settings(max_examples=60, deadline=None)
@given(resources=patients, table=TABLES, data=st.data())
def test_order_of_resources_never_changes_the_result(
    resources: tuple[dict[str, Any], ...], table: Any, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(resources))
    assert report(*shuffled, table=table) == report(*resources, table=table)
