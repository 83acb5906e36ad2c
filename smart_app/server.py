"""The deployed application: the CDS Hooks service at `/`, the SMART app mounted at `/smart`.

The SMART app needs its own configuration (client id, redirect URI, session secret, allowed issuers; see
`smart_app.smart`). When that is absent or invalid the CDS Hooks service still runs and the log says why the
SMART app is off, so a CDS-only deployment needs no SMART settings.

State that every worker must share (the jti replay cache, SMART sessions) is in Redis when
`SMART_APP_REDIS_URL` is set (`smart_app.storage.shared`), else in this process's memory.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from pydantic import ValidationError

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.smart.settings import SmartConfigError, SmartSettings
from smart_app.smart.web import create_smart_app
from smart_app.storage.shared import open_shared_state

log = logging.getLogger("smart_app")


def create_server() -> FastAPI:
    shared = open_shared_state()  # SharedStateError (bad key) stops the worker; `serve` checks it first
    smart_settings: SmartSettings | None
    try:
        smart_settings = SmartSettings()
    except (SmartConfigError, ValidationError) as exc:
        log.warning("SMART app not mounted at /smart: %s", str(exc).splitlines()[0])
        smart_settings = None
    # Card links go to the SMART app only when there is one: configured elsewhere (SMART_APP_LAUNCH_URL) or
    # mounted here under the service's public URL; never to a guessed localhost address.
    settings = ServiceSettings().with_smart_app(mounted=smart_settings is not None)
    if settings.launch_url is None:
        why = "SMART_APP_PUBLIC_BASE_URL is not set" if smart_settings is not None else "no SMART app is configured"
        log.warning("cards carry no SMART app link: %s (or set SMART_APP_LAUNCH_URL)", why)
    app = create_app(settings, shared_state=shared, warm=True)
    if smart_settings is not None:
        # The protocol-write audit lives in the service's database (SMART_APP_DATABASE_URL, else DATABASE_URL).
        app.mount("/smart", create_smart_app(smart_settings, state=shared, database_url=settings.database_url))
    return app
