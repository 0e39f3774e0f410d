"""POST /v1/backtest with algos the algos API stored: the example mesh pair (C, built with zig cc)
deployed through POST /v1/deployments, then backtested by deployment id in a worker process that
outlives the API that started it. Its results equal `crossbook backtest --algo` on the same modules
and instances, byte for byte, and the same request twice gives the same results; another tenant's
deployment, or a request with neither orders nor an algo, is refused."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from events import new_event_id
from events.market import BookSnapshot, VenueStatusChanged
from replay.algo import AlgoTarget
from replay.recording import read_recording
from replay.runs import AlgoInput, run_to_dir
from replay.synthetic_recording import write_synthetic
from services.algos.build import build
from services.api.app import create_app
from services.api.keys import create_key
from services.backtest.jobs import JobStore
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.sandbox.service import SandboxBook
from services.settings import Settings
from tests.services.api.test_backtest_jobs import wait_for_worker

EXAMPLES = Path(__file__).parents[3] / "examples" / "algos" / "mesh_pair"
ROWS = 8_000  # two venues' books: enough for the quoter's quotes to fill and be hedged
BTC = 50_000 * 10**9


@contextlib.asynccontextmanager
async def api(settings: Settings, tenant: str = "acme") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    key = create_key(settings, tenant, sandbox=True, now_ns=1).secret
    # A deploy funds the tenant's paper balances: the executor's sandbox book applies that command.
    bus = await Bus.connect(settings, name="sandbox-book")
    book = SandboxBook(as_writer(bus, "executor"))
    await book.start()
    try:
        async with _serving(app, key) as client:
            yield client
    finally:
        await book.stop()
        await bus.close()


@contextlib.asynccontextmanager
async def _serving(app: FastAPI, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        await app.state.api.md_follower.wait_caught_up()  # deploys need the venues quoting a symbol
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            yield client


async def quoting(bus: Bus) -> None:
    """binance and okx quote BTC-USDT (what the deployments API checks a symbol against)."""
    events: list[object] = []
    for venue in ("binance", "okx"):
        events.append(VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue=venue, state="connected"))
        events.append(BookSnapshot(event_id=new_event_id(), ts_ns=1, venue=venue, symbol="BTC-USDT",
                                   bids=[(BTC, 10**8)], asks=[(BTC + 10**8, 10**8)], ts_recv_ns=1))
    await bus.publish_many(events)  # type: ignore[arg-type]


async def deploy(client: httpx.AsyncClient, wasm: Path, name: str, symbol: str) -> dict[str, object]:
    r = await client.post("/v1/deployments", json={"name": name, "wasm_base64": base64.b64encode(wasm.read_bytes()).decode(),
                                                   "symbols": [symbol], "start_immediately": False})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_deployed_mesh_pair_backtests_by_id_across_an_api_restart_as_the_cli_runs_it(
        settings: Settings, bus: Bus, tmp_path: Path) -> None:
    await quoting(bus)
    rec = settings.data_dir / "recordings" / "pair.parquet"
    write_synthetic(rec, ROWS, seed=3, venues=("binance", "okx"))
    quoter = build([EXAMPLES / "quoter.c"], tmp_path / "quoter.wasm")
    hedger = build([EXAMPLES / "hedger.c"], tmp_path / "hedger.wasm")
    store = JobStore(settings.data_dir)
    request: dict[str, object] = {"data": "pair.parquet", "seed": 4}

    async with api(settings) as client:
        q = await deploy(client, quoter, "quoter", "quoter=BTC-USDT@binance")
        h = await deploy(client, hedger, "hedger", "hedger=BTC-USDT@okx")
        request["algo"] = [{"deployment_id": q["deployment_id"]}, {"deployment_id": h["deployment_id"]}]
        r = await client.post("/v1/backtest", json=request)
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        # The same modules named by hash, with the instances given as the CLI's --symbols.
        r = await client.post("/v1/backtest", json={**request, "algo": [
            {"wasm_sha256": q["wasm_sha256"], "symbols": ["quoter=BTC-USDT@binance"]},
            {"wasm_sha256": h["wasm_sha256"], "symbols": ["hedger=BTC-USDT@okx"]}]})
        assert r.status_code == 200, r.text
        by_hash = r.json()["job_id"]
    # The API is gone; its workers are not. A new API answers for the jobs.
    async with api(settings) as client:
        for job in (job_id, by_hash):
            await wait_for_worker(store, job)
            status = (await client.get(f"/v1/backtest/{job}")).json()
            assert (status["status"], status["progress"], status["events_total"]) == ("completed", 1.0, ROWS), status
        results = (await client.get(f"/v1/backtest/{job_id}/results")).json()
        again = (await client.get(f"/v1/backtest/{by_hash}/results")).json()

    report = results["report"]
    assert report == again["report"]  # same modules, instances and seed: the same results
    events = (store.dir(job_id) / "out" / "events.jsonl").read_bytes()
    assert events == (store.dir(by_hash) / "out" / "events.jsonl").read_bytes()
    q_inst, h_inst = report["algo"]["instances"]
    assert [m["module"] for m in report["algo"]["modules"]] == ["quoter", "hedger"]
    assert (q_inst["label"], q_inst["instance_id"], h_inst["label"], h_inst["instance_id"]) == (
        "quoter", "BTC-USDT@binance", "hedger", "BTC-USDT@okx")
    assert q_inst["fills"] > 0 and h_inst["mesh_messages_received"] == q_inst["mesh_messages_sent"] > 0
    assert h_inst["position_1e8"] == -q_inst["position_1e8"]  # every quoter fill hedged on okx
    last_market_ns = max(e.ts_ns for e in read_recording(rec))
    assert q_inst["stopped_ns"] == h_inst["stopped_ns"] == last_market_ns  # on_shutdown at the data's end

    # `crossbook backtest --algo quoter.wasm --symbols quoter=BTC-USDT@binance --algo hedger.wasm ...`
    local = run_to_dir([rec], [], 4, tmp_path / "local", algo=[
        AlgoInput(quoter.read_bytes(), "quoter", [AlgoTarget("BTC-USDT", "binance", "quoter")]),
        AlgoInput(hedger.read_bytes(), "hedger", [AlgoTarget("BTC-USDT", "okx", "hedger")])])
    assert report == local.report
    assert events == (tmp_path / "local" / "events.jsonl").read_bytes()


async def test_algo_references_the_caller_does_not_own_are_refused(settings: Settings, bus: Bus, tmp_path: Path) -> None:
    await quoting(bus)
    write_synthetic(settings.data_dir / "recordings" / "pair.parquet", 100, seed=3)
    hedger = build([EXAMPLES / "hedger.c"], tmp_path / "hedger.wasm")
    async with api(settings) as client:
        mine = await deploy(client, hedger, "hedger", "BTC-USDT@okx")
    async with api(settings, tenant="other") as other:
        for algo, says in [
            ({"deployment_id": mine["deployment_id"]}, "no deployment"),
            ({"wasm_sha256": mine["wasm_sha256"]}, "no module"),
            ({"deployment_id": mine["deployment_id"], "wasm_sha256": mine["wasm_sha256"]}, "one of them"),
            ({"deployment_id": "dep_x", "symbols": ["@okx"]}, "no deployment"),
        ]:
            r = await other.post("/v1/backtest", json={"data": "pair.parquet", "algo": algo, "seed": 1})
            assert r.status_code == 422 and says in r.text, r.text
        r = await other.post("/v1/backtest", json={"data": "pair.parquet", "seed": 1})
        assert r.status_code == 422 and "orders, an algo or both" in r.text
    async with api(settings) as client:
        r = await client.post("/v1/backtest", json={"data": "pair.parquet", "seed": 1,
                                                    "algo": {"deployment_id": mine["deployment_id"], "symbols": ["@okx"]}})
        assert r.status_code == 422 and "empty symbol" in r.text
    assert not JobStore(settings.data_dir).root.exists() or not any(
        (p / "job.json").exists() for p in JobStore(settings.data_dir).root.iterdir())
