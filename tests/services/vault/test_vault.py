"""The credential vault on real SQLite and PostgreSQL: round trips, isolation, no plaintext at rest."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from events.vault import CredentialRevoked, CredentialStored
from services.bus import Bus
from services.settings import Settings
from services.vault import Credentials, Vault, VaultKeyError, lifecycle_event, open_vault
from tests.services.vault.helpers import postgres_bytes, sqlite_bytes, stream_bytes

API_KEY = "ak-PUBLIC-KEY-7Q2ABCD"
SECRET = "sk-VAULT-TEST-SECRET-9f8e7d"
PASSPHRASE = "pp-VAULT-PASSPHRASE-42x"
SIGNER = "0xSIGNERPRIVATEKEY77aa"
NEW_SECRET = "sk-ROTATED-SECRET-5c4b3a"
SENSITIVE = [API_KEY, SECRET, PASSPHRASE, SIGNER, NEW_SECRET]

FIRST = Credentials(API_KEY, SECRET, PASSPHRASE, {"signer_private_key": SIGNER, "builder": 7})
ROTATED = Credentials("ak-second-key-WXYZ", NEW_SECRET)


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def assert_clean(blob: bytes | str, what: str) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for secret in SENSITIVE:
        assert secret.encode() not in data, f"{what} contains a secret"


def exercise(vault: Vault) -> None:
    """Store, reveal, rotate, revoke for tenant acme on okx, with exact results at each step."""
    info = vault.store("acme", "okx", FIRST, now_ns=100)
    assert (info.connected, info.key_hint, info.has_passphrase, info.version, info.updated_ns) == (
        True, "ABCD", True, 1, 100
    )
    assert vault.reveal("acme", "okx") == FIRST
    rotated = vault.store("acme", "okx", ROTATED, now_ns=200)
    assert (rotated.connected, rotated.key_hint, rotated.has_passphrase, rotated.version) == (True, "WXYZ", False, 2)
    assert vault.reveal("acme", "okx") == ROTATED
    revoked = vault.revoke("acme", "okx", now_ns=300)
    assert revoked is not None
    assert (revoked.connected, revoked.key_hint, revoked.version, revoked.updated_ns) == (False, "WXYZ", 3, 300)
    assert vault.reveal("acme", "okx") is None
    assert vault.revoke("acme", "okx", now_ns=400) == revoked  # a second revoke changes nothing
    assert vault.revoke("acme", "kraken") is None  # never connected


def test_sqlite_round_trip_keeps_no_plaintext(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    vault = open_vault(settings)
    exercise(vault)
    vault.store("acme", "bybit", FIRST, now_ns=500)
    vault.close()
    # Reopening reads the same state back with the generated master key.
    vault = open_vault(settings)
    try:
        assert vault.reveal("acme", "bybit") == FIRST
        assert vault.info("acme", "okx") is not None and vault.info("acme", "okx").connected is False  # type: ignore[union-attr]
        assert [i.venue for i in vault.list("acme", ["bybit", "kraken", "okx"])] == ["bybit", "okx"]
    finally:
        vault.close()
    key_file = settings.data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    generated = [r.getMessage() for r in caplog.records if "generated a new master key" in r.getMessage()]
    assert len(generated) == 1 and str(key_file) in generated[0]
    assert key_file.read_text().strip() not in caplog.text
    raw = sqlite_bytes(settings.data_dir)
    # Control: the scan reads the stored events (their topics are plaintext columns).
    assert b"VenueCredential.CredentialsRotated" in raw and b"TenantKey.DataKeyCreated" in raw
    assert_clean(raw, "the SQLite vault file")
    assert_clean(caplog.text, "the log")


def test_postgres_round_trip_keeps_no_plaintext(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, master_key=new_key(), _env_file=None)
    vault = open_vault(settings)
    try:
        exercise(vault)
        vault.store("acme", "bybit", FIRST, now_ns=500)
    finally:
        vault.close()
    vault = open_vault(settings)
    try:
        assert vault.reveal("acme", "bybit") == FIRST
    finally:
        vault.close()
    assert not (settings.data_dir / "master.key").exists()  # the configured key is used, none generated
    raw = postgres_bytes(postgres_url)
    assert b"VenueCredential.CredentialsRotated" in raw and b"TenantKey.DataKeyCreated" in raw  # control
    assert_clean(raw, "the PostgreSQL vault rows")
    assert_clean(caplog.text, "the log")


def test_postgres_needs_an_explicit_master_key(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, _env_file=None)
    with pytest.raises(VaultKeyError, match="CROSSBOOK_MASTER_KEY must be set"):
        open_vault(settings)


def test_tenants_cannot_reach_each_others_credentials(tmp_path: Path) -> None:
    vault = open_vault(Settings(data_dir=tmp_path, master_key=new_key(), _env_file=None))
    try:
        vault.store("tenant-a", "okx", FIRST, now_ns=1)
        assert vault.reveal("tenant-b", "okx") is None
        assert vault.info("tenant-b", "okx") is None
        assert vault.list("tenant-b", ["okx"]) == []
        assert vault.revoke("tenant-b", "okx") is None
        vault.store("tenant-b", "okx", ROTATED, now_ns=2)
        assert vault.reveal("tenant-a", "okx") == FIRST
        assert vault.reveal("tenant-b", "okx") == ROTATED
    finally:
        vault.close()


def test_wrong_or_malformed_master_key_is_a_clear_error(tmp_path: Path) -> None:
    good = Settings(data_dir=tmp_path, master_key=new_key(), _env_file=None)
    vault = open_vault(good)
    vault.store("acme", "okx", FIRST, now_ns=1)
    vault.close()
    with pytest.raises(VaultKeyError, match="the master key does not decrypt this vault"):
        open_vault(Settings(data_dir=tmp_path, master_key=new_key(), _env_file=None))
    with pytest.raises(VaultKeyError, match=r"CROSSBOOK_MASTER_KEY must be base64 of 32 bytes \(AES-256\), got 16 bytes"):
        open_vault(Settings(data_dir=tmp_path, master_key=base64.b64encode(b"x" * 16).decode(), _env_file=None))
    with pytest.raises(VaultKeyError, match="CROSSBOOK_MASTER_KEY is not valid base64"):
        open_vault(Settings(data_dir=tmp_path, master_key="not base64!", _env_file=None))
    vault = open_vault(good)  # the right key still opens it
    try:
        assert vault.reveal("acme", "okx") == FIRST
    finally:
        vault.close()


def test_credential_reprs_mask_secrets() -> None:
    text = repr(FIRST) + str(FIRST) + f"{FIRST}"
    assert repr(FIRST) == "Credentials(key_hint='ABCD', api_secret='***', passphrase='***', extra_json='***')"
    assert_clean(text, "the repr")
    assert repr(Credentials("k", "s")) == "Credentials(key_hint='k', api_secret='***', passphrase=None, extra_json=None)"


async def test_lifecycle_events_on_the_bus_carry_no_secret(bus: Bus, settings: Settings) -> None:
    vault = open_vault(settings)
    try:
        stored = vault.store("acme", "okx", FIRST, now_ns=10)
        await bus.publish(lifecycle_event(stored))
        await bus.publish(lifecycle_event(stored))  # a retry: same derived id, deduplicated
        revoked = vault.revoke("acme", "okx", now_ns=20)
        assert revoked is not None
        await bus.publish(lifecycle_event(revoked))
    finally:
        vault.close()
    got = [d.event async for d in bus.replay(bus.stream_of("vault.acme.okx").name, "vault.>")]
    assert [type(e) for e in got] == [CredentialStored, CredentialRevoked]
    first, second = got
    assert isinstance(first, CredentialStored) and isinstance(second, CredentialRevoked)
    assert (first.tenant, first.venue, first.key_hint, first.version, first.has_passphrase, first.ts_ns) == (
        "acme", "okx", "ABCD", 1, True, 10
    )
    assert (second.tenant, second.venue, second.version, second.ts_ns) == ("acme", "okx", 2, 20)
    count, raw = await stream_bytes(bus, "vault.acme.okx")
    assert count == 2 and b"key_hint\xa4ABCD" in raw  # control (msgpack): the scan sees the events' bytes
    assert_clean(raw, "the JetStream stream")
