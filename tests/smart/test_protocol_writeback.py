"""Writing a protocol from the SMART app, as a clinician would notice it: the whole order set is written once per
form (a double submit or a resubmit writes one set), the page then shows at its top what was and was not written,
and ordering a protocol marked "not recommended" needs a written reason, put on the drafts and in the audit record.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from smart_app.smart.settings import WRITE_SCOPE, WRITE_SCOPES
from smart_app.smart.web import create_smart_app
from smart_app.smart.writeback import fhir_user, issue_form_token
from smart_app.storage.protocol_writes import ProtocolWriteStore, WriteClaim
from tests import fhir_factory as f
from tests.smart.conftest_helpers import settings
from tests.smart.test_web import FULL_SCOPE, FakeFhir, _patient, _sign_in
from tests.smart.test_web import ehr as ehr  # the mocked EHR fixture

OUTPATIENT = "asra-outpatient-single-infusion"
WRITE_ALL = f"{FULL_SCOPE} {' '.join(WRITE_SCOPES)}"
MR_ONLY = f"{FULL_SCOPE} {WRITE_SCOPE}"
DOCTOR = "Practitioner/dr-1"
REASON = "Refractory CRPS; BP recheck 138/84 today, cardiology agrees"


def _id_token(fhir_user_url: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'u1', 'fhirUser': fhir_user_url})}.sig"


class _App:
    """The SMART app with its protocol-write store in view, signed in to a fake EHR."""

    def __init__(self, store: ProtocolWriteStore) -> None:
        self.store = store
        main = FastAPI()
        main.mount("/smart", create_smart_app(settings(), protocol_writes=store))
        self.client = TestClient(main, base_url="https://app.example.org")

    def session(self) -> Any:
        app = self.client.app
        assert isinstance(app, FastAPI)
        (smart,) = [route.app for route in app.routes if isinstance(route, Mount)]
        (session,) = smart.state.sessions.live_sessions()
        return session


@pytest.fixture
def app(tmp_path: Any) -> _App:
    store = ProtocolWriteStore(f"sqlite:///{tmp_path / 'writes.sqlite3'}")
    try:
        yield _App(store)
    finally:
        store.close()


def _healthy(weight: float = 80) -> list[dict[str, Any]]:
    return [f.patient(name=[{"family": "Citizen", "given": ["Jane"]}]), f.weight(weight, _now())]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the write form, as the browser would submit them."""
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    assert {"protocol", "csrf_token", "form_token"} <= set(fields), fields
    return fields


def _open(app: _App, ehr: respx.MockRouter, fhir: FakeFhir, protocol: str = OUTPATIENT, **token: Any) -> str:
    _sign_in(app.client, ehr, fhir, **({"scope": WRITE_ALL} | token))
    response = app.client.get("/smart/protocols", params={"protocol": protocol})
    assert response.status_code == 200
    return response.text


def _post(app: _App, form: dict[str, str], **extra: str) -> httpx.Response:
    return app.client.post("/smart/protocols", data=form | extra, follow_redirects=False)


def test_the_write_creates_the_whole_order_set_and_shows_it_at_the_top(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    page = _open(app, ehr, fhir)
    assert "Writing creates these drafts in the EHR: 4 medication order(s), 6 service request(s), 2 task(s)" in page
    response = _post(app, _form(page))
    assert response.status_code == 303  # redirect after post: a reload of the result page writes nothing
    location = response.headers["location"]
    assert parse_qs(urlsplit(location).query)["receipt"]
    kinds = [r["resourceType"] for r in fhir.created]
    assert kinds == ["MedicationRequest"] * 4 + ["ServiceRequest"] * 6 + ["Task"] * 2
    assert all(r["status"] == "draft" for r in fhir.created)
    assert "ketamine" in fhir.created[0]["medicationCodeableConcept"]["text"]  # the ketamine order first

    result = app.client.get(location).text
    top = result.index('role="status"')
    assert top < result.index("Protocols for this patient")  # the confirmation opens the page
    assert "Written to the EHR: 12 draft(s)" in result
    for created in fhir.created:
        assert f"{created['resourceType']}/{created['id']}" in result
    assert "Not written" not in result[top : result.index("Protocols for this patient")]
    app.client.get(location)  # the browser reloads the result page
    assert len(fhir.created) == 12


def test_a_double_submit_writes_one_draft_set(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    first, second = _post(app, form), _post(app, form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]  # both show the one write
    assert len([r for r in fhir.created if r["resourceType"] == "MedicationRequest"]) == 4
    assert len(fhir.created) == 12


def test_a_new_form_after_a_write_warns_before_writing_again(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    page = _open(app, ehr, fhir)
    _post(app, _form(page))
    again = app.client.get("/smart/protocols", params={"protocol": OUTPATIENT}).text
    assert "Already written in this session" in again and "another set of drafts" in again
    assert _form(again)["form_token"] != _form(page)["form_token"]  # a fresh form, deliberately a new write


def test_a_form_token_for_another_protocol_or_a_forged_one_writes_nothing(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    other = _post(app, form | {"protocol": "inpatient-multiday-infusion"})
    forged = _post(app, form | {"form_token": form["form_token"][:-4] + "AAAA"})
    missing = _post(app, form | {"form_token": ""})
    assert other.status_code == forged.status_code == missing.status_code == 400
    assert "This form can no longer be used" in other.text
    assert not fhir.created


def test_a_form_token_from_another_session_writes_nothing(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    stolen = issue_form_token(
        settings().effective_session_secret, session_id="someone-else", patient="example", protocol_id=OUTPATIENT
    )
    assert _post(app, form | {"form_token": stolen}).status_code == 400
    assert not fhir.created


def test_not_recommended_protocol_needs_a_written_reason_recorded_on_drafts_and_audit(
    app: _App, ehr: respx.MockRouter
) -> None:
    fhir = FakeFhir(_patient())  # BP 182/112: a critical contraindication marks every protocol not recommended
    page = _open(app, ehr, fhir, id_token=_id_token(f"https://ehr.example.org/fhir/{DOCTOR}"))
    assert "Not recommended for this patient" in page and 'name="override_reason"' in page
    assert ">not-recommended<" not in page and ".;" not in page  # words for people, no joined-sentence artefacts
    form = _form(page)

    unticked = _post(app, form, override_reason=REASON)
    bare = _post(app, form, override="yes")
    terse = _post(app, form, override="yes", override_reason="ok")
    assert unticked.status_code == bare.status_code == terse.status_code == 400
    assert "Confirm the override" in unticked.text
    assert "Write your reason" in bare.text and "Write your reason" in terse.text
    assert 'value="' + form["form_token"] + '"' in terse.text  # the same form, not spent: fix it and resubmit
    assert not fhir.created

    response = _post(app, form, override="yes", override_reason=REASON)
    assert response.status_code == 303
    assert fhir.created
    for resource in fhir.created:
        notes = " ".join(n["text"] for n in resource["note"])
        assert REASON in notes and DOCTOR in notes and "not recommended" in notes
        assert resource["requester"] == {"reference": DOCTOR}
    result = app.client.get(response.headers["location"]).text
    assert "Override recorded" in result and REASON in result

    (audit,) = app.store.overrides()
    assert audit.override_reason == REASON and audit.requester == DOCTOR
    assert audit.protocol_status == "not-recommended" and any("CI-CV" in r for r in audit.status_reasons)
    assert audit.patient == "Patient/example" and audit.state == "written"
    assert len(audit.written) == len(fhir.created)


def test_a_reason_is_not_recorded_for_a_protocol_that_needs_no_override(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    assert _post(app, form, override="yes", override_reason=REASON).status_code == 303
    assert not app.store.overrides()
    assert all(REASON not in " ".join(n["text"] for n in r["note"]) for r in fhir.created)


def test_without_service_request_and_task_permission_the_page_says_what_was_not_written(
    app: _App, ehr: respx.MockRouter
) -> None:
    fhir = FakeFhir(_healthy())
    page = _open(app, ehr, fhir, scope=MR_ONLY)
    assert "Not written:</strong> 6 service request(s): the EHR did not grant patient/ServiceRequest.c" in page
    result = app.client.get(_post(app, _form(page)).headers["location"]).text
    assert {r["resourceType"] for r in fhir.created} == {"MedicationRequest"}
    assert "Written to the EHR: 4 draft(s); 8 not written" in result
    assert "Baseline pain score" in result and "the EHR did not grant patient/Task.c" in result


def test_a_write_the_ehr_refuses_is_shown_and_a_resubmit_writes_nothing(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    fhir.fail_create = True
    response = _post(app, form)
    assert response.status_code == 502
    assert "draft orders were not written" in response.text and "422" in response.text
    fhir.fail_create = False
    again = _post(app, form)  # the same form again: it was spent on the failed write
    assert again.status_code == 303 and not fhir.created
    assert "Nothing was written to the EHR" in app.client.get(again.headers["location"]).text


def test_token_rejected_on_write_ends_the_session(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    fhir.fail_create, fhir.create_status = True, 401
    response = _post(app, form)
    assert response.status_code == 401 and "not all written" in response.text
    assert "session with the EHR has ended" in response.text
    assert app.client.get("/smart/").status_code == 401


def test_a_write_from_another_origin_is_refused_even_with_the_right_tokens(app: _App, ehr: respx.MockRouter) -> None:
    """CSRF protection that does not rely on SameSite (the cookie is SameSite=None for embedding)."""
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    for headers in ({"Origin": "https://evil.example.org"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        response = app.client.post("/smart/protocols", data=form, headers=headers, follow_redirects=False)
        assert response.status_code == 403 and "could not be verified" in response.text, headers
    assert not fhir.created
    same = {"Origin": "https://app.example.org", "Sec-Fetch-Site": "same-origin"}
    response = app.client.post("/smart/protocols", data=form, headers=same, follow_redirects=False)
    assert response.status_code == 303 and fhir.created


def test_write_without_valid_csrf_token_writes_nothing(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    form = _form(_open(app, ehr, fhir))
    assert _post(app, form | {"csrf_token": "guess"}).status_code == 403
    assert not fhir.created


def test_without_write_scope_the_order_set_is_offered_as_json(app: _App, ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_healthy())
    page = _open(app, ehr, fhir, scope=FULL_SCOPE)
    assert "Writing orders is unavailable" in page
    assert "&#34;resourceType&#34;: &#34;Task&#34;" in page or "&quot;resourceType&quot;: &quot;Task&quot;" in page
    assert "Write the draft orders to the EHR" not in page and 'name="form_token"' not in page
    session = app.session()  # the CSRF token a forged page could not know, and a valid form token
    token = issue_form_token(
        settings().effective_session_secret, session_id=session.id, patient="example", protocol_id=OUTPATIENT
    )
    data = {"protocol": OUTPATIENT, "csrf_token": session.csrf_token, "form_token": token}
    response = app.client.post("/smart/protocols", data=data)
    assert response.status_code == 403 and "not allowed" in response.text
    assert not fhir.created
    assert "Unavailable features" in app.client.get("/smart/").text


def test_protocol_page_shows_regimen_weight_basis_and_follow_up(app: _App, ehr: respx.MockRouter) -> None:
    page = _open(app, ehr, FakeFhir(_healthy(80)), protocol="inpatient-multiday-infusion")
    assert "for 80 kg" in page and "Studied regimen:" in page and "1,813 mg" in page
    assert "actual body weight" in page
    assert "Follow-up tasks" in page and "Telephone follow-up 24-48 hours" in page
    assert "Baseline liver function test" in page and "Post-infusion liver function test" in page


def test_patient_without_weight_gets_no_doses_and_no_write_form(app: _App, ehr: respx.MockRouter) -> None:
    page = _open(app, ehr, FakeFhir(_patient(weight_kg=None)))
    assert "Doses cannot be computed" in page
    assert "Write the draft orders" not in page and 'name="form_token"' not in page


def test_two_claims_of_one_form_let_exactly_one_write(app: _App) -> None:
    claim = WriteClaim("nonce-1", "receipt-1", "s" * 64, "Patient/p", OUTPATIENT, "available", (), None, None)
    results: list[object] = []

    def race(receipt: str) -> None:
        results.append(app.store.claim(dataclasses.replace(claim, receipt=receipt)))

    threads = [threading.Thread(target=race, args=(f"receipt-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is None for result in results) == 1  # one claimed it; seven found its record


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ("https://ehr.example.org/fhir/Practitioner/dr-1", "Practitioner/dr-1"),
        ("PractitionerRole/r-9", "PractitionerRole/r-9"),
        ("https://ehr.example.org/fhir/Patient/p1", None),  # a patient-facing launch: no clinician requester
        ("https://ehr.example.org/fhir/Practitioner/<script>", None),
    ],
)
def test_requester_is_the_launchs_fhir_user_when_it_is_a_practitioner(claim: str, expected: str | None) -> None:
    assert fhir_user(_id_token(claim)) == expected
    assert fhir_user(None) is None and fhir_user("not-a-jwt") is None
