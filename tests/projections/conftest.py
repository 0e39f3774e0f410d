"""Projection tests run against both view stores: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.store import PostgresViewStore, SqliteViewStore, ViewStore


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'views.sqlite'}"
    return request.getfixturevalue("postgres_url")


def open_url(url: str) -> ViewStore:
    if url.startswith("sqlite:///"):
        return SqliteViewStore(url[len("sqlite:///") :])
    return PostgresViewStore(url)


@pytest.fixture
def store(store_url: str) -> Iterator[ViewStore]:
    s = open_url(store_url)
    yield s
    s.close()


