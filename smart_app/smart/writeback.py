"""Writing a protocol's draft orders to the EHR from the protocol builder: once per form, everything the grant
allows, and an account of what was and was not written.

- Form tokens: each protocol form carries a one-time token, signed with the session secret and bound to the
  session, patient and protocol (`issue_form_token` / `read_form_token`). Its nonce keys the audit row
  (`smart_app.storage.protocol_writes`), so a double submit or a browser resubmit writes one draft set.
- The requester is the launch's `fhirUser` (from the id_token the token endpoint returned over TLS: OpenID Connect
  Core 3.1.3.7 lets a client that received the ID token directly from the token endpoint rely on TLS instead of
  the signature), when it names a Practitioner or PractitionerRole.
- `write_order_set` creates the ketamine order first (if that fails nothing else is written), then the rescue
  medications, the ServiceRequests and the Tasks whose create permission was granted; every other resource is
  reported as not written, with the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from smart_app.fhir.client import FhirClient, FhirWriteError
from smart_app.smart.scopes import GrantedScopes
from smart_app.storage.protocol_writes import NotWrittenItem, WrittenItem

FORM_SALT = "smart-app-protocol-form"
OVERRIDE_REASON_MIN = 10  # characters: a reason, not a tick
OVERRIDE_REASON_MAX = 2000
_REQUESTER = re.compile(r"(?:^|/)((?:Practitioner|PractitionerRole)/[A-Za-z0-9\-.]{1,64})$")
WRITE_TYPES = ("MedicationRequest", "ServiceRequest", "Task")


def session_key(session_id: str) -> str:
    """What the audit stores about a session: a hash, never the id (the id is a bearer credential)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ProtocolForm:
    nonce: str
    session_key: str
    patient: str
    protocol_id: str


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=FORM_SALT)


def issue_form_token(secret: str, *, session_id: str, patient: str, protocol_id: str) -> str:
    """A fresh one-time token for one protocol form."""
    payload = {"n": secrets.token_urlsafe(24), "s": session_key(session_id), "p": patient, "r": protocol_id}
    return str(_serializer(secret).dumps(payload))


def read_form_token(
    secret: str, token: str, *, max_age_s: int, session_id: str, patient: str, protocol_id: str
) -> ProtocolForm | None:
    """The form the token was issued for, or None when it is forged, expired, or for another session, patient or
    protocol."""
    if not token:
        return None
    try:
        payload = _serializer(secret).loads(token, max_age=max_age_s)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    form = ProtocolForm(
        str(payload.get("n", "")), str(payload.get("s", "")), str(payload.get("p", "")), str(payload.get("r", ""))
    )
    expected = (session_key(session_id), patient, protocol_id)
    if not form.nonce or (form.session_key, form.patient, form.protocol_id) != expected:
        return None
    return form


def fhir_user(id_token: str | None) -> str | None:
    """The `fhirUser` claim of the launch's id_token as a relative reference, when it names a Practitioner or
    PractitionerRole (who can be a requester of these orders); None otherwise."""
    if not id_token or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    user = claims.get("fhirUser") if isinstance(claims, dict) else None
    if not isinstance(user, str) or len(user) > 1000:
        return None
    match = _REQUESTER.search(user.split("?")[0].rstrip("/"))
    return match.group(1) if match else None


def check_override_reason(reason: str) -> str | None:
    """Why the written reason is not acceptable, or None when it is."""
    text = " ".join(reason.split())
    if len(text) < OVERRIDE_REASON_MIN:
        return (
            "Write your reason for ordering this protocol against the advice "
            f"(at least {OVERRIDE_REASON_MIN} characters)."
        )
    if len(text) > OVERRIDE_REASON_MAX:
        return f"The reason is too long: at most {OVERRIDE_REASON_MAX} characters."
    return None


def describe(resource: dict[str, Any]) -> str:
    """One line naming a resource of the order set, for the confirmation."""
    kind = str(resource.get("resourceType"))
    if kind == "MedicationRequest":
        return str(resource.get("medicationCodeableConcept", {}).get("text") or "medication order")
    code = resource.get("code")
    text = code.get("text") if isinstance(code, dict) else None
    return str(text or kind)


def permission_missing(scope: GrantedScopes, resource_type: str) -> str | None:
    if scope.allows(resource_type, "c"):
        return None
    return f"the EHR did not grant patient/{resource_type}.c"


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    written: tuple[WrittenItem, ...]
    not_written: tuple[NotWrittenItem, ...]
    problem: str | None  # why the write stopped (the ketamine order failed, or the token was refused)
    unauthorized: bool = False  # the EHR answered 401: the session is over


async def write_order_set(fhir: FhirClient, resources: Sequence[dict[str, Any]], scope: GrantedScopes) -> WriteOutcome:
    """Create `resources` (the ketamine order first) as far as the grant allows; never raises for the EHR's
    answers. If the ketamine order cannot be written, nothing else is."""
    written: list[WrittenItem] = []
    not_written: list[NotWrittenItem] = []
    problem: str | None = None
    unauthorized = False
    for index, resource in enumerate(resources):
        kind, what = str(resource["resourceType"]), describe(resource)
        if problem is not None:
            not_written.append(NotWrittenItem(kind, what, "not attempted: " + problem))
            continue
        missing = permission_missing(scope, kind)
        if missing is not None:
            not_written.append(NotWrittenItem(kind, what, missing))
            if index == 0:
                problem = f"the ketamine order could not be written ({missing})"
            continue
        try:
            created = await fhir.create(resource)
        except FhirWriteError as exc:
            not_written.append(NotWrittenItem(kind, what, str(exc)))
            if exc.status == 401:
                problem, unauthorized = "the EHR refused the app's token", True
            elif index == 0:
                problem = f"the ketamine order was not written ({exc})"
            continue
        written.append(WrittenItem(f"{kind}/{created.get('id')}", what))
    return WriteOutcome(tuple(written), tuple(not_written), problem, unauthorized)
