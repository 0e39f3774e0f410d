"""Runs hosted strategies as sandboxed subprocesses and keeps their logs.

Each run is `python -I -u bootstrap.py` in the strategy's own directory with a fresh environment
(nothing inherited: only PATH, HOME, the strategy's key, the API base URL, its env and secrets).
The bootstrap applies the memory, CPU-time, open-file and file-size limits before user code; the
supervisor enforces the wall-clock limit and stops a run with SIGTERM, then SIGKILL after a grace
period, always to the whole process group. stdout and stderr are kept line by line in a bounded
ring per run, with the run's secret values masked.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.strategies.bootstrap import MEMORY_EXIT

log = logging.getLogger(__name__)
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
LOG_LINES_PER_RUN = 1000
LOG_LINE_MAX_CHARS = 4096
RUNS_KEPT = 5  # per strategy, for `logs?run_id=` after restarts
STOP_GRACE_S = 3.0
MASK = "***"


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 512 * 2**20
    cpu_seconds: int = 600
    wall_clock_s: float = 24 * 3600.0
    open_files: int = 256
    file_bytes: int = 64 * 2**20

    def for_bootstrap(self) -> str:
        return json.dumps(
            {
                "memory_bytes": self.memory_bytes,
                "cpu_seconds": self.cpu_seconds,
                "open_files": self.open_files,
                "file_bytes": self.file_bytes,
            }
        )


@dataclass(frozen=True)
class LogLine:
    ts_ns: int
    stream: str  # stdout | stderr | supervisor
    line: str


@dataclass
class Run:
    run_id: str
    strategy_id: str
    started_ns: int
    logs: collections.deque[LogLine] = field(default_factory=lambda: collections.deque(maxlen=LOG_LINES_PER_RUN))
    status: str = "running"  # running | stopping | stopped | failed
    reason: str | None = None
    exit_code: int | None = None
    ended_ns: int | None = None
    pid: int | None = None
    _stop_reason: str | None = None
    _process: asyncio.subprocess.Process | None = None
    _watch: asyncio.Task[None] | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _logged: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def alive(self) -> bool:
        return self.status in ("running", "stopping")

    async def wait_for_line(self, predicate: Callable[[LogLine], bool], timeout: float) -> LogLine:
        """The first line (kept so far or still to come) that `predicate` accepts."""

        def found() -> LogLine | None:
            return next((x for x in list(self.logs) if predicate(x)), None)

        async with asyncio.timeout(timeout), self._logged:
            await self._logged.wait_for(lambda: found() is not None or self._done.is_set())
        line = found()
        if line is None:
            raise LookupError(f"run {self.run_id} ended without such a line")
        return line

    async def wait_ended(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._done.wait()

    async def _append(self, line: LogLine) -> None:
        self.logs.append(line)
        async with self._logged:
            self._logged.notify_all()

    def view(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "started_ns": self.started_ns,
            "ended_ns": self.ended_ns,
        }


@dataclass(frozen=True)
class Launch:
    """What one run needs; `secrets` and `api_key` are plaintext only in memory, for this run."""

    strategy_id: str
    run_id: str
    workdir: Path
    entrypoint: str
    limits: Limits
    api_key: str = field(repr=False)
    api_base_url: str
    env: dict[str, str]
    secrets: dict[str, str] = field(repr=False)


OnExit = Callable[[Run], Awaitable[None]]


def run_environment(launch: Launch) -> dict[str, str]:
    """The run's whole environment. Reserved names win over the user's env and secrets."""
    return {
        **launch.env,
        **launch.secrets,
        "PATH": os.defpath,
        "HOME": str(launch.workdir),
        "LANG": "C.UTF-8",
        "SEQUENCE_API_KEY": launch.api_key,
        "SEQUENCE_BASE_URL": launch.api_base_url,
        "SEQUENCE_STRATEGY_ID": launch.strategy_id,
        "SEQUENCE_RUN_ID": launch.run_id,
    }


RESERVED_ENV = frozenset(run_environment(Launch("", "", Path("/"), "", Limits(), "", "", {}, {})))


def exit_reason(returncode: int, stop_reason: str | None) -> tuple[str, str]:
    """(status, reason) of a finished run from its exit code and why we stopped it, if we did."""
    if stop_reason is not None:
        return ("stopped" if stop_reason in ("stopped", "deleted", "shutdown") else "failed"), stop_reason
    if returncode == MEMORY_EXIT:
        return "failed", "memory_limit"
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # SIGKILL: the hard CPU limit, one second on
        return "failed", "cpu_limit" if returncode == -signal.SIGXCPU else "killed"
    if returncode == 0:
        return "stopped", "exited"
    return "failed", "crashed"


class Supervisor:
    """The runs of every hosted strategy in this process (at most one live run per strategy)."""

    def __init__(self, on_exit: OnExit, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._runs: dict[str, collections.deque[Run]] = {}
        self._on_exit = on_exit
        self._clock_ns = clock_ns

    def current(self, strategy_id: str) -> Run | None:
        runs = self._runs.get(strategy_id)
        return runs[-1] if runs else None

    def run(self, strategy_id: str, run_id: str | None) -> Run | None:
        runs = self._runs.get(strategy_id, ())
        if run_id is None:
            return runs[-1] if runs else None
        return next((r for r in runs if r.run_id == run_id), None)

    def runs(self, strategy_id: str) -> list[Run]:
        return list(self._runs.get(strategy_id, ()))

    async def start(self, launch: Launch) -> Run:
        current = self.current(launch.strategy_id)
        if current is not None and current.alive:
            return current
        run = Run(launch.run_id, launch.strategy_id, self._clock_ns())
        masked = [v for v in (launch.api_key, *launch.secrets.values()) if len(v) >= 4]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-u", str(BOOTSTRAP), launch.limits.for_bootstrap(), launch.entrypoint,
            cwd=launch.workdir,
            env=run_environment(launch),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a stop reaches its children too
            close_fds=True,
        )
        run._process, run.pid = process, process.pid
        self._runs.setdefault(launch.strategy_id, collections.deque(maxlen=RUNS_KEPT)).append(run)
        run._watch = asyncio.create_task(self._watch(run, process, launch.limits.wall_clock_s, masked))
        return run

    async def stop(self, strategy_id: str, reason: str = "stopped") -> Run | None:
        """Stop the live run (SIGTERM, then SIGKILL after the grace period) and wait for it."""
        run = self.current(strategy_id)
        if run is None or not run.alive:
            return run
        await self._terminate(run, reason)
        await run._done.wait()
        return run

    def forget(self, strategy_id: str) -> None:
        self._runs.pop(strategy_id, None)

    async def close(self) -> None:
        live = [r for runs in self._runs.values() for r in runs if r.alive]
        await asyncio.gather(*(self._terminate(r, "shutdown") for r in live))
        await asyncio.gather(*(r._done.wait() for r in live))

    async def _terminate(self, run: Run, reason: str) -> None:
        process = run._process
        if process is None or process.returncode is not None:
            return
        if run._stop_reason is None:
            run._stop_reason = reason
            run.status = "stopping"
        _signal_group(process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await run._done.wait()
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)

    async def _watch(self, run: Run, process: asyncio.subprocess.Process, wall_clock_s: float, masked: list[str]) -> None:
        assert process.stdout is not None and process.stderr is not None
        readers = [
            asyncio.create_task(self._pump(run, process.stdout, "stdout", masked)),
            asyncio.create_task(self._pump(run, process.stderr, "stderr", masked)),
        ]
        try:
            async with asyncio.timeout(wall_clock_s):
                await process.wait()
        except TimeoutError:
            # Not awaited through `_terminate`'s wait on `_done`: that is set below, by this task.
            run._stop_reason = run._stop_reason or "wall_clock_limit"
            run.status = "stopping"
            _signal_group(process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_GRACE_S):
                    await process.wait()
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # leftover children of the group
        await asyncio.gather(*readers)
        assert process.returncode is not None
        run.status, run.reason = exit_reason(process.returncode, run._stop_reason)
        run.exit_code, run.ended_ns = process.returncode, self._clock_ns()
        await run._append(LogLine(run.ended_ns, "supervisor", f"run ended: {run.reason} (exit code {run.exit_code})"))
        try:  # before `_done`: a stop or delete returns once the run's end is recorded
            await self._on_exit(run)
        except Exception:  # a lost lifecycle event must not leave the run "stopping"
            log.exception("strategy %s run %s: recording its end failed", run.strategy_id, run.run_id)
        finally:
            run._done.set()
            async with run._logged:
                run._logged.notify_all()

    async def _pump(self, run: Run, stream: asyncio.StreamReader, name: str, masked: list[str]) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line beyond the reader's limit: take what is buffered
                raw = await stream.read(LOG_LINE_MAX_CHARS)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\n")[:LOG_LINE_MAX_CHARS]
            for secret in masked:
                line = line.replace(secret, MASK)
            await run._append(LogLine(self._clock_ns(), name, line))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
