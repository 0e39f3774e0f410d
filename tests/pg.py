"""PostgreSQL for tests: the machine's server on 127.0.0.1:5432 when it answers, otherwise a
throwaway cluster started from the installed binaries (initdb refuses root: run as postgres)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from services.net import free_port



def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresProvider:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = int(os.environ.get("CROSSBOOK_TEST_PG_PORT", "5432"))
        self.user = "postgres"
        self._tmp: Path | None = None
        self._pgbin: Path | None = None
        self.error = ""
        if not self._answers():
            self._start_throwaway()

    def _admin_url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self._admin_url(), connect_timeout=3):
                return True
        except psycopg.Error:
            return False

    def _start_throwaway(self) -> None:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not candidates:
            self.error = "no PostgreSQL server answers on 127.0.0.1:5432 and no binaries are installed"
            return
        self._pgbin = candidates[-1]
        self._tmp = Path(tempfile.mkdtemp(prefix="pgci."))
        if os.geteuid() == 0:
            shutil.chown(self._tmp, "postgres", "postgres")
        self.port = free_port()
        data = self._tmp / "data"
        subprocess.run(
            _as_postgres([str(self._pgbin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"]),
            check=True,
            capture_output=True,
        )
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._tmp} -c fsync=off -c synchronous_commit=off"
        subprocess.run(
            _as_postgres([str(self._pgbin / "pg_ctl"), "-D", str(data), "-l", str(self._tmp / "log"), "-w", "-o", opts, "start"]),
            check=True,
            capture_output=True,
        )

    def create_database(self, name: str) -> str:
        if self.error:
            pytest.skip(self.error)
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._tmp is not None and self._pgbin is not None:
            subprocess.run(
                _as_postgres([str(self._pgbin / "pg_ctl"), "-D", str(self._tmp / "data"), "-m", "fast", "-w", "stop"]),
                capture_output=True,
            )
            shutil.rmtree(self._tmp, ignore_errors=True)
