"""A session recorded with `record` while orders ran live in sandbox against the local venue
servers, backtested with the same orders at the same offsets, gets the same fills within the
tolerance the latency model allows.

Why a tolerance, and which: live, the router decides `d` after the command (the trader's read of
the ledger and market) and the sandbox fills a child `latency ± jitter` later; in the backtest the
kernel decides at the command's time on the recorded books and fills `latency ± jitter` later
(other draws). Both fills therefore happen on book states inside the window
[command, live fill + jitter]. Every split the router can make over those states costs between
the best consolidated sweep of the quantity and the worst single-venue sweep seen in the window:
each VWAP lies in that band, so the two differ by at most its width. Quantities must be equal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec

from events import AnyEvent, decode_json, new_event_id
from events.commands import SubmitGraph
from events.execution import FillRecorded
from events.graph import GraphSubmitted
from events.routing import PlanMade
from projections.market import MarketBooks
from replay.record import record
from replay.recording import read_recording
from replay.runs import TimedOrder, run_to_dir
from services.bus import Bus
from services.edges.sandbox.config import SandboxConfig
from services.edges.sandbox.service import funding_events
from services.graph import parse_order_body
from services.graph.commands import submit_command
from tests.replay.test_audit_order import wait_for_tca
from tests.stack import trading_stack

VENUES = ["okx", "binance"]
ORDERS = [("buy", 0.3), ("sell", 0.2)]
SYMBOL = "BTC-USDT"


def sweep_vwap(levels: list[tuple[int, int]], qty_1e8: int) -> int | None:
    left, cost = qty_1e8, 0
    for px, q in levels:
        take = min(left, q)
        cost += take * px
        left -= take
        if not left:
            return cost // qty_1e8
    return None  # not enough depth


def band(events: list[AnyEvent], start_ns: int, end_ns: int, side: str, qty_1e8: int) -> tuple[int, int]:
    """(best, worst) VWAP of `qty_1e8` over the book states in [start_ns, end_ns]."""
    books = MarketBooks()
    best: int | None = None
    worst: int | None = None

    def look() -> None:
        nonlocal best, worst
        bids, asks = books.consolidated(SYMBOL, 200)
        take = asks if side == "buy" else bids
        v = sweep_vwap([(px, q) for px, q, _ in take], qty_1e8)
        singles = []
        for venue in VENUES:
            book = books.books.get((venue, SYMBOL))
            if book is not None and book.usable:
                b, a = book.top(200)
                s = sweep_vwap(a if side == "buy" else b, qty_1e8)
                if s is not None:
                    singles.append(s)
        sign = 1 if side == "buy" else -1
        if v is not None:
            best = v if best is None else min(best * sign, v * sign) * sign
        for s in singles:
            worst = s if worst is None else max(worst * sign, s * sign) * sign

    looked = False
    for e in events:
        if e.ts_ns > start_ns and not looked:
            look()  # the state standing at start_ns (the window may hold no event of its own)
            looked = True
        if e.ts_ns > end_ns:
            break
        books.apply(e)
        if e.ts_ns >= start_ns:
            look()
    assert best is not None and worst is not None
    return best, worst


def vwap(fills: list[FillRecorded]) -> tuple[int, int]:
    qty = sum(f.qty_1e8 for f in fills)
    return qty, sum(f.px_1e9 * f.qty_1e8 for f in fills) // qty


async def test_a_recorded_session_backtests_to_the_fills_it_had_live(bus: Bus, tmp_path: Path) -> None:
    out = tmp_path / "session.parquet"
    commands: list[SubmitGraph] = []
    async with trading_stack(bus, VENUES, seed=13):
        await bus.publish_many(funding_events("acme", VENUES, time.time_ns()))
        # The recording runs until every order has filled and been reported, then takes in what
        # the stream holds up to then: it covers the whole session however slow the machine (a
        # fixed length could end before a late order or its fills, and the backtest would miss them).
        session_over = asyncio.Event()
        recording = asyncio.create_task(record(bus, out, symbols=[SYMBOL], until=session_over))
        for side, qty in ORDERS:
            await asyncio.sleep(1.2)  # scenario pacing, not a wait: the orders go in 1.2 s apart
            parsed = parse_order_body({"symbol": SYMBOL, "side": side, "qty": qty}, new_event_id, force_sandbox=True)
            command, _ = submit_command(parsed, "acme", time.time_ns())
            await bus.publish(command)
            commands.append(command)
        for command in commands:
            await wait_for_tca(bus, "acme", command.graph_id)
        session_over.set()
        await recording

    ledger = [d.event async for d in bus.replay("LEDGER", ">")]
    market = list(read_recording(out))
    start_ns = market[0].ts_ns
    orders = [TimedOrder(offset_ns=c.ts_ns - start_ns, body={"symbol": SYMBOL, "side": side, "qty": qty}, line=i + 1)
              for i, (c, (side, qty)) in enumerate(zip(commands, ORDERS))]
    result = run_to_dir([out], orders, seed=13, out=tmp_path / "bt")
    backtest: list[AnyEvent] = [decode_line(x) for x in (tmp_path / "bt" / "events.jsonl").read_bytes().splitlines()]
    bt_graphs = [e.graph_id for e in backtest if isinstance(e, GraphSubmitted)]
    assert result.report["orders"] == 2 and len(bt_graphs) == 2

    jitter = SandboxConfig().jitter_ns
    for command, bt_graph, (side, qty) in zip(commands, bt_graphs, ORDERS):
        live_fills = [e for e in ledger if isinstance(e, FillRecorded) and e.graph_id == command.graph_id]
        bt_fills = [e for e in backtest if isinstance(e, FillRecorded) and e.graph_id == bt_graph]
        live_qty, live_px = vwap(live_fills)
        bt_qty, bt_px = vwap(bt_fills)
        assert live_qty == bt_qty == round(qty * 10**8), (side, live_qty, bt_qty)
        [live_plan] = [e for e in ledger if isinstance(e, PlanMade) and e.graph_id == command.graph_id][:1]
        assert live_plan.ts_ns >= command.ts_ns  # the live decision came after the command
        best, worst = band(market, command.ts_ns, max(f.ts_ns for f in live_fills) + jitter, side, bt_qty)
        sign = 1 if side == "buy" else -1
        for px in (live_px, bt_px):
            assert best * sign <= px * sign <= worst * sign, (side, best, live_px, bt_px, worst)
        assert abs(live_px - bt_px) <= abs(worst - best)


def decode_line(line: bytes) -> AnyEvent:
    return decode_json(bytes(msgspec.json.decode(line, type=dict[str, msgspec.Raw])["event"]))
