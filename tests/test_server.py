"""The deployed application: CDS Hooks at the root, the SMART app at /smart only when it is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smart_app.server import create_server


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMART_APP_DATABASE_URL", f"sqlite:///{tmp_path}/feedback.sqlite3")
    monkeypatch.setenv("SMART_APP_AUTH_ENABLED", "false")
    for name in ("PUBLIC_BASE_URL", "LAUNCH_URL", "FHIR_SERVER_ALLOWLIST"):
        monkeypatch.delenv(f"SMART_APP_{name}", raising=False)
    for name in ("CLIENT_ID", "REDIRECT_URI", "DEV_MODE", "SESSION_SECRET", "ALLOWED_ISSUERS"):
        monkeypatch.delenv(f"SMART_APP_SMART_{name}", raising=False)


def test_cds_service_runs_without_smart_configuration(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(create_server()) as client:
        assert client.get("/cds-services").status_code == 200
        assert client.get("/smart/launch", follow_redirects=False).status_code == 404
    assert "SMART app not mounted" in caplog.text


def test_smart_app_is_mounted_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_APP_SMART_CLIENT_ID", "smart-app-test")
    monkeypatch.setenv("SMART_APP_SMART_REDIRECT_URI", "http://testserver/smart/callback")
    monkeypatch.setenv("SMART_APP_SMART_SESSION_SECRET", "x" * 32)
    monkeypatch.setenv("SMART_APP_SMART_ALLOWED_ISSUERS", "https://ehr.example/fhir")
    with TestClient(create_server()) as client:
        assert client.get("/cds-services").status_code == 200
        # A launch without `iss` reaches the SMART app and gets its clear error page, not a 404.
        response = client.get("/smart/launch")
        assert response.status_code == 400
        assert "iss" in response.text


def test_start_up_says_when_any_fhir_server_may_be_fetched_from(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SMART_APP_FHIR_SERVER_ALLOWLIST", raising=False)
    with TestClient(create_server()):
        pass
    assert "SMART_APP_FHIR_SERVER_ALLOWLIST is empty" in caplog.text
    caplog.clear()
    monkeypatch.setenv("SMART_APP_FHIR_SERVER_ALLOWLIST", '["https://ehr.example.org/fhir"]')
    with TestClient(create_server()):
        pass
    assert "SMART_APP_FHIR_SERVER_ALLOWLIST is empty" not in caplog.text


def _summary_links(client: TestClient) -> list[dict[str, str]]:
    from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
    from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
    from tests.cds_hooks.support import sample_patient

    resources = sample_patient("psychosis-glaucoma")  # flags to summarise: the summary card is shown
    body = hook_request(
        "patient-view", patient_id="psychosis-glaucoma", prefetch=prefetch_for(resources, KETAMINE_QUERIES)
    )
    response = client.post("/cds-services/ketamine-opioid-summary", json=body)
    assert response.status_code == 200, response.text
    links: list[dict[str, str]] = response.json()["cards"][0].get("links", [])
    return links


def _configure_smart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_APP_SMART_CLIENT_ID", "smart-app-test")
    monkeypatch.setenv("SMART_APP_SMART_REDIRECT_URI", "https://cds.example.org/smart/callback")
    monkeypatch.setenv("SMART_APP_SMART_SESSION_SECRET", "x" * 32)
    monkeypatch.setenv("SMART_APP_SMART_ALLOWED_ISSUERS", "https://ehr.example/fhir")


def test_no_smart_link_when_no_smart_app_is_configured(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SMART_APP_PUBLIC_BASE_URL", "https://cds.example.org")
    monkeypatch.delenv("SMART_APP_LAUNCH_URL", raising=False)
    with TestClient(create_server()) as client:
        assert _summary_links(client) == []  # never a guessed http://localhost:8000/smart/launch
    assert "cards carry no SMART app link: no SMART app is configured" in caplog.text


def test_smart_link_is_built_from_the_public_url_of_the_server_that_mounts_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure_smart(monkeypatch)
    monkeypatch.setenv("SMART_APP_PUBLIC_BASE_URL", "https://cds.example.org/")
    monkeypatch.delenv("SMART_APP_LAUNCH_URL", raising=False)
    with TestClient(create_server(), base_url="https://cds.example.org") as client:
        (link,) = _summary_links(client)
        assert link["type"] == "smart" and link["url"] == "https://cds.example.org/smart/launch"
        assert client.get("/smart/launch").status_code == 400  # the link's path is the mounted app's launch


def test_smart_app_mounted_without_a_public_url_gives_no_link(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _configure_smart(monkeypatch)
    monkeypatch.delenv("SMART_APP_PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("SMART_APP_LAUNCH_URL", raising=False)
    with TestClient(create_server()) as client:
        assert _summary_links(client) == []
    assert "SMART_APP_PUBLIC_BASE_URL is not set" in caplog.text


def test_a_smart_app_elsewhere_is_linked_by_its_configured_launch_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_APP_LAUNCH_URL", "https://apps.example.org/ketamine/launch")
    with TestClient(create_server()) as client:
        (link,) = _summary_links(client)
    assert link["url"] == "https://apps.example.org/ketamine/launch"


@pytest.mark.parametrize(
    "name, value",
    [
        ("SMART_APP_FHIR_SERVER_ALLOWLIST", '["https://user@ehr.example.org/fhir"]'),
        ("SMART_APP_FHIR_SERVER_ALLOWLIST", '["ehr.example.org/fhir"]'),
        ("SMART_APP_LAUNCH_URL", "javascript:alert(1)"),
    ],
)
def test_unusable_urls_in_settings_stop_the_server(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        create_server()
