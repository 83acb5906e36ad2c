"""ORAL and ROUTE-NEURAX: routes the sources advise against or do not support."""

from __future__ import annotations

from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable
from smart_app.core.safety.ketamine_order import KetamineOrder
from smart_app.core.safety.limits import route_classes
from smart_app.core.safety.rules.substance import SUBSTANCE


def _evidence(order: KetamineOrder) -> Evidence:
    shown = order.route_text or order.route
    if order.route_text and order.route and order.route.lower() not in order.route_text.lower():
        shown = f"{order.route_text} (read as {order.route})"
    return Evidence(order.reference, f"Draft order: {order.name}", None, f"route: {shown}")


def _neuraxial(order: KetamineOrder) -> Outcome:
    return fired(
        "ROUTE-NEURAX",
        "critical",
        f"{(order.route or '').capitalize()} ketamine: spinal and epidural routes are not recommended (neurotoxicity)",
        "B&K: **spinal and epidural routes are not recommended because of issues of neurotoxicity**. ASRA: it seems "
        "prudent to **avoid intrathecal ketamine** except in rare circumstances (a sixth-line adjuvant in refractory "
        "cancer or terminal pain). ISCRR summarises one positive RCT of epidural ketamine with epidural steroid "
        "(Gupta), which does not change this advice.",
        [_evidence(order)],
        subject=order.reference,
        wording="avoid / not recommended",
    )


def _oral(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    detail = (
        "ANZCA PS12 Appendix II: **the Faculty of Pain Medicine does not support the use of oral ketamine outside a "
        "research context**. ASRA Q4 (Grade B, low certainty): oral ketamine (150 mg/d or 0.5 mg/kg every 6 hours) "
        "can be tried as follow-on therapy in IV responders; it has significant abuse potential and street value. "
        "B&K: oral use seems associated with a high rate of adverse effects."
    )
    evidence = [_evidence(order)]
    abuse = ctx.conditions(*SUBSTANCE)
    if abuse:
        detail += (
            " The record shows a substance use disorder: ASRA says the risks of prescribing oral ketamine "
            "chronically in a community setting should be weighed against the benefits, with surveillance."
        )
        evidence.extend(m.evidence for m in abuse)
    return fired(
        "ORAL",
        "warning",
        f"{(order.route or '').capitalize()} ketamine: ANZCA does not support it outside research; "
        "ASRA low-level evidence",
        detail,
        evidence,
        subject=order.reference,
        wording="not supported outside research (ANZCA); may be tried in responders (ASRA)",
    )


def check(ctx: SafetyContext) -> list[Outcome]:
    if not ctx.orders:
        return [not_applicable(rule, "No draft ketamine order") for rule in ("ORAL", "ROUTE-NEURAX")]
    classes = route_classes()
    found: list[Outcome] = []
    for order in ctx.orders:
        ref = order.reference
        if order.route is None:
            if order.route_problem:
                missing = [Missing("order-route", f"{ref}: {order.route_problem}")]
                summary = "Route not recognised"
            else:
                missing = [Missing("order-route", f"{ref} does not state a route (Dosage.route)")]
                summary = "Route not stated"
            found.append(
                not_evaluable("ROUTE-NEURAX", f"{summary}: a neuraxial route cannot be excluded", missing, subject=ref)
            )
            found.append(not_evaluable("ORAL", summary, missing, subject=ref))
            continue
        route_evidence = [_evidence(order)]
        if order.route in classes.neuraxial:
            found.append(_neuraxial(order))
        else:
            found.append(
                not_applicable(
                    "ROUTE-NEURAX", f"{order.route.capitalize()} route", subject=ref, evidence=route_evidence
                )
            )
        if order.route in classes.enteral and order.drug == "ketamine":
            found.append(_oral(ctx, order))
        else:
            found.append(
                not_applicable("ORAL", f"{order.route.capitalize()} route", subject=ref, evidence=route_evidence)
            )
    return found
