"""Value sets built from the VSAC expansions: each RULES.md concept catches the real codes EHRs send (issue 10) and
none of the exclusions (history-of, suspected, sequela, remission, non-diagnoses, episodes outside their window).

Behaviour is tested through the safety engine's public entry (`evaluate`, via builders.run) and `smart-app check`;
the data itself is audited against its own declaration (mappings/concepts.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smart_app.cds_hooks.prefetch import OBSERVATIONS
from smart_app.cli import main
from smart_app.config import LocalDefaults
from smart_app.core.model import ICD10CM, RXNORM, SNOMED, Coding, Concept
from smart_app.core.safety.terminology import value_set, value_set_names
from smart_app.mappings import read_json
from tests import fhir_factory as f
from tests.safety.builders import ON, condition, only, outcome, rules, run, severities, status

RECENT = "2026-10-20"  # a month before the evaluation date (builders.ON, 2026-11-21)
LONG_AGO = "2019-03-02"


def concept(system: str, code: str) -> Concept:
    return Concept(codings=(Coding(system, code),))


def icd(code: str, display: str = "") -> tuple[str, str, str]:
    return (f.ICD10CM, code, display or code)


def sct(code: str, display: str = "") -> tuple[str, str, str]:
    return (f.SNOMED, code, display or code)


# --- matching -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["I10", "I10.", "i10"])
def test_icd10cm_codes_match_with_or_without_dots(code: str) -> None:
    assert value_set("hypertension").contains(concept(ICD10CM, code))


@pytest.mark.parametrize("code", ["H40.1110", "H401110", "H40.9", "H42"])
def test_real_glaucoma_codes_match(code: str) -> None:
    assert value_set("glaucoma").contains(concept(ICD10CM, code))


def test_codes_that_are_not_icd10cm_codes_are_not_matched_by_family() -> None:
    # H40.11X0 was deleted from ICD-10-CM (laterality was added); a string prefix used to accept it.
    assert not value_set("glaucoma").contains(concept(ICD10CM, "H40.11X0"))
    assert not value_set("glaucoma").contains(concept(ICD10CM, "H41.0"))


def test_same_code_in_another_system_is_not_matched() -> None:
    assert not value_set("hypertension").contains(concept(SNOMED, "I10"))
    assert not value_set("hypertension").contains(concept("http://example.org/local-codes", "59621000"))


def test_snomed_codes_are_not_prefix_matched() -> None:
    assert value_set("hypertension").contains(concept(SNOMED, "59621000"))
    assert not value_set("hypertension").contains(concept(SNOMED, "596210001"))


def test_concepts_are_frozen_sets_built_once() -> None:
    vs = value_set("pregnancy")
    assert vs is value_set("pregnancy")
    assert isinstance(vs.exact_codings, frozenset) and len(vs.exact_codings) > 1900


# --- the data against its declaration -----------------------------------------------------------------------------
DECLARED: dict[str, Any] = read_json("concepts.json")["concepts"]
SYSTEMS: dict[str, str] = read_json("concepts.json")["systems"]


def _declared_codes(spec: dict[str, Any], key: str) -> list[tuple[str, str]]:
    found = []
    for entry in spec.get(key, ()):
        matchers = entry.get("where", []) if key == "include" else [entry]
        for m in matchers:
            for c in m.get("codes", []):
                system, _, code = c.partition(":")
                found.append((SYSTEMS[system], code))
    return found


def test_every_declared_concept_is_built() -> None:
    assert set(value_set_names()) == set(DECLARED)


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_subset_codes_exist_in_their_source_set(name: str) -> None:
    """A code picked from a VSAC set ('where' codes) is in the concept, or excluded with a reason: no typos."""
    vs = value_set(name)
    members = {(c.system, c.code) for c in vs.concepts} | {(e.system, e.code) for e in vs.excluded}
    missing = [code for code in _declared_codes(DECLARED[name], "include") if code not in members]
    assert not missing, f"{name}: {missing} are not in the sets they are picked from"


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_every_excluded_code_was_offered_by_a_source_and_says_why(name: str) -> None:
    vs = value_set(name)
    excluded = {(e.system, e.code) for e in vs.excluded}
    not_offered = [code for code in _declared_codes(DECLARED[name], "exclude") if code not in excluded]
    assert not not_offered, f"{name}: exclusions {not_offered} match nothing its sources offer"
    assert all(e.why for e in vs.excluded)
    for e in vs.excluded:
        if e.routed_to:  # routed to another concept: it counts there
            assert value_set(e.routed_to).contains(concept(e.system, e.code)), (name, e.code, e.routed_to)


def test_episode_windows_are_local_defaults() -> None:
    windows = {w for name in value_set_names() for w in value_set(name).episodes.values()}
    assert windows == {"acute_episode_days", "pregnancy_episode_days"}
    assert windows <= set(LocalDefaults.model_fields)


def test_every_vsac_file_keeps_its_oid_version_and_source() -> None:
    names = {inc["value_set"] for spec in DECLARED.values() for inc in spec["include"] if "value_set" in inc}
    for name in names:
        vs = read_json(f"vsac/{name}.json")
        assert vs["name"] and vs["title"] and (vs["version"] or vs["expansion_timestamp"]), name
        assert vs["oid"] or name.startswith("cdc-"), name  # the CDC opioid-cds sets have no VSAC OID
        assert set(vs["source"]) >= {"repository", "path", "commit"} and len(vs["source"]["commit"]) == 40, name
        assert vs["total"] == sum(len(rows) for rows in vs["codes"].values()), name


def test_every_icd10cm_code_comes_from_vsac_or_the_code_table() -> None:
    families = read_json("icd10cm_families.json")
    assert families["_provenance"]["table"] == "simple-icd-10-cm" and families["_provenance"]["version"]
    table = {code for fam in families["families"].values() for code, _display, _billable in fam["codes"]}
    table |= set(families["verified"])
    for name in value_set_names():
        for c in value_set(name).concepts:
            if c.system == ICD10CM:
                assert c.source.startswith("VSAC") or c.code in table, (name, c.code, c.source)


# --- CI-CV and PRE-ECG: myocardial infarction ---------------------------------------------------------------------
@pytest.mark.parametrize("coding", [icd("I21.4", "NSTEMI"), sct("22298006", "Myocardial infarction")])
def test_recent_myocardial_infarction_is_cardiovascular_disease_and_needs_an_ecg(coding: tuple[str, str, str]) -> None:
    report = run(condition(coding, onsetDateTime=RECENT))
    assert only(report, "CI-CV").severity == "warning"
    assert "PRE-ECG" in rules(report)
    evidence = only(report, "CI-CV").evidence
    assert any("within 90 days (local default acute_episode_days)" in e.description for e in evidence)


def test_an_old_mi_episode_code_does_not_count_but_old_mi_does() -> None:
    old_episode = run(condition(icd("I21.4", "NSTEMI"), onsetDateTime=LONG_AGO))
    assert status(old_episode, "CI-CV") == status(old_episode, "PRE-ECG") == "not-applicable"
    old_mi = run(condition(icd("I25.2", "Old myocardial infarction"), onsetDateTime=LONG_AGO))
    assert only(old_mi, "CI-CV").severity == "warning" and "PRE-ECG" in rules(old_mi)


def test_the_episode_window_is_a_local_default() -> None:
    wide = LocalDefaults(acute_episode_days=3650)
    assert "CI-CV" in rules(run(condition(icd("I21.4"), onsetDateTime=LONG_AGO), settings=wide))


@pytest.mark.parametrize(
    "coding", [icd("I20.0", "Unstable angina"), icd("I25.110"), icd("I16.1", "Hypertensive emergency")]
)
def test_unstable_angina_and_hypertensive_emergency_are_critical(coding: tuple[str, str, str]) -> None:
    assert only(run(condition(coding)), "CI-CV").severity == "critical"


@pytest.mark.parametrize(
    "coding",
    [
        icd("R03.0", "Elevated blood-pressure reading, without diagnosis of hypertension"),
        sct("371622005", "Elevated blood pressure reading without diagnosis of hypertension"),
        sct("24184005", "Increased blood pressure"),
        icd("I27.20", "Pulmonary hypertension, unspecified"),
        sct("233815004", "Persistent pulmonary hypertension of the newborn"),
        sct("234072000", "Venous hypertension"),
    ],
)
def test_non_diagnoses_and_pulmonary_or_venous_hypertension_are_not_cardiovascular_disease(
    coding: tuple[str, str, str],
) -> None:
    assert "CI-CV" not in rules(run(condition(coding)))


def test_portal_ocular_and_intracranial_hypertension_go_to_their_own_rules() -> None:
    assert only(run(condition(sct("34742003", "Portal hypertension"))), "CI-HEP").severity == "critical"
    for coding in (sct("4210003", "Ocular hypertension"), sct("68267002", "Benign intracranial hypertension")):
        report = run(condition(coding))
        assert "CI-CV" not in rules(report) and only(report, "CI-ICP-IOP").severity == "critical"


# --- CI-PSY, CI-DEL -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "coding",
    [icd("F20.0", "Paranoid schizophrenia"), icd("F25.9", "Schizoaffective disorder, unspecified"), sct("69322001")],
)
def test_schizophrenia_and_schizoaffective_disorder_fire_ci_psy(coding: tuple[str, str, str]) -> None:
    assert only(run(condition(coding)), "CI-PSY").severity == "critical"


def test_psychosis_codes_in_remission_do_not_fire() -> None:
    assert "CI-PSY" not in rules(run(condition(sct("4926007", "Schizophrenia in remission"))))


def test_disorientation_is_not_delirium() -> None:
    assert "CI-DEL" not in rules(run(condition(icd("R41.0", "Disorientation, unspecified"))))
    assert only(run(condition(icd("F05", "Delirium due to known physiological condition"))), "CI-DEL")


# --- CI-HEP -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "coding",
    [
        icd("K70.31", "Alcoholic cirrhosis of liver with ascites"),
        icd("K72.91", "Hepatic failure, unspecified with coma"),
        sct("716203000", "Decompensated cirrhosis of liver"),
    ],
)
def test_cirrhosis_and_hepatic_failure_are_severe(coding: tuple[str, str, str]) -> None:
    report = run(condition(coding))
    assert only(report, "CI-HEP").severity == "critical"
    assert "PRE-LFT" in rules(report)


def test_milder_liver_disease_triggers_liver_tests_but_not_ci_hep() -> None:
    report = run(condition(icd("B17.10", "Acute hepatitis C without hepatic coma")))
    assert "CI-HEP" not in rules(report) and "PRE-LFT" in rules(report)


def test_hepatitis_b_immunity_is_not_liver_disease() -> None:
    assert "PRE-LFT" not in rules(run(condition(sct("271511000", "Hepatitis B immune"))))


# --- CI-ICP-IOP ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "coding",
    [
        icd("C79.31", "Secondary malignant neoplasm of brain"),
        icd("D33.2", "Benign neoplasm of brain, unspecified"),
        icd("G93.6", "Cerebral edema"),
        icd("H40.051", "Ocular hypertension, right eye"),
        icd("S05.61XA", "Penetrating wound without foreign body of right eyeball, initial encounter"),
    ],
)
def test_brain_tumours_cerebral_oedema_and_raised_iop_are_critical(coding: tuple[str, str, str]) -> None:
    assert only(run(condition(coding, onsetDateTime=RECENT)), "CI-ICP-IOP").severity == "critical"


@pytest.mark.parametrize(
    "coding",
    [
        icd("Z85.841", "Personal history of malignant neoplasm of brain"),
        icd("H40.001", "Preglaucoma, unspecified, right eye"),
        icd("H40.011", "Open angle with borderline findings, low risk, right eye"),
        sct("33647009", "Anatomical narrow angle glaucoma"),
        sct("444863008", "Anatomical narrow angle glaucoma with borderline intraocular pressure"),
        icd("S06.2X1S", "Diffuse traumatic brain injury with LOC of 30 minutes or less, sequela"),
        icd("S06.2X1D", "Diffuse traumatic brain injury with LOC of 30 minutes or less, subsequent encounter"),
        icd("S06.1X1S", "Traumatic cerebral edema with LOC of 30 minutes or less, sequela"),
    ],
)
def test_history_suspect_sequela_and_subsequent_encounter_codes_do_not_fire(coding: tuple[str, str, str]) -> None:
    assert "CI-ICP-IOP" not in rules(run(condition(coding, onsetDateTime=RECENT)))


def test_a_tbi_counts_only_within_the_episode_window() -> None:
    tbi = icd("S06.2X1A", "Diffuse traumatic brain injury with LOC of 30 minutes or less, initial encounter")
    assert "CI-ICP-IOP" in rules(run(condition(tbi, onsetDateTime=RECENT)))
    assert "CI-ICP-IOP" not in rules(run(condition(tbi, onsetDateTime=LONG_AGO)))
    # SNOMED has no encounter axis: an entry recorded years ago (no onset) is an old injury.
    assert "CI-ICP-IOP" not in rules(run(condition(sct("127295002", "Traumatic brain injury"))))


def test_an_undated_episode_code_counts_and_says_its_recency_is_unknown() -> None:
    tbi = condition(sct("127295002", "Traumatic brain injury"))
    del tbi["recordedDate"]
    finding = only(run(tbi), "CI-ICP-IOP")
    assert any("recency unknown" in e.description for e in finding.evidence)


def test_facial_contusions_in_the_head_trauma_set_are_not_brain_injury() -> None:
    assert "CI-ICP-IOP" not in rules(run(condition(sct("125668004", "Contusion of face"), onsetDateTime=RECENT)))


# --- CI-ENDO, CI-PREG ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "coding",
    [
        icd("E05.91", "Thyrotoxicosis, unspecified with thyrotoxic crisis or storm"),
        sct("34486009", "Hyperthyroidism"),
        icd("C74.10", "Malignant neoplasm of medulla of unspecified adrenal gland"),
    ],
)
def test_thyroid_storm_hyperthyroidism_and_adrenal_medulla_tumours_fire_ci_endo(coding: tuple[str, str, str]) -> None:
    assert only(run(condition(coding)), "CI-ENDO").severity == "warning"


@pytest.mark.parametrize(
    "coding",
    [
        icd("Z3A.20", "20 weeks gestation of pregnancy"),
        icd("O09.511", "Supervision of elderly primigravida, first trimester"),
        icd("Z33.1", "Pregnant state, incidental"),
    ],
)
def test_current_pregnancy_codes_fire_ci_preg(coding: tuple[str, str, str]) -> None:
    assert only(run(condition(coding, onsetDateTime="2026-07-01")), "CI-PREG").severity == "warning"


def test_a_pregnancy_code_from_an_earlier_pregnancy_does_not_fire() -> None:
    assert "CI-PREG" not in rules(run(condition(icd("Z3A.20"), onsetDateTime="2024-06-01")))


# --- CI-SUD -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "coding",
    [icd("F14.20", "Cocaine dependence, uncomplicated"), icd("F15.20", "Other stimulant dependence, uncomplicated")],
)
def test_cocaine_and_stimulant_use_disorders_fire_ci_sud(coding: tuple[str, str, str]) -> None:
    assert severities(run(condition(coding)), "CI-SUD") == {"warning"}  # no order yet: not serial


@pytest.mark.parametrize(
    "coding",
    [
        icd("F10.21", "Alcohol dependence, in remission"),
        icd("F16.21", "Hallucinogen dependence, in remission"),
        icd("F11.21", "Opioid dependence, in remission"),
    ],
)
def test_remission_codes_do_not_fire_a_contraindication(coding: tuple[str, str, str]) -> None:
    assert status(run(condition(coding)), "CI-SUD") == "not-applicable"


def test_hallucinogen_use_disorder_counts_as_ketamine_specific() -> None:
    assert severities(run(condition(icd("F16.20", "Hallucinogen dependence, uncomplicated"))), "CI-SUD") == {"critical"}


def test_intoxication_is_critical_while_recent_then_counts_as_the_disorder_it_names() -> None:
    code = icd("F10.229", "Alcohol dependence with intoxication, unspecified")
    assert severities(run(condition(code, onsetDateTime=RECENT)), "CI-SUD") == {"critical"}
    assert severities(run(condition(code, onsetDateTime=LONG_AGO)), "CI-SUD") == {"warning"}


def test_opioid_abuse_is_the_anzca_note_not_a_contraindication() -> None:
    sud = outcome(run(condition(icd("F11.10", "Opioid abuse, uncomplicated"))), "CI-SUD")
    assert sud.status == "not-applicable" and "Opioid use disorder on record" in sud.summary


# --- CI-RESCUE ----------------------------------------------------------------------------------------------------
def boosted(display: str, code: str | None = None) -> dict[str, Any]:
    return f.medication_statement(code, display)


@pytest.mark.parametrize(
    "statement",
    [
        boosted("ritonavir 100 MG Oral Tablet", "900575"),  # single-ingredient booster in the VSAC set
        boosted("lopinavir 200 MG / ritonavir 50 MG Oral Tablet", "597730"),  # combination: in no set
        boosted("darunavir 800 MG / cobicistat 150 MG Oral Tablet"),  # uncoded, text only
    ],
)
def test_ritonavir_or_cobicistat_boosted_regimens_limit_rescue(statement: dict[str, Any]) -> None:
    assert only(run(statement), "CI-RESCUE").severity == "warning"


def test_a_boosted_combination_is_found_from_the_medication_ingredients() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "genvoya",
        "code": {"text": "Genvoya"},
        "ingredient": [
            {"itemCodeableConcept": {"text": "elvitegravir"}},
            {"itemCodeableConcept": {"coding": [f.coding(RXNORM, "1545653", "cobicistat")]}},
        ],
    }
    statement = f.medication_statement(None, "", medicationReference={"reference": "#genvoya"}, contained=[medication])
    assert only(run(statement), "CI-RESCUE").severity == "warning"


def test_snomed_coded_benzodiazepine_allergy_limits_rescue() -> None:
    allergy = f.allergy_intolerance("6960", "midazolam")
    allergy["code"] = {"coding": [f.coding(SNOMED, "372664007", "Benzodiazepine (substance)")]}
    assert only(run(allergy), "CI-RESCUE").severity == "warning"


@pytest.mark.parametrize(
    "resource",
    [
        f.allergy_intolerance("10767", "Triazolam"),
        condition(icd("G70.01", "Myasthenia gravis with (acute) exacerbation")),
        condition(icd("O98.711", "HIV disease complicating pregnancy, first trimester")),
    ],
)
def test_other_rescue_limits_from_the_value_sets(resource: dict[str, Any]) -> None:
    assert only(run(resource), "CI-RESCUE").severity == "warning"


def test_other_neuromuscular_disorders_are_not_myasthenia_gravis() -> None:
    assert "CI-RESCUE" not in rules(run(condition(icd("G70.2", "Congenital and developmental myasthenia"))))


# --- smart-app check and the prefetch query -----------------------------------------------------------------------
def test_check_command_reads_an_nstemi_and_a_tbi_sequela(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patient = f.bundle(
        f.patient("1960-02-01"),
        condition(icd("I21.4", "Non-ST elevation (NSTEMI) myocardial infarction"), onsetDateTime=RECENT),
        condition(icd("S06.2X1S", "Diffuse traumatic brain injury, sequela"), onsetDateTime="2015-05-01"),
    )
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(patient), encoding="utf-8")
    assert main(["check", str(path), "--date", ON.date().isoformat(), "--json"]) == 0
    found = {x["rule_id"]: x["severity"] for x in json.loads(capsys.readouterr().out)["findings"]}
    assert found["CI-CV"] == "warning" and found["PRE-ECG"] == "warning"
    assert "CI-ICP-IOP" not in found


def test_observation_prefetch_is_derived_from_the_value_sets_and_stays_short() -> None:
    template = OBSERVATIONS.template
    wanted = ["8462-4", "1742-6", "6768-6", "34534-8", "11524-6", "85354-9", "2106-3", "72514-3"]
    for name in ("body-weight", "systolic-bp", "ast", "bilirubin", "hcg-qualitative", "pain-score"):
        wanted += [c.code for c in value_set(name).concepts]
    assert all(f"http://loinc.org|{code}" in template for code in wanted)
    for left_out in ("3142-7", "77565-0", "55870-0", "19080-1"):  # stated weight, BPI interference, quantitative hCG
        assert f"|{left_out}," not in template and not template.endswith(f"|{left_out}&_sort=-date")
    assert len(template) < 2000
