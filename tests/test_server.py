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
