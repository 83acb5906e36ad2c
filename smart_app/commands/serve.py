"""`smart-app serve`: the CDS Hooks service (and the SMART app at /smart when configured) under uvicorn.

Before any worker starts, in this one process: the trusted-issuer configuration is read, the shared store
(`SMART_APP_REDIS_URL`) is checked, and the feedback database is upgraded to the shipped schema (unless
`SMART_APP_DATABASE_AUTO_MIGRATE=false`, then it is checked). Each problem is one line on stderr and exit code 2.
Several workers need the shared store when authentication is on or the SMART app is mounted: each worker is a
process with its own memory, so without it a replayed JWT or a SMART callback would reach a worker that knows
nothing of the first use or the launch.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from typing import Any

NO_AUTH_WARNING = (
    "WARNING: --no-auth: CDS client JWTs are NOT verified; anyone who can reach this port can call the service. "
    "For local testing only."
)
NO_ISSUERS_WARNING = (
    "WARNING: no trusted CDS clients configured (SMART_APP_CDS_TRUSTED_ISSUERS): every call will be refused "
    "with 401. Configure the EHR's issuer and JWK Set, or use --no-auth for local testing."
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the CDS Hooks service (uvicorn)",
        description="Run the CDS Hooks 2.0 service. CDS client JWTs are verified unless --no-auth is given; "
        "trusted issuers come from SMART_APP_CDS_TRUSTED_ISSUERS (see smart_app/cds_hooks/auth.py), other "
        "settings from SMART_APP_* variables (see smart_app/cds_hooks/settings.py).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); more than one needs SMART_APP_REDIS_URL unless --no-auth",
    )
    parser.add_argument("--no-auth", action="store_true", help="accept unauthenticated calls (local testing only)")
    parser.set_defaults(handler=run)


def log_config() -> dict[str, Any]:
    """uvicorn's logging plus the app's own loggers (hookInstance, service, timings) at INFO."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["smart_app"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from smart_app.cds_hooks.auth import AuthConfig, AuthConfigError

    if args.workers < 1:
        return _error("--workers must be at least 1")
    problem = _check_state(args.workers, auth_enabled=not args.no_auth) or _prepare_database()
    if problem:
        return _error(problem)
    if args.no_auth:
        print(NO_AUTH_WARNING, file=sys.stderr)
        # Workers are separate processes that build the app from the environment: pass the choice that way.
        os.environ["SMART_APP_AUTH_ENABLED"] = "false"
    else:
        try:
            issuers = AuthConfig.from_env().issuers
        except AuthConfigError as exc:
            return _error(str(exc))
        if not issuers:
            print(NO_ISSUERS_WARNING, file=sys.stderr)
    uvicorn.run(
        "smart_app.server:create_server",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(),
        access_log=False,  # the app logs hookInstance, service and timing per call instead
    )
    return 0


def _error(message: str) -> int:
    print(f"smart-app serve: error: {message}", file=sys.stderr)
    return 2


def _smart_settings() -> Any:
    """The SMART app's settings when it will be mounted, else None."""
    from pydantic import ValidationError

    from smart_app.smart.settings import SmartConfigError, SmartSettings

    try:
        return SmartSettings()
    except (SmartConfigError, ValidationError):
        return None


def _check_state(workers: int, *, auth_enabled: bool) -> str | None:
    """Why the shared-state configuration cannot serve `workers` workers, or None."""
    import asyncio

    from smart_app.storage.shared import SharedStateError, open_shared_state

    smart = _smart_settings()
    if workers > 1 and smart is not None and not smart.session_secret:
        return (
            f"--workers {workers} needs SMART_APP_SMART_SESSION_SECRET (dev mode would give each worker its own "
            "random secret, so a session cookie from one would not open on another)"
        )
    try:
        shared = open_shared_state()
    except SharedStateError as exc:
        return str(exc)
    if shared is None:
        if workers > 1 and (auth_enabled or smart is not None):
            return (
                f"--workers {workers} needs a shared store for the JWT replay cache and SMART sessions: set "
                "SMART_APP_REDIS_URL and SMART_APP_STATE_KEY (see README, 'Several workers and hosts'), "
                "or run one worker"
            )
        return None

    async def ping() -> None:
        try:
            await shared.check()
        finally:
            await shared.aclose()

    try:
        asyncio.run(ping())
    except SharedStateError as exc:
        return f"SMART_APP_REDIS_URL: {exc}"
    return None


def _prepare_database() -> str | None:
    """Upgrade (or check) the feedback database once, before workers start; why it failed, or None."""
    from sqlalchemy.exc import SQLAlchemyError

    from smart_app.cds_hooks.settings import ServiceSettings
    from smart_app.storage import StorageConfigError, migrate
    from smart_app.storage.store import StorageSettings, describe_database_error, open_engine, resolve_database_url

    try:
        engine = open_engine(resolve_database_url(ServiceSettings().database_url))
    except StorageConfigError as exc:
        return str(exc)
    try:
        if not StorageSettings().database_auto_migrate:
            migrate.require_current(engine)
            return None
        before, after = migrate.upgrade(engine)
    except migrate.SchemaNotCurrentError as exc:
        return str(exc)
    except SQLAlchemyError as exc:
        return f"feedback database cannot be opened: {describe_database_error(exc)}"
    finally:
        engine.dispose()
    if before != after:
        print(
            f"smart-app serve: feedback database schema upgraded from {before or '(empty)'} to {after}", file=sys.stderr
        )
    return None
