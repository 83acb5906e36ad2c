"""The counted figures of an item are kept per (dosages, product, route, table, step) (engine `_counted`): reports
are the same warm or cold, every item keeps its own medication's id and name, and a taper's step is part of the key."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from smart_app.config import LocalDefaults, MmeTable
from smart_app.core.mme import calculate_mme, engine
from smart_app.core.mme.factors import table_info
from smart_app.core.mme.products import identify
from smart_app.core.mme.timeline import mme_timeline
from tests.mme.test_timeline_segments import ON, medications, varied


def clear() -> None:
    engine._counted.cache_clear()  # type: ignore[attr-defined]


@pytest.mark.parametrize("table", ["cdc-2022", "cdc-2016", "anzca-2021"])
def test_reports_and_timelines_are_the_same_warm_or_cold(table: MmeTable) -> None:
    meds = medications(varied())
    settings = LocalDefaults(mme_table=table)
    for offset in (-30, -10, 0):  # the taper's steps change over these days
        on = ON + timedelta(days=offset)
        clear()
        cold = (calculate_mme(meds, table=table, on=on), mme_timeline(meds, on=on, settings=settings))
        warm = (calculate_mme(meds, table=table, on=on), mme_timeline(meds, on=on, settings=settings))
        assert warm == cold


def test_the_same_order_under_other_ids_keeps_its_own_id_and_name() -> None:
    meds = [m for m in medications(varied()) if not m.is_draft_order]  # no renewal naming an id
    first = calculate_mme(meds, on=ON)
    renamed = [replace(m, id=f"other-{m.id}") for m in meds]
    second = calculate_mme(renamed, on=ON)
    assert [i.id for i in second.items] == [f"{i.id.split('/')[0]}/other-{i.id.split('/')[1]}" for i in first.items]
    assert [(i.name, i.mme_per_day, i.derivation, i.status) for i in second.items] == [
        (i.name, i.mme_per_day, i.derivation, i.status) for i in first.items
    ]


def test_a_kept_figure_cannot_be_changed_through_an_item() -> None:
    meds = medications(varied())
    clear()
    product = identify(meds[0])
    assert product is not None
    found = engine._compute(meds[0], product, "oral", table_info("cdc-2022"), ON)
    assert found["status"] == "counted"
    with pytest.raises(TypeError):
        found["mme_per_day"] = 0.0  # type: ignore[index]
