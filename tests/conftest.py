"""Fixtures for real servers, started once per test run and only when a test asks for them (tests/services.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.services import PostgresServer, running_postgres, running_redis

# `make test` and CI draw the same examples on every run, so a run's result is reproducible on any machine; a new
# failing example is looked for on purpose, with HYPOTHESIS_PROFILE=explore (new random examples each run).
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server for the whole run; tests keep apart by key prefix (see `redis_prefix`)."""
    with running_redis() as url:
        yield url


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, so tests sharing the server never see each other's keys."""
    return f"test-{secrets.token_hex(4)}:"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database for this test."""
    return postgres_server.create_database()
