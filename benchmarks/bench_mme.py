"""MME engine benchmark: per-patient time for 1, 10 and 50 opioid medications, including FHIR parsing.

Prints, per patient size: JSON parse + R4B validation + conversion time (`build_record`), the share of that time
spent validating resources (and how much of it on resources the MME calculator does not use), and the
calculation time alone. Medians over many runs, in microseconds. Run: `make bench` or
`.venv/bin/python benchmarks/bench_mme.py`. Target: calculation for 10 medications <= 500 us.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_app.core.mme import (
    calculate_mme,
    engine,
    products,
    route,
    units,
)
from smart_app.core.model import MedicationUse
from smart_app.fhir.bundle import iter_resources, parse_json
from smart_app.fhir.record import USED_TYPES, build_record, clear_validation_cache, validate
from tests import fhir_factory as f

PRODUCTS = [
    ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet"),
    ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet"),
    ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
    ("245134", "72 HR fentanyl 0.025 MG/HR Transdermal System"),
    ("864706", "methadone hydrochloride 10 MG Oral Tablet"),
    ("835603", "tramadol hydrochloride 50 MG Oral Tablet"),
    ("892582", "morphine sulfate 15 MG Oral Tablet"),
    (None, "morphine sulfate 2 MG/ML Oral Solution"),
    ("7804", "oxycodone"),
    ("351267", "buprenorphine 8 MG / naloxone 2 MG Sublingual Tablet"),
]
TIMINGS: list[dict[str, Any] | None] = [
    {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
    {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "BID"}]}},
    {"repeat": {"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"}},
    {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}},
    None,
]


def patient_bundle(n: int) -> bytes:
    """A realistic record: Patient, vitals, conditions, an Encounter (not validated) and n opioid medications."""
    resources: list[dict[str, Any]] = [
        f.patient(),
        f.weight(80),
        f.blood_pressure(132, 84),
        f.condition(f.SNOMED, "59621000", "Essential hypertension"),
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished", "class": {"code": "AMB"}},
    ]
    for i, (product, timing) in enumerate(zip(itertools.cycle(PRODUCTS), itertools.cycle(TIMINGS), strict=False)):
        if i == n:
            break
        unit = "PATCH" if "Transdermal" in product[1] else ("mL" if "MG/ML" in product[1] else "TAB")
        dosage = f.dosage(dose=f.dose_quantity(1 if unit != "mL" else 5, unit), timing=timing, as_needed=i % 3 == 0)
        builder = f.medication_statement if i % 4 == 3 else f.medication_request
        resources.append(builder(product[0], product[1], dosages=[dosage]))
    return orjson.dumps(f.bundle(*resources))


STRING_CACHES = (
    products._identify,
    products.parse_name,
    products.opioid_in_words,
    route.route_in_text,
    units.unit_word,
    engine._is_extended,
)


def cold_calculation(meds: Sequence[MedicationUse]) -> None:
    """A patient whose products the service has not seen before: per-string caches emptied first."""
    for cached in STRING_CACHES:
        cached.cache_clear()
    calculate_mme(meds)


def elapsed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_us(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(elapsed(fn) for _ in range(runs)) * 1e6


def median_and_best_us(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and fastest run; on a shared machine the gap shows how much load inflated the median."""
    samples = [elapsed(fn) for _ in range(runs)]
    return statistics.median(samples) * 1e6, min(samples) * 1e6


def parse_figures(data: bytes, runs: int) -> tuple[float, float, float, float]:
    """Median parse+validate time (us) on first sight and on a repeat, and the shares of the first-sight time spent
    validating all used / non-MME resources.

    First sight empties the validated-resource cache before each run (a patient the service has not seen); a
    repeat finds every resource in it (an EHR sending the same record again). Measurements are interleaved run by
    run, so that load on the machine affects them alike.
    """
    resources = list(iter_resources(parse_json(data)))
    used = [r for r in resources if r["resourceType"] in USED_TYPES]
    not_for_mme = [r for r in used if not r["resourceType"].startswith("Medication")]
    firsts, repeats, shares, unused_shares = [], [], [], []
    for _ in range(runs):
        clear_validation_cache()
        first = elapsed(lambda: build_record(iter_resources(parse_json(data))))
        firsts.append(first)
        repeats.append(elapsed(lambda: build_record(iter_resources(parse_json(data)))))
        shares.append(elapsed(lambda: [validate(r) for r in used]) / first)
        unused_shares.append(elapsed(lambda: [validate(r) for r in not_for_mme]) / first)
    return (
        statistics.median(firsts) * 1e6,
        statistics.median(repeats) * 1e6,
        statistics.median(shares),
        statistics.median(unused_shares),
    )


def main() -> None:
    head = f"{'meds':>4}  {'parse 1st':>9}  {'repeat':>7}  {'validating':>10}  {'non-MME':>8}  {'calculate':>10}"
    print(head + f"  {'best':>7}  {'cold':>7}")
    units = ("", "(us)", "(us)", "(share)", "(share)", "(us)", "(us)", "(us)")
    print("  ".join(u.rjust(w) for u, w in zip(units, (4, 9, 7, 10, 8, 10, 7, 7), strict=True)))
    for n in (1, 10, 50):
        data = patient_bundle(n)
        parse, repeat, validating, non_mme = parse_figures(data, 200 if n < 50 else 60)
        meds = build_record(iter_resources(parse_json(data))).medications
        calculate_mme(meds)  # load the mapping files once, as a running service has them
        calc, best = median_and_best_us(partial(calculate_mme, meds), 2000 if n < 50 else 500)
        cold = median_us(partial(cold_calculation, meds), 200 if n < 50 else 60)
        shares = f"{validating:>10.0%}  {non_mme:>8.0%}"
        print(f"{n:>4}  {parse:>9.0f}  {repeat:>7.0f}  {shares}  {calc:>10.1f}  {best:>7.1f}  {cold:>7.1f}")
    print()
    print("parse 1st: JSON bytes to PatientRecord (orjson, R4B validation of used types, conversion) for a record")
    print("never seen; repeat: the same record again (validated resources are cached by content).")
    print("validating: share of that spent in R4B validation; non-MME: the part of it for resources the MME")
    print("calculator does not read (Patient, Observation, Condition; other rules use them). Types nobody uses")
    print("(here an Encounter) are skipped unvalidated.")
    print("calculate: calculate_mme alone, steady state (product/name caches warm), median; best: fastest run;")
    print("cold: median with those caches emptied before each run, as for products the service never saw.")


if __name__ == "__main__":
    main()
