"""The guideline passages the safety rules cite, one constant per passage.

Line refs are into the extracted texts under shared/seeds/ (as in RULES.md); sections and grades follow the
documents. Kept in one place so that a correction to a citation is made once.
"""

from __future__ import annotations

from smart_app.core.outcomes import Citation
from smart_app.core.safety.limits import dose_limits

# --- Contraindications -----------------------------------------------------------------------------------------
ANZCA_PS_2_2_3 = Citation(
    "ANZCA-PS",
    "2.2.3",
    "L173–181",
    None,
    "Ketamine should not be used in patients with CNCP who also have: poorly controlled cardiovascular disease; "
    "poorly controlled psychoses; severe hepatic impairment; elevated intracranial or intraocular pressure",
)
ASRA_Q2_CV = Citation(
    "ASRA",
    "Guideline Question 2 (summary)",
    "L1215–1218",
    "Grade B, moderate certainty (Table 6: low certainty)",
    "ketamine should not be used in patients with poorly controlled cardiovascular disease",
)
ASRA_MONITORING_ANGINA = Citation(
    "ASRA",
    "Monitoring",
    "L996–1000",
    None,
    "in patients with relative contraindications to ketamine such as poorly controlled angina, an infusion may still "
    "be indicated in refractory cases if the perceived benefits outweigh the risks",
)
ASRA_T5 = Citation("ASRA", "Table 5 (contraindications and precautions)", "L1177–1203", None)
ASRA_Q2_PSY = Citation(
    "ASRA",
    "Guideline Question 2 (summary)",
    "L1216–1218",
    "Grade B, moderate certainty",
    "should be avoided in individuals with certain poorly controlled psychoses",
)
ASRA_DELIRIUM = Citation(
    "ASRA",
    "Guideline Question 2",
    "L1170–1171",
    None,
    "patients with delirium can experience an exacerbation of symptoms with ketamine infusion",
)
ASRA_Q2_HEP = Citation(
    "ASRA",
    "Guideline Question 2 (summary)",
    "L1219–1221",
    "Grade C, low certainty",
    "it should be avoided in individuals with severe impairment but may be administered judiciously with proper "
    "monitoring in people with moderate disease",
)
ASRA_Q2_ICP = Citation(
    "ASRA",
    "Guideline Question 2 (summary)",
    "L1222–1224",
    "Grade C, low certainty",
    "ketamine should not be used or used only in lower dosages with extreme caution",
)
ASRA_WEAK_RELATIVE = Citation(
    "ASRA",
    "Guideline Question 2",
    "L1143–1147",
    None,
    "elevated intracranial and intraocular pressure, brain tumor, and traumatic brain injury, which appear to be weak "
    "relative contraindications",
)
ASRA_T5_ENDO = Citation(
    "ASRA",
    "Table 5, Endocrinological (due to possible potentiation of sympathomimetic effects)",
    "L1177–1203",
    None,
    "Hyperthyroidism; Pheochromocytoma",
)
ASRA_T6_PREGNANCY = Citation(
    "ASRA",
    "Table 6, Relative contraindications (1); Table 5 Pregnancy: 'Lack of data on safety'",
    "L1665–1672, L1714",
    "Grade B, low certainty",
)
ASRA_Q2_SUD = Citation(
    "ASRA",
    "Guideline Question 2 (summary)",
    "L1224–1226",
    "Grade C, low certainty",
    "Serial ketamine infusions should not be undertaken in patients with an active substance abuse problem and "
    "should be used along with universal precautions to monitor for abuse",
)
ANZCA_PS_2_2_2 = Citation(
    "ANZCA-PS",
    "2.2.2",
    "L159–171",
    None,
    "Ketamine has been considered in those patients with CNCP ... who are considered to have a dual diagnosis of pain "
    "and opioid use disorder",
)
ASRA_RESCUE = Citation(
    "ASRA",
    "Guideline Question 2",
    "L1165–1167",
    None,
    "relative contraindications to rescue medications such as benzodiazepines (eg, use of some human "
    "immunodeficiency virus retroviral drugs, poorly controlled myasthenia gravis, history of adverse reaction) may "
    "not be good candidates for ketamine treatment",
)
ANZCA_PS_1_4 = Citation(
    "ANZCA-PS",
    "1.4",
    "L109–115",
    None,
    "must obtain written informed consent from their patients (or their legal guardians) in which it is emphasised "
    "that this use is 'conditional off-label'",
)
ASRA_T5_CONSENT = Citation("ASRA", "Table 5, Psychiatric", "L1203", None, "Refusal or inability to consent")
ASRA_NPO = Citation(
    "ASRA",
    "Monitoring; Table 5 Gastrointestinal ('Full stomach aspiration risk')",
    "L991–993",
    None,
    "basic safety measures such as ensuring nil-per-os status",
)

# --- Pre-infusion tests ----------------------------------------------------------------------------------------
ASRA_T6_TESTS = Citation("ASRA", "Table 6, Preinfusion tests", "L1678–1687, L1721–1723", "Grade C, low certainty")
ASRA_Q5 = Citation(
    "ASRA",
    "Guideline Question 5 (summary)",
    "L1415–1421",
    "Grade C, low certainty",
    "baseline ECG testing may be considered to exclude individuals with uncontrolled ischemic heart disease",
)

ASRA_LIVER_REPEAT = Citation(
    "ASRA",
    "Guideline Question 5",
    "L1399–1411",
    None,
    "In the 6 patients who received their second treatment 16 days after the first, 1 patient developed severe "
    "hypertension, and 3 patients developed dramatic elevations (≥3 times baseline) in liver enzymes ... "
    "approximately 10% of individuals receiving high-dose ketamine infusions will experience significant increases "
    "in liver enzymes",
)
ASRA_CUMULATIVE = Citation(
    "ASRA",
    "Guideline Question 2",
    "L1211–1214",
    None,
    "the possible cumulative risks (drug-induced cystitis) and effects (hepatic dysfunction) of chronic "
    "administration should be taken into consideration when embarking on a scheduled multiday infusion regimen",
)

# --- Dosing, setting, frequency ----------------------------------------------------------------------------------
# The dose-limit passages live with the limits themselves (mappings/ketamine_limits.json), so a limit and the
# passage that sets it are corrected together.
ASRA_T6_DOSING = dose_limits().dosing
ASRA_Q6 = dose_limits().monitored_q6
ASRA_Q6_ELDERLY = dose_limits().elderly
ASRA_T6_SETTING = dose_limits().monitored_setting
ASRA_ICU = Citation(
    "ASRA",
    "Guideline Question 3",
    "L1268–1273",
    None,
    "up to 7 mg/kg per hour ... require intensive care unit monitoring and intubation or other precautions",
)
ASRA_Q3_MINIMUM = Citation(
    "ASRA",
    "Guideline Question 3",
    "L1285–1290",
    "Grade C, low certainty",
    "start dosing with a single, outpatient infusion at a minimum dose of 80 mg lasting more than 2 hours",
)
ANZCA_PS_3_2_1 = Citation(
    "ANZCA-PS",
    "3.2.1",
    "L290–292",
    None,
    "Infusion of ketamine (subcutaneous or intravenous) should be delivered in in-patient settings",
)
ASRA_Q8 = Citation(
    "ASRA",
    "Guideline Question 8",
    "L1617–1620",
    "Grade C, low to moderate certainty",
    "limiting these to no more than 6 to 12 treatments per year is reasonable",
)

ASRA_Q3_REASSESS = Citation(
    "ASRA",
    "Guideline Question 3",
    "L1287–1289",
    "Grade C, low certainty",
    "start dosing with a single, outpatient infusion at a minimum dose of 80 mg lasting more than 2 hours and "
    "reassess before initiating further treatments",
)
ASRA_Q8_RESPONSE = Citation(
    "ASRA",
    "Guideline Question 8",
    "L1611–1620",
    "Grade C, low to moderate certainty",
    "a positive outcome be considered as 30% pain relief or greater in conjunction with patient satisfaction and/or "
    "more objective indicators of meaningful benefit, such as a 12.8% improvement in Oswestry Disability Index score "
    "in a patient with back pain or a 20% or greater reduction in opioid use ... a consecutive 'series' of infusions "
    "should not be administered by rote, but rather tailored to patient response",
)
ASRA_T6_RESPONSE = Citation(
    "ASRA",
    "Table 6, Positive response",
    "L1687–1691, L1725",
    "Grade C, low-to-moderate certainty",
    "A positive response should include objective measures of benefit in addition to satisfaction such as ≥30% "
    "decrease in pain score or comparable validated measures for different conditions",
)
ANZCA_PS_1_3 = Citation(
    "ANZCA-PS",
    "1.3",
    "L105–107",
    None,
    "the condition of such use should involve systematic reporting of effectiveness and safety outcomes so that an "
    "evidence base can be developed",
)

# --- Opioids ------------------------------------------------------------------------------------------------------
ANZCA_PS_3_4_1 = Citation(
    "ANZCA-PS",
    "3.4.1",
    "L338–340",
    None,
    "An opioid treatment plan should be negotiated with the patient prior to admission for ketamine infusion.",
)
ANZCA_PS_3_4_2 = Citation(
    "ANZCA-PS",
    "3.4.2",
    "L342–344",
    None,
    "Conversion of current opioids (oral, transdermal) to one opioid species should be made prior to administration "
    "of ketamine.",
)
ISCRR_OPIOID_NAIVE = Citation(
    "ISCRR",
    "Opioid reduction",
    "L1397–1399",
    None,
    "once patients have achieved opioid withdrawal, they essentially become 'opioid naïve'",
)
ISCRR_REINTRODUCTION = Citation(
    "ISCRR",
    "Opioid reduction",
    "L1397–1399",
    None,
    "once patients have achieved opioid withdrawal, they essentially become 'opioid naïve' and close monitoring of "
    "their analgesic medication is essential to ensure that re-introduction of opioids are managed carefully to "
    "avoid opioid toxicity or overdose",
)

ASRA_INTERACTION = Citation(
    "ASRA",
    "Guideline Question 6",
    "L1490–1492",
    None,
    "Specific concerns regarding the monitoring of ketamine administration include airway protection, cardiovascular "
    "stimulation, the potential interaction of ketamine with concomitantly administered medications that may enhance "
    "certain effects (eg, midazolam), and the treatment of adverse effects.",
)
# CDC 2022 is outside the five guideline documents (mappings/guidelines.json marks it external): it is the source
# of the MME factors, and the one source here on opioids taken with benzodiazepines and on naloxone. No line refs:
# it is not one of the seed texts.
CDC_2022_BENZODIAZEPINES = Citation(
    "CDC-2022",
    "Recommendation 11",
    None,
    "Recommendation category B, evidence type 3",
    "Clinicians should use particular caution when prescribing opioid pain medication and benzodiazepines "
    "concurrently and consider whether benefits outweigh risks of concurrent prescribing of opioids and other central "
    "nervous system depressants.",
)
CDC_2022_NALOXONE = Citation(
    "CDC-2022",
    "Recommendation 8",
    None,
    "Recommendation category A, evidence type 4",
    "Before starting and periodically during continuation of opioid therapy, clinicians should evaluate risk for "
    "opioid-related harms and discuss risk with patients. Clinicians should work with patients to incorporate into "
    "the management plan strategies to mitigate risk, including offering naloxone.",
)

# --- Routes --------------------------------------------------------------------------------------------------------
ANZCA_PS_APP_II = Citation(
    "ANZCA-PS",
    "Appendix II",
    "L496–502",
    None,
    "The Faculty of Pain Medicine does not support the use of oral ketamine outside a research context.",
)
ASRA_Q4 = Citation(
    "ASRA",
    "Guideline Question 4",
    "L1339–1349",
    "Grade B, low certainty",
    "oral ketamine (150 mg/d or 0.5 mg/kg every 6 hours) ... in patients with a history of abuse or who are at high "
    "risk of abuse, the risks of prescribing it chronically in a community-based setting should be weighed",
)
ASRA_INTRATHECAL = Citation(
    "ASRA",
    "Neuraxial route",
    "L831–837",
    None,
    "it seems prudent to avoid intrathecal ketamine ... except in rare circumstances",
)
BK_NEURAXIAL = Citation(
    "B&K",
    "Conclusions; Key point 5",
    "L266",
    None,
    "Spinal and epidural routes are not recommended because of issues of neurotoxicity.",
)
BK_POTENCY = Citation(
    "B&K",
    "3.1 Pharmacology",
    "L92",
    None,
    "the S(+) enantiomer that is approximately twice as potent as racemic ketamine",
)
