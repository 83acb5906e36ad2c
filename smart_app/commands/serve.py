"""`smart-app serve`: the CDS Hooks service (and the SMART app at /smart when configured) under uvicorn."""

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
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
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

    if args.no_auth:
        print(NO_AUTH_WARNING, file=sys.stderr)
        # Workers are separate processes that build the app from the environment: pass the choice that way.
        os.environ["SMART_APP_AUTH_ENABLED"] = "false"
    else:
        try:
            issuers = AuthConfig.from_env().issuers
        except AuthConfigError as exc:
            print(f"smart-app serve: error: {exc}", file=sys.stderr)
            return 2
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
