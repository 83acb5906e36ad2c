"""One deployment, several processes: `smart-app serve` replicas sharing one Redis and one PostgreSQL behave as one
service (README, "Several workers and hosts").

Replica A runs one worker and replica B `--workers 2`, on two ports, as behind a load balancer: both have the same
public URL (the client JWT's `aud`), the same SMART session secret and state key. The tests send each step of a
flow to a different replica on purpose. Real servers throughout: redis-server, PostgreSQL, sekmet-fhir behind the
test EHR's authorization server (tests/smart/auth_server.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import ECKey

from smart_app.cds_hooks.prefetch import OPIOID_QUERIES
from smart_app.cli import main
from tests import fhir_factory as f
from tests.cds_hooks.support import order_sign, oxycodone_draft, sample_order, sample_patient, topic
from tests.fhir_server import running_fhir_server
from tests.services import PostgresServer, ServeProcess, free_port, running_serve
from tests.smart.auth_server import SimulatedEhr, running_test_ehr

PUBLIC_URL = "https://cds.hospital.example"  # the load balancer's URL: the `aud` every replica checks against
SIGN = "/cds-services/opioid-mme-order-sign"
ISSUER = "https://ehr.example.org/"
EHR_KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-1"})
PATIENT = "pt-" + uuid.uuid4().hex[:12]  # searched for in the logs afterwards: it must never appear there
CLIENT_ID = "ketamine-smart-app"


def client_jwt(endpoint: str = SIGN, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": PUBLIC_URL + endpoint,
        "iat": now,
        "exp": now + 300,
        "jti": jti or str(uuid.uuid4()),
    }
    return jwt.encode({"alg": "ES384", "kid": "ehr-1", "typ": "JWT"}, claims, EHR_KEY, algorithms=["ES384"])


def authorized(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_env(redis_url: str, prefix: str, state_key: str) -> dict[str, str]:
    issuers = [{"iss": ISSUER, "jwks": {"keys": [EHR_KEY.as_dict(private=False)]}}]
    return {
        "SMART_APP_REDIS_URL": redis_url,
        "SMART_APP_REDIS_PREFIX": prefix,
        "SMART_APP_STATE_KEY": state_key,
        "SMART_APP_PUBLIC_BASE_URL": PUBLIC_URL,
        "SMART_APP_CDS_TRUSTED_ISSUERS": json.dumps(issuers),
    }


def mme_call() -> dict[str, Any]:
    return order_sign([f.patient(id=PATIENT)], [oxycodone_draft(4, 4)], queries=OPIOID_QUERIES)


@dataclass
class Deployment:
    a: ServeProcess
    b: ServeProcess
    ehr: SimulatedEhr
    database_url: str


def _patient_bundle() -> dict[str, Any]:
    opioids = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients" / "opioid-simple.json"
    sample = "opioid-simple"  # the sample's own patient id, replaced by this test's
    text = opioids.read_text().replace(f'"Patient/{sample}"', f'"Patient/{PATIENT}"')
    bundle: dict[str, Any] = json.loads(text.replace(f'"id": "{sample}"', f'"id": "{PATIENT}"'))
    return bundle


@pytest.fixture(scope="module")
def deployment(
    redis_url: str, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("deployment")
    database_url = postgres_server.create_database()
    port_b = free_port()
    redirect_uri = f"http://127.0.0.1:{port_b}/smart/callback"  # the EHR sends the browser back to replica B
    with (
        running_fhir_server(_patient_bundle()) as upstream,
        running_test_ehr(upstream, client_id=CLIENT_ID, redirect_uri=redirect_uri) as ehr,
    ):
        env = {
            **service_env(redis_url, f"deploy-{uuid.uuid4().hex[:6]}:", Fernet.generate_key().decode()),
            "DATABASE_URL": database_url,
            "SMART_APP_SMART_CLIENT_ID": CLIENT_ID,
            "SMART_APP_SMART_REDIRECT_URI": redirect_uri,
            "SMART_APP_SMART_SESSION_SECRET": "deployment-" + "s" * 40,
            "SMART_APP_SMART_ALLOWED_ISSUERS": ehr.fhir_base,
        }
        with (
            running_serve(env, workdir=workdir) as a,
            running_serve(env, "--workers", "2", workdir=workdir, port=port_b) as b,
        ):
            yield Deployment(a, b, ehr, database_url)
            logs = a.log() + b.log()
    assert "Traceback" not in logs
    for secret in (PATIENT, *ehr.tokens):  # never an access token or a patient identifier in the service log
        assert secret not in logs


def test_a_jwt_replayed_to_the_other_replica_is_refused(deployment: Deployment) -> None:
    for first, second in ((deployment.a, deployment.b), (deployment.b, deployment.a)):
        token = client_jwt()
        assert httpx.post(first.base_url + SIGN, json=mme_call(), headers=authorized(token)).status_code == 200
        replay = httpx.post(second.base_url + SIGN, json=mme_call(), headers=authorized(token))
        assert replay.status_code == 401


def test_feedback_sent_to_both_replicas_is_in_one_report(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = []
    for replica in (deployment.a, deployment.b):
        response = httpx.post(replica.base_url + SIGN, json=mme_call(), headers=authorized(client_jwt()))
        (card,) = response.json()["cards"]
        cards.append(card)
    # Feedback on each card goes to the replica that did not issue it.
    for replica, card in ((deployment.b, cards[0]), (deployment.a, cards[1])):
        body = {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"reason": card["overrideReasons"][0]},
                    "outcomeTimestamp": "2026-11-21T10:05:31Z",
                }
            ]
        }
        endpoint = f"{SIGN}/feedback"
        response = httpx.post(replica.base_url + endpoint, json=body, headers=authorized(client_jwt(endpoint)))
        assert response.status_code == 200 and response.json() == {"stored": 1}  # on disk before the 200

    deadline = time.monotonic() + 20
    while True:  # card-issued rows are written by each replica's background writer, within moments
        assert main(["feedback-report", "--database-url", deployment.database_url, "--json"]) == 0
        report = {row["rule_id"]: row for row in json.loads(capsys.readouterr().out)}
        # Feedback is matched to its card's issued row, so both overrides count once both rows are written.
        if (report.get("MME", {}).get("overridden", 0) >= 2 and None not in report) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    mme = report["MME"]
    assert mme["overridden"] == 2 and mme["issued"] >= 2  # other tests in this module issue MME cards too
    assert mme["top_override_reasons"][0]["count"] == 2
    assert None not in report  # both feedback items were matched to their cards


def test_a_precaution_shown_at_select_by_one_replica_is_not_repeated_at_sign_by_the_other(
    deployment: Deployment,
) -> None:
    healthy = json.dumps(sample_patient("healthy")).replace('"Patient/healthy"', f'"Patient/{PATIENT}"')
    resources = [r if r["resourceType"] != "Patient" else {**r, "id": PATIENT} for r in json.loads(healthy)]
    delirium = f.condition(f.ICD10CM, "F05", "Delirium due to known physiological condition")  # a precaution
    delirium["subject"] = {"reference": f"Patient/{PATIENT}"}
    draft = sample_order("ketamine-infusion-outpatient")
    select = order_sign(
        [*resources, delirium], [draft], hook="order-select", selections=[f"MedicationRequest/{draft['id']}"]
    )
    sign = order_sign([*resources, delirium], [draft])
    paths = ("/cds-services/ketamine-safety-order-select", "/cds-services/ketamine-safety-order-sign")
    shown = httpx.post(deployment.a.base_url + paths[0], json=select, headers=authorized(client_jwt(paths[0])))
    assert "CI-DEL" in {topic(card) for card in shown.json()["cards"]}
    signed = httpx.post(deployment.b.base_url + paths[1], json=sign, headers=authorized(client_jwt(paths[1])))
    assert signed.status_code == 200
    assert "CI-DEL" not in {topic(card) for card in signed.json()["cards"]}


def test_an_ehr_launch_completes_when_its_callback_reaches_the_other_replica(deployment: Deployment) -> None:
    launch = deployment.ehr.register_launch(PATIENT)
    with httpx.Client(timeout=30) as browser:  # one cookie jar, as a browser has for the app's host
        to_ehr = browser.get(
            deployment.a.base_url + "/smart/launch", params={"iss": deployment.ehr.fhir_base, "launch": launch}
        )
        assert to_ehr.status_code == 302, to_ehr.text
        back = browser.get(to_ehr.headers["location"])  # the EHR approves and redirects to the registered URI
        assert back.status_code == 302, back.text
        callback = back.headers["location"]
        assert callback.startswith(deployment.b.base_url + "/smart/callback?")  # replica B, not A

        signed_in = browser.get(callback)
        assert signed_in.status_code == 303, signed_in.text
        overview = browser.get(deployment.a.base_url + "/smart/")  # and the session works on A
        assert overview.status_code == 200, overview.text
        assert "Ketamine and opioid safety overview" in overview.text and "MME/day" in overview.text
        assert browser.get(deployment.b.base_url + "/smart/").status_code == 200

        replayed = browser.get(callback)  # the same code and state again, on either replica
        assert replayed.status_code in (400, 401)


def test_a_replay_after_a_restart_is_refused(redis_url: str, redis_prefix: str, tmp_path: Path) -> None:
    env = {**service_env(redis_url, redis_prefix, Fernet.generate_key().decode())}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'restart.sqlite3'}"
    token = client_jwt()
    with running_serve(env, workdir=tmp_path) as before:
        assert httpx.post(before.base_url + SIGN, json=mme_call(), headers=authorized(token)).status_code == 200
    with running_serve(env, workdir=tmp_path) as after:
        assert httpx.post(after.base_url + SIGN, json=mme_call(), headers=authorized(token)).status_code == 401
        fresh = httpx.post(after.base_url + SIGN, json=mme_call(), headers=authorized(client_jwt()))
        assert fresh.status_code == 200


def test_several_workers_without_a_shared_store_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SMART_APP_REDIS_URL", "SMART_APP_SMART_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SMART_APP_REDIS_URL" in err and "--workers 2" in err


def test_several_workers_with_the_smart_app_need_the_shared_store_even_without_auth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SMART_APP_REDIS_URL", raising=False)
    monkeypatch.setenv("SMART_APP_SMART_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SMART_APP_SMART_REDIRECT_URI", "https://app.example.org/smart/callback")
    monkeypatch.setenv("SMART_APP_SMART_DEV_MODE", "true")
    assert main(["serve", "--workers", "2", "--no-auth"]) == 2
    assert "SMART_APP_SMART_SESSION_SECRET" in capsys.readouterr().err  # each worker would invent its own
    monkeypatch.setenv("SMART_APP_SMART_SESSION_SECRET", "s" * 40)
    assert main(["serve", "--workers", "2", "--no-auth"]) == 2
    assert "SMART_APP_REDIS_URL" in capsys.readouterr().err  # sessions would live in one worker only
