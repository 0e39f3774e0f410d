"""Scanners used by the vault tests: raw bytes of the stores, never decoded views of them."""

from __future__ import annotations

from pathlib import Path

import psycopg

from services.bus import Bus


def sqlite_bytes(data_dir: Path) -> bytes:
    """Every byte of the vault's SQLite files (main file and any WAL/journal beside it)."""
    files = sorted(data_dir.glob("vault.sqlite*"))
    assert files, f"no vault database under {data_dir}"
    return b"".join(f.read_bytes() for f in files)


def postgres_bytes(url: str) -> bytes:
    """Every value of every row of every table in the public schema, as raw bytes."""
    out: list[bytes] = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert tables, "no tables in the vault database"
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    out.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\n".join(out)


async def stream_bytes(bus: Bus, subject: str) -> tuple[int, bytes]:
    """(message count, raw data + headers of every message) of the stream holding `subject`."""
    stream = bus.stream_of(subject).name
    info = await bus.js.stream_info(stream)
    chunks: list[bytes] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(stream, seq)
        chunks.append(msg.data or b"")
        chunks.append(repr(msg.headers).encode())
    return info.state.messages, b"\n".join(chunks)
