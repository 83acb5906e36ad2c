"""Configuration safety, granted-scope reading, untrusted launch context, and the server-side session store."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from smart_app.smart.launch_context import APP_CONTEXT_MAX_CHARS, parse_launch_context
from smart_app.smart.scopes import GrantedScopes
from smart_app.smart.sessions import Session, SessionStore
from smart_app.smart.settings import SmartSettings
from smart_app.smart.views import inline_markdown
from tests.smart.conftest_helpers import ISS, REDIRECT, settings

# -- settings --------------------------------------------------------------------------------------------------


def test_production_requires_a_session_secret() -> None:
    with pytest.raises(ValidationError, match="SESSION_SECRET"):
        SmartSettings(client_id="a", redirect_uri=REDIRECT, allowed_issuers=(ISS,))


def test_production_requires_an_issuer_allowlist() -> None:
    with pytest.raises(ValidationError, match="ALLOWED_ISSUERS"):
        SmartSettings(client_id="a", redirect_uri=REDIRECT, session_secret="x" * 32)


def test_dev_mode_generates_a_session_secret_and_allows_any_issuer_only_with_an_empty_list() -> None:
    dev = SmartSettings(client_id="a", redirect_uri=REDIRECT, dev_mode=True)
    assert len(dev.effective_session_secret) >= 32
    assert dev.issuer_allowed("https://anything.example/fhir")
    listed = SmartSettings(client_id="a", redirect_uri=REDIRECT, dev_mode=True, allowed_issuers=(ISS,))
    assert not listed.issuer_allowed("https://anything.example/fhir")


def test_allowlist_from_the_environment_is_comma_separated_and_ignores_trailing_slashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMART_APP_SMART_CLIENT_ID", "env-app")
    monkeypatch.setenv("SMART_APP_SMART_REDIRECT_URI", REDIRECT)
    monkeypatch.setenv("SMART_APP_SMART_SESSION_SECRET", "s" * 32)
    monkeypatch.setenv("SMART_APP_SMART_ALLOWED_ISSUERS", f"{ISS}/, https://other.example/fhir")
    loaded = SmartSettings()  # type: ignore[call-arg]
    assert loaded.client_id == "env-app"
    assert loaded.issuer_allowed(ISS) and loaded.issuer_allowed("https://other.example/fhir/")
    assert not loaded.issuer_allowed("https://ehr.example.org/fhir/../evil")


def test_embedding_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_APP_SMART_COOKIE_SAME_SITE", "none")
    monkeypatch.setenv("SMART_APP_SMART_COOKIE_PARTITIONED", "false")
    monkeypatch.setenv("SMART_APP_SMART_FRAME_ANCESTORS", "https://ehr.example.org, https://*.hospital.example:8443")
    loaded = settings()
    assert loaded.same_site == "none" and not loaded.cookie_partitioned
    assert loaded.frame_ancestors == ("https://ehr.example.org", "https://*.hospital.example:8443")
    assert loaded.app_origin == "https://app.example.org"


def test_samesite_none_needs_https_and_frame_ancestors_must_be_origins() -> None:
    with pytest.raises(ValidationError, match="needs an https redirect URI"):
        settings(redirect_uri="http://localhost:8000/smart/callback", cookie_same_site="none")
    assert settings(redirect_uri="http://localhost:8000/smart/callback").same_site == "lax"  # auto over http
    assert settings().same_site == "none"  # auto over https: embeddable
    for bad in ("*", "https://ehr.example.org; script-src *", "javascript:alert(1)", "ehr.example.org"):
        with pytest.raises(ValidationError, match="FRAME_ANCESTORS"):
            settings(frame_ancestors=(bad,))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_type": "confidential-symmetric", "client_secret": None}, "CLIENT_SECRET"),
        ({"client_type": "confidential-asymmetric", "private_key": None}, "PRIVATE_KEY"),
        ({"client_type": "confidential-asymmetric", "key_id": None}, "KEY_ID"),
        ({"client_type": "confidential-asymmetric", "private_key": '{"kty": "oct", "k": "x"}'}, "private RSA JWK"),
        ({"client_type": "confidential-asymmetric", "private_key": "/nonexistent/key.json"}, "cannot read"),
    ],
)
def test_confidential_clients_must_be_fully_configured(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)  # type: ignore[arg-type]


def test_private_key_can_be_read_from_a_file(tmp_path: pytest.TempPathFactory) -> None:
    inline = settings("confidential-asymmetric")
    path = tmp_path / "key.json"  # type: ignore[operator]
    path.write_text(inline.private_key or "")
    from_file = settings("confidential-asymmetric", private_key=str(path))
    assert from_file.signing_key() == json.loads(inline.private_key or "")


# -- scopes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "resource", "interaction", "allowed"),
    [
        ("patient/Observation.rs", "Observation", "s", True),
        ("patient/Observation.rs", "Observation", "c", False),
        ("patient/*.cruds", "MedicationRequest", "c", True),
        ("patient/MedicationRequest.write", "MedicationRequest", "c", True),  # v1
        ("patient/MedicationRequest.read", "MedicationRequest", "s", True),  # v1
        ("patient/*.read", "MedicationRequest", "c", False),
        ("user/MedicationRequest.cu", "MedicationRequest", "c", True),
        ("system/MedicationRequest.c", "MedicationRequest", "c", False),
        ("patient/Observation.rs?category=laboratory", "Observation", "s", False),  # only part of the data
        ("patient/Condition.rs", "Observation", "s", False),
    ],
)
def test_granted_scope_is_read_in_v1_and_v2_syntax(
    granted: str, resource: str, interaction: str, allowed: bool
) -> None:
    assert GrantedScopes(f"launch openid {granted}").allows(resource, interaction) is allowed


# -- launch context --------------------------------------------------------------------------------------------


def test_launch_context_is_read_from_the_token_response() -> None:
    context = parse_launch_context(
        {
            "patient": "p1",
            "encounter": "e1",
            "need_patient_banner": False,
            "smart_style_url": "https://ehr.example/style.json",
            "intent": "reconcile-medications",
            "tenant": "t1",
            "fhirContext": [{"reference": "MedicationRequest/m1", "role": "https://example.org/role"}, "junk", {}],
        }
    )
    assert (context.patient, context.encounter, context.need_patient_banner) == ("p1", "e1", False)
    assert context.smart_style_url == "https://ehr.example/style.json"
    assert context.intent == "reconcile-medications" and context.tenant == "t1"
    assert [i.reference for i in context.fhir_context] == ["MedicationRequest/m1"]


def test_banner_is_shown_unless_the_ehr_says_it_is_not_needed() -> None:
    assert parse_launch_context({"patient": "p"}).need_patient_banner is True
    assert parse_launch_context({"patient": "p", "need_patient_banner": "false"}).need_patient_banner is True


def test_non_https_style_url_is_ignored() -> None:
    assert parse_launch_context({"smart_style_url": "javascript:alert(1)"}).smart_style_url is None


def test_app_context_json_is_parsed_plain_text_kept_and_oversize_cut() -> None:
    as_json = parse_launch_context({"appContext": '{"finding": "CI-CV"}'}).app_context
    assert as_json is not None and as_json.data == {"finding": "CI-CV"}
    text = parse_launch_context({"appContext": "order-set=asra"}).app_context
    assert text is not None and text.data is None and text.text == "order-set=asra"
    broken = parse_launch_context({"appContext": "{not json"}).app_context
    assert broken is not None and broken.data is None
    huge = parse_launch_context({"appContext": '{"x": "' + "a" * 10_000 + '"}'}).app_context
    assert huge is not None and huge.truncated and len(huge.text) == APP_CONTEXT_MAX_CHARS and huge.data is None


def test_app_context_never_supplies_the_patient() -> None:
    context = parse_launch_context({"patient": "token-patient", "appContext": '{"patient": "other"}'})
    assert context.patient == "token-patient"


def test_finding_markdown_renders_only_bold_and_escapes_the_rest() -> None:
    assert str(inline_markdown("**avoid** <b>x</b>")) == "<strong>avoid</strong> &lt;b&gt;x&lt;/b&gt;"


# -- sessions --------------------------------------------------------------------------------------------------


def test_session_cookie_is_signed_and_opaque() -> None:
    store = SessionStore("secret-" + "k" * 32, ttl_seconds=600)
    session = asyncio.run(store.create(now=1000))
    cookie = store.cookie_value(session)
    assert _same(asyncio.run(store.get(cookie, now=1001)), session)
    assert asyncio.run(store.get(cookie[:-2] + "xx", now=1001)) is None  # tampered
    assert asyncio.run(store.get(session.id, now=1001)) is None  # the bare id is not a valid cookie
    other = SessionStore("another-" + "k" * 32, ttl_seconds=600)
    assert asyncio.run(other.get(cookie, now=1001)) is None


def test_idle_session_expires() -> None:
    store = SessionStore("secret-" + "k" * 32, ttl_seconds=600)
    session = asyncio.run(store.create(now=1000))
    cookie = store.cookie_value(session)
    assert _same(asyncio.run(store.get(cookie, now=1500)), session)  # activity extends it
    assert asyncio.run(store.get(cookie, now=2101)) is None


def _same(loaded: Session | None, session: Session) -> bool:
    """The store hands back a copy read from its (encrypted) record: the same session is the same id and CSRF token."""
    return loaded is not None and (loaded.id, loaded.csrf_token) == (session.id, session.csrf_token)


def test_the_session_cookie_header_for_embedding() -> None:
    from smart_app.smart.cookies import session_cookie

    embedded = session_cookie(
        "s", "abc.DEF-1_2", max_age=60, path="/smart/", secure=True, same_site="none", partitioned=True
    )
    assert embedded == "s=abc.DEF-1_2; Max-Age=60; Path=/smart/; HttpOnly; Secure; SameSite=None; Partitioned"
    lax = session_cookie("s", "v", max_age=60, path="/smart/", secure=False, same_site="lax", partitioned=True)
    assert lax == "s=v; Max-Age=60; Path=/smart/; HttpOnly; SameSite=Lax"
    with pytest.raises(ValueError, match="Secure"):
        session_cookie("s", "v", max_age=60, path="/", secure=False, same_site="none", partitioned=True)
    with pytest.raises(ValueError, match="unquoted"):
        session_cookie("s", "v; Domain=evil", max_age=60, path="/", secure=True, same_site="none", partitioned=True)
