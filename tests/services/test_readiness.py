"""Readiness heartbeats (services/readiness.py) and the book freshness they report, over real NATS."""

from __future__ import annotations

import asyncio

from events import new_event_id
from events.market import BookSnapshot, VenueStatusChanged
from projections.market import MarketBooks
from services.bus import Bus
from services.cli.health import readiness_problems
from services.readiness import ReadinessBeacon, ReadinessWatch, part_problem

S = 10**9
NOW = 1_000 * S


def snapshot(venue: str, symbol: str, ts_ns: int) -> BookSnapshot:
    return BookSnapshot(event_id=new_event_id(), ts_ns=ts_ns, venue=venue, symbol=symbol,
                        bids=[(99 * S, 10**8)], asks=[(101 * S, 10**8)], ts_recv_ns=ts_ns)


def connected(venue: str, symbols: list[str]) -> VenueStatusChanged:
    return VenueStatusChanged(event_id=new_event_id(), ts_ns=NOW, venue=venue, state="connected",
                              subscribed_symbols=symbols)


def test_books_are_fresh_only_when_every_quoted_symbol_has_a_recent_usable_or_a_resyncing_book() -> None:
    books = MarketBooks()
    assert books.freshness_problem(NOW, 5 * S) == "no fresh venue book yet"
    books.apply(connected("okx", ["BTC-USDT", "ETH-USDT"]))
    books.apply(snapshot("okx", "BTC-USDT", NOW - 1 * S))
    assert books.freshness_problem(NOW, 5 * S) == "no fresh book for ETH-USDT"
    books.apply(snapshot("okx", "ETH-USDT", NOW - 6 * S))  # older than the sandbox accepts
    assert books.freshness_problem(NOW, 5 * S) == "no fresh book for ETH-USDT"
    books.apply(snapshot("okx", "ETH-USDT", NOW))
    assert books.freshness_problem(NOW, 5 * S) is None
    books.apply(snapshot("okx", "BTC-USDT", NOW - 6 * S))
    assert books.freshness_problem(NOW, 5 * S) == "no fresh book for BTC-USDT"
    # A book its edge says is resyncing is unavailable, not late: the other symbols still trade.
    books.apply(VenueStatusChanged(event_id=new_event_id(), ts_ns=NOW, venue="okx", state="stale", symbol="BTC-USDT"))
    assert books.freshness_problem(NOW, 5 * S) is None


class Part:
    def __init__(self) -> None:
        self.md = type("Follower", (), {"caught_up": asyncio.Event()})()
        self.market = MarketBooks()


def test_a_part_is_ready_once_its_reads_caught_up_and_its_books_are_fresh() -> None:
    part = Part()
    assert part_problem(part, NOW) == "md has not caught up with its stream"
    part.md.caught_up.set()
    assert part_problem(part, NOW) == "no fresh venue book yet"
    part.market.apply(snapshot("okx", "BTC-USDT", NOW))
    assert part_problem(part, NOW) is None


async def test_a_role_counts_as_ready_only_while_its_heartbeat_is_fresh(bus: Bus) -> None:
    clock = [0.0]
    watch = await ReadinessWatch(bus, expires_s=3.0, clock=lambda: clock[0]).start()
    part = Part()
    beacon = await ReadinessBeacon(bus, [("router", part)], interval_s=0.05, clock_ns=lambda: NOW).start()
    try:
        await watch.wait_until(lambda: bool(watch.beats), timeout=5)
        assert watch.problems(["router"]) == ["trader router: md has not caught up with its stream"]
        part.md.caught_up.set()
        part.market.apply(snapshot("okx", "BTC-USDT", NOW))
        await watch.wait_ready(["router"], timeout=5)
        assert watch.problems(["router", "graph"]) == ["trader graph: no readiness heartbeat within 3s"]
        await beacon.stop()  # says so at once
        await watch.wait_until(lambda: bool(watch.problems(["router"])), timeout=5)
        assert watch.problems(["router"]) == ["trader router: stopping"]
        clock[0] += 3.5  # a process killed without a word: its last heartbeat expires
        assert watch.problems(["router"]) == ["trader router: no readiness heartbeat within 3s"]
    finally:
        await beacon.stop()
        await watch.stop()


def test_the_cluster_is_ready_when_health_says_so_and_every_edge_is_connected() -> None:
    healthy = {"ready": True, "problems": ["1 edge(s) down, 0 degraded"], "edges": {"connected": 11}}
    assert readiness_problems(healthy, 12) == ["11 of 12 edges connected"]
    assert readiness_problems({**healthy, "edges": {"connected": 12}}, 12) == []
    assert readiness_problems({"ready": False, "problems": ["trader router: waiting"], "edges": {"connected": 12}}, 12) == [
        "trader router: waiting"
    ]
    assert readiness_problems({"error": {"code": "UNAUTHORIZED"}}, 1) == ["not ready", "0 of 1 edges connected"]
