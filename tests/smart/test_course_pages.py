"""Issue 15 in the SMART app: the checklist shows every course rule, and the follow-up page fills the follow-up
questionnaire and writes it back as a QuestionnaireResponse (patient/QuestionnaireResponse.c), or shows it as JSON.

Histories are dated relative to today: the app assesses on the day it is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import respx

from smart_app.smart.settings import FOLLOW_UP_WRITE_SCOPE, WRITE_SCOPE
from tests import fhir_factory as f
from tests.smart.conftest_helpers import ISS, settings, smart_configuration
from tests.smart.test_web import FULL_SCOPE, FakeFhir, _client, _sign_in

READ = f"{FULL_SCOPE} patient/QuestionnaireResponse.rs"
WRITE_ALL = f"{READ} {WRITE_SCOPE} {FOLLOW_UP_WRITE_SCOPE}"
TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def ehr() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{ISS}/.well-known/smart-configuration").respond(200, json=smart_configuration())
        yield router


def _day(days_ago: int, hour: int = 9) -> str:
    return (TODAY - timedelta(days=days_ago)).replace(hour=hour).isoformat().replace("+00:00", "Z")


def _weekly_series(pain_scores: bool = False) -> list[dict[str, Any]]:
    """Weekly ketamine infusions over the last four weeks, oxycodone and lorazepam, optionally pain scores."""
    resources: list[dict[str, Any]] = [
        f.patient(name=[{"family": "Citizen", "given": ["Jane"]}]),
        f.weight(70, _day(2)),
        f.medication_request(
            "1049621",
            "oxycodone hydrochloride 5 MG Oral Tablet",
            dosages=[f.dosage(dose=f.dose_quantity(1), frequency=4)],
        ),
        f.medication_request(
            "197901", "lorazepam 1 MG Oral Tablet", dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)]
        ),
    ]
    for days_ago in (28, 21, 14, 7):
        resources.append(
            f.medication_administration(
                "238082",
                "ketamine 10 MG/ML Injectable Solution",
                effective=_day(days_ago),
                dosage={"dose": {"value": 140, "unit": "mg", "system": f.UCUM, "code": "mg"}},
            )
        )
    if pain_scores:
        resources += [
            f.observation("72514-3", "Pain 0-10", value=8, unit="{score}", effective=_day(28, 8)),
            f.observation("72514-3", "Pain 0-10", value=4, unit="{score}", effective=_day(7, 8)),
        ]
    return resources


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the follow-up form: the session's CSRF token and, when it writes, its one-time token."""
    fields = {"csrf_token": _csrf(page)}
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    if token is not None:
        fields["form_token"] = token.group(1)
    return fields


def _check_row(page: str, rule: str) -> str:
    """The checklist row of `rule` (its text, tags removed)."""
    match = re.search(
        rf"<tr class=\"check-[a-z-]+\">\s*<th scope=\"row\">[^<]*"
        rf"<span class=\"muted\">\({re.escape(rule)}\)</span>.*?</tr>",
        page,
        re.S,
    )
    assert match is not None, rule
    return re.sub(r"<[^>]+>", " ", match.group(0))


def test_the_checklist_shows_every_course_rule_with_its_status(ehr: respx.MockRouter) -> None:
    page = _sign_in(_client(), ehr, FakeFhir(_weekly_series()), scope=READ).text
    response = _check_row(page, "FREQ-RESPONSE")
    assert "Needs attention (info)" in response and "No documented response" in response
    assert "Needs attention (warning)" in _check_row(page, "OPI-BZD")
    assert "lorazepam" in _check_row(page, "OPI-BZD")
    baseline = _check_row(page, "OPI-BASELINE")
    assert "Satisfied" in baseline and "30 MME/day" in baseline
    assert "Not applicable" in _check_row(page, "POST-TAPER")
    assert "Satisfied" in _check_row(page, "OPI-NALOXONE") or "Needs attention" in _check_row(page, "OPI-NALOXONE")


def test_with_pain_scores_the_response_review_is_satisfied_in_the_checklist(ehr: respx.MockRouter) -> None:
    page = _sign_in(_client(), ehr, FakeFhir(_weekly_series(pain_scores=True)), scope=READ).text
    row = _check_row(page, "FREQ-RESPONSE")
    assert "Satisfied" in row and "pain 8 -&gt; 4 (-50%" in row


def test_the_follow_up_page_writes_a_questionnaire_response_and_the_review_reads_it(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_weekly_series())
    client = _client()
    _sign_in(client, ehr, fhir, scope=WRITE_ALL)
    page = client.get("/smart/follow-up").text
    assert "Ketamine treatment follow-up" in page and "No documented response" in page
    assert 'name="ae-urinary"' in page and 'name="pain"' in page
    answers = {"pain": "4", "pain-relief": "50", "function": "better", "ae-urinary": "yes", "ae-dissociation": "no"}
    response = client.post("/smart/follow-up", data={**answers, **_form(page)})
    assert response.status_code == 200, response.text
    assert "Follow-up written to the EHR" in response.text
    (created,) = fhir.created
    assert created["resourceType"] == "QuestionnaireResponse" and created["status"] == "completed"
    assert created["questionnaire"].startswith("https://smart-app.example/fhir/Questionnaire/ketamine-follow-up|")
    assert created["subject"] == {"reference": "Patient/example"}
    items = {i["linkId"]: i for i in created["item"]}
    assert items["pain"]["answer"] == [{"valueInteger": 4}]
    assert items["function"]["answer"][0]["valueCoding"]["code"] == "better"
    urinary = next(i for i in items["adverse-effects"]["item"] if i["linkId"] == "ae-urinary")
    assert urinary["answer"] == [{"valueBoolean": True}]
    fhir.resources.append(created)  # the EHR now holds it: the review reads it on the next visit
    again = client.get("/smart/follow-up").text
    assert "Response documented" in again and "reported relief 50%" in again
    assert "Urinary symptoms" in again  # the earlier follow-up's adverse effect


def test_without_the_write_scope_the_follow_up_is_shown_as_json_and_nothing_is_written(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_weekly_series())
    client = _client()
    _sign_in(client, ehr, fhir, scope=READ)
    page = client.get("/smart/follow-up").text
    assert "Writing the follow-up is unavailable" in page
    response = client.post("/smart/follow-up", data={"pain": "6", **_form(page)})
    assert response.status_code == 200
    assert "QuestionnaireResponse (FHIR JSON) to copy" in response.text
    assert "&#34;resourceType&#34;: &#34;QuestionnaireResponse&#34;" in response.text
    assert not fhir.created
    assert "Writing follow-up questionnaires is unavailable" in client.get("/smart/").text


def test_an_invalid_answer_is_named_and_nothing_is_written(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_weekly_series())
    client = _client()
    _sign_in(client, ehr, fhir, scope=WRITE_ALL)
    page = client.get("/smart/follow-up").text
    response = client.post("/smart/follow-up", data={"pain": "12", "function": "better", **_form(page)})
    assert response.status_code == 400 and "12 is outside 0 to 10" in response.text
    assert 'value="12"' in response.text  # the form keeps what was typed
    assert not fhir.created


def test_a_follow_up_without_the_sessions_csrf_token_is_refused(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_weekly_series())
    client = _client()
    _sign_in(client, ehr, fhir, scope=WRITE_ALL)
    response = client.post("/smart/follow-up", data={"pain": "4", "csrf_token": "guess"})
    assert response.status_code == 403 and not fhir.created


def test_the_follow_up_write_scope_is_requested_only_when_writing_follow_ups_is_enabled() -> None:
    assert FOLLOW_UP_WRITE_SCOPE in settings().requested_scopes(ehr_launch=True).split()
    assert FOLLOW_UP_WRITE_SCOPE not in settings(write_follow_ups=False).requested_scopes(ehr_launch=True).split()
    assert "patient/QuestionnaireResponse.rs" in settings().requested_scopes(ehr_launch=False).split()


def test_a_follow_up_form_submitted_twice_is_written_once(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_weekly_series())
    client = _client()
    _sign_in(client, ehr, fhir, scope=WRITE_ALL)
    fields = {"pain": "5", "pain-relief": "35", **_form(client.get("/smart/follow-up").text)}
    first = client.post("/smart/follow-up", data=fields)
    again = client.post("/smart/follow-up", data=fields)  # a double click, or the back button and submit
    assert len(fhir.created) == 1
    assert "Follow-up written to the EHR:</strong> QuestionnaireResponse/new-1" in first.text
    assert "QuestionnaireResponse/new-1" in again.text
    assert fhir.created[0]["identifier"]["value"]  # the form's nonce, to recognise a duplicate in the EHR
