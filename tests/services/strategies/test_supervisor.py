"""The supervisor with real subprocesses: limits, a clean environment, masked logs, stop."""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import pytest

from services.strategies.supervisor import RESERVED_ENV, Launch, Limits, Run, Supervisor

TIMEOUT_S = 60.0  # generous: the machine is shared; every wait below is on a condition


class Ended:
    def __init__(self) -> None:
        self.runs: list[Run] = []

    async def __call__(self, run: Run) -> None:
        self.runs.append(run)


def project(tmp_path: Path, source: str) -> Path:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "main.py").write_text(textwrap.dedent(source))
    return workdir


def launch(workdir: Path, limits: Limits = Limits(), **kwargs: object) -> Launch:
    defaults: dict[str, object] = dict(
        strategy_id="strat_t", run_id="run_1", workdir=workdir, entrypoint="main.py", limits=limits,
        api_key="seq_test_" + "a" * 64, api_base_url="http://127.0.0.1:1", env={}, secrets={},
    )
    defaults.update(kwargs)
    return Launch(**defaults)  # type: ignore[arg-type]


async def finished(supervisor: Supervisor, spec: Launch) -> Run:
    run = await supervisor.start(spec)
    await run.wait_ended(TIMEOUT_S)
    return run


async def test_a_run_sees_only_its_own_environment_and_its_secrets_are_masked_in_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_MASTER_KEY", "must-not-leak")
    workdir = project(tmp_path, """
        import os, sys
        print("ENV", ",".join(sorted(os.environ)))
        print("SECRET", os.environ["DB_PASSWORD"], "KEY", os.environ["SEQUENCE_API_KEY"])
        print("CWD", os.getcwd() == os.environ["HOME"], "MODE", os.environ["MODE"])
        print("oops", file=sys.stderr)
    """)
    ended = Ended()
    run = await finished(Supervisor(ended), launch(workdir, env={"MODE": "paper"}, secrets={"DB_PASSWORD": "hunter2-pw"}))
    assert (run.status, run.reason, run.exit_code) == ("stopped", "exited", 0)
    assert ended.runs == [run]
    lines = {x.line.split(" ", 1)[0]: (x.stream, x.line) for x in run.logs}
    assert set(lines["ENV"][1].split(" ", 1)[1].split(",")) == RESERVED_ENV | {"MODE", "DB_PASSWORD"}
    assert lines["SECRET"] == ("stdout", "SECRET *** KEY ***")
    assert lines["CWD"][1] == "CWD True MODE paper"
    assert lines["oops"][0] == "stderr"
    assert not any("hunter2" in x.line or "must-not-leak" in x.line for x in run.logs)


async def test_exceeding_the_memory_limit_stops_the_run_with_that_reason(tmp_path: Path) -> None:
    workdir = project(tmp_path, """
        print("allocating")
        hog = bytearray(1024 * 1024 * 1024)
        print("allocated", len(hog))
    """)
    run = await finished(Supervisor(Ended()), launch(workdir, Limits(memory_bytes=256 * 2**20)))
    assert (run.status, run.reason) == ("failed", "memory_limit")
    assert [x.line for x in run.logs if x.stream == "stdout"] == ["allocating"]


async def test_exceeding_the_cpu_limit_stops_the_run_with_that_reason(tmp_path: Path) -> None:
    workdir = project(tmp_path, """
        print("spinning", flush=True)
        while True:
            pass
    """)
    run = await finished(Supervisor(Ended()), launch(workdir, Limits(cpu_seconds=1)))
    assert (run.status, run.reason) == ("failed", "cpu_limit")


async def test_the_open_files_limit_holds(tmp_path: Path) -> None:
    workdir = project(tmp_path, """
        import resource
        print("NOFILE", *resource.getrlimit(resource.RLIMIT_NOFILE))
        print("AS", *resource.getrlimit(resource.RLIMIT_AS))
        handles = []
        try:
            while True:
                handles.append(open(__file__))
        except OSError as exc:
            print("refused after", len(handles), exc.errno)
    """)
    run = await finished(Supervisor(Ended()), launch(workdir, Limits(open_files=32, memory_bytes=300 * 2**20)))
    lines = [x.line for x in run.logs if x.stream == "stdout"]
    assert lines[0] == "NOFILE 32 32" and lines[1] == f"AS {300 * 2**20} {300 * 2**20}"
    assert lines[2].startswith("refused after ") and int(lines[2].split()[2]) < 32


async def test_the_wall_clock_limit_stops_a_run_that_never_ends(tmp_path: Path) -> None:
    workdir = project(tmp_path, """
        import time
        while True:
            time.sleep(60)
    """)
    run = await finished(Supervisor(Ended()), launch(workdir, Limits(wall_clock_s=0.5)))
    assert (run.status, run.reason) == ("failed", "wall_clock_limit")


async def test_stop_sends_sigterm_then_sigkill_to_a_run_that_ignores_it(tmp_path: Path) -> None:
    workdir = project(tmp_path, """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print("ready", child.pid, flush=True)
        while True:
            time.sleep(60)
    """)
    supervisor = Supervisor(Ended())
    run = await supervisor.start(launch(workdir))
    ready = await run.wait_for_line(lambda x: x.line.startswith("ready"), TIMEOUT_S)
    child = os.pidfd_open(int(ready.line.split()[1]))  # readable once that process has exited
    try:
        stopped = await supervisor.stop("strat_t")
        assert stopped is run and (run.status, run.reason, run.exit_code) == ("stopped", "stopped", -9)
        assert any(x.line == "ignoring SIGTERM" for x in run.logs)
        # The whole process group went: the strategy's own child too.
        exited = asyncio.Event()
        asyncio.get_running_loop().add_reader(child, exited.set)
        async with asyncio.timeout(TIMEOUT_S):
            await exited.wait()
        asyncio.get_running_loop().remove_reader(child)
    finally:
        os.close(child)
    assert supervisor.run("strat_t", "run_1") is run and supervisor.run("strat_t", "nope") is None

