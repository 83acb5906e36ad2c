"""ORAL and ROUTE-NEURAX: routes the sources advise against or do not support."""

from __future__ import annotations

from smart_app.core.findings import Evidence, Finding
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, finding
from smart_app.core.safety.ketamine_order import ENTERAL_ROUTES, NEURAXIAL_ROUTES, KetamineOrder
from smart_app.core.safety.rules.substance import SUBSTANCE


def _evidence(order: KetamineOrder) -> Evidence:
    return Evidence(order.reference, f"Draft order: {order.name}", None, f"route: {order.route_text or order.route}")


def check(ctx: SafetyContext) -> list[Finding]:
    found: list[Finding] = []
    abuse = ctx.conditions(*SUBSTANCE)
    for order in ctx.orders:
        if order.route in NEURAXIAL_ROUTES:
            found.append(
                finding(
                    "ROUTE-NEURAX",
                    "critical",
                    f"{order.route.capitalize()} ketamine: spinal and epidural routes are not recommended "
                    "(neurotoxicity)",
                    "B&K: **spinal and epidural routes are not recommended because of issues of neurotoxicity**. ASRA: "
                    "it seems prudent to **avoid intrathecal ketamine** except in rare circumstances (a sixth-line "
                    "adjuvant in refractory cancer or terminal pain). ISCRR summarises one positive RCT of epidural "
                    "ketamine with epidural steroid (Gupta), which does not change this advice.",
                    (sources.BK_NEURAXIAL, sources.ASRA_INTRATHECAL),
                    [_evidence(order)],
                    wording="avoid / not recommended",
                )
            )
        elif order.route in ENTERAL_ROUTES and order.drug == "ketamine":
            detail = (
                "ANZCA PS12 Appendix II: **the Faculty of Pain Medicine does not support the use of oral ketamine "
                "outside a research context**. ASRA Q4 (Grade B, low certainty): oral ketamine (150 mg/d or 0.5 mg/kg "
                "every 6 hours) can be tried as follow-on therapy in IV responders; it has significant abuse potential "
                "and street value. B&K: oral use seems associated with a high rate of adverse effects."
            )
            evidence = [_evidence(order)]
            if abuse:
                detail += (
                    " The record shows a substance use disorder: ASRA says the risks of prescribing oral ketamine "
                    "chronically in a community setting should be weighed against the benefits, with surveillance."
                )
                evidence.extend(m.evidence for m in abuse)
            found.append(
                finding(
                    "ORAL",
                    "warning",
                    f"{order.route.capitalize()} ketamine: ANZCA does not support it outside research; "
                    "ASRA low-level evidence",
                    detail,
                    (sources.ANZCA_PS_APP_II, sources.ASRA_Q4),
                    evidence,
                    wording="not supported outside research (ANZCA); may be tried in responders (ASRA)",
                )
            )
        elif order.route is None:
            ctx.not_checked.append(f"ROUTE: {order.reference} does not state a route (Dosage.route)")
    return found
