"""The remaining front doors through the published SDK (sequence-markets 0.5.7, unmodified) on a
real uvicorn port: cancel-all on a venue, prediction-market discovery and settlement, the
lifecycle WebSocket streams, and single-use WebSocket tickets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
import websockets
from sequence_markets import Sequence, SequenceError

from events import AnyEvent
from events.execution import ChildAcked, ChildCancelled
from events.ids import derive_id
from events.market import MarketListed, MarketResolved
from projections.follower import StreamFollower
from services.api.access import AuthContext
from services.api.keys import create_key
from services.api.state import ApiState
from services.api.tickets import TICKET_TTL_NS, TicketBook
from services.edges import registry
from services.edges.markets import PREDICTION_VENUES, listed_event, sim_listings
from services.edges.polymarket.sim import YES_TOKEN
from services.edges.runtime import EdgeRunner, EdgeTiming
from services.edges.service import BusSink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from tests.services.conftest import Stack

KALSHI_SLUG = "KXHIGHNY-26JUN24-T82"


class Watch:
    """Every LEDGER event matching `keep`, collected live (wait on it, never sleep)."""

    def __init__(self, api: ApiState, keep: Callable[[AnyEvent], bool]) -> None:
        self.seen: list[AnyEvent] = []
        self.follower = StreamFollower(api.bus, "LEDGER", ["exec.>"], lambda e, _: self.seen.append(e) if keep(e) else None)

    async def until(self, predicate: Callable[[list[AnyEvent]], bool], timeout: float = 20.0) -> None:
        await self.follower.wait_until(lambda: predicate(self.seen), timeout=timeout)


@pytest.fixture
async def ledger_watch(stack: Stack) -> AsyncIterator[Watch]:
    watch = Watch(stack.api, lambda e: isinstance(e, (ChildAcked, ChildCancelled)))
    await watch.follower.start()
    yield watch
    await watch.follower.stop()


def _of(graph_id: str, cls: type) -> Callable[[list[AnyEvent]], bool]:
    return lambda seen: any(isinstance(e, cls) and e.child_id.startswith(graph_id + ":") for e in seen)  # type: ignore[attr-defined]


async def _resting_buy(stack: Stack, seq: Sequence, venue: str, watch: Watch) -> str:
    """A pinned limit buy far below the bid: it rests on `venue` (acked, unfilled)."""
    bid = stack.api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    limit = (bid * 9 // 10) // 1_000_000_000 * 1_000_000_000
    graph_id = (await stack.call(seq.buy, "BTC-USDT", 0.01, limit_price=limit / 1e9, venue=venue))["graph_id"]
    await watch.until(_of(graph_id, ChildAcked))
    return graph_id


def _other(stack: Stack, tenant: str) -> Sequence:
    key = create_key(stack.settings, tenant, sandbox=True, now_ns=time.time_ns()).secret
    return Sequence(key, base_url=stack.base_url, max_retries=0)


async def test_cancel_all_on_venue_cancels_the_callers_resting_orders_there_only(stack: Stack, ledger_watch: Watch) -> None:
    seq = stack.seq
    on_binance = await _resting_buy(stack, seq, "binance", ledger_watch)
    on_okx = await _resting_buy(stack, seq, "okx", ledger_watch)
    other = _other(stack, "other")
    others_on_binance = await _resting_buy(stack, other, "binance", ledger_watch)

    result = await stack.call(seq.cancel_all_on_venue, "binance")
    assert result == {"venue": "binance", "cancelled": 1, "node_order_ids": [f"{on_binance}:order:1"]}
    # Answered after the ledger folded it: the next read already sees it.
    assert (await stack.call(seq.graph_status, on_binance))["status"] == "CANCELLED"
    # The sandbox venue honoured it: the resting child was pulled.
    await ledger_watch.until(_of(on_binance, ChildCancelled))
    # The caller's order on another venue, and another tenant's on this one, still rest.
    assert (await stack.call(seq.graph_status, on_okx))["status"] == "RUNNING"
    assert (await stack.call(other.graph_status, others_on_binance))["status"] == "RUNNING"
    assert not _of(on_okx, ChildCancelled)(ledger_watch.seen)
    assert not _of(others_on_binance, ChildCancelled)(ledger_watch.seen)

    # Nothing left there: a repeat cancels nothing.
    again = await stack.call(seq.cancel_all_on_venue, "binance")
    assert again == {"venue": "binance", "cancelled": 0, "node_order_ids": []}
    with pytest.raises(SequenceError) as unknown:
        await stack.call(seq.cancel_all_on_venue, "mtgox")
    assert unknown.value.status == 404 and "'mtgox'" in unknown.value.message
    # The other tenant empties its own book on binance, and only its own.
    theirs = await stack.call(other.cancel_all_on_venue, "binance")
    assert theirs["node_order_ids"] == [f"{others_on_binance}:order:1"]
    assert (await stack.call(seq.graph_status, on_okx))["status"] == "RUNNING"
    okx = await stack.call(seq.cancel_all_on_venue, "okx")
    assert okx["node_order_ids"] == [f"{on_okx}:order:1"]
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        r = await http.post("/v1/venue_cancel_all/binance")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


def _poly_listing(slug: str, question: str, n: int) -> MarketListed:
    return listed_event(
        "polymarket", time.time_ns(), slug=slug, question=question, venue_event_id=f"0xevent{n}",
        condition_id=f"0xcondition{n}", outcomes=["Yes", "No"],
        outcome_token_ids=[f"{n}" * 70, f"{n + 1}" * 70], end_ns=1_830_297_600 * 10**9,
        url=f"https://polymarket.com/event/{slug}",
    )


def _resolution(listing: MarketListed, winner: int) -> MarketResolved:
    return MarketResolved(
        event_id=derive_id("test_resolved", listing.slug), ts_ns=time.time_ns(), venue=listing.venue,
        slug=listing.slug, venue_event_id=listing.venue_event_id, winning_outcome=listing.outcomes[winner],
        winning_token_id=listing.outcome_token_ids[winner], losing_token_id=listing.outcome_token_ids[1 - winner],
        outcome_source="test",
    )


async def _publish(stack: Stack, *events: AnyEvent) -> None:
    # The API's market reads and lifecycle streams catch up with the stream before answering.
    await stack.api.bus.publish_many(events)


async def test_markets_pages_filters_and_settlement_through_the_sdk(stack: Stack) -> None:
    seq = stack.seq
    kalshi = await stack.call(seq.markets, venue="kalshi")
    assert (kalshi["venue"], kalshi["count"], kalshi["has_more"], kalshi["next_cursor"]) == ("kalshi", 1, False, None)
    [row] = kalshi["markets"]
    assert (row["slug"], row["symbol"], row["yes_token_id"], row["no_token_id"]) == (
        KALSHI_SLUG, f"{KALSHI_SLUG}:YES", f"{KALSHI_SLUG}:YES", f"{KALSHI_SLUG}:NO"
    )
    assert (row["event_id"], row["outcomes"], row["end_date"]) == ("KXHIGHNY-26JUN24", ["Yes", "No"], "2026-06-24T23:59:59Z")

    btc = _poly_listing("bitcoin-above-100k-on-dec-31", "Bitcoin above $100k on Dec 31?", 3)
    fed = _poly_listing("fed-cuts-in-december", "Will the Fed cut rates in December?", 5)
    rain = _poly_listing("rain-in-london-tomorrow", "Will it rain in London tomorrow?", 7)
    await _publish(stack, btc, fed, rain)

    first = await stack.call(seq.markets, venue="polymarket", limit=2)
    assert (first["count"], first["has_more"]) == (2, True) and first["next_cursor"]
    walked = await stack.call(lambda: [m["slug"] for m in seq.iter_markets(venue="polymarket", page_size=2)])
    assert walked == ["crossbook-sim-yes-or-no", btc.slug, fed.slug, rain.slug]
    # The SDK clamps to 500; the server clamps what a raw caller sends.
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.key}"}) as http:
        big = (await http.get("/v1/markets", params={"venue": "polymarket", "limit": 10_000})).json()
        small = (await http.get("/v1/markets", params={"venue": "polymarket", "limit": -3})).json()
        bad_cursor = await http.get("/v1/markets", params={"venue": "polymarket", "cursor": "zzz"})
    assert (big["count"], small["count"], small["next_cursor"]) == (4, 1, "1")
    assert bad_cursor.status_code == 400 and "'zzz'" in bad_cursor.json()["error"]["message"]

    found = await stack.call(seq.search_markets, "BITCOIN", venue="polymarket")
    assert [m["slug"] for m in found["markets"]] == [btc.slug]
    assert (await stack.call(seq.market, btc.slug))["question"] == btc.question
    by_token = await stack.call(seq.market, YES_TOKEN)
    assert by_token is not None and by_token["slug"] == "crossbook-sim-yes-or-no"
    assert (await stack.call(seq.market, f"{KALSHI_SLUG}:NO", venue="kalshi"))["slug"] == KALSHI_SLUG
    assert await stack.call(seq.market, "no-such-market") is None
    expanded = await stack.call(seq.markets, venue="polymarket", slug=fed.slug, expand="outcomes")
    [outcome] = expanded["markets"]
    assert (outcome["parent_slug"], outcome["outcome_name"], outcome["is_placeholder_outcome"]) == (fed.slug, "Yes", False)

    opened = await stack.call(seq.settlement, fed.slug)
    assert (opened["status"], opened["resolved_outcome"], opened["yes_token_id"]) == ("open", None, fed.outcome_token_ids[0])
    assert (opened["condition_id"], opened["event_end_s"]) == ("0xcondition5", 1_830_297_600)
    await _publish(stack, _resolution(fed, winner=1))
    settled = await stack.call(seq.settlement, f"https://polymarket.com/event/{fed.slug}")  # the URL form
    assert (settled["status"], settled["resolved_outcome"], settled["yes_price"], settled["no_price"]) == (
        "resolved", "No", 0.0, 1.0
    )
    # Resolved markets leave the active listing and come back with closed=true.
    active = await stack.call(lambda: [m["slug"] for m in seq.iter_markets(venue="polymarket")])
    assert fed.slug not in active and len(active) == 3
    everything = await stack.call(seq.markets, venue="polymarket", closed=True, limit=50)
    assert [(m["slug"], m["closed"]) for m in everything["markets"] if m["slug"] == fed.slug] == [(fed.slug, True)]
    # A direct token lookup finds a resolved market too (settlement reconciliation).
    assert (await stack.call(seq.market, fed.outcome_token_ids[1]))["slug"] == fed.slug

    with pytest.raises(SequenceError) as not_prediction:
        await stack.call(seq.markets, venue="okx")
    assert not_prediction.value.status == 400 and "'okx'" in not_prediction.value.message
    with pytest.raises(SequenceError) as unknown:
        await stack.call(seq.settlement, "no-such-market")
    assert unknown.value.status == 404 and "no-such-market" in unknown.value.message


@pytest.fixture
async def kalshi_edge(stack: Stack) -> AsyncIterator[EdgeRunner]:
    """A Kalshi venue server streaming over a real socket into an edge that publishes to the bus."""
    instruments = registry.sim_instruments()["kalshi"]
    server = await SimServer(registry.sim_protocols()["kalshi"](), instruments, tick_ms=50, seed=5).start()
    runner = EdgeRunner(
        registry.adapters()["kalshi"](VenueEndpoints(server.ws_url, server.rest_url)),
        [i.symbol for i in instruments],
        BusSink(stack.api.bus),
        timing=EdgeTiming(0.05, 0.5, 5.0, 0.1),
    )
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
        await server.stop()


async def _next(frames: Any, timeout: float = 10.0) -> dict[str, Any]:
    return await asyncio.wait_for(frames.__anext__(), timeout)  # type: ignore[no-any-return]


async def test_lifecycle_streams_replay_then_stream_live_without_duplicates(stack: Stack, kalshi_edge: EdgeRunner) -> None:
    seq = stack.seq
    await kalshi_edge.wait_until(lambda r: r.connected and not r.is_stale(r.venue_symbols[0]))
    new_markets = seq.stream_new_markets()
    try:
        # The edge announced its market on start: a new connection gets it from the replay.
        replayed = await _next(new_markets)
        assert (replayed["kind"], replayed["venue"], replayed["slug"]) == ("new_market", "kalshi", KALSHI_SLUG)
        assert replayed["yes_token_id"] == f"{KALSHI_SLUG}:YES" and replayed["observed_at_ns"] > 0
        btc = _poly_listing("bitcoin-up-or-down-5m", "Bitcoin Up or Down - 5 minutes", 3)
        await _publish(stack, btc)
        live = await _next(new_markets)
        assert (live["kind"], live["slug"], live["outcome_token_ids"]) == ("new_market", btc.slug, btc.outcome_token_ids)
        # The same market announced again (an edge restart past the dedup window) is no new frame:
        # the next frame is the next market.
        again = msgspec.structs.replace(btc, event_id=derive_id("test_relisted", btc.slug), ts_ns=time.time_ns())
        eth = _poly_listing("eth-up-or-down-5m", "Ethereum Up or Down - 5 minutes", 5)
        await _publish(stack, again, eth)
        assert (await _next(new_markets))["slug"] == eth.slug
    finally:
        await new_markets.aclose()

    resolved = seq.stream_resolved_markets()
    try:
        await _publish(stack, _resolution(btc, winner=0))
        frame = await _next(resolved)
        assert frame == {
            "kind": "market_resolved", "venue": "polymarket", "slug": btc.slug, "event_id": btc.venue_event_id,
            "winning_outcome": "Yes", "winning_token_id": btc.outcome_token_ids[0],
            "losing_token_id": btc.outcome_token_ids[1], "observed_at_ns": frame["observed_at_ns"],
        }
    finally:
        await resolved.aclose()
    # A later connection replays everything so far, in order, once.
    replay = seq.stream_new_markets()
    try:
        assert [(await _next(replay))["slug"] for _ in range(3)] == [KALSHI_SLUG, btc.slug, eth.slug]
    finally:
        await replay.aclose()
    # The Kalshi book the edge streams prices the market row.
    api = stack.api
    await api.md_follower.wait_until(lambda: api.market.nbbo(f"{KALSHI_SLUG}:YES") is not None)
    [row] = (await stack.call(seq.markets, venue="kalshi"))["markets"]
    assert 0 < row["best_yes_bid"] < row["best_yes_ask"] < 1
    assert row["best_no_bid"] == pytest.approx(1 - row["best_yes_ask"])


async def test_ws_tickets_are_single_use_and_bad_keys_are_refused(stack: Stack) -> None:
    ws_base = stack.base_url.replace("http://", "ws://")
    await _publish(stack, _poly_listing("ticket-test-market", "A market to replay", 3))
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.key}"}) as http:
        issued = (await http.get("/v1/ws/ticket")).json()
        second = (await http.get("/v1/ws/ticket")).json()
        anonymous = await http.get("/v1/ws/ticket", headers={"Authorization": ""})
    assert issued["ticket"].startswith("wst_") and issued["expires_in_s"] == 30
    assert anonymous.status_code == 401
    async with websockets.connect(f"{ws_base}/v1/ws/new_markets?ticket={issued['ticket']}") as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["slug"] == "ticket-test-market"
    # Used once: the same ticket no longer opens anything.
    with pytest.raises(websockets.exceptions.InvalidStatus) as reused:
        async with websockets.connect(f"{ws_base}/v1/ws/market_resolved?ticket={issued['ticket']}"):
            pass
    assert reused.value.response.status_code == 401
    # Any WebSocket path takes a ticket, /v1/stream included.
    async with websockets.connect(f"{ws_base}/v1/stream?ticket={second['ticket']}") as ws:
        await ws.send(json.dumps({"subscribe": ["fills"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"subscribed": ["fills"], "rejected": []}
    for path in ("/v1/ws/new_markets", "/v1/ws/market_resolved"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as bad:
            async with websockets.connect(ws_base + path, additional_headers={"Authorization": "Bearer seq_test_" + "0" * 64}):
                pass
        assert bad.value.response.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatus) as no_ticket:
            async with websockets.connect(f"{ws_base}{path}?ticket=wst_forged"):
                pass
        assert no_ticket.value.response.status_code == 401


def test_a_ticket_expires_after_30_seconds() -> None:
    now = [10**12]
    book = TicketBook(clock_ns=lambda: now[0])
    caller = AuthContext(tenant="acme", key_id="k1", is_sandbox=True, is_admin=False)
    late, early = book.issue(caller), book.issue(caller)
    now[0] += TICKET_TTL_NS - 1
    assert book.redeem(early) == caller
    assert book.redeem(early) is None  # single use
    now[0] += 1
    assert book.redeem(late) is None  # 30 s old
    assert book.redeem("wst_never_issued") is None


def test_every_simulated_prediction_contract_belongs_to_a_listed_market() -> None:
    listed = {t for e in sim_listings(1) for t in e.outcome_token_ids}
    for venue in PREDICTION_VENUES:
        for instrument in registry.sim_instruments()[venue]:
            assert instrument.symbol in listed, (venue, instrument.symbol)
