"""A short TWAP through the running stack: its TCA report carries the market's interval TWAP/VWAP,
equal to a fresh computation from the MD log over [first accept, completion]."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from events.graph import NodeActivated, NodeCompleted
from events.market import NbboChanged, TradePrinted
from services.api.state import ApiState
from services.bus import Bus
from services.md.service import NbboPublisher
from services.tca.service import MD_SUBJECTS


@pytest.fixture
async def nbbo_publisher(bus: Bus) -> AsyncIterator[NbboPublisher]:
    publisher = NbboPublisher(bus, tick_ms=25)
    await publisher.start()
    yield publisher
    await publisher.stop()


def twap_body(qty_1e8: int) -> dict[str, object]:
    return {
        "nodes": [
            {
                "node_id": "twap",
                "instrument": {"symbol": "BTC-USDT", "type": "spot", "venue": None},
                "side": "buy",
                "order_type": "market",
                "quantity": {"fixed": {"qty_1e8": qty_1e8}},
                "execution": {"policy": "twap", "horizon_ms": 1200, "pacing": {"uniform": {"num_slices": 3, "interval_ms": 400}}},
            }
        ],
        "edges": [],
    }


def expected_twap(mids: list[tuple[int, int | None]], start: int, end: int) -> int | None:
    """Cut [start, end] at every NBBO inside it; each piece takes the last mid stamped at or before its start."""
    cuts = sorted({start, end, *(ts for ts, _ in mids if start < ts < end)})
    weighted = held = 0
    for a, b in zip(cuts, cuts[1:]):
        in_force = [m for ts, m in mids if ts <= a]
        if in_force and in_force[-1] is not None:
            weighted += in_force[-1] * (b - a)
            held += b - a
    return None if held == 0 else (2 * weighted + held) // (2 * held)


async def test_a_twap_report_is_scored_against_the_market_over_its_life(
    cluster: tuple[httpx.AsyncClient, list[object], ApiState], nbbo_publisher: NbboPublisher
) -> None:
    client, _, api = cluster
    await api.md_follower.wait_until(lambda: nbbo_publisher.published_count > 0)
    # Act
    r = await client.post("/v1/orders", json=twap_body(30_000_000))
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(lambda: any(t.graph_id == graph_id for t in api.ledger.tca.values()), timeout=30)
    [report] = [t for t in api.ledger.tca.values() if t.graph_id == graph_id]
    # Assert: the interval is the order's life on the log.
    start = end = None
    async for d in api.bus.replay("LEDGER", "ord.>"):
        e = d.event
        if isinstance(e, NodeActivated) and e.graph_id == graph_id:
            start = e.ts_ns
        if isinstance(e, NodeCompleted) and e.graph_id == graph_id:
            end = e.ts_ns
    assert start is not None and end is not None and end - start >= 800_000_000  # three slices 400 ms apart
    assert (report.interval_start_ns, report.interval_end_ns) == (start, end)
    # The benchmarks equal a fresh computation from the MD log.
    mids: list[tuple[int, int | None]] = []
    gross = volume = 0
    async for d in api.bus.replay("MD", MD_SUBJECTS):
        e = d.event
        if isinstance(e, NbboChanged) and e.symbol == "BTC-USDT":
            mids.append((e.ts_ns, (e.bid_px_1e9 + e.ask_px_1e9) // 2 if e.bid_px_1e9 and e.ask_px_1e9 else None))
        if isinstance(e, TradePrinted) and e.symbol == "BTC-USDT" and start <= e.ts_ns <= end:
            gross, volume = gross + e.px_1e9 * e.qty_1e8, volume + e.qty_1e8
    mids.sort(key=lambda m: m[0])
    twap = expected_twap(mids, start, end)
    assert twap is not None and report.interval_twap_1e9 == twap
    assert report.interval_vwap_1e9 == ((2 * gross + volume) // (2 * volume) if volume else None)
    diff = report.achieved_vwap_1e9 - twap
    assert report.vs_interval_twap_bps == diff * 10_000 / twap
    if report.interval_vwap_1e9 is None:
        assert report.vs_interval_vwap_bps is None
    else:
        assert report.vs_interval_vwap_bps == (report.achieved_vwap_1e9 - report.interval_vwap_1e9) * 10_000 / report.interval_vwap_1e9
    # The API shows the new fields on the order's review.
    review = (await client.get(f"/v1/execution/review/{graph_id}")).json()
    assert review["reports"][0]["interval_twap_1e9"] == twap
