"""The published client `sequence-markets==0.5.7`, unmodified (only `base_url`), against the whole stack.

Sims stream books over real sockets to the edges, the trader parts (graph engine, router,
sandbox executor) run on a real nats-server, and the API is served by a real uvicorn on a
loopback port, because the SDK speaks urllib and `websockets`, not ASGI. The SDK's blocking
calls run in threads so the in-process stack keeps running meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TypeVar

import pytest
import websockets
from sequence_markets import Sequence, SequenceError

from events.execution import ChildAcked, ChildAmended, ChildCancelled
from events.ids import derive_id
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from services.api.keys import create_key
from services.api.state import ApiState
from services.graph import PauseGraph, decide

from tests.services.conftest import SDK_VENUES as VENUES
from tests.services.conftest import Stack
T = TypeVar("T")


async def test_quote_buy_status_orders_fills_and_positions_through_the_sdk(stack: Stack) -> None:
    seq = stack.seq
    assert await stack.call(seq.health) is True
    quote = await stack.call(seq.quote, "BTC-USDT", depth=5)
    assert quote["symbol"] == "BTC-USDT" and quote["source"] == "edge_nbbo"
    # Independent venues can cross each other, so the NBBO may be crossed: no bid < ask here.
    assert quote["nbbo"]["bid"] > 0 and quote["nbbo"]["ask"] > 0
    assert len(quote["book"]["bids"]) == 5 and set(quote["venues"]) == set(VENUES)

    submitted = await stack.call(seq.buy, "BTC-USDT", 0.01)
    assert submitted["node_count"] == 1 and submitted["edge_count"] == 0
    graph_id = submitted["graph_id"]
    status = await stack.until_terminal(graph_id)
    assert status["status"] == "COMPLETED"
    node = status["nodes"]["order"]
    assert node["status"] == "FILLED" and node["filled_qty_1e8"] == 1_000_000

    orders = await stack.call(seq.orders)
    assert orders["total"] == 1 and orders["has_more"] is False
    [row] = orders["orders"]
    assert row["graph_id"] == graph_id and row["status"] == "FILLED" and row["symbol"] == "BTC-USDT"
    assert (await stack.call(seq.order, row["node_order_id"]))["graph_id"] == graph_id

    fills = (await stack.call(seq.fills))["fills"]
    assert fills and {f["graph_id"] for f in fills} == {graph_id}
    assert sum(f["qty_1e8"] for f in fills) == 1_000_000

    await stack.api.positions.wait_caught_up()
    positions = await stack.call(seq.positions_unified)
    assert "positions" in positions and "totals" in positions and positions["as_of_ns"] > 0
    btc = [p for p in positions["positions"] if p["instrument"]["symbol"] == "BTC-USDT"]
    assert {p["venue"] for p in btc} == {f["venue"] for f in fills}
    assert sum(p["qty_1e8"] for p in btc) == 1_000_000
    with pytest.warns(DeprecationWarning):
        legacy = await stack.call(seq.positions)
    assert "positions" in legacy


async def test_resting_limit_cancel_kill_switch_and_4xx_errors_through_the_sdk(stack: Stack) -> None:
    seq, api = stack.seq, stack.api
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    # A buy at half the bid cannot fill. (Pinned: the router cannot plan an unpinned limit that
    # takes nothing; pinned, it reserves and allocates nothing, so the node stays working.)
    submitted = await stack.call(seq.buy, "BTC-USDT", 0.01, limit_price=bid / 2 / 1e9, venue="binance")
    graph_id = submitted["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.nodes["order"].activated, timeout=10
    )
    assert (await stack.call(seq.graph_status, graph_id))["status"] not in ("COMPLETED", "CANCELLED")

    await stack.call(seq.cancel, graph_id)
    status = await stack.call(seq.graph_status, graph_id)
    assert status["status"] == "CANCELLED"
    assert {k: n["status"] for k, n in status["nodes"].items()} == {"order": "CANCELLED"}
    # Idempotent: a second cancel answers with the current status.
    await stack.call(seq.graph_cancel, graph_id)
    assert (await stack.call(seq.graph_status, graph_id))["status"] == "CANCELLED"
    other = Sequence(create_key(stack.settings, "other", sandbox=True, now_ns=time.time_ns()).secret,
                     base_url=stack.base_url, max_retries=0)
    with pytest.raises(SequenceError) as foreign:
        await stack.call(other.graph_cancel, graph_id)
    assert foreign.value.status == 404 and graph_id in foreign.value.message
    with pytest.raises(SequenceError) as unknown:
        await stack.call(seq.graph_cancel, "no-such-graph")
    assert unknown.value.status == 404 and "no-such-graph" in unknown.value.message
    with pytest.raises(SequenceError) as not_paused:
        await stack.call(seq.graph_resume, graph_id)
    assert not_paused.value.status == 409 and "PAUSED" in not_paused.value.message

    engaged = await stack.call(seq.kill_switch_engage, "fat finger drill")
    assert engaged["engaged"] is True
    with pytest.raises(SequenceError) as blocked:
        await stack.call(seq.buy, "BTC-USDT", 0.01)
    assert blocked.value.status == 409 and "fat finger drill" in blocked.value.message
    cleared = await stack.call(seq.kill_switch_clear)
    assert cleared["engaged"] is False

    with pytest.raises(SequenceError) as bad_symbol:
        await stack.call(seq.quote, "NOPE-USDT")
    assert bad_symbol.value.status == 404 and "NOPE-USDT" in bad_symbol.value.message
    with pytest.raises(SequenceError) as bad_qty:
        await stack.call(seq.buy, "BTC-USDT", 0)
    assert 400 <= bad_qty.value.status < 500 and "qty" in bad_qty.value.message
    with pytest.raises(SequenceError) as bad_order_symbol:
        await stack.call(seq.buy, "NOPE-USDT", 0.01)
    assert bad_order_symbol.value.status == 422 and "NOPE-USDT" in bad_order_symbol.value.message


async def test_cancelling_an_order_pulls_its_resting_sandbox_child(stack: Stack) -> None:
    seq, api = stack.seq, stack.api
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    node = seq.node("order", "BTC-USDT", "buy", 0.01, venue="binance", limit_price=bid / 2 / 1e9)
    graph_id = (await stack.call(seq.graph, [node], sandbox=True))["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.nodes["order"].activated, timeout=10
    )
    node_order_id = f"{graph_id}:order:1"
    # Half the bid cannot fill: the router rests it GTC at its limit on binance.
    alloc = await _wait_event(api, graph_id, ChildAllocated)
    assert (alloc.venue, alloc.tif, alloc.qty_1e8) == ("binance", "gtc", 1_000_000)
    acked = await _wait_event(api, graph_id, ChildAcked)
    assert acked.client_order_id == alloc.client_order_id

    # The SDK's batch cancel is its one caller of DELETE /v1/orders/{node_order_id} (percent-encoded).
    result = await stack.call(lambda: seq.batch("binance").cancel("graph:" + node_order_id).end())
    assert result == {"mode": "serial", "responses": [{"cancelled": "graph:" + node_order_id}]}
    status = await stack.call(seq.graph_status, graph_id)
    assert {k: n["status"] for k, n in status["nodes"].items()} == {"order": "CANCELLED"}
    cancelled = await _wait_event(api, graph_id, ChildCancelled)
    assert cancelled.client_order_id == alloc.client_order_id
    assert (cancelled.filled_qty_1e8, cancelled.cancelled_qty_1e8) == (0, 1_000_000)
    with pytest.raises(SequenceError) as malformed:
        await stack.call(seq._delete, "/v1/orders/not-an-order")
    assert malformed.value.status == 400 and "node_order_id" in malformed.value.message


async def test_resume_a_paused_graph_through_the_sdk(stack: Stack) -> None:
    seq, api = stack.seq, stack.api
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    submitted = await stack.call(seq.buy, "BTC-USDT", 0.01, limit_price=bid / 2 / 1e9, venue="binance")
    graph_id = submitted["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.nodes["order"].activated, timeout=10
    )
    # No endpoint pauses yet: pause the way the engine would, by publishing its decision.
    counter = iter(range(100))
    paused = decide(api.ledger.graphs[graph_id], PauseGraph(reason="drill"), time.time_ns(),
                    lambda: derive_id("test_pause", graph_id, str(next(counter))))
    acks = await api.bus.publish_many(paused)
    await api.ledger_follower.wait_for(max(a.seq for a in acks))
    assert (await stack.call(seq.graph_status, graph_id))["status"] == "PAUSED"
    await stack.call(seq.graph_resume, graph_id)
    assert (await stack.call(seq.graph_status, graph_id))["status"] == "RUNNING"
    with pytest.raises(SequenceError) as again:
        await stack.call(seq.graph_resume, graph_id)
    assert again.value.status == 409 and "RUNNING" in again.value.message


async def test_stream_yields_prices_own_fills_and_tca(stack: Stack) -> None:
    seq = stack.seq
    frames: dict[str, dict[str, Any]] = {}

    async def consume() -> None:
        async for channel, data in seq.stream(["prices:BTC-USDT", "fills", "tca"]):
            frames.setdefault(channel, data)
            if channel == "prices:BTC-USDT" and "fills" not in frames and not buying.is_set():
                buying.set()
            if len(frames) == 3:
                return

    buying = asyncio.Event()
    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        await buying.wait()  # subscribed: the fill below is new to the stream
        graph_id = (await stack.call(seq.buy, "BTC-USDT", 0.01))["graph_id"]
        await consumer
    prices = frames["prices:BTC-USDT"]
    assert set(prices) == {"bid", "ask", "mid", "bid_sz", "ask_sz", "ts_ns", "spread_bps"}
    assert prices["bid"] > 0 and prices["ask"] > 0 and prices["bid_sz"] > 0 and prices["ask_sz"] > 0
    # A crossed NBBO (venues disagree) gives a negative spread: the sign follows ask - bid.
    assert prices["mid"] == pytest.approx((prices["bid"] + prices["ask"]) / 2, abs=1e-9)
    assert (prices["spread_bps"] > 0) == (prices["ask"] > prices["bid"])
    assert frames["fills"]["graph_id"] == graph_id and frames["fills"]["symbol"] == "BTC-USDT"
    tca = frames["tca"]
    assert tca["graph_id"] == graph_id and tca["filled_qty_1e8"] == 1_000_000
    assert tca["achieved_vwap_1e9"] > 0 and tca["benchmark_vwap_1e9"] > 0


async def test_stream_rejects_a_bad_key_and_unknown_symbols_and_streams_book_and_orders(stack: Stack) -> None:
    url = stack.base_url.replace("http://", "ws://") + "/v1/stream"
    with pytest.raises(websockets.InvalidStatus) as denied:
        await websockets.connect(url, additional_headers={"Authorization": "Bearer seq_test_" + "0" * 64})
    assert denied.value.response.status_code == 401
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {stack.key}"}) as ws:
        await ws.send('{"subscribe": ["book:BTC-USDT", "prices:NOPE-USDT", "orders", "weather"]}')
        ack = json.loads(await ws.recv())
        assert ack == {"subscribed": ["book:BTC-USDT", "orders"], "rejected": ["prices:NOPE-USDT", "weather"]}
        frame = json.loads(await ws.recv())
        assert frame["channel"] == "book:BTC-USDT"
        bids, asks = frame["data"]["bids"], frame["data"]["asks"]
        assert bids and asks
        # Best first, one row per price (venues summed); sides may cross across venues.
        assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
        assert [p for p, _ in asks] == sorted({p for p, _ in asks})
        graph_id = (await stack.call(stack.seq.buy, "BTC-USDT", 0.01))["graph_id"]
        statuses: list[str] = []
        async with asyncio.timeout(10):
            while "FILLED" not in statuses:
                msg = json.loads(await ws.recv())
                if msg["channel"] == "orders":
                    assert msg["data"]["graph_id"] == graph_id  # only orders placed after subscribing
                    statuses.append(msg["data"]["status"])
        assert statuses[-1] == "FILLED"


async def _wait_event(api: ApiState, graph_id: str, cls: type[T]) -> T:
    # Replays the LEDGER until this graph's child has the wanted event (bounded by the timeout);
    # child ids are "<node_order_id>:<venue>".
    async with asyncio.timeout(10):
        while True:
            position = api.ledger.position
            async for d in api.bus.replay("LEDGER", ["route.>", "exec.>"]):
                if isinstance(d.event, cls) and getattr(d.event, "child_id", "").startswith(graph_id + ":"):
                    return d.event
            await api.ledger_follower.wait_for(position + 1)


async def test_amend_and_decrease_a_resting_limit_order_through_the_sdk(stack: Stack) -> None:
    seq, api = stack.seq, stack.api
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    limit = (bid * 9 // 10) // 1_000_000_000 * 1_000_000_000
    submitted = await stack.call(seq.buy, "BTC-USDT", 0.05, limit_price=limit / 1e9)
    graph_id = submitted["graph_id"]
    node_order_id = f"{graph_id}:order:1"
    acked: list[ChildAcked] = []
    watcher = StreamFollower(
        api.bus, "LEDGER", ["exec.>"],
        lambda e, seq: acked.append(e) if isinstance(e, ChildAcked) and e.child_id.startswith(graph_id) else None,
    )
    await watcher.start()
    await watcher.wait_until(lambda: bool(acked), timeout=20)  # resting at the venue
    await watcher.stop()
    decreased = await stack.call(seq.decrease, node_order_id, 0.02)  # the SDK computes the new total itself
    assert decreased["status"] in ("ACCEPTED", "WORKING") and decreased["mode"].startswith("cancel_replace")
    order = await stack.call(seq.order, node_order_id)
    assert order["qty_1e8"] == 3_000_000
    amended = await stack.call(seq.amend, node_order_id, new_price=(limit - 1_000_000_000) / 1e9)
    assert amended["order_id"] == node_order_id
    with pytest.raises(SequenceError) as too_small:
        await stack.call(seq.amend, node_order_id, new_qty=0.0)
    assert too_small.value.status == 400
    cancelled = await stack.call(seq.graph_cancel, graph_id)
    assert cancelled is None or cancelled.get("status") == "CANCELLED"
    # The resting sandbox child itself was resized, then repriced, at the venue.
    mine: list[ChildAmended] = []
    amend_watcher = StreamFollower(
        api.bus, "LEDGER", ["exec.>"],
        lambda e, seq: mine.append(e) if isinstance(e, ChildAmended) and e.child_id.startswith(graph_id) else None,
    )
    await amend_watcher.start()
    await amend_watcher.wait_until(lambda: len(mine) >= 2, timeout=20)
    await amend_watcher.stop()
    assert mine[0].new_qty_1e8 == 3_000_000
    assert any(a.new_limit_px_1e9 == limit - 1_000_000_000 for a in mine)
