"""Real parts for tests: a nats-server per test on a free loopback port, PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.bus import Bus
from services.natsd import NatsServer
from services.settings import Settings
from tests.pg import PostgresProvider


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, nats_server: NatsServer) -> Settings:
    # The trader's parts run in-process in most tests, without the heartbeat `crossbook trader`
    # announces; tests of readiness itself turn the requirement back on.
    return Settings(
        data_dir=tmp_path / "data", nats_url=nats_server.url, ack_wait_s=1.0, require_trader_ready=False, _env_file=None
    )


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    b = await Bus.connect(settings, name="test")
    await b.ensure_streams()
    yield b
    await b.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresProvider]:
    provider = PostgresProvider()
    yield provider
    provider.close()


@pytest.fixture
def postgres_url(postgres: PostgresProvider) -> Iterator[str]:
    name = f"crossbook_test_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("CROSSBOOK_MASTER_KEY", "")
