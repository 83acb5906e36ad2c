"""Read the launched patient's data from the EHR's FHIR server, within the granted scope.

The queries are the CDS services' own (`cds_hooks.prefetch.KETAMINE_QUERIES`), so the app and the cards judge
from the same data. A query whose resource type the token does not cover is not sent; it is reported, like a
failed or incomplete search, as data that is unavailable and what could therefore not be checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from smart_app.cds_hooks.data import Unavailable, fetch_spec
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, PATIENT, PrefetchQuery
from smart_app.core.course import pain_codes
from smart_app.core.model import PatientRecord
from smart_app.fhir import identity
from smart_app.fhir.client import FhirClient
from smart_app.fhir.record import build_record
from smart_app.smart.scopes import GrantedScopes

# The app alone also reads pain scores, drawn beside the ketamine treatments (no rule reads them: a failed search
# is said on the page but is no gap for the rules).
PAIN_SCORES = PrefetchQuery(
    "painScores",
    "Observation?patient={{context.patientId}}&code="
    + ",".join(f"http://loinc.org|{c.code}" for c in pain_codes())
    + "&_sort=-date",
    "pain scores",
    "the pain scores beside the ketamine treatments",
)
APP_QUERIES = (*KETAMINE_QUERIES, PAIN_SCORES)


class PatientDataError(Exception):
    """The patient could not be read at all; the message names what failed, without internals."""


class EhrSessionEndedError(PatientDataError):
    """The FHIR server answered 401: the EHR no longer accepts the access token (expired or revoked)."""


@dataclass(frozen=True, slots=True)
class PatientData:
    patient: dict[str, Any]
    record: PatientRecord
    unavailable: tuple[Unavailable, ...]
    foreign_resources: int = 0  # left out: another patient's (`smart_app.fhir.identity`)
    unattributed_resources: int = 0  # kept: name no patient, returned by a search for this patient

    @property
    def gap_sentences(self) -> tuple[str, ...]:
        """What is missing or was left out, for the page's 'not checked' list."""
        return (
            *(u.sentence for u in self.unavailable),
            *identity.notes(self.foreign_resources, self.unattributed_resources),
        )


async def load_patient_data(
    fhir: FhirClient, patient_id: str, scopes: GrantedScopes, *, budget_s: float
) -> PatientData:
    deadline = time.monotonic() + budget_s
    patient_result = await fhir.read(f"Patient/{patient_id}", deadline=deadline)
    if patient_result.status == 401:
        raise EhrSessionEndedError("the EHR's FHIR server no longer accepts this session's access (401)")
    if not patient_result.ok:
        raise PatientDataError(f"The patient could not be read from the EHR: {patient_result.problem}.")
    if patient_result.resources[0].get("id") != patient_id:
        raise PatientDataError("The EHR returned a different patient than the one launched; nothing is shown.")
    unavailable: list[Unavailable] = []
    queries = {}
    for query in APP_QUERIES:
        if query is PATIENT:
            continue
        resource_type, params = fetch_spec(query)
        missing = scopes.missing_read(resource_type)
        if missing:
            unavailable.append(Unavailable(query, missing))
        else:
            queries[query.key] = (resource_type, params)
    by_key = {q.key: q for q in APP_QUERIES}
    remaining = max(deadline - time.monotonic(), 0.1)
    results = await fhir.fetch_patient_data(patient_id, queries, budget_s=remaining) if queries else {}
    if any(result.status == 401 for result in results.values()):
        raise EhrSessionEndedError("the EHR's FHIR server stopped accepting this session's access (401)")
    screened = [identity.Screened((patient_result.resources[0],))]
    for key, result in results.items():
        if result.ok:
            # Every query is scoped to the patient (FhirClient.fetch_patient_data), and still each resource must
            # name this patient: a server that returns another patient's data is not believed.
            screened.append(identity.screen(result.resources, patient_id, fhir_base=fhir.base_url))
            if not result.complete:
                unavailable.append(Unavailable(by_key[key], result.problem or "the search was incomplete", True))
        else:
            unavailable.append(Unavailable(by_key[key], result.problem or "the search failed"))
    gaps = [gap for u in unavailable if u.query is not PAIN_SCORES and (gap := u.gap) is not None]
    data = identity.combine(screened)
    return PatientData(
        patient_result.resources[0],
        build_record(data.resources, gaps=gaps),
        tuple(unavailable),
        foreign_resources=data.foreign,
        unattributed_resources=data.unattributed,
    )
