"""Every failure a clinician can meet, with a plain explanation and what to do next.

Pages show only these texts plus a short, already-sanitised reason (never tokens, stack traces or raw server
bodies). `/smart/error?kind=<kind>` renders the same pages by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorKind:
    status: int
    title: str
    explanation: str
    next_step: str


RELAUNCH = "Open the app again from the patient's chart in the EHR."

ERRORS: dict[str, ErrorKind] = {
    "missing-iss": ErrorKind(
        400,
        "The app was opened without an EHR",
        "A SMART launch must say which EHR (FHIR server) it comes from, in the `iss` parameter; it was missing.",
        RELAUNCH,
    ),
    "issuer-not-allowed": ErrorKind(
        403,
        "This EHR is not allowed",
        "The app only connects to EHRs its administrator has approved; this launch came from another one.",
        "Ask your administrator to add this EHR's FHIR address to the app's allowed issuers.",
    ),
    "discovery-failed": ErrorKind(
        502,
        "The EHR's SMART configuration cannot be used",
        "The app could not read or accept the EHR's SMART configuration, so it cannot sign in safely.",
        "Try again later; if it persists, tell your EHR administrator the reason given above.",
    ),
    "access-denied": ErrorKind(
        403,
        "Access was not granted",
        "The EHR (or you) declined to let the app read this patient's record.",
        RELAUNCH + " If you did not decline, ask your EHR administrator about the app's permissions.",
    ),
    "authorization-error": ErrorKind(
        400,
        "The EHR did not complete sign-in",
        "The EHR returned an error instead of an authorization.",
        RELAUNCH + " If it persists, tell your EHR administrator the error code at the bottom of this page and "
        "what the EHR said, if shown.",
    ),
    "bad-state": ErrorKind(
        400,
        "This sign-in cannot be trusted",
        "The answer from the EHR does not match a sign-in started in this browser (it may be stale, used "
        "twice, or forged), so it was rejected.",
        RELAUNCH,
    ),
    "token-error": ErrorKind(
        502,
        "The EHR did not issue an access token",
        "Sign-in reached the EHR, but its token service refused or failed.",
        RELAUNCH + " If it persists, tell your EHR administrator the reason given above.",
    ),
    "no-patient": ErrorKind(
        400,
        "No patient was selected",
        "The EHR authorized the app but did not say which patient it is for.",
        RELAUNCH,
    ),
    "session-expired": ErrorKind(
        401,
        "Your session has expired",
        "The app no longer has a valid sign-in for this browser (it expired, the app restarted, or cookies are "
        "blocked).",
        RELAUNCH,
    ),
    "ehr-session-ended": ErrorKind(
        401,
        "Your session with the EHR has ended",
        "The EHR no longer accepts this app's access to the record (the access expired or was withdrawn), so the "
        "patient's data could not be read. Nothing was written to the record.",
        "Close this app and open it again from the patient's chart in the EHR (the app's link or the decision "
        "support card): the EHR then starts a new session. Reloading this page does not help.",
    ),
    "csrf": ErrorKind(
        403,
        "The form could not be verified",
        "The submitted form did not come from this session's page, so nothing was written.",
        "Reload the protocol builder and submit again.",
    ),
    "form-expired": ErrorKind(
        400,
        "This form can no longer be used",
        "The protocol form has expired or belongs to another sign-in, patient or protocol, so nothing was written.",
        "Reload the protocol builder and submit again.",
    ),
    "fhir-error": ErrorKind(
        502,
        "The EHR's FHIR server reported a problem",
        "The app could not read or write the data it needs.",
        "Try again; if it persists, tell your EHR administrator the reason given above.",
    ),
    "write-not-allowed": ErrorKind(
        403,
        "Writing orders is not allowed",
        "The EHR did not grant this app permission to create MedicationRequests (patient/MedicationRequest.c).",
        "Copy the order JSON from the protocol builder instead.",
    ),
    "unknown-protocol": ErrorKind(
        404,
        "Unknown protocol",
        "The protocol asked for is not in the protocol catalogue.",
        "Choose a protocol from the list in the protocol builder.",
    ),
    "state-unavailable": ErrorKind(
        503,
        "The app cannot reach its session store",
        "The app keeps sign-ins in a shared store that did not answer, so it cannot tell who you are right now.",
        "Try again in a minute; if it persists, tell your administrator (the app's Redis is unreachable).",
    ),
}
