"""Durable view stores built on `eventsourcing` tracking recorders.

A view is a set of JSON documents `(projection, collection, key) -> doc`. A batch of writes and
the JetStream stream sequence it reached are committed in one transaction through the
recorder's tracking table, so each event is applied exactly once and a restart resumes from
`max_tracking_id`. The same store interface runs on SQLite (embedded default) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import msgspec
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL, Composed

from services.errors import StoreError
from services.settings import Settings

Doc = dict[str, Any]
WriteSet = Mapping[tuple[str, str], Doc | None]  # (collection, key) -> doc, or None to delete

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class AlreadyApplied(StoreError):
    """The batch's tracking position was already recorded: it must not be applied again."""


class ViewStore(Protocol):
    def max_position(self, projection: str) -> int: ...

    def commit(self, projection: str, writes: WriteSet, position: int) -> None: ...

    def load(self, projection: str, collection: str, key: str) -> Doc | None: ...

    def scan(self, projection: str, collection: str, prefix: str = "") -> Iterator[tuple[str, Doc]]: ...

    def drop(self, projection: str) -> None: ...

    def dump(self, projection: str) -> dict[tuple[str, str], Doc]: ...

    def close(self) -> None: ...


class SqliteViewStore(SQLiteTrackingRecorder):
    """The embedded default: one SQLite file (or ':memory:')."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(SQLiteDatastore(str(path)))
        self.create_table()

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS view_docs ("
            "projection TEXT NOT NULL, collection TEXT NOT NULL, key TEXT NOT NULL, doc BLOB NOT NULL, "
            "PRIMARY KEY (projection, collection, key)) WITHOUT ROWID",
        ]

    def max_position(self, projection: str) -> int:
        return self.max_tracking_id(projection) or 0

    def commit(self, projection: str, writes: WriteSet, position: int) -> None:
        upserts = [(projection, c, k, _enc.encode(d)) for (c, k), d in writes.items() if d is not None]
        deletes = [(projection, c, k) for (c, k), d in writes.items() if d is None]
        try:
            with self.datastore.transaction(commit=True) as c:
                self._insert_tracking(c, Tracking(projection, position))
                if upserts:
                    c.executemany(
                        "INSERT INTO view_docs VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (projection, collection, key) DO UPDATE SET doc = excluded.doc",
                        upserts,
                    )
                if deletes:
                    c.executemany("DELETE FROM view_docs WHERE projection=? AND collection=? AND key=?", deletes)
        except IntegrityError as exc:
            raise AlreadyApplied(f"{projection} already tracked position >= {position}") from exc

    def load(self, projection: str, collection: str, key: str) -> Doc | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT doc FROM view_docs WHERE projection=? AND collection=? AND key=?", (projection, collection, key)
            )
            row = c.fetchone()
        return None if row is None else _dec.decode(row[0])

    def scan(self, projection: str, collection: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT key, doc FROM view_docs WHERE projection=? AND collection=? AND key >= ? ORDER BY key",
                (projection, collection, prefix),
            )
            rows = c.fetchall()
        for row in rows:
            if not row[0].startswith(prefix):
                break
            yield row[0], _dec.decode(row[1])

    def drop(self, projection: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM view_docs WHERE projection=?", (projection,))
            c.execute("DELETE FROM tracking WHERE application_name=?", (projection,))

    def dump(self, projection: str) -> dict[tuple[str, str], Doc]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT collection, key, doc FROM view_docs WHERE projection=?", (projection,))
            return {(r[0], r[1]): _dec.decode(r[2]) for r in c.fetchall()}

    def close(self) -> None:
        self.datastore.close()


class PostgresViewStore(PostgresTrackingRecorder):
    """PostgreSQL over TCP (the unix socket can deadlock psycopg's pipeline on large batches)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        datastore = PostgresDatastore(
            dbname=parts.path.lstrip("/"),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or "unused"),
            pool_size=2,
            max_overflow=2,
        )
        super().__init__(datastore, tracking_table_name="view_tracking")
        self.sql_create_statements.append(
            Composed([SQL(
                "CREATE TABLE IF NOT EXISTS view_docs ("
                "projection text NOT NULL, collection text NOT NULL, key text NOT NULL, doc bytea NOT NULL, "
                "PRIMARY KEY (projection, collection, key))"
            )])
        )
        self.create_table()

    def max_position(self, projection: str) -> int:
        return self.max_tracking_id(projection) or 0

    def commit(self, projection: str, writes: WriteSet, position: int) -> None:
        upserts = [(projection, c, k, _enc.encode(d)) for (c, k), d in writes.items() if d is not None]
        deletes = [(projection, c, k) for (c, k), d in writes.items() if d is None]
        try:
            with self.datastore.transaction(commit=True) as curs:
                self._insert_tracking(curs, Tracking(projection, position))
                if upserts:
                    curs.executemany(
                        "INSERT INTO view_docs VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (projection, collection, key) DO UPDATE SET doc = excluded.doc",
                        upserts,
                    )
                if deletes:
                    curs.executemany(
                        "DELETE FROM view_docs WHERE projection=%s AND collection=%s AND key=%s", deletes
                    )
        except IntegrityError as exc:
            raise AlreadyApplied(f"{projection} already tracked position >= {position}") from exc

    def load(self, projection: str, collection: str, key: str) -> Doc | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT doc FROM view_docs WHERE projection=%s AND collection=%s AND key=%s",
                (projection, collection, key),
            )
            row = curs.fetchone()
        return None if row is None else _dec.decode(bytes(row["doc"]))

    def scan(self, projection: str, collection: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT key, doc FROM view_docs WHERE projection=%s AND collection=%s AND key >= %s "
                "ORDER BY key COLLATE \"C\"",
                (projection, collection, prefix),
            )
            rows = curs.fetchall()
        for row in rows:
            if not row["key"].startswith(prefix):
                break
            yield row["key"], _dec.decode(bytes(row["doc"]))

    def drop(self, projection: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("DELETE FROM view_docs WHERE projection=%s", (projection,))
            curs.execute("DELETE FROM view_tracking WHERE application_name=%s", (projection,))

    def dump(self, projection: str) -> dict[tuple[str, str], Doc]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT collection, key, doc FROM view_docs WHERE projection=%s", (projection,))
            return {(r["collection"], r["key"]): _dec.decode(bytes(r["doc"])) for r in curs.fetchall()}

    def close(self) -> None:
        self.datastore.close()


def open_store(settings: Settings) -> ViewStore:
    """Open the configured view store: PostgreSQL when a URL is set, else SQLite under data_dir."""
    url = settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresViewStore(url)
    if url.startswith("sqlite:///"):
        return SqliteViewStore(url[len("sqlite:///") :])
    if url:
        raise StoreError(f"unsupported CROSSBOOK_DATABASE_URL scheme in {url.split(':', 1)[0]!r}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteViewStore(settings.sqlite_path)
