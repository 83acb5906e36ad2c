"""The rule catalogue: every ketamine safety rule declared once (RULES.md section 7), as data.

Each rule says what it is about (`kind`), whether it judges the patient or a draft order (`phase`), which
categories of FHIR data it reads (`needs`: when one was unavailable, a rule that found nothing cannot say "nothing
found"), the passages it rests on, the local defaults it uses, and how a fired outcome bears on the protocols.
Presenters and the alert policy read these fields; they never infer meaning from a rule id.

`opioid_order` marks the opioid rules that also judge an opioid being ordered: the opioid MME order-sign service
shows them (core/alerts.py `opioid_alerts`), not only the ketamine services.

`reminder` marks the procedural rules whose data an EHR record can rarely hold (written off-label consent, fasting
status, a negotiated opioid plan). They belong in the app's checklist and in the protocol order set's instructions,
not on a card for every order: see README "Alert policy".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smart_app.core.outcomes import Citation, Need
from smart_app.core.safety import sources

Kind = Literal["contraindication", "precaution", "baseline-test", "dose", "procedure", "opioid"]
Phase = Literal["patient", "order"]
# How a fired outcome bears on a protocol offered for this patient (core/protocols/eligibility.py):
# "contraindication": a critical one marks every protocol not recommended, a warning calls for caution;
# "caution": calls for caution; "none": judges the draft order being replaced, not the protocols.
ProtocolEffect = Literal["contraindication", "caution", "none"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    title: str  # what the rule checks, for the checklist
    kind: Kind
    phase: Phase
    needs: frozenset[Need]
    citations: tuple[Citation, ...]
    local_defaults: tuple[str, ...] = ()  # LocalDefaults settings the rule may use
    protocol_effect: ProtocolEffect = "none"
    reminder: bool = False
    opioid_order: bool = False  # also shown at the opioid MME order-sign service
    # Cards that, when shown, carry this rule's plans (suggestions) instead of a card of its own, because they
    # already state its reason ("MME": the MME card at or above the first level). Fewer cards, same actions.
    carried_by: tuple[str, ...] = ()
    # Whether a not-evaluable outcome of this rule is named on the order's "not everything could be checked" card
    # (False: what it lacks does not bear on the order being decided; the checklist still shows it).
    gaps_on_order_card: bool = True


_CONDITIONS: frozenset[Need] = frozenset({"Condition"})
_MEDICATIONS: frozenset[Need] = frozenset({"MedicationRequest", "MedicationStatement"})
_HISTORY: frozenset[Need] = frozenset({"MedicationRequest", "MedicationAdministration"})
_BP = ("bp_systolic_poorly_controlled", "bp_diastolic_poorly_controlled", "bp_lookback_days")
_ELDERLY_DOSE = ("weight_lookback_days", "elderly_age")

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "CI-CV",
        "Poorly controlled cardiovascular disease",
        "contraindication",
        "patient",
        frozenset({"Condition", "Observation"}),
        (sources.ANZCA_PS_2_2_3, sources.ASRA_Q2_CV, sources.ASRA_T5, sources.ASRA_MONITORING_ANGINA),
        _BP,
        "contraindication",
    ),
    RuleSpec(
        "CI-PSY",
        "Psychotic disorder",
        "contraindication",
        "patient",
        _CONDITIONS,
        (sources.ANZCA_PS_2_2_3, sources.ASRA_Q2_PSY, sources.ASRA_T5),
        protocol_effect="contraindication",
    ),
    RuleSpec(
        "CI-DEL",
        "Delirium",
        "precaution",
        "patient",
        _CONDITIONS,
        (sources.ASRA_DELIRIUM, sources.ASRA_T5),
        protocol_effect="caution",
    ),
    RuleSpec(
        "CI-HEP",
        "Severe hepatic impairment or abnormal liver tests",
        "contraindication",
        "patient",
        frozenset({"Condition", "Observation"}),
        (sources.ANZCA_PS_2_2_3, sources.ASRA_Q2_HEP, sources.ASRA_T5),
        (
            "lft_lookback_days",
            "lft_transaminase_uln_multiple",
            "lft_transaminase_default_uln",
            "lft_bilirubin_uln_multiple",
        ),
        "contraindication",
    ),
    RuleSpec(
        "CI-ICP-IOP",
        "Raised intracranial or intraocular pressure",
        "contraindication",
        "patient",
        _CONDITIONS,
        (sources.ANZCA_PS_2_2_3, sources.ASRA_Q2_ICP, sources.ASRA_WEAK_RELATIVE, sources.ASRA_T5),
        protocol_effect="contraindication",
    ),
    RuleSpec(
        "CI-ENDO",
        "Hyperthyroidism or pheochromocytoma",
        "precaution",
        "patient",
        _CONDITIONS,
        (sources.ASRA_T5_ENDO,),
        protocol_effect="caution",
    ),
    RuleSpec(
        "CI-PREG",
        "Pregnancy",
        "contraindication",
        "patient",
        frozenset({"Condition", "Observation"}),
        (sources.ASRA_T6_PREGNANCY, sources.ASRA_T5),
        ("pregnancy_test_lookback_days",),
        "contraindication",
    ),
    RuleSpec(
        "CI-SUD",
        "Active substance abuse (serial infusions)",
        "contraindication",
        "patient",
        frozenset({"Condition", *_HISTORY}),
        (sources.ASRA_Q2_SUD, sources.ASRA_T5, sources.ANZCA_PS_2_2_2),
        protocol_effect="contraindication",
    ),
    RuleSpec(
        "CI-RESCUE",
        "Benzodiazepine rescue limited (HIV antiretrovirals, myasthenia gravis, benzodiazepine allergy)",
        "precaution",
        "patient",
        frozenset({"Condition", "AllergyIntolerance", *_MEDICATIONS}),
        (sources.ASRA_RESCUE,),
        protocol_effect="caution",
    ),
    RuleSpec(
        "CI-CONSENT",
        "Written informed consent to conditional off-label use",
        "procedure",
        "patient",
        frozenset({"Consent"}),
        (sources.ANZCA_PS_1_4, sources.ASRA_T5_CONSENT),
        protocol_effect="contraindication",
        reminder=True,
    ),
    RuleSpec(
        "CI-ASP",
        "Nil-per-os status (full-stomach aspiration risk)",
        "procedure",
        "patient",
        frozenset(),
        (sources.ASRA_NPO, sources.ASRA_T5),
        reminder=True,
    ),
    RuleSpec(
        "PRE-ECG",
        "Baseline 12-lead ECG when cardiovascular risk",
        "baseline-test",
        "patient",
        frozenset({"Condition", "Observation"}),
        (sources.ASRA_T6_TESTS, sources.ASRA_Q5),
        ("ecg_lookback_days", *_BP),
    ),
    RuleSpec(
        "PRE-LFT",
        "Baseline and post-infusion liver tests when liver risk or high doses at frequent intervals",
        "baseline-test",
        "patient",
        frozenset({"Condition", "Observation", *_HISTORY}),
        (sources.ASRA_T6_TESTS, sources.ASRA_Q5, sources.ASRA_LIVER_REPEAT, sources.ASRA_CUMULATIVE),
        (
            "lft_lookback_days",
            "high_dose_rate_mg_per_kg_h",
            "repeat_course_days",
            "multiday_course_hours",
            "cumulative_ketamine_mg_30d",
        ),
    ),
    RuleSpec(
        "DOSE-BOLUS",
        "Bolus dose in mg/kg (ASRA: up to 0.35 mg/kg)",
        "dose",
        "order",
        frozenset({"Observation"}),
        (sources.ASRA_T6_DOSING, sources.ASRA_Q6),
        (*_ELDERLY_DOSE, "elderly_bolus_mg_per_kg"),
    ),
    RuleSpec(
        "DOSE-RATE",
        "Infusion rate in mg/kg/h (ASRA: 0.5 to 2 mg/kg/h; monitored setting from 1 mg/kg/h; multi-day: as studied)",
        "dose",
        "order",
        frozenset({"Observation"}),
        (sources.ASRA_T6_DOSING, sources.ASRA_Q6, sources.ASRA_T6_SETTING),
        (*_ELDERLY_DOSE, "elderly_rate_monitored_mg_per_kg_h"),
    ),
    RuleSpec(
        "DOSE-MIN",
        "Minimum effective infusion (ASRA: at least 80 mg over more than 2 h)",
        "dose",
        "order",
        frozenset({"Observation"}),
        (sources.ASRA_T6_DOSING, sources.ASRA_Q3_MINIMUM),
        ("weight_lookback_days",),
    ),
    RuleSpec(
        "DOSE-ESKETAMINE",
        "Esketamine ordered (racemic ketamine ranges do not apply)",
        "dose",
        "order",
        frozenset(),
        (sources.BK_POTENCY, sources.ASRA_T6_DOSING),
    ),
    RuleSpec(
        "FREQ",
        "Treatments per year (ASRA: no more than 6 to 12)",
        "dose",
        "patient",
        _HISTORY,
        (sources.ASRA_Q8,),
        ("treatments_per_year_warning", "treatments_per_year_strong"),
        "caution",
    ),
    RuleSpec(
        "FREQ-RESPONSE",
        "Response documented before the next treatment of a series (ASRA: not by rote)",
        "procedure",
        "patient",
        # Not applicable rests on the treatment history alone; missing pain scores or follow-ups are judged in the
        # rule (a course with nothing documented and those data unavailable is not-evaluable, never "no response").
        _HISTORY,
        (sources.ASRA_Q8_RESPONSE, sources.ASRA_Q3_REASSESS, sources.ASRA_T6_RESPONSE, sources.ANZCA_PS_1_3),
        ("course_gap_days",),
        "caution",
        carried_by=("FREQ",),  # the treatments-per-year card already asks to document the response
    ),
    RuleSpec(
        "ORAL",
        "Oral or sublingual ketamine",
        "precaution",
        "order",
        frozenset(),
        (sources.ANZCA_PS_APP_II, sources.ASRA_Q4),
    ),
    RuleSpec(
        "ROUTE-NEURAX",
        "Spinal or epidural ketamine",
        "contraindication",
        "order",
        frozenset(),
        (sources.BK_NEURAXIAL, sources.ASRA_INTRATHECAL),
    ),
    RuleSpec(
        "OPI-1SPECIES",
        "Current opioids converted to one opioid species before ketamine",
        "opioid",
        "patient",
        _MEDICATIONS,
        (sources.ANZCA_PS_3_4_2,),
        ("mme_table",),
        "caution",  # ANZCA: convert before ketamine, so every protocol says so among its reasons
    ),
    RuleSpec(
        "OPI-PLAN",
        "Opioid treatment plan negotiated before admission",
        "opioid",
        "patient",
        _MEDICATIONS,
        (sources.ANZCA_PS_3_4_1, sources.ISCRR_OPIOID_NAIVE),
        reminder=True,
    ),
    RuleSpec(
        "OPI-BASELINE",
        "Opioid load at the first ketamine treatment of a course kept (ASRA: >= 20% reduction is a response)",
        "opioid",
        "patient",
        _MEDICATIONS,
        (sources.ASRA_Q8_RESPONSE,),
        ("mme_table", "course_gap_days", "timeline_assumed_days"),
        gaps_on_order_card=False,  # kept for the response review later; the opioid card shows an incomplete load
    ),
    RuleSpec(
        "POST-TAPER",
        "Opioid ordered after a substantial fall in MME/day, or far above the recent dose",
        "opioid",
        "patient",
        _MEDICATIONS,
        (sources.ISCRR_REINTRODUCTION, sources.CDC_2022_NALOXONE),
        ("post_taper_lookback_days", "post_taper_fall_percent", "opioid_increase_ratio", "timeline_assumed_days"),
        opioid_order=True,
    ),
    RuleSpec(
        "OPI-BZD",
        "Opioid with a benzodiazepine (sedation and respiratory depression; ketamine adds)",
        "opioid",
        "patient",
        _MEDICATIONS,
        (sources.CDC_2022_BENZODIAZEPINES, sources.ASRA_INTERACTION),
        protocol_effect="caution",
        opioid_order=True,
    ),
    RuleSpec(
        "OPI-NALOXONE",
        "Naloxone offered where CDC 2022 calls for it (>= 50 MME/day, with a benzodiazepine, or after a taper)",
        "opioid",
        "patient",
        _MEDICATIONS,
        (sources.CDC_2022_NALOXONE,),
        ("mme_table", "mme_precaution_threshold"),
        opioid_order=True,
        carried_by=("OPI-BZD", "POST-TAPER", "OPI-1SPECIES", "MME"),
    ),
)

CATALOGUE: dict[str, RuleSpec] = {spec.id: spec for spec in RULES}


def spec(rule_id: str) -> RuleSpec:
    return CATALOGUE[rule_id]
