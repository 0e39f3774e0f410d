"""Backtest jobs on disk, each run by its own worker process (`crossbook backtest-job DIR`).

    <data_dir>/backtests/<job_id>/job.json      the request: tenant, recordings, seed, created_ns
    <data_dir>/backtests/<job_id>/orders.jsonl  the orders, one {"offset_ms", "order"} per line
    <data_dir>/backtests/<job_id>/algos/<sha256>.wasm  the algos' modules, copied in at submit (the
                                                job needs nothing outside its directory: an
                                                undeploy meanwhile changes nothing)
    <data_dir>/backtests/<job_id>/status.json   written by the worker only (atomic replace):
                                                status, progress, events, error, pid
    <data_dir>/backtests/<job_id>/out/          the run's DIR (report.json, events.jsonl)

The API process only writes job.json/orders.jsonl and starts workers in their own session, so a
worker outlives an API restart. A job whose worker is gone before it finished (machine restart,
kill) is started again by the next API (or the next read of it): a run is deterministic, so a
re-run writes the same DIR.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay.algo import AlgoTarget
from services.errors import CrossbookError

FINISHED = ("completed", "failed")


class JobError(CrossbookError):
    """A job request is unusable (names the field and the value)."""


@dataclass(frozen=True)
class JobAlgo:
    """An algo of a job: its module, where it came from, and its instances (None: the first book's)."""

    wasm: bytes
    sha256: str
    name: str
    deployment_id: str | None
    targets: list[AlgoTarget] | None


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    tenant: str
    status: str  # queued, running, completed, failed
    progress: float
    events_done: int
    events_total: int
    created_ns: int
    error: str | None = None


class JobStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "backtests"
        self.recordings = data_dir / "recordings"

    def dir(self, job_id: str) -> Path:
        if not job_id.replace("-", "").replace("_", "").isalnum():
            raise JobError(f"job id {job_id!r} is not a job id")
        return self.root / job_id

    def resolve_recording(self, name: str) -> Path:
        """A recording named relative to <data_dir>/recordings (never outside it)."""
        path = (self.recordings / name).resolve()
        if not path.is_relative_to(self.recordings.resolve()):
            raise JobError(f"data {name!r} is outside the recordings directory")
        if not path.is_file():
            raise JobError(f"data {name!r}: no such recording under {self.recordings}")
        return path

    def create(self, job_id: str, *, tenant: str, data: list[Path], orders_jsonl: str, seed: int,
               created_ns: int, algos: list[JobAlgo] | None = None) -> JobStatus:
        job = self.dir(job_id)
        job.mkdir(parents=True)
        (job / "orders.jsonl").write_text(orders_jsonl)
        rows = []
        for algo in algos or []:
            (job / "algos").mkdir(exist_ok=True)
            (job / "algos" / f"{algo.sha256}.wasm").write_bytes(algo.wasm)
            rows.append({"name": algo.name, "sha256": algo.sha256, "deployment_id": algo.deployment_id,
                         "targets": None if algo.targets is None else [[t.symbol, t.venue, t.label] for t in algo.targets]})
        request = {"tenant": tenant, "data": [str(p) for p in data], "seed": seed, "created_ns": created_ns,
                   "algos": rows}
        _write_json(job / "job.json", request)
        self.launch(job_id)
        return self.status(job_id)  # type: ignore[return-value]

    def request(self, job_id: str) -> dict[str, Any] | None:
        path = self.dir(job_id) / "job.json"
        return json.loads(path.read_text()) if path.exists() else None

    def status(self, job_id: str) -> JobStatus | None:
        request = self.request(job_id)
        if request is None:
            return None
        raw = _read_json(self.dir(job_id) / "status.json") or {"status": "queued"}
        return JobStatus(
            job_id=job_id,
            tenant=request["tenant"],
            status=raw.get("status", "queued"),
            progress=float(raw.get("progress", 1.0 if raw.get("status") == "completed" else 0.0)),
            events_done=int(raw.get("events_done", 0)),
            events_total=int(raw.get("events_total", 0)),
            created_ns=int(request["created_ns"]),
            error=raw.get("error"),
        )

    def results(self, job_id: str) -> dict[str, Any] | None:
        return _read_json(self.dir(job_id) / "out" / "report.json")

    def launch(self, job_id: str) -> int:
        """Start the job's worker in its own session (it outlives this process); return its pid."""
        job = self.dir(job_id)
        with (job / "worker.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", "backtest-job", str(job)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        (job / "worker.pid").write_text(str(proc.pid))
        return proc.pid

    def worker_alive(self, job_id: str) -> bool:
        try:
            pid = int((self.dir(job_id) / "worker.pid").read_text())
        except (OSError, ValueError):
            return False
        try:  # a worker this process started: reap it if it ended (no zombies pile up)
            # Still running: it is ours, and between fork and exec its cmdline is still this
            # process's, so the check below would call it dead and a second worker would start.
            return os.waitpid(pid, os.WNOHANG)[0] != pid
        except ChildProcessError:
            pass  # not our child (started by an earlier API): /proc says whether it runs
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        # The pid is this job's worker (not a reused pid), and not a zombie left by our own Popen.
        if job_id.encode() not in cmdline:
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state != "Z"

    def ensure_running(self, job_id: str) -> bool:
        """Start the worker again when an unfinished job has none; True if one was started."""
        status = self.status(job_id)
        if status is None or status.status in FINISHED or self.worker_alive(job_id):
            return False
        self.launch(job_id)
        return True

    def recover(self) -> list[str]:
        """Restart every unfinished job without a worker (an API start calls this)."""
        if not self.root.is_dir():
            return []
        return [p.name for p in sorted(self.root.iterdir()) if (p / "job.json").exists() and self.ensure_running(p.name)]


def run_job(job: Path) -> int:
    """The worker: run the job's backtest, reporting progress in status.json; exit code 0/1."""
    from replay.runs import AlgoInput, load_orders, run_to_dir

    request = json.loads((job / "job.json").read_text())
    algos = [
        AlgoInput((job / "algos" / f"{a['sha256']}.wasm").read_bytes(), a["name"],
                  None if a["targets"] is None else [AlgoTarget(*t) for t in a["targets"]])
        for a in request.get("algos", [])
    ]
    status_path = job / "status.json"
    pid = os.getpid()
    _write_json(status_path, {"status": "running", "progress": 0.0, "pid": pid})

    def progress(done: int, total: int) -> None:
        _write_json(status_path, {"status": "running", "progress": done / total if total else 1.0,
                                  "events_done": done, "events_total": total, "pid": pid})

    try:
        result = run_to_dir([Path(p) for p in request["data"]], load_orders(job / "orders.jsonl"), int(request["seed"]),
                            job / "out", on_progress=progress, algo=algos)
    except Exception as exc:  # the outermost loop of the worker: the job records why it failed
        _write_json(status_path, {"status": "failed", "progress": 0.0, "error": f"{type(exc).__name__}: {exc}",
                                  "pid": pid})
        return 1
    total = int(result.report["market_events"])
    _write_json(status_path, {"status": "completed", "progress": 1.0, "events_done": total, "events_total": total,
                              "pid": pid})
    return 0


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True))
    os.replace(tmp, path)  # readers never see half a file


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
        return doc
    except FileNotFoundError:
        return None
