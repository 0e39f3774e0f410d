"""API keys: `seq_live_<64 hex>` / `seq_test_<64 hex>`, stored only as a SHA-256 hash.

The table `api_keys` lives in the same database as the read models (SQLite under data_dir by
default, PostgreSQL when `CROSSBOOK_DATABASE_URL` is set), so a key minted by the CLI in one
process is seen by the API process at once, and a revocation takes effect on the next request.
The first key created for a tenant is its owner key and is always admin.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg

from services.errors import StoreError
from services.settings import Settings

LIVE_PREFIX = "seq_live_"
TEST_PREFIX = "seq_test_"
_KEY_RE = re.compile(r"^seq_(live|test)_[0-9a-f]{64}$")
# Where `crossbook up` keeps the raw default key it printed, so a restart reuses it.
DEFAULT_KEY_FILE = "default_api_key"


class KeyNotFound(StoreError):
    """No key with that key_id."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    tenant: str
    is_sandbox: bool
    is_admin: bool
    created_ns: int
    revoked_ns: int | None = None
    label: str = ""

    @property
    def revoked(self) -> bool:
        return self.revoked_ns is not None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    secret: str
    record: ApiKey

    def __repr__(self) -> str:  # the secret never appears in a repr or a log
        return f"IssuedKey(record={self.record!r})"


def well_formed(raw: str) -> bool:
    """Whether `raw` has the `seq_live_`/`seq_test_` prefix and 64 lower-case hex digits."""
    return _KEY_RE.fullmatch(raw) is not None


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def key_id_of(raw: str) -> str:
    # Derived from the hash: a stable public handle that reveals nothing usable.
    return "key_" + key_hash(raw)[:16]


def new_secret(sandbox: bool, token_hex: Callable[[int], str] = secrets.token_hex) -> str:
    """Return a fresh raw key; a sandbox key is a `seq_test_` key."""
    return (TEST_PREFIX if sandbox else LIVE_PREFIX) + token_hex(32)


class KeyStore(Protocol):
    def create(
        self, tenant: str, *, sandbox: bool, admin: bool, now_ns: int, label: str = "", secret: str | None = None
    ) -> IssuedKey: ...

    def lookup(self, raw: str) -> ApiKey | None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def revoke(self, key_id: str, now_ns: int) -> ApiKey: ...

    def revoke_if_active(self, key_id: str, now_ns: int) -> bool: ...

    def list_keys(self, tenant: str | None = None) -> list[ApiKey]: ...

    def close(self) -> None: ...


_COLUMNS = "key_id, tenant, is_sandbox, is_admin, created_ns, revoked_ns, label"


def _row(r: Any) -> ApiKey:
    return ApiKey(
        key_id=r[0], tenant=r[1], is_sandbox=bool(r[2]), is_admin=bool(r[3]), created_ns=int(r[4]),
        revoked_ns=None if r[5] is None else int(r[5]), label=r[6] or "",
    )


class _SqlKeyStore:
    """The SQL both backends share; subclasses supply a cursor context and the placeholder."""

    ph = "?"

    def _tx(self, *, lock: bool = False) -> AbstractContextManager[Any]:
        # One transaction; `lock` serialises writers that must read-then-insert (first-key rule).
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text.replace("?", self.ph)

    def create(
        self, tenant: str, *, sandbox: bool, admin: bool, now_ns: int, label: str = "", secret: str | None = None
    ) -> IssuedKey:
        if not tenant:
            raise ValueError("tenant must not be empty")
        raw = secret or new_secret(sandbox)
        if not well_formed(raw):
            raise ValueError("a key must be seq_live_<64 hex> or seq_test_<64 hex>")
        is_sandbox = raw.startswith(TEST_PREFIX)
        with self._tx(lock=True) as c:
            c.execute(self._sql("SELECT COUNT(*) FROM api_keys WHERE tenant = ?"), (tenant,))
            first = c.fetchone()[0] == 0
            record = ApiKey(key_id_of(raw), tenant, is_sandbox, admin or first, now_ns, None, label)
            c.execute(
                self._sql(f"INSERT INTO api_keys ({_COLUMNS}, key_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                (record.key_id, tenant, is_sandbox, record.is_admin, now_ns, None, label, key_hash(raw)),
            )
        return IssuedKey(raw, record)

    def lookup(self, raw: str) -> ApiKey | None:
        with self._tx() as c:
            c.execute(self._sql(f"SELECT {_COLUMNS} FROM api_keys WHERE key_sha256 = ?"), (key_hash(raw),))
            r = c.fetchone()
        return None if r is None else _row(r)

    def get(self, key_id: str) -> ApiKey | None:
        with self._tx() as c:
            c.execute(self._sql(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?"), (key_id,))
            r = c.fetchone()
        return None if r is None else _row(r)

    def revoke(self, key_id: str, now_ns: int) -> ApiKey:
        with self._tx() as c:
            # Revoking twice keeps the first revocation time.
            c.execute(
                self._sql("UPDATE api_keys SET revoked_ns = COALESCE(revoked_ns, ?) WHERE key_id = ?"), (now_ns, key_id)
            )
        key = self.get(key_id)
        if key is None:
            raise KeyNotFound(f"no API key with key_id {key_id!r}")
        return key

    def revoke_if_active(self, key_id: str, now_ns: int) -> bool:
        """Revoke a key that is still active; False when it was already revoked (or unknown).
        One statement, so of two racing callers exactly one gets True."""
        with self._tx() as c:
            c.execute(
                self._sql("UPDATE api_keys SET revoked_ns = ? WHERE key_id = ? AND revoked_ns IS NULL"), (now_ns, key_id)
            )
            return c.rowcount == 1

    def list_keys(self, tenant: str | None = None) -> list[ApiKey]:
        with self._tx() as c:
            if tenant is None:
                c.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY tenant, created_ns, key_id")
            else:
                c.execute(
                    self._sql(f"SELECT {_COLUMNS} FROM api_keys WHERE tenant = ? ORDER BY created_ns, key_id"), (tenant,)
                )
            return [_row(r) for r in c.fetchall()]


class SqliteKeyStore(_SqlKeyStore):
    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        # One connection; autocommit mode so each `_tx` is one explicit transaction.
        self._conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
        if str(path) != ":memory:":
            # WAL, as the view store's eventsourcing datastore uses on the same file: readers never
            # block the projection writers of other processes, and a file created here (by
            # `crossbook up`) is already WAL before those processes race to open it.
            self._conn.execute("PRAGMA journal_mode=WAL")
        with self._tx() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, "
                "key_sha256 TEXT NOT NULL UNIQUE, is_sandbox INTEGER NOT NULL, is_admin INTEGER NOT NULL, "
                "created_ns INTEGER NOT NULL, revoked_ns INTEGER, label TEXT NOT NULL DEFAULT '')"
            )

    @contextmanager
    def _tx(self, *, lock: bool = False) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            c = self._conn.cursor()
            # IMMEDIATE takes the write lock up front, so two processes creating a tenant's first
            # key cannot both see "no keys yet".
            c.execute("BEGIN IMMEDIATE" if lock else "BEGIN")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


class PostgresKeyStore(_SqlKeyStore):
    ph = "%s"

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        self._url = url
        self._conn = psycopg.connect(url, autocommit=True)
        with self._tx() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (key_id text PRIMARY KEY, tenant text NOT NULL, "
                "key_sha256 text NOT NULL UNIQUE, is_sandbox boolean NOT NULL, is_admin boolean NOT NULL, "
                "created_ns bigint NOT NULL, revoked_ns bigint, label text NOT NULL DEFAULT '')"
            )

    @contextmanager
    def _tx(self, *, lock: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        with self._lock:
            if self._conn.closed:
                self._conn = psycopg.connect(self._url, autocommit=True)
            with self._conn.transaction(), self._conn.cursor() as c:
                if lock:
                    # Serialises first-key creation across processes (see SqliteKeyStore._tx).
                    c.execute("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE")
                yield c

    def close(self) -> None:
        self._conn.close()


def open_key_store(settings: Settings) -> KeyStore:
    """Open the key table in the configured read-model database (see projections.store.open_store)."""
    url = settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresKeyStore(url)
    if url.startswith("sqlite:///"):
        return SqliteKeyStore(url[len("sqlite:///") :])
    if url:
        raise StoreError(f"unsupported CROSSBOOK_DATABASE_URL scheme in {url.split(':', 1)[0]!r}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteKeyStore(settings.sqlite_path)


def create_key(
    settings: Settings, tenant: str, *, sandbox: bool, admin: bool = False, now_ns: int, label: str = ""
) -> IssuedKey:
    """Open the store, mint one key, close the store (the CLI's and tests' one-shot path)."""
    store = open_key_store(settings)
    try:
        return store.create(tenant, sandbox=sandbox, admin=admin, now_ns=now_ns, label=label)
    finally:
        store.close()


def ensure_default_key(settings: Settings, tenant: str, *, now_ns: int) -> IssuedKey:
    """Reuse the local default sandbox key kept under data_dir if it is still valid, else mint one."""
    path = settings.data_dir / DEFAULT_KEY_FILE
    store = open_key_store(settings)
    try:
        if path.exists():
            raw = path.read_text().strip()
            known = store.lookup(raw) if well_formed(raw) else None
            if known is not None and not known.revoked and known.tenant == tenant:
                return IssuedKey(raw, known)
        issued = store.create(tenant, sandbox=True, admin=False, now_ns=now_ns, label="crossbook up")
    finally:
        store.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(issued.secret + "\n")
    return issued
