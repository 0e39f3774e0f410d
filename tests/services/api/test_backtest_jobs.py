"""POST /v1/backtest runs the job in a worker process with its state on disk: the results equal a
local run of the same inputs, a job survives an API restart, and a job whose worker was killed is
run again by the next API. Tenants never see each other's jobs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from replay.importers import import_tardis
from replay.recording import RecordingWriter
from replay.runs import load_orders, run_to_dir
from services.api.app import create_app
from services.api.keys import create_key
from services.backtest.jobs import JobStore
from services.settings import Settings
from tests.replay.test_backtest_cli import ORDERS
from tests.replay.test_import import write_tardis

WORKER_TIMEOUT_S = 120.0


@contextlib.asynccontextmanager
async def api(settings: Settings, tenant: str = "acme") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    key = create_key(settings, tenant, sandbox=True, now_ns=1).secret
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            yield client


def recording(settings: Settings, updates: int = 400) -> Path:
    src = settings.data_dir / "csv"
    src.mkdir(parents=True)
    book, trades = write_tardis(src, levels=10, updates=updates)
    path = settings.data_dir / "recordings" / "btc.parquet"
    with RecordingWriter(path) as writer:
        import_tardis([book, trades], writer)
    return path


async def wait_for_worker(store: JobStore, job_id: str) -> None:
    """Wait for the job's worker (a child of this process) to exit."""
    pid = int((store.dir(job_id) / "worker.pid").read_text())

    def wait() -> None:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # reaped already by the API's own check (JobStore.worker_alive)

    await asyncio.wait_for(asyncio.to_thread(wait), WORKER_TIMEOUT_S)


async def test_a_job_runs_out_of_process_and_its_results_equal_a_local_run(settings: Settings, tmp_path: Path) -> None:
    path = recording(settings)
    store = JobStore(settings.data_dir)
    async with api(settings) as client:
        r = await client.post("/v1/backtest", json={"data": "btc.parquet", "orders": ORDERS, "seed": 3})
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        assert r.json()["status"] in ("queued", "running")
        assert store.worker_alive(job_id) or store.status(job_id).status == "completed"  # type: ignore[union-attr]
        await wait_for_worker(store, job_id)
        status = (await client.get(f"/v1/backtest/{job_id}")).json()
        assert (status["status"], status["progress"], status["events_total"]) == ("completed", 1.0, 801)
        results = (await client.get(f"/v1/backtest/{job_id}/results")).json()
        assert results["files"] == ["events.jsonl", "report.json"]

        orders = tmp_path / "orders.jsonl"
        orders.write_text("".join(json.dumps(o) + "\n" for o in ORDERS))
        local = run_to_dir([path], load_orders(orders), 3, tmp_path / "local")
        assert results["report"] == local.report
        assert (store.dir(job_id) / "out" / "events.jsonl").read_bytes() == (tmp_path / "local" / "events.jsonl").read_bytes()

        # The same recording uploaded inline runs the same backtest.
        r = await client.post("/v1/backtest", json={"data_base64": base64.b64encode(path.read_bytes()).decode(),
                                                    "orders": ORDERS, "seed": 3})
        assert r.status_code == 200, r.text
        uploaded = r.json()["job_id"]
        await wait_for_worker(store, uploaded)
        again = (await client.get(f"/v1/backtest/{uploaded}/results")).json()["report"]
        assert {**again, "data": None} == {**local.report, "data": None}

    # Another tenant's key: the job does not exist for it. Paths outside the recordings: refused.
    async with api(settings, tenant="other") as other:
        assert (await other.get(f"/v1/backtest/{job_id}")).status_code == 404
        assert (await other.get(f"/v1/backtest/{job_id}/results")).status_code == 404
        r = await other.post("/v1/backtest", json={"data": "../views.sqlite", "orders": ORDERS, "seed": 1})
        assert r.status_code == 422 and "outside the recordings directory" in r.text
        r = await other.post("/v1/backtest", json={"data": "btc.parquet", "orders": [{"offset_ms": "x", "order": {}}],
                                                   "seed": 1})
        assert r.status_code == 422 and "orders[0]: offset_ms 'x'" in r.text


async def test_a_job_survives_an_api_restart_and_a_killed_worker_is_run_again(settings: Settings) -> None:
    recording(settings, updates=4_000)
    store = JobStore(settings.data_dir)
    async with api(settings) as client:
        r = await client.post("/v1/backtest", json={"data": "btc.parquet", "orders": ORDERS, "seed": 9})
        job_id = r.json()["job_id"]
        # Kill the worker (as a machine restart would) while it is still starting, then stop the API.
        pid = int((store.dir(job_id) / "worker.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    assert store.status(job_id).status in ("queued", "running")  # type: ignore[union-attr]
    assert not store.worker_alive(job_id)
    async with api(settings) as client:  # the next API starts the job again
        assert store.worker_alive(job_id) or store.status(job_id).status == "completed"  # type: ignore[union-attr]
        await wait_for_worker(store, job_id)
        status = (await client.get(f"/v1/backtest/{job_id}")).json()
        assert status["status"] == "completed", status
        report = (await client.get(f"/v1/backtest/{job_id}/results")).json()["report"]
        assert report["orders"] == 2 and report["market_events"] == 8_001
