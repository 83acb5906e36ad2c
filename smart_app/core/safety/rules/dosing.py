"""DOSE-BOLUS, DOSE-RATE, DOSE-MIN (ASRA Table 6, Q3, Q6) and the esketamine note.

Doses ordered in mg are converted with the most recent body weight in the look-back window; with no such weight
the finding says the dose cannot be checked rather than assuming one. The monitored-setting threshold is ASRA
Q6's ">= 1 mg/kg/h" (Table 6 says "> 1"; RULES.md 3.2 picks the conservative one). Elderly thresholds are local
defaults. The ranges are for parenteral (IV/SC) racemic ketamine, so they are not applied to other routes or to
esketamine.
"""

from __future__ import annotations

from dataclasses import replace

from smart_app.core.findings import Citation, Evidence, Finding
from smart_app.core.safety import sources
from smart_app.core.safety.amounts import Amount
from smart_app.core.safety.context import SafetyContext, finding
from smart_app.core.safety.ketamine_order import KetamineOrder
from smart_app.core.safety.vitals import current_weight

PARENTERAL = frozenset({"intravenous", "subcutaneous", "intramuscular"})
BOLUS_MAX = 0.35  # mg/kg, ASRA Table 6 (and the Q6 personnel threshold)
RATE_MIN, RATE_MONITORED, RATE_MAX, RATE_ICU = 0.5, 1.0, 2.0, 7.0  # mg/kg/h, ASRA Table 6 / Q6
TOTAL_MIN_MG, DURATION_MIN_H = 80.0, 2.0  # ASRA Table 6 / Q3


def _order_evidence(order: KetamineOrder, what: str) -> Evidence:
    return Evidence(order.reference, f"Draft order: {order.name}", None, what)


def _no_weight(ctx: SafetyContext, rule: str, order: KetamineOrder, what: str, ordered: Amount) -> Finding:
    reason = f"no body weight within {ctx.settings.weight_lookback_days} days (local default weight_lookback_days)"
    evidence = [_order_evidence(order, f"{what} {ordered.as_ordered}"), Evidence("(absent)", reason)]
    older = current_weight(ctx.record, ctx.on, None)
    if older is not None:
        evidence.append(replace(older.evidence, value=f"{older.evidence.value}: outside the look-back window"))
    return finding(
        rule,
        "warning",
        f"Ketamine {what} cannot be checked in mg/kg: no recent body weight",
        f"The order gives the {what} in mg, and the record has {reason}. Record a current weight so that the dose "
        "can be compared with ASRA's mg/kg ranges; no weight is assumed.",
        (sources.ASRA_T6_DOSING,),
        evidence,
        wording="dose range (ASRA Table 6)",
        local_defaults=("weight_lookback_days",),
    )


def _setting_text(order: KetamineOrder) -> str:
    if order.setting is None:
        return "The order does not state its setting (MedicationRequest.category)."
    return f"Ordered setting: {order.setting}."


def _bolus(ctx: SafetyContext, order: KetamineOrder) -> Finding | None:
    if order.bolus is None:
        return None
    dose = order.bolus.mg_per_kg(ctx.weight_kg)
    if dose is None:
        return _no_weight(ctx, "DOSE-BOLUS", order, "bolus", order.bolus)
    shown = f"{order.bolus.as_ordered} = {dose:.2f} mg/kg" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown)] + ([ctx.weight.evidence] if ctx.weight else [])
    s = ctx.settings
    if dose >= BOLUS_MAX:
        above = dose > BOLUS_MAX
        return finding(
            "DOSE-BOLUS",
            "warning",
            f"Ketamine bolus {dose:.2f} mg/kg "
            + ("exceeds ASRA's 0.35 mg/kg" if above else "is at ASRA's 0.35 mg/kg limit")
            + ": experienced staff and airway support",
            f"Bolus {shown}. ASRA Table 6: **bolus up to 0.35 mg/kg**. ASRA Q6: a bolus of **≥0.35 mg/kg** should be "
            "given by clinicians experienced in ketamine, in a unit with trained nurses and staff trained in airway "
            "management and ACLS immediately available. " + _setting_text(order),
            (sources.ASRA_T6_DOSING, sources.ASRA_Q6),
            evidence,
            wording="outside consensus range" if above else "experienced staff required",
            suggestions=("protocol",),
        )
    if ctx.is_elderly and dose >= s.elderly_bolus_mg_per_kg:
        return finding(
            "DOSE-BOLUS",
            "warning",
            f"Ketamine bolus {dose:.2f} mg/kg in a patient aged {ctx.age}: lower threshold for intensive monitoring",
            f"Bolus {shown}. ASRA Q6: for elderly individuals, **lower thresholds should trigger** more intensive "
            f"monitoring. Thresholds used: {ctx.local('elderly_age')}; {ctx.local('elderly_bolus_mg_per_kg')}.",
            (sources.ASRA_Q6,),
            evidence,
            wording="lower thresholds should trigger more intensive monitoring",
            local_defaults=("elderly_age", "elderly_bolus_mg_per_kg"),
        )
    return finding(
        "DOSE-BOLUS",
        "info",
        f"Ketamine bolus {dose:.2f} mg/kg is within ASRA's range (up to 0.35 mg/kg)",
        f"Bolus {shown}. ASRA Table 6: bolus up to 0.35 mg/kg.",
        (sources.ASRA_T6_DOSING,),
        evidence,
        wording="within consensus range",
    )


def _rate(ctx: SafetyContext, order: KetamineOrder) -> Finding | None:
    if order.rate is None:
        return None
    rate = order.rate.mg_per_kg(ctx.weight_kg)
    if rate is None:
        return _no_weight(ctx, "DOSE-RATE", order, "infusion rate", order.rate)
    shown = f"{order.rate.as_ordered} = {rate:.2f} mg/kg/h" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown)] + ([ctx.weight.evidence] if ctx.weight else [])
    setting = _setting_text(order)
    inpatient_note = ""
    citations: tuple[Citation, ...] = (sources.ASRA_T6_DOSING, sources.ASRA_Q6, sources.ASRA_T6_SETTING)
    if order.setting in ("outpatient", "community"):
        inpatient_note = (
            " Setting: ANZCA PS12 3.2.1 says infusions **should be delivered in in-patient settings**; ASRA Q3 finds "
            "it reasonable to start with a single outpatient infusion."
        )
        citations = (*citations, sources.ANZCA_PS_3_2_1, sources.ASRA_Q3_MINIMUM)
    s = ctx.settings
    if rate > RATE_MAX:
        beyond = rate > RATE_ICU
        return finding(
            "DOSE-RATE",
            "critical",
            f"Ketamine infusion {rate:.2f} mg/kg/h is above ASRA's 0.5–2 mg/kg/h range"
            + (" and above the 7 mg/kg/h ICU maximum" if beyond else ": ICU only"),
            f"Rate {shown}. ASRA Table 6: **infusion 0.5 to 2 mg/kg per hour**; up to 7 mg/kg/h only in refractory "
            "cases in ICU settings, which require intensive care monitoring and intubation or other precautions "
            f"against aspiration (ASRA Q3). {setting}{inpatient_note}",
            (*citations, sources.ASRA_ICU),
            evidence,
            wording="outside consensus range; ICU only",
            suggestions=("protocol",),
        )
    if rate >= RATE_MONITORED:
        return finding(
            "DOSE-RATE",
            "warning",
            f"Ketamine infusion {rate:.2f} mg/kg/h needs a monitored setting with resuscitation staff (≥1 mg/kg/h)",
            f"Rate {shown}. ASRA Q6: infusions of **≥1 mg/kg/h** need clinicians experienced in ketamine, trained "
            "nurses, and airway/ACLS-trained staff immediately available; Table 6 (Grade A, low certainty) requires "
            f"a monitored setting with resuscitative equipment above 1 mg/kg/h. {setting}{inpatient_note}",
            citations,
            evidence,
            wording="monitored setting required",
            suggestions=("protocol",),
        )
    if ctx.is_elderly and rate >= s.elderly_rate_monitored_mg_per_kg_h:
        return finding(
            "DOSE-RATE",
            "warning",
            f"Ketamine infusion {rate:.2f} mg/kg/h at age {ctx.age}: lower threshold for a monitored setting",
            f"Rate {shown}. ASRA Q6: for elderly individuals, **lower thresholds should trigger** more intensive "
            f"monitoring. Thresholds used: {ctx.local('elderly_age')}; "
            f"{ctx.local('elderly_rate_monitored_mg_per_kg_h')}. {setting}{inpatient_note}",
            citations,
            evidence,
            wording="lower thresholds should trigger more intensive monitoring",
            local_defaults=("elderly_age", "elderly_rate_monitored_mg_per_kg_h"),
            suggestions=("protocol",),
        )
    low = rate < RATE_MIN
    return finding(
        "DOSE-RATE",
        "info",
        f"Ketamine infusion {rate:.2f} mg/kg/h is "
        + ("below ASRA's 0.5–2 mg/kg/h range" if low else "within ASRA's 0.5–2 mg/kg/h range"),
        f"Rate {shown}. ASRA Table 6: infusion 0.5 to 2 mg/kg per hour; a monitored setting from 1 mg/kg/h. "
        f"{setting}{inpatient_note}",
        citations,
        evidence,
        wording="below consensus range" if low else "within consensus range",
    )


def _minimum(ctx: SafetyContext, order: KetamineOrder) -> Finding | None:
    if order.rate is None:
        return None
    if order.duration_h is None:
        ctx.not_checked.append(
            "DOSE-MIN: the order gives no infusion duration, so the 80 mg / >2 h minimum was not checked"
        )
        return None
    total = order.total_mg(ctx.weight_kg)
    short = order.duration_h <= DURATION_MIN_H
    small = total is not None and total < TOTAL_MIN_MG
    if total is None:
        ctx.not_checked.append("DOSE-MIN: total dose needs a body weight (rate ordered per kg)")
    if not (short or small):
        return None
    planned = f"{total:.0f} mg" if total is not None else "total unknown"
    return finding(
        "DOSE-MIN",
        "info",
        f"Planned infusion ({planned} over {order.duration_h:g} h) is below ASRA's minimum of 80 mg over >2 h",
        f"Planned {planned} over {order.duration_h:g} h. ASRA Table 6 / Q3: total dosages of **at least 80 mg infused "
        "over a period of >2 h**; infusions under 2 hours were unlikely to give benefit lasting more than 48 hours.",
        (sources.ASRA_T6_DOSING, sources.ASRA_Q3_MINIMUM),
        [_order_evidence(order, f"{planned} over {order.duration_h:g} h")],
        wording="minimum effective regimen",
    )


def _esketamine(order: KetamineOrder) -> Finding:
    return finding(
        "DOSE-ESKETAMINE",
        "warning",
        "Esketamine ordered: a different product; ASRA's racemic ketamine dose ranges were not applied",
        f"{order.name} is esketamine (S-ketamine), marketed as a nasal spray for depression, not racemic IV ketamine "
        "for chronic pain. The sources describe S(+)-ketamine as about twice as potent as racemic ketamine (B&K), "
        "so ASRA's racemic mg/kg ranges do not transfer. Confirm the indication and product.",
        (sources.BK_POTENCY, sources.ASRA_T6_DOSING),
        [_order_evidence(order, "esketamine")],
        wording="different drug and indication",
    )


def check(ctx: SafetyContext) -> list[Finding]:
    found: list[Finding] = []
    for order in ctx.orders:
        if order.drug == "esketamine":
            found.append(_esketamine(order))
            continue
        if order.route is not None and order.route not in PARENTERAL:
            ctx.not_checked.append(
                f"DOSE-*: {order.reference} is {order.route}; ASRA's mg/kg ranges are for IV infusions, not applied"
            )
            continue
        if order.route is None:
            ctx.not_checked.append(f"route of {order.reference} not stated: dose ranges applied as for IV")
        for problem in order.problems:
            ctx.not_checked.append(f"{order.reference}: {problem}")
        found.extend(f for f in (_bolus(ctx, order), _rate(ctx, order), _minimum(ctx, order)) if f is not None)
    return found
