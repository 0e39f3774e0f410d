"""Deployed algos running beside the edges, end to end: the published client deploys, the algo
runner (real wasmtime host) calls the module on every book update of its venue, its actions go
through the graph engine, risk and the sandbox like any order, and fills come back to it.

The stack: local venue servers over real sockets into edges, the trader parts and the API on a
real uvicorn port, all on a real nats-server; the runner in-process (as `crossbook algos` runs it).
"""

from __future__ import annotations

from pathlib import Path

from events.market import NbboChanged
from services.bus import Bus
from services.md.service import NbboPublisher
from services.settings import Settings
from tests.services.algos.conftest import WAIT_S, AlgoStack, running_runner
from tests.services.algos.guests import IDLE, INFINITE_LOOP, MESH_PAIR, NBBO_LOGGER, ROUND_TRIP, wasm_file
from tests.services.conftest import serving


async def test_an_algo_trades_and_its_fills_show_in_positions_fills_tca_and_stats(algos: AlgoStack, tmp_path: Path) -> None:
    seq = algos.stack.seq
    deployed = await algos.stack.call(seq.deploy_algo, "round-trip", wasm_file(tmp_path, ROUND_TRIP, "rt"),
                                      ["BTC-USDT@binance"])
    dep_id = deployed["deployment_id"]
    account_key = (dep_id, 0)

    # Bought 0.02, then sold half: two fills in the instance's account (folded from the ledger).
    await algos.until(lambda: (a := algos.runner.accounts.get(account_key)) is not None and a.fill_count >= 2
                      and a.position_1e8 == 1_000_000)
    account = algos.runner.accounts[account_key]
    assert account.orders_sent == 2 and account.open_orders() == []
    api = algos.stack.api
    await api.ledger_follower.wait_for(algos.runner.ledger.position, timeout=WAIT_S)  # the API has read it too

    fills = (await algos.stack.call(seq.fills))["fills"]
    mine = [f for f in fills if f["graph_id"].startswith(f"algo_{dep_id}_0_1_")]
    assert {f["venue"] for f in mine} == {"binance"} and len({f["graph_id"] for f in mine}) == 2
    assert sum(f["qty_1e8"] for f in mine if f["side"] == "buy") == 2_000_000
    assert sum(f["qty_1e8"] for f in mine if f["side"] == "sell") == 1_000_000

    await api.positions.wait_caught_up()
    positions = await algos.stack.call(seq.positions_unified)
    btc = [p for p in positions["positions"] if p["instrument"]["symbol"] == "BTC-USDT" and p["venue"] == "binance"]
    assert sum(p["qty_1e8"] for p in btc) == 1_000_000

    graph_ids = {f["graph_id"] for f in mine}
    await api.ledger_follower.wait_until(lambda: graph_ids <= {r.graph_id for r in api.ledger.tca.values()}, timeout=WAIT_S)
    tca = await algos.stack.call(seq.tca)
    assert graph_ids <= {r["graph_id"] for r in tca["reports"]}

    algos.runner.flush()  # stats and logs now, not at the next period
    await algos.until(lambda: (s := algos.instance(dep_id).stats) is not None and s.fills == 2)
    stats = await algos.stack.call(seq.algo_stats, "BTC-USDT")
    assert stats["fills"] == 2 and stats["orders_sent"] == 2 and stats["position_1e8"] == 1_000_000
    assert stats["update_count"] > 0 and stats["callback_latency_ns_p50"] > 0 and stats["status"] == "running"
    assert stats["realized_pnl_1e9"] != 0  # the sold half closed at another price, net of fees
    edge = (await algos.stack.call(seq.algos, "edge"))["edges"][0]
    assert edge["deploy_id"] == dep_id and edge["edge_id"] == "binance" and edge["position_1e8"] == 1_000_000
    messages = [line["message"] for line in (await algos.stack.call(seq.algo_logs, dep_id))["logs"]]
    assert messages[:2] == ["buy sent", "fill"] or "buy sent" in messages
    assert "sell sent" in messages and messages.count("fill") >= 2


async def test_a_hostile_module_pauses_with_its_reason_while_market_data_and_others_keep_running(
    algos: AlgoStack, tmp_path: Path
) -> None:
    seq = algos.stack.seq
    idle = await algos.stack.call(seq.deploy_algo, "idle", wasm_file(tmp_path, IDLE, "idle"), ["BTC-USDT@okx"])
    loop = await algos.stack.call(seq.deploy_algo, "spin", wasm_file(tmp_path, INFINITE_LOOP, "spin"),
                                  ["BTC-USDT@binance"])

    await algos.until(lambda: algos.instance(loop["deployment_id"]).status == "paused")
    status = await algos.stack.call(seq.algo_status, loop["deployment_id"])
    assert status["status"] == "paused" and "fuel" in status["edges"][0]["pause_reason"]
    logs = (await algos.stack.call(seq.algo_logs, loop["deployment_id"]))["logs"]
    algos.runner.flush()

    # Market data on the paused instance's edge keeps flowing, and the other instance keeps running.
    api, runner = algos.stack.api, algos.runner
    seen_md = api.md_follower.position
    idle_runtime = runner.runtimes[(idle["deployment_id"], "BTC-USDT@okx")]
    seen_updates = idle_runtime.update_count
    await api.md_follower.wait_until(
        lambda: api.md_follower.position > seen_md + 20 and idle_runtime.update_count > seen_updates, timeout=WAIT_S
    )
    book = api.market.books[("binance", "BTC-USDT")]
    assert book.usable
    assert algos.instance(idle["deployment_id"]).status == "running"
    await algos.until(lambda: any("paused: fuel" in x.message for x in runner.view.deployments[loop["deployment_id"]].logs))
    assert logs is not None

    # A start request runs it again (a new run), and it pauses again for the same reason.
    await algos.stack.call(seq.algo_start, loop["deployment_id"])
    await algos.until(lambda: (i := algos.instance(loop["deployment_id"])).run == 2 and i.status == "paused")
    assert "fuel" in (algos.instance(loop["deployment_id"]).pause_reason or "")


async def test_restarted_runner_and_api_keep_deployments_and_accounts(
    bus: Bus, settings: Settings, tmp_path: Path
) -> None:
    async with serving(bus, settings, ["binance", "okx"], seed=53) as stack:
        async with running_runner(bus, settings) as runner:
            deployed = await stack.call(stack.seq.deploy_algo, "rt", wasm_file(tmp_path, ROUND_TRIP, "rt"),
                                        ["BTC-USDT@binance"])
            dep_id = deployed["deployment_id"]
            await runner.ledger.wait_until(
                lambda: (a := runner.accounts.get((dep_id, 0))) is not None and a.fill_count >= 2, timeout=WAIT_S
            )
            await stack.call(stack.seq.algo_stop, dep_id)
            await runner.ledger.wait_until(lambda: (dep_id, "BTC-USDT@binance") not in runner.runtimes, timeout=WAIT_S)

        async with running_runner(bus, settings) as again:
            # Rebuilt from the log: the deployment, its stopped state and the instance's account.
            await again.ledger.caught_up.wait()
            account = again.accounts[(dep_id, 0)]
            assert (account.position_1e8, account.fill_count, account.orders_sent) == (1_000_000, 2, 2)
            assert again.view.deployments[dep_id].instances["BTC-USDT@binance"].status == "stopped"
            await stack.call(stack.seq.algo_start, dep_id)
            await again.ledger.wait_until(
                lambda: again.view.deployments[dep_id].instances["BTC-USDT@binance"].run == 2
                and again.view.deployments[dep_id].instances["BTC-USDT@binance"].status == "running",
                timeout=WAIT_S,
            )
    async with serving(bus, settings, ["binance"], seed=59) as restarted:  # a new API process reads it back
        assert (await restarted.call(restarted.seq.algo_status, dep_id))["name"] == "rt"


async def test_a_mesh_pair_exchanges_messages_by_label_and_an_oversized_one_is_refused(
    algos: AlgoStack, tmp_path: Path
) -> None:
    seq = algos.stack.seq
    deployed = await algos.stack.call(seq.deploy_algo, "pair", wasm_file(tmp_path, MESH_PAIR, "pair"),
                                      ["maker=BTC-USDT@binance", "hedger=BTC-USDT@okx"])
    dep_id = deployed["deployment_id"]

    def exchanged() -> bool:
        deployment = algos.runner.view.deployments.get(dep_id)
        return deployment is not None and {("maker", "hedger"), ("hedger", "maker")} <= set(deployment.links)

    await algos.until(exchanged)
    algos.runner.flush()
    logs = algos.runner.view.deployments[dep_id].logs
    await algos.until(lambda: {("BTC-USDT@okx", "hello hedger"), ("BTC-USDT@binance", "ack")}
                      <= {(x.instance_id, x.message) for x in logs})

    mesh = await algos.stack.call(seq.algo_mesh, dep_id)
    links = {(link["from"], link["to"]): link["messages"] for link in mesh["links"]}
    assert links[("maker", "hedger")] >= 1 and links[("hedger", "maker")] == 1
    assert [(i["label"], i["edge_id"], i["status"]) for i in mesh["instances"]] == [
        ("maker", "binance", "running"), ("hedger", "okx", "running"),
    ]
    assert all(m["size_bytes"] <= 256 for m in mesh["recent"])
    lines = [(x["instance_id"], x["message"]) for x in (await algos.stack.call(seq.algo_logs, dep_id))["logs"]]
    assert ("BTC-USDT@okx", "hello hedger") in lines and ("BTC-USDT@binance", "ack") in lines
    refused = [m for i, m in lines if i == "BTC-USDT@binance" and "300 bytes refused" in m]
    assert refused and "256" in refused[0]


async def test_a_module_exporting_on_nbbo_gets_each_published_nbbo_of_its_symbol(algos: AlgoStack, tmp_path: Path) -> None:
    publisher = NbboPublisher(algos.bus, tick_ms=25)  # `crossbook nbbo`: NbboChanged on nbbo.> of MD
    await publisher.start()
    try:
        seq = algos.stack.seq
        nbbo_dep = (await algos.stack.call(seq.deploy_algo, "nbbo", wasm_file(tmp_path, NBBO_LOGGER, "nbbo"),
                                           ["BTC-USDT@binance"]))["deployment_id"]
        idle_dep = (await algos.stack.call(seq.deploy_algo, "idle", wasm_file(tmp_path, IDLE, "idle"),
                                           ["BTC-USDT@okx"]))["deployment_id"]

        def nbbo_lines() -> list[str]:
            deployment = algos.runner.view.deployments.get(nbbo_dep)
            return [x.message for x in deployment.logs if x.message.startswith("nbbo ")] if deployment else []

        # Logged each second by the runner's tick; several NBBOs over both venues.
        await algos.until(lambda: len([m for m in nbbo_lines() if m.split()[3] == "2"]) >= 3)
    finally:
        await publisher.stop()

    published = {(e.event.bid_px_1e9, e.event.ask_px_1e9, len(e.event.venues))
                 async for e in algos.bus.replay("MD", "nbbo.BTC-USDT") if isinstance(e.event, NbboChanged)}
    seen = [tuple(int(x) for x in m.split()[1:]) for m in nbbo_lines()]
    # Each callback carried a published NBBO's best bid and ask (over binance and okx), and each
    # venue's book in VenueBooks.
    assert seen and all((bid, ask, venues) in published and books == venues for bid, ask, venues, books in seen)
    assert all(bid > 0 and ask > 0 for bid, ask, _, _ in seen)  # (two venues may cross each other)
    runtime = algos.runner.runtimes[(nbbo_dep, "BTC-USDT@binance")]
    assert runtime.paused is None and runtime.guest.wants_nbbo
    # The module without the export is not handed NBBOs (nothing it logs, never paused for it).
    idle = algos.runner.runtimes[(idle_dep, "BTC-USDT@okx")]
    assert idle.paused is None and not idle.guest.wants_nbbo
