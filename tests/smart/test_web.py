"""The SMART app's pages through its HTTP interface: both launches, every failure page, cookies, scopes, writing.

The EHR (discovery, token endpoint, FHIR server) is mocked with respx; the app runs in FastAPI's TestClient.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smart_app.smart.settings import WRITE_SCOPE, ClientType
from smart_app.smart.web import create_smart_app
from tests import fhir_factory as f
from tests.smart.conftest_helpers import AUTHORIZE, ISS, TOKEN, settings, smart_configuration, token_response

FULL_SCOPE = (
    "launch openid fhirUser patient/Patient.r patient/Condition.rs patient/Observation.rs "
    "patient/MedicationRequest.rs patient/MedicationStatement.rs patient/MedicationAdministration.rs "
    "patient/AllergyIntolerance.rs patient/Consent.rs"
)
WRITE = f"{FULL_SCOPE} {WRITE_SCOPE}"
OXYCODONE = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")


class FakeFhir:
    """A FHIR server in respx: reads and searches over a list of resources, and creates."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.created: list[dict[str, Any]] = []
        self.fail_searches = False
        self.fail_create = False
        self.create_status = 422
        self.unauthorized = False  # answer 401, as a server does once the EHR ended the session

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.unauthorized:
            return httpx.Response(401, json={"resourceType": "OperationOutcome", "issue": []})
        path = request.url.path.removeprefix(urlsplit(ISS).path).strip("/").split("/")
        if request.method == "POST":
            if self.fail_create:
                outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "dosage invalid"}]}
                return httpx.Response(self.create_status, json=outcome)
            body = {**json.loads(request.content), "id": f"new-{len(self.created) + 1}"}
            self.created.append(body)
            return httpx.Response(201, json=body)
        if len(path) == 2:
            found = [r for r in self.resources if r["resourceType"] == path[0] and r.get("id") == path[1]]
            return httpx.Response(200, json=found[0]) if found else httpx.Response(404)
        if self.fail_searches:
            return httpx.Response(500, json={"resourceType": "OperationOutcome", "issue": []})
        matches = [r for r in self.resources if r["resourceType"] == path[0]]
        return httpx.Response(200, json=f.bundle(*matches, bundle_type="searchset"))


@pytest.fixture
def ehr() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{ISS}/.well-known/smart-configuration").respond(200, json=smart_configuration())
        yield router


def _client(client_type: ClientType = "public", **overrides: Any) -> TestClient:
    main = FastAPI()
    main.mount("/smart", create_smart_app(settings(client_type, **overrides)))
    return TestClient(main, base_url="https://app.example.org")


def _patient(weight_kg: float | None = 70.0) -> list[dict[str, Any]]:
    resources = [
        f.patient(name=[{"family": "Citizen", "given": ["Jane"]}]),
        f.blood_pressure(182, 112),
        f.medication_request(*OXYCODONE, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=4)]),
    ]
    if weight_kg is not None:
        resources.append(f.weight(weight_kg))
    return resources


def _launch(client: TestClient, *, launch: str | None = "launch-1") -> str:
    params = {"iss": ISS} | ({"launch": launch} if launch else {})
    response = client.get("/smart/launch", params=params, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(AUTHORIZE)
    return parse_qs(urlsplit(location).query)["state"][0]


def _sign_in(client: TestClient, ehr: respx.MockRouter, fhir: FakeFhir, **token: Any) -> httpx.Response:
    ehr.post(TOKEN).respond(200, json=token_response(**({"patient": "example", "scope": WRITE} | token)))
    ehr.route(host="ehr.example.org", path__startswith="/fhir/").mock(side_effect=fhir)
    state = _launch(client)
    response = client.get("/smart/callback", params={"code": "c1", "state": state}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client.get("/smart/")


# -- launch ----------------------------------------------------------------------------------------------------


def test_launch_without_iss_explains_that_the_ehr_is_missing(ehr: respx.MockRouter) -> None:
    response = _client().get("/smart/launch", params={"launch": "x"})
    assert response.status_code == 400
    assert "opened without an EHR" in response.text


def test_launch_from_an_issuer_not_on_the_allowlist_is_refused_before_any_request(ehr: respx.MockRouter) -> None:
    evil = ehr.get("https://evil.example.org/fhir/.well-known/smart-configuration").respond(200, json={})
    response = _client().get("/smart/launch", params={"iss": "https://evil.example.org/fhir", "launch": "x"})
    assert response.status_code == 403
    assert "not allowed" in response.text
    assert not evil.called


def test_dev_mode_with_empty_allowlist_accepts_any_issuer(ehr: respx.MockRouter) -> None:
    client = _client(dev_mode=True, allowed_issuers=(), session_secret=None)
    assert _launch(client)


def test_launch_refused_when_the_ehr_offers_only_plain_pkce(ehr: respx.MockRouter) -> None:
    ehr.get(f"{ISS}/.well-known/smart-configuration").respond(
        200, json=smart_configuration(code_challenge_methods_supported=["plain"])
    )
    response = _client().get("/smart/launch", params={"iss": ISS, "launch": "x"})
    assert response.status_code == 502
    assert "only PKCE" in response.text and "plain" in response.text


def test_launch_sets_a_signed_httponly_cookie_a_cross_site_ehr_frame_keeps(ehr: respx.MockRouter) -> None:
    response = _client().get("/smart/launch", params={"iss": ISS, "launch": "x"}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("smart_app_session=")
    attributes = [a.strip() for a in cookie.split(";")[1:]]
    # Over https: SameSite=None; Secure (kept in a cross-site frame), Partitioned (only under the EHR's site).
    assert {"HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/smart/"} <= set(attributes)
    assert response.headers["cache-control"] == "no-store"


def test_cookie_is_lax_and_not_secure_when_the_app_is_served_over_http(ehr: respx.MockRouter) -> None:
    client = _client(redirect_uri="http://localhost:8000/smart/callback")
    response = client.get("/smart/launch", params={"iss": ISS, "launch": "x"}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "Secure" not in cookie and "SameSite=Lax" in cookie and "Partitioned" not in cookie


def test_cookie_attributes_are_configurable(ehr: respx.MockRouter) -> None:
    lax = _client(cookie_same_site="lax").get(
        "/smart/launch", params={"iss": ISS, "launch": "x"}, follow_redirects=False
    )
    assert "SameSite=Lax" in lax.headers["set-cookie"] and "Partitioned" not in lax.headers["set-cookie"]
    plain = _client(cookie_partitioned=False).get(
        "/smart/launch", params={"iss": ISS, "launch": "x"}, follow_redirects=False
    )
    assert "SameSite=None" in plain.headers["set-cookie"] and "Partitioned" not in plain.headers["set-cookie"]


def test_frame_ancestors_limit_who_may_embed_the_app(ehr: respx.MockRouter) -> None:
    open_csp = _client().get("/smart/error").headers["content-security-policy"]
    assert "frame-ancestors" not in open_csp  # default: any EHR may frame it (the cookie is partitioned)
    client = _client(frame_ancestors="https://ehr.example.org, https://*.hospital.example")
    csp = client.get("/smart/error").headers["content-security-policy"]
    assert "frame-ancestors 'self' https://ehr.example.org https://*.hospital.example" in csp


def test_standalone_launch_asks_the_ehr_for_a_patient_and_signs_in(ehr: respx.MockRouter) -> None:
    client = _client()
    response = client.get("/smart/launch", params={"iss": ISS}, follow_redirects=False)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "launch" not in query and "launch/patient" in query["scope"][0].split()
    ehr.post(TOKEN).respond(200, json=token_response(patient="example", scope=WRITE))
    ehr.route(host="ehr.example.org", path__startswith="/fhir/").mock(side_effect=FakeFhir(_patient()))
    callback = client.get("/smart/callback", params={"code": "c", "state": query["state"][0]})
    assert callback.status_code == 200 and "Jane Citizen" in callback.text


# -- callback --------------------------------------------------------------------------------------------------


def test_callback_with_a_state_this_browser_did_not_start_is_rejected(ehr: respx.MockRouter) -> None:
    token = ehr.post(TOKEN).respond(200, json=token_response())
    client = _client()
    _launch(client)
    response = client.get("/smart/callback", params={"code": "c", "state": "forged"})
    assert response.status_code == 400
    assert "cannot be trusted" in response.text
    assert not token.called


def test_state_from_another_browser_is_rejected(ehr: respx.MockRouter) -> None:
    victim, attacker = _client(), _client()
    state = _launch(attacker)
    _launch(victim)
    response = victim.get("/smart/callback", params={"code": "c", "state": state})
    assert response.status_code == 400


def test_callback_without_session_cookie_says_the_session_expired(ehr: respx.MockRouter) -> None:
    response = _client().get("/smart/callback", params={"code": "c", "state": "s"})
    assert response.status_code == 401
    assert "session has expired" in response.text


def test_authorization_error_shows_the_ehrs_description_escaped(ehr: respx.MockRouter) -> None:
    client = _client()
    state = _launch(client)
    said = "The scope <b>patient/*.rs</b> is not allowed\nfor this app"
    response = client.get(
        "/smart/callback", params={"error": "invalid_scope", "error_description": said, "state": state}
    )
    assert response.status_code == 400
    assert "the EHR said: invalid_scope: The scope &lt;b&gt;patient/*.rs&lt;/b&gt; is not allowed for this app" in (
        response.text
    )
    assert "<b>patient" not in response.text
    assert "error code at the bottom of this page" in response.text and "Error code: authorization-error" in (
        response.text
    )


def test_denied_authorization_shows_access_not_granted(ehr: respx.MockRouter) -> None:
    client = _client()
    state = _launch(client)
    response = client.get("/smart/callback", params={"error": "access_denied", "state": state})
    assert response.status_code == 403
    assert "Access was not granted" in response.text


def test_token_error_shows_the_ehrs_error_code_only(ehr: respx.MockRouter) -> None:
    ehr.post(TOKEN).respond(400, json={"error": "invalid_grant", "error_description": "secret internals"})
    client = _client()
    state = _launch(client)
    response = client.get("/smart/callback", params={"code": "c", "state": state})
    assert response.status_code == 502
    assert "invalid_grant" in response.text
    assert "secret internals" not in response.text


def test_state_can_be_used_only_once(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_patient())
    client = _client()
    ehr.post(TOKEN).respond(200, json=token_response(patient="example", scope=FULL_SCOPE))
    ehr.route(host="ehr.example.org", path__startswith="/fhir/").mock(side_effect=fhir)
    state = _launch(client)
    assert client.get("/smart/callback", params={"code": "c", "state": state}, follow_redirects=False).is_redirect
    replay = client.get("/smart/callback", params={"code": "c", "state": state})
    assert replay.status_code in (400, 401)


def test_sign_in_issues_a_new_session_id(ehr: respx.MockRouter) -> None:
    client = _client()
    ehr.post(TOKEN).respond(200, json=token_response(patient="example", scope=FULL_SCOPE))
    state = _launch(client)
    before = client.cookies.get("smart_app_session")
    client.get("/smart/callback", params={"code": "c", "state": state}, follow_redirects=False)
    assert client.cookies.get("smart_app_session") not in (None, before)


# -- overview --------------------------------------------------------------------------------------------------


def test_overview_shows_mme_findings_sources_and_banner(ehr: respx.MockRouter) -> None:
    page = _sign_in(_client(), ehr, FakeFhir(_patient())).text
    assert re.search(r"Total: </span>30 MME/day", page)  # oxycodone 5 mg x 4/day x 1.5
    assert "Below 50" in page  # the level, from the core's one threshold policy
    assert "Jane Citizen" in page
    assert "CRITICAL" in page.upper() and "Poorly controlled cardiovascular disease" in page
    assert "Source:" in page and "grade:" in page
    assert "182/112" in page  # the BP reading behind the finding


def test_encounter_and_intent_from_the_launch_are_shown(ehr: respx.MockRouter) -> None:
    page = _sign_in(_client(), ehr, FakeFhir(_patient()), encounter="enc-9", intent="order-review").text
    assert "Encounter/enc-9" in page and "order-review" in page


def test_no_banner_when_the_ehr_shows_its_own_but_the_patient_is_still_named(ehr: respx.MockRouter) -> None:
    page = _sign_in(_client(), ehr, FakeFhir(_patient()), need_patient_banner=False).text
    assert 'aria-label="Patient"' not in page  # no banner: the EHR shows its own
    assert "Patient: <strong>Jane Citizen</strong>" in page  # named from the launch's patient, never "Unknown"
    assert "Unknown" not in page


def test_a_patient_without_a_name_is_named_by_id_not_unknown(ehr: respx.MockRouter) -> None:
    resources = _patient()
    del resources[0]["name"]
    page = _sign_in(_client(), ehr, FakeFhir(resources), need_patient_banner=False).text
    assert "no name recorded (Patient/example)" in page and "Unknown" not in page


def test_app_context_is_shown_escaped_and_does_not_change_the_patient(ehr: respx.MockRouter) -> None:
    context = '{"patient": "someone-else", "x": "<img src=x onerror=alert(1)>"}'
    page = _sign_in(_client(), ehr, FakeFhir(_patient()), app_context=None, appContext=context).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
    assert "Jane Citizen" in page  # still the token's patient


def test_missing_read_scope_is_reported_as_not_checked(ehr: respx.MockRouter) -> None:
    narrow = "launch patient/Patient.r patient/MedicationRequest.rs"
    page = _sign_in(_client(), ehr, FakeFhir(_patient()), scope=narrow).text
    assert "Could not check" in page
    assert "did not grant read access to Condition" in page
    assert "did not grant read access to Observation" in page


def test_failed_fhir_searches_are_reported_not_hidden(ehr: respx.MockRouter) -> None:
    fhir = FakeFhir(_patient())
    fhir.fail_searches = True
    page = _sign_in(_client(), ehr, fhir).text
    assert "Could not check" in page and "500" in page


def test_unreadable_patient_shows_the_fhir_error_page(ehr: respx.MockRouter) -> None:
    response = _sign_in(_client(), ehr, FakeFhir([]))
    assert response.status_code == 502
    assert "FHIR server reported a problem" in response.text and "404" in response.text


def test_a_401_while_reading_says_the_ehr_session_ended_and_how_to_relaunch(ehr: respx.MockRouter) -> None:
    client = _client()
    fhir = FakeFhir(_patient())
    assert _sign_in(client, ehr, fhir).status_code == 200
    fhir.unauthorized = True
    response = client.get("/smart/")
    assert response.status_code == 401
    assert "Your session with the EHR has ended" in response.text
    assert "open it again from the patient&#39;s chart in the EHR" in response.text
    assert "Try again" not in response.text
    fhir.unauthorized = False
    assert client.get("/smart/").status_code == 401  # the app's session ended with it


def test_a_draft_order_named_in_the_launch_context_gets_its_dose_check(ehr: respx.MockRouter) -> None:
    draft = {
        **f.medication_request("238082", "ketamine 10 MG/ML Injectable Solution", status="draft", rid="draft-ket"),
        "dosageInstruction": [
            {
                "route": {"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")]},
                "timing": {"repeat": {"count": 1, "duration": 4, "durationUnit": "h"}},
                "doseAndRate": [{"rateQuantity": {"value": 210, "unit": "mg/h", "system": f.UCUM, "code": "mg/h"}}],
            }
        ],
    }
    context = [{"reference": "MedicationRequest/draft-ket"}]
    page = _sign_in(_client(), ehr, FakeFhir([*_patient(), draft]), fhirContext=context).text
    assert 'id="tile-draft"' in page and "Draft order: ketamine 10 MG/ML Injectable Solution" in page
    assert "3.00 mg/kg/h" in page  # 210 mg/h at 70 kg: outside ASRA's range, in the summary strip


def test_a_draft_named_only_by_an_untrusted_app_context_must_already_be_this_patients(ehr: respx.MockRouter) -> None:
    context = '{"draftOrders": ["MedicationRequest/not-in-the-record"]}'
    page = _sign_in(_client(), ehr, FakeFhir(_patient()), appContext=context).text
    assert 'id="tile-draft"' not in page


def test_overview_without_sign_in_says_the_session_expired(ehr: respx.MockRouter) -> None:
    response = _client().get("/smart/")
    assert response.status_code == 401


def test_expired_token_is_refreshed_before_reading(ehr: respx.MockRouter) -> None:
    client = _client()
    _sign_in(client, ehr, FakeFhir(_patient()), expires_in=1)  # within the refresh leeway: expired at once
    refreshed = ehr.post(TOKEN).respond(
        200, json={"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600, "scope": WRITE}
    )
    assert client.get("/smart/").status_code == 200
    assert refreshed.called
    assert ehr.calls.last.request.headers["authorization"] == "Bearer at-2"


def test_refresh_refused_ends_the_session(ehr: respx.MockRouter) -> None:
    client = _client()
    _sign_in(client, ehr, FakeFhir(_patient()), expires_in=1)
    ehr.post(TOKEN).respond(400, json={"error": "invalid_grant"})
    response = client.get("/smart/")
    assert response.status_code == 401 and "session has expired" in response.text


# -- protocol builder (writing: tests/smart/test_protocol_writeback.py) ----------------------------------------

PROTOCOL = "asra-outpatient-single-infusion"


def test_unknown_protocol_has_its_own_page(ehr: respx.MockRouter) -> None:
    client = _client()
    _sign_in(client, ehr, FakeFhir(_patient()))
    assert client.get("/smart/protocols", params={"protocol": "nope"}).status_code == 404


def test_asymmetric_client_publishes_only_its_public_key() -> None:
    keys = _client("confidential-asymmetric").get("/smart/.well-known/jwks.json").json()["keys"]
    assert [(k["kid"], k["alg"], k["kty"]) for k in keys] == [("key-1", "RS384", "RSA")]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])
    assert _client().get("/smart/.well-known/jwks.json").status_code == 404  # public client: no key


def test_error_pages_by_name() -> None:
    client = _client()
    assert "Your session has expired" in client.get("/smart/error", params={"kind": "session-expired"}).text
    assert client.get("/smart/error", params={"kind": "<script>"}).status_code == 401


@pytest.mark.parametrize("text", ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "**bold** <b>x</b>"])
def test_hostile_ehr_text_is_shown_as_text_on_the_overview(ehr: respx.MockRouter, text: str) -> None:
    hostile = f.condition(f.ICD10CM, "F20.9", text)
    opioid = f.medication_request(OXYCODONE[0], text, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=4)])
    page = _sign_in(_client(), ehr, FakeFhir([*_patient(), hostile, opioid])).text
    assert "<img" not in page and "<script>alert" not in page and "<b>x</b>" not in page
    assert "&lt;" in page  # the text is there, escaped
