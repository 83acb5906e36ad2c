"""Fixtures for real servers, started once per test run and only when a test asks for them (tests/services.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.services import PostgresServer, running_postgres, running_redis


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
