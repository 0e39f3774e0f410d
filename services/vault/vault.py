"""The vault: an eventsourcing Application with its cipher on, plus per-tenant data keys.

See the package docstring for the design. Everything here is synchronous (local SQLite or a
short PostgreSQL round trip); callers on the event loop accept that brief block.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment

from events.ids import derive_id
from events.vault import CredentialRevoked, CredentialStored
from services.settings import Settings

log = logging.getLogger(__name__)

_NS = uuid.UUID("6f1c1a52-8c1e-4d7e-9a53-3c1a0e2b7f10")  # namespace for vault aggregate ids
_MASTER_KEY_FILE = "master.key"


class VaultError(Exception):
    """A vault operation failed (bad input, tampered record)."""


class VaultKeyError(VaultError):
    """The master key is missing, malformed or does not open this vault."""


# ---------------------------------------------------------------- values handed to callers


@dataclass(frozen=True)
class Credentials:
    """Plaintext credentials for one venue. Only `Vault.reveal` returns these."""

    api_key: str
    api_secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)
    extra_json: Any = field(default=None, repr=False)

    @property
    def key_hint(self) -> str:
        return key_hint(self.api_key)

    def __repr__(self) -> str:
        # Never print the key, secret, passphrase or extra_json (it may hold a signer key).
        return (
            f"Credentials(key_hint={self.key_hint!r}, api_secret='***', "
            f"passphrase={'***' if self.passphrase else None!r}, "
            f"extra_json={'***' if self.extra_json is not None else None!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown about a stored credential: no secret, only the key hint."""

    tenant: str
    venue: str
    connected: bool
    key_hint: str
    has_passphrase: bool
    version: int
    updated_ns: int


def key_hint(api_key: str) -> str:
    # A wallet's "key" is its public address: kept whole, so wallets list without decrypting.
    if len(api_key) == 42 and api_key.startswith("0x") and all(c in "0123456789abcdefABCDEF" for c in api_key[2:]):
        return api_key
    return api_key[-4:]


# ---------------------------------------------------------------- aggregates


class KeyCheck(Aggregate):
    """Written once per vault: proves on open that the master key decrypts the store."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid5(_NS, "key-check")

    @event("Created")
    def __init__(self) -> None:
        pass


class TenantKey(Aggregate):
    """A tenant's data key, wrapped (AES-GCM) by the master key."""

    @staticmethod
    def create_id(tenant: str, wrapped_key: str) -> uuid.UUID:
        return tenant_key_id(tenant)

    @event("DataKeyCreated")
    def __init__(self, tenant: str, wrapped_key: str) -> None:
        self.tenant = tenant
        self.wrapped_key = wrapped_key


class VenueCredential(Aggregate):
    """One tenant's credentials for one venue; `sealed` is ciphertext under the tenant data key."""

    @staticmethod
    def create_id(tenant: str, venue: str, **_: Any) -> uuid.UUID:
        return credential_id(tenant, venue)

    @event("CredentialsStored")
    def __init__(self, tenant: str, venue: str, sealed: str, key_hint: str, has_passphrase: bool, at_ns: int) -> None:
        self.tenant = tenant
        self.venue = venue
        self.sealed = sealed
        self.key_hint = key_hint
        self.has_passphrase = has_passphrase
        self.updated_ns = at_ns
        self.revoked = False

    @event("CredentialsRotated")
    def rotate(self, sealed: str, key_hint: str, has_passphrase: bool, at_ns: int) -> None:
        self.sealed = sealed
        self.key_hint = key_hint
        self.has_passphrase = has_passphrase
        self.updated_ns = at_ns
        self.revoked = False

    @event("CredentialsRevoked")
    def revoke(self, at_ns: int) -> None:
        self.sealed = ""  # the current state forgets the ciphertext; earlier events keep theirs
        self.updated_ns = at_ns
        self.revoked = True


def tenant_key_id(tenant: str) -> uuid.UUID:
    return uuid.uuid5(_NS, f"tenant-key:{tenant}")


def credential_id(tenant: str, venue: str) -> uuid.UUID:
    return uuid.uuid5(_NS, f"credential:{tenant}:{venue}")


class VaultApplication(Application[uuid.UUID]):
    name = "vault"
    is_snapshotting_enabled = False


# ---------------------------------------------------------------- keys


def _cipher(key: bytes) -> AESCipher:
    return AESCipher(Environment(env={AESCipher.CIPHER_KEY: base64.b64encode(key).decode()}))


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VaultKeyError(f"{source} is not valid base64") from exc
    if len(key) != 32:
        raise VaultKeyError(f"{source} must be base64 of 32 bytes (AES-256), got {len(key)} bytes")
    return key


def resolve_master_key(settings: Settings) -> bytes:
    """The master key: CROSSBOOK_MASTER_KEY, else (SQLite only) data_dir/master.key, made once."""
    configured = settings.master_key.get_secret_value()
    if configured:
        return _decode_key(configured, "CROSSBOOK_MASTER_KEY")
    if _postgres_url(settings) is not None:
        raise VaultKeyError("CROSSBOOK_MASTER_KEY must be set when the vault is on PostgreSQL")
    path = settings.data_dir / _MASTER_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        encoded = base64.b64encode(os.urandom(32))
        try:
            # O_EXCL: two processes starting together must not each write their own key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encoded + b"\n")
            log.warning(
                "vault: generated a new master key at %s (mode 600); back it up, or set CROSSBOOK_MASTER_KEY",
                path,
            )
    return _decode_key(path.read_text(), str(path))


def _postgres_url(settings: Settings) -> str | None:
    url = settings.database_url
    return url if url.startswith(("postgresql://", "postgres://")) else None


def _env_for(settings: Settings, master_key: bytes) -> dict[str, str]:
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": base64.b64encode(master_key).decode(),
        "AGGREGATE_CACHE_MAXSIZE": "",  # no cache: another process may rotate or revoke
    }
    pg = _postgres_url(settings)
    if pg is not None:
        parts = urlsplit(pg)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=parts.path.lstrip("/"),
            POSTGRES_HOST=parts.hostname or "127.0.0.1",
            POSTGRES_PORT=str(parts.port or 5432),
            POSTGRES_USER=unquote(parts.username or ""),
            POSTGRES_PASSWORD=unquote(parts.password or ""),
            CREATE_TABLE="y",
        )
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(settings.data_dir / "vault.sqlite"),
            CREATE_TABLE="y",
        )
    return env


# ---------------------------------------------------------------- the vault


class Vault:
    """Store, reveal, rotate and revoke venue credentials for tenants."""

    def __init__(self, app: VaultApplication, master_key: bytes) -> None:
        self._app = app
        self._master = _cipher(master_key)
        self._lock = threading.Lock()  # serialises first-time creations within this process

    def close(self) -> None:
        self._app.close()

    # -- tenant data keys

    def _data_key(self, tenant: str, *, create: bool) -> AESCipher | None:
        try:
            agg: TenantKey = self._app.repository.get(tenant_key_id(tenant))
        except AggregateNotFoundError:
            if not create:
                return None
            agg = TenantKey(tenant, base64.b64encode(self._master.encrypt(os.urandom(32))).decode())
            try:
                self._app.save(agg)
            except IntegrityError:
                # Another writer created it first: use theirs.
                agg = self._app.repository.get(tenant_key_id(tenant))
        try:
            raw = self._master.decrypt(base64.b64decode(agg.wrapped_key))
        except ValueError as exc:
            raise VaultKeyError(f"the master key does not unwrap the data key of tenant {tenant!r}") from exc
        return _cipher(raw)

    def _get(self, tenant: str, venue: str) -> VenueCredential | None:
        try:
            return self._app.repository.get(credential_id(tenant, venue))
        except AggregateNotFoundError:
            return None

    # -- operations

    def store(self, tenant: str, venue: str, creds: Credentials, *, now_ns: int | None = None) -> CredentialInfo:
        """Store or overwrite (rotate) a tenant's credentials for `venue`."""
        at_ns = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            data_key = self._data_key(tenant, create=True)
            assert data_key is not None
            sealed = _seal(data_key, {
                "tenant": tenant, "venue": venue, "api_key": creds.api_key, "api_secret": creds.api_secret,
                "passphrase": creds.passphrase, "extra_json": creds.extra_json,
            })
            has_pp = bool(creds.passphrase)
            agg = self._get(tenant, venue)
            if agg is None:
                agg = VenueCredential(
                    tenant=tenant, venue=venue, sealed=sealed, key_hint=creds.key_hint, has_passphrase=has_pp, at_ns=at_ns
                )
            else:
                agg.rotate(sealed=sealed, key_hint=creds.key_hint, has_passphrase=has_pp, at_ns=at_ns)
            self._app.save(agg)
        log.info("vault: stored credentials tenant=%s venue=%s key_hint=%s v%d", tenant, venue, agg.key_hint, agg.version)
        return _info(agg)

    def reveal(self, tenant: str, venue: str) -> Credentials | None:
        """The plaintext credentials, for an edge that signs requests; None when not connected."""
        agg = self._get(tenant, venue)
        if agg is None or agg.revoked:
            return None
        data_key = self._data_key(tenant, create=False)
        if data_key is None:
            raise VaultError(f"tenant {tenant!r} has credentials but no data key")
        doc = _unseal(data_key, agg.sealed, {"tenant": tenant, "venue": venue}, f"credentials of tenant {tenant!r} for {venue!r}")
        return Credentials(
            api_key=doc["api_key"], api_secret=doc["api_secret"], passphrase=doc["passphrase"], extra_json=doc["extra_json"]
        )

    def revoke(self, tenant: str, venue: str, *, now_ns: int | None = None) -> CredentialInfo | None:
        """Revoke; None when the tenant never connected `venue`. Revoking twice is a no-op."""
        with self._lock:
            agg = self._get(tenant, venue)
            if agg is None:
                return None
            if not agg.revoked:
                agg.revoke(at_ns=time.time_ns() if now_ns is None else now_ns)
                self._app.save(agg)
                log.info("vault: revoked credentials tenant=%s venue=%s v%d", tenant, venue, agg.version)
        return _info(agg)

    def seal(self, tenant: str, purpose: str, plaintext: bytes) -> str:
        """Encrypt other tenant secrets (e.g. a hosted strategy's) with the tenant's data key.
        The sealed text names its tenant and purpose, which `unseal` checks."""
        with self._lock:
            data_key = self._data_key(tenant, create=True)
        assert data_key is not None
        return _seal(data_key, {"tenant": tenant, "purpose": purpose, "data": base64.b64encode(plaintext).decode()})

    def unseal(self, tenant: str, purpose: str, sealed: str) -> bytes:
        data_key = self._data_key(tenant, create=False)
        if data_key is None:
            raise VaultError(f"tenant {tenant!r} has no data key")
        doc = _unseal(data_key, sealed, {"tenant": tenant, "purpose": purpose}, f"sealed {purpose!r} of tenant {tenant!r}")
        return base64.b64decode(doc["data"])

    def info(self, tenant: str, venue: str) -> CredentialInfo | None:
        agg = self._get(tenant, venue)
        return None if agg is None else _info(agg)

    def list(self, tenant: str, venues: list[str]) -> list[CredentialInfo]:
        """Credentials ever stored by `tenant` among `venues` (revoked ones too, connected=False)."""
        return [i for i in (self.info(tenant, v) for v in venues) if i is not None]


def _seal(data_key: AESCipher, doc: dict[str, Any]) -> str:
    """`doc` encrypted with the tenant's data key; it carries the fields that bind it to its
    record (tenant, venue or purpose), which `_unseal` checks."""
    return base64.b64encode(data_key.encrypt(json.dumps(doc).encode())).decode()


def _unseal(data_key: AESCipher, sealed: str, bound_to: dict[str, str], what: str) -> dict[str, Any]:
    """The document `_seal` wrote; VaultError when it fails authentication or was sealed for
    another record (a sealed value copied between records)."""
    try:
        doc: dict[str, Any] = json.loads(data_key.decrypt(base64.b64decode(sealed)))
    except ValueError as exc:
        raise VaultError(f"{what} failed authentication") from exc
    if any(doc.get(field) != value for field, value in bound_to.items()):
        raise VaultError(f"{what}: sealed for another record")
    return doc


def _info(agg: VenueCredential) -> CredentialInfo:
    return CredentialInfo(
        tenant=agg.tenant,
        venue=agg.venue,
        connected=not agg.revoked,
        key_hint=agg.key_hint,
        has_passphrase=agg.has_passphrase,
        version=agg.version,
        updated_ns=agg.updated_ns,
    )


def lifecycle_event(info: CredentialInfo) -> CredentialStored | CredentialRevoked:
    """The bus event for a vault change. The id derives from aggregate+version: a retry dedups."""
    event_id = derive_id("vault", info.tenant, info.venue, str(info.version))
    if info.connected:
        return CredentialStored(
            event_id=event_id,
            ts_ns=info.updated_ns,
            tenant=info.tenant,
            venue=info.venue,
            key_hint=info.key_hint,
            version=info.version,
            has_passphrase=info.has_passphrase,
        )
    return CredentialRevoked(
        event_id=event_id, ts_ns=info.updated_ns, tenant=info.tenant, venue=info.venue, version=info.version
    )


def open_vault(settings: Settings) -> Vault:
    """Open (creating if needed) the vault store; `VaultKeyError` if the master key is wrong."""
    master = resolve_master_key(settings)
    app = VaultApplication(env=_env_for(settings, master))
    try:
        try:
            app.repository.get(KeyCheck.create_id())
        except AggregateNotFoundError:
            try:
                app.save(KeyCheck())
            except IntegrityError:
                app.repository.get(KeyCheck.create_id())  # created concurrently: check it reads
    except ValueError as exc:
        app.close()
        raise VaultKeyError(
            "the master key does not decrypt this vault (CROSSBOOK_MASTER_KEY or data_dir/master.key changed?)"
        ) from exc
    except BaseException:
        app.close()
        raise
    return Vault(app, master)
