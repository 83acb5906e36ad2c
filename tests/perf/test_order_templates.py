"""Order-set templates (fhir/order_templates.py, used through fhir/orders.py `_templated`): the same resources as
building afresh, for every patient, and always valid FHIR R4.

The templated path is compared with the plain one (every resource built and validated afresh) over varied
protocols, patients, dates, requesters, overrides, tests and baselines, with the templates warm from the cases
before: a value learnt for one patient never reaches another.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from smart_app.config import local_defaults
from smart_app.core.outcomes import Citation, Outcome, PlanKey
from smart_app.core.protocols.catalogue import list_protocols
from smart_app.fhir import order_templates, orders
from smart_app.fhir.resources import InvalidGeneratedResource, validated


def _plain(key: Any, ctx: Any, extra: Any, build: orders.Builder) -> list[dict[str, Any]]:
    return [validated(r) for r in build(ctx, [value for _, value in extra])]


_CITATION = Citation(document="asra-2018", section="Table 6")


def _outcome(rule_id: str, summary: str, plans: tuple[PlanKey, ...]) -> Outcome:
    return Outcome(
        rule_id=rule_id,
        status="fired",
        severity="warning",
        summary=summary,
        detail=summary,
        citations=(_CITATION,),
        plans=plans,
    )


def _cases() -> Iterator[dict[str, Any]]:
    protocols = [p.id for p in list_protocols()]
    patients = ["Patient/a", "Patient/b-2", "Patient/ü<b>x</b>", "Patient/a\x0bb"]
    eastern = timezone(timedelta(hours=-5))
    dates = [None, datetime(2026, 3, 1, 9, 30, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, tzinfo=eastern)]
    requesters = [None, "Practitioner/example", "PractitionerRole/r.1"]
    overrides = [None, "Patient asked; discussed risks <script>", "  "]
    baselines = [None, 0.0, 37.449, 220, 1e9]
    cautions = [None, "Benzodiazepine with opioids: risk of respiratory depression."]
    findings = [
        (),
        (_outcome("PRE-ECG", "No ECG on file", ("order-ecg",)),),
        (
            _outcome("PRE-LFT", "Baseline liver tests on file; order post-infusion liver tests", ("order-lft-post",)),
            _outcome("CI-HEP", "ALT 3x upper limit <b>", ("order-lft-baseline", "order-ecg")),
        ),
    ]
    weights = [70.0, 48.25, 131.0, None]
    rng = random.Random(12)  # every combination of fields is likely, for the same protocol too
    for _ in range(150):
        yield {
            "protocol_id": rng.choice(protocols),
            "weight_kg": rng.choice(weights),
            "age": rng.choice((40, 72, 17)),
            "outcomes": rng.choice(findings),
            "intent": rng.choice(("proposal", "order")),
            "patient_reference": rng.choice(patients),
            "on": rng.choice(dates),
            "requester": rng.choice(requesters),
            "override_reason": rng.choice(overrides),
            "baseline_mme_per_day": rng.choice(baselines),
            "rescue_caution": rng.choice(cautions),
        }


def _json(order_set: orders.OrderSet) -> bytes:
    return orjson.dumps(orders.order_set_to_json(order_set))


def test_templated_order_sets_are_the_plain_ones_for_every_patient(monkeypatch: pytest.MonkeyPatch) -> None:
    order_templates.TEMPLATES.clear()
    for case in _cases():
        counter = itertools.count()
        monkeypatch.setattr(uuid, "uuid4", lambda c=counter: uuid.UUID(int=next(c)))
        templated = orders.build_order_set(settings=local_defaults(), **case)
        monkeypatch.setattr(orders, "_templated", _plain)
        counter = itertools.count()
        monkeypatch.setattr(uuid, "uuid4", lambda c=counter: uuid.UUID(int=next(c)))
        plain = orders.build_order_set(settings=local_defaults(), **case)
        monkeypatch.undo()
        assert _json(templated) == _json(plain), case
        for resource in templated.resources:
            assert resource["for" if resource["resourceType"] == "Task" else "subject"] == {
                "reference": case["patient_reference"]
            }
    assert len(order_templates.TEMPLATES) > 0


def test_test_and_medication_orders_outside_a_protocol_are_the_plain_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    on = datetime(2026, 3, 1, tzinfo=UTC)
    for patient, reasons in [("Patient/a", ["R1: x"]), ("Patient/b", ["R2: y", "R3: z"]), ("Patient/c", ["R1: x"])]:
        planned: dict[Any, list[str]] = {"order-ecg": reasons, "order-lft-post": reasons}
        monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=7))
        templated = (
            orders.test_orders(planned, patient_reference=patient, on=on),
            orders.medication_orders({"order-naloxone": reasons}, patient_reference=patient, on=on),
        )
        monkeypatch.setattr(orders, "_templated", _plain)
        plain = (
            orders.test_orders(planned, patient_reference=patient, on=on),
            orders.medication_orders({"order-naloxone": reasons}, patient_reference=patient, on=on),
        )
        monkeypatch.undo()
        assert orjson.dumps(templated) == orjson.dumps(plain)


@pytest.mark.parametrize(
    "patient",
    ["Patient/1", "Patient/a\x0bb", "Patient/" + "x" * 5000, "Patient/<div>&amp;</div>", "Patient/😀", "Patient/\x00"],
)
@pytest.mark.parametrize(
    "on",
    [datetime(2026, 3, 1, tzinfo=UTC), datetime(1999, 1, 1, 0, 0, 0, 123456, tzinfo=timezone(timedelta(hours=13)))],
)
def test_every_filled_template_is_valid_fhir(patient: str, on: datetime) -> None:
    """The varying fields cannot make an instance invalid: each resource passes full R4B validation."""
    outcomes = (_outcome("FREQ", "  ECG \x0b missing ]]>", ("order-ecg", "order-lft-baseline")),)
    for protocol in list_protocols():
        for baseline in (None, 0.0, 1e-9, 123456789.5):
            order_set = orders.build_order_set(
                protocol.id,
                weight_kg=70,
                age=50,
                outcomes=outcomes,
                patient_reference=patient,
                settings=local_defaults(),
                on=on,
                requester="Practitioner/" + patient[8:],
                override_reason="reason " + patient,
                baseline_mme_per_day=baseline,
            )
            for resource in order_set.resources:
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _result(protocol_id: str, patient: str, on: datetime | None) -> bytes | type[Exception]:
    try:
        order_set = orders.build_order_set(
            protocol_id, weight_kg=70, age=50, patient_reference=patient, settings=local_defaults(), on=on
        )
    except InvalidGeneratedResource as exc:
        return type(exc)
    return orjson.dumps(order_set.resources)


@pytest.mark.parametrize(
    ("patient", "on", "valid"),
    [("", None, False), ("  ", None, True), ("\x0b", None, False), ("Patient/a", datetime(2026, 3, 1, 9, 0), False)],
)
def test_a_value_a_template_cannot_take_is_built_and_validated_afresh(
    monkeypatch: pytest.MonkeyPatch, patient: str, on: datetime | None, valid: bool
) -> None:
    """A blank reference or a dateTime without a time zone is not filled in: the resources are built and validated
    as they always were (an invalid one raises)."""
    for protocol in list_protocols()[:3]:
        orders.build_order_set(
            protocol.id, weight_kg=70, age=50, patient_reference="Patient/x", settings=local_defaults(), on=None
        )  # the templates are warm
        monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=1))
        templated = _result(protocol.id, patient, on)
        monkeypatch.setattr(orders, "_templated", _plain)
        plain = _result(protocol.id, patient, on)
        monkeypatch.undo()
        assert templated == plain
        assert (templated is InvalidGeneratedResource) is not valid


def test_a_template_whose_varying_value_sits_inside_a_text_is_refused() -> None:
    def build(ctx: Any, values: list[Any]) -> list[dict[str, Any]]:
        resource = ctx.base("ServiceRequest")
        resource["code"] = {"text": "x"}
        resource["note"] = [{"text": f"for {ctx.subject['reference']}"}, {"text": values[0]}]
        return [resource]

    made = []
    for patient in ("Patient/a", "Patient/b"):
        ctx = orders._Context(None, "proposal", {"reference": patient}, None, ())
        made.append(orders._templated(("test-refused",), ctx, (("text", patient + " reason"),), build))
    assert made[1][0]["note"] == [{"text": "for Patient/b"}, {"text": "Patient/b reason"}]
    assert made[1][0]["subject"] == {"reference": "Patient/b"}
    refused = [t for k, t in order_templates.TEMPLATES._data.items() if isinstance(k, tuple) and k[0] == "test-refused"]
    assert refused and all(t.make is None for t in refused)


def test_each_instance_is_a_fresh_copy() -> None:
    ctx = orders._Context(list_protocols()[0], "proposal", {"reference": "Patient/a"}, None, ())
    first = orders._templated(("pain-score",), ctx, (), lambda c, _: [orders._pain_score_request(c)])
    first[0]["note"].append({"text": "changed by a caller"})
    first[0]["code"]["text"] = "changed"
    second = orders._templated(("pain-score",), ctx, (), lambda c, _: [orders._pain_score_request(c)])
    assert second[0] == orders._pain_score_request(ctx)


def test_a_given_assessment_is_the_one_the_order_set_would_make() -> None:
    from smart_app.core.protocols import assess_protocols

    outcomes = (_outcome("PRE-ECG", "No ECG on file", ("order-ecg",)),)
    on = datetime(2026, 3, 1, tzinfo=UTC)
    for assessed in assess_protocols(70, 50, outcomes, local_defaults()):
        kwargs: dict[str, Any] = {
            "weight_kg": 70,
            "age": 50,
            "outcomes": outcomes,
            "patient_reference": "Patient/a",
            "settings": local_defaults(),
            "on": on,
        }
        given = orders.build_order_set(assessed.protocol.id, assessed=assessed, **kwargs)
        made = orders.build_order_set(assessed.protocol.id, **kwargs)
        assert given.status == made.status and given.reasons == made.reasons and given.plan == made.plan
        assert len(given.resources) == len(made.resources)


def test_no_template_is_kept_per_patients_opioids() -> None:
    """The benzodiazepine caution names the patient's opioids: it is written afresh on each order, so the template
    memory neither grows with the opioid lists seen nor holds their names."""
    protocol = next(p.id for p in list_protocols() if p.companion_medications)
    common: dict[str, Any] = {"weight_kg": 70.0, "age": 40, "outcomes": (), "intent": "proposal", "on": None}
    order_templates.TEMPLATES.clear()
    orders.build_order_set(protocol, patient_reference="Patient/a", settings=local_defaults(), **common)
    kept = len(order_templates.TEMPLATES)
    for opioids in ("oxycodone", "morphine, tramadol", "hydromorphone, fentanyl, methadone"):
        caution = f"Benzodiazepine with {opioids}: risk of respiratory depression."
        order_set = orders.build_order_set(
            protocol, patient_reference="Patient/b", settings=local_defaults(), rescue_caution=caution, **common
        )
        assert any(caution in orjson.dumps(r).decode() for r in order_set.medication_requests)
    assert len(order_templates.TEMPLATES) == kept
    assert not any("Benzodiazepine with" in str(key) for key in order_templates.TEMPLATES._data)
