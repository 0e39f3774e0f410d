"""The API key store, run against both backends (SQLite under data_dir, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.api.keys import (
    DEFAULT_KEY_FILE,
    KeyNotFound,
    KeyStore,
    ensure_default_key,
    key_hash,
    new_secret,
    open_key_store,
    well_formed,
)
from services.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def key_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "data", database_url=url, _env_file=None)


@pytest.fixture
def store(key_settings: Settings) -> Iterator[KeyStore]:
    s = open_key_store(key_settings)
    yield s
    s.close()


def test_keys_have_the_contract_format() -> None:
    assert well_formed(new_secret(True, lambda n: "0f" * n)) and new_secret(True, lambda n: "0f" * n) == "seq_test_" + "0f" * 32
    assert new_secret(False, lambda n: "a1" * n) == "seq_live_" + "a1" * 32
    assert not well_formed("seq_live_" + "a1" * 31)
    assert not well_formed("seq_demo_" + "a1" * 32)
    assert not well_formed(" seq_live_" + "a1" * 32)


def test_first_key_of_a_tenant_is_admin_and_only_the_hash_is_stored(store: KeyStore, key_settings: Settings) -> None:
    owner = store.create("acme", sandbox=False, admin=False, now_ns=10, secret="seq_live_" + "11" * 32)
    second = store.create("acme", sandbox=True, admin=False, now_ns=20, label="bot")
    granted = store.create("acme", sandbox=True, admin=True, now_ns=30)
    other = store.create("zeta", sandbox=True, admin=False, now_ns=40)
    assert (owner.record.is_admin, second.record.is_admin, granted.record.is_admin, other.record.is_admin) == (
        True, False, True, True
    )
    assert owner.record.is_sandbox is False and second.record.is_sandbox is True
    assert second.secret.startswith("seq_test_") and second.secret not in repr(second)
    assert store.lookup(second.secret) == second.record
    assert store.lookup("seq_test_" + "22" * 32) is None
    assert [k.key_id for k in store.list_keys("acme")] == [owner.record.key_id, second.record.key_id, granted.record.key_id]
    assert [k.label for k in store.list_keys("acme")] == ["", "bot", ""]
    assert len(store.list_keys()) == 4
    if not key_settings.database_url:
        # The raw key never reaches the database file; its SHA-256 does.
        files = [key_settings.sqlite_path, key_settings.sqlite_path.with_name(key_settings.sqlite_path.name + "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())  # WAL: recent pages sit in the -wal file
        assert owner.secret.encode() not in raw and key_hash(owner.secret).encode() in raw


def test_revoke_is_durable_and_keeps_the_first_time(store: KeyStore, key_settings: Settings) -> None:
    key = store.create("acme", sandbox=True, admin=False, now_ns=10)
    assert store.revoke(key.record.key_id, now_ns=50).revoked_ns == 50
    assert store.revoke(key.record.key_id, now_ns=60).revoked_ns == 50
    with pytest.raises(KeyNotFound):
        store.revoke("key_nope", now_ns=70)
    reopened = open_key_store(key_settings)  # another process sees the same state
    try:
        found = reopened.lookup(key.secret)
        assert found is not None and found.revoked and found.revoked_ns == 50
    finally:
        reopened.close()


def test_ensure_default_key_reuses_a_valid_key_and_replaces_a_revoked_one(store: KeyStore, key_settings: Settings) -> None:
    first = ensure_default_key(key_settings, "default", now_ns=1)
    assert first.record.is_sandbox and first.record.tenant == "default" and first.record.is_admin  # the owner
    assert (key_settings.data_dir / DEFAULT_KEY_FILE).read_text().strip() == first.secret
    assert ensure_default_key(key_settings, "default", now_ns=2) == first
    store.revoke(first.record.key_id, now_ns=3)
    replaced = ensure_default_key(key_settings, "default", now_ns=4)
    assert replaced.secret != first.secret and not replaced.record.revoked
    assert (key_settings.data_dir / DEFAULT_KEY_FILE).stat().st_mode & 0o077 == 0
