"""Prediction markets end to end through the published SDK (sequence-markets 0.5.7, unmodified):
Kalshi and Polymarket local venue servers stream over real sockets into edges, the trader parts
fill sandbox orders, and the API resolves the documented symbol forms (a bare Kalshi ticker is its
YES leg, `:NO` its NO leg; a Polymarket slug with `:yes`/`:no`), shows resolved positions at their
settlement mark and redeems them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sequence_markets import Sequence, SequenceError

from events import AnyEvent, new_event_id
from events.routing import ChildAllocated
from events.execution import BalanceAdjusted, FillRecorded, PositionRedeemed
from projections.follower import StreamFollower
from projections.positions import PositionsProjection
from replay.audit import audit
from tests.facts import with_children
from services.api.keys import create_key
from services.bus import Bus
from services.refdata import instrument_rules
from services.edges.kalshi.sim import created_msg, determined_msg
from services.edges.polymarket.sim import CONDITION_ID, NO_TOKEN, YES_TOKEN, new_market_msg, resolved_msg
from services.risk.account import replay
from services.risk.config import rules_book
from services.settings import Settings
from tests.services.conftest import Stack, serving

TICKER = "KXHIGHNY-26JUN24-T82"
SLUG = "crossbook-sim-yes-or-no"
ONE = 10**9


@pytest.fixture
async def stack(bus: Bus, settings: Settings) -> AsyncIterator[Stack]:
    symbols = {"kalshi": [f"{TICKER}:YES"], "polymarket": [YES_TOKEN, NO_TOKEN]}
    async with serving(bus, settings, ["kalshi", "polymarket"], seed=17, symbols=symbols, ready=f"{TICKER}:YES") as s:
        # Every contract quoted before the first order (the trader parts fold the same books).
        legs = [f"{TICKER}:YES", f"{TICKER}:NO", YES_TOKEN, NO_TOKEN]
        await s.api.md_follower.wait_until(lambda: all(s.api.market.nbbo(leg) is not None for leg in legs))
        yield s


async def _steady(stack: Stack) -> None:
    """Stop the venue servers' random walk and wait until the API's books show their last state,
    so two quotes taken one after the other see the same market."""
    api = stack.api
    for server in stack.servers:
        await server.pause()

    def shown(symbol: str, venue: str, venue_symbol: str) -> bool:
        server = next(s for s in stack.servers if s.protocol.venue == venue)
        bids, asks = api.market.consolidated(symbol, 10)
        true = server.true_book(venue_symbol)
        return [(p, q) for p, q, _ in bids] == true.bids(10) and [(p, q) for p, q, _ in asks] == true.asks(10)

    await api.md_follower.wait_until(
        lambda: (
            shown(f"{TICKER}:YES", "kalshi", TICKER)
            and shown(YES_TOKEN, "polymarket", YES_TOKEN)
            and shown(NO_TOKEN, "polymarket", NO_TOKEN)
        ),
        timeout=20,
    )


async def test_tickers_slugs_and_legs_quote_the_contract_they_name(stack: Stack) -> None:
    seq = stack.seq
    await _steady(stack)
    yes = await stack.call(seq.quote, f"{TICKER}:YES")
    bare = await stack.call(seq.quote, TICKER)
    assert bare["symbol"] == TICKER and bare["source"] == "edge_nbbo"
    assert (bare["nbbo"], bare["book"]) == (yes["nbbo"], yes["book"])
    assert (await stack.call(seq.quote, f"{TICKER}:yes"))["nbbo"] == yes["nbbo"]
    no = await stack.call(seq.quote, f"{TICKER}:NO")
    # The NO leg is the YES book seen from the other side.
    assert no["nbbo"]["bid"] == pytest.approx(1 - yes["nbbo"]["ask"]) and no["nbbo"]["ask"] == pytest.approx(
        1 - yes["nbbo"]["bid"]
    )
    assert list(no["venues"]) == ["kalshi"]

    poly_yes, poly_no = await stack.call(seq.quote, YES_TOKEN), await stack.call(seq.quote, NO_TOKEN)
    for form in (f"{SLUG}:yes", f"{SLUG}:YES", SLUG, f"https://polymarket.com/event/{SLUG}"):
        q = await stack.call(seq.quote, form)
        assert (q["symbol"], q["nbbo"]) == (form, poly_yes["nbbo"])
    assert (await stack.call(seq.quote, f"{SLUG}:no"))["nbbo"] == poly_no["nbbo"]
    batch = await stack.call(seq.quotes_batch, [f"{SLUG}:no", TICKER, "no-such-market:yes"])
    assert [q["symbol"] for q in batch["quotes"]] == [f"{SLUG}:no", TICKER, "no-such-market:yes"]
    assert batch["quotes"][0]["nbbo"] == poly_no["nbbo"] and batch["quotes"][1]["nbbo"] == yes["nbbo"]
    assert "error" in batch["quotes"][2]
    with pytest.raises(SequenceError) as unknown:
        await stack.call(seq.quote, "no-such-market:yes")
    assert unknown.value.status == 404
    # The stream takes the same forms: each channel carries the contract it names.
    frames = seq.stream([f"prices:{TICKER}", f"book:{SLUG}:no"])
    try:
        got: dict[str, Any] = {}
        while len(got) < 2:
            channel, data = await asyncio.wait_for(frames.__anext__(), 10)
            got[channel] = data
    finally:
        await frames.aclose()
    assert (got[f"prices:{TICKER}"]["bid"], got[f"prices:{TICKER}"]["ask"]) == (yes["nbbo"]["bid"], yes["nbbo"]["ask"])
    assert got[f"book:{SLUG}:no"]["bids"][0] == poly_no["book"]["bids"][0]


async def _filled(stack: Stack, graph_id: str) -> dict[str, Any]:
    status = await stack.until_terminal(graph_id, timeout=20)
    assert status["status"] == "COMPLETED", status
    return status["nodes"][0] if isinstance(status["nodes"], list) else status["nodes"]["order"]


async def test_polymarket_slug_legs_trade_in_sandbox(stack: Stack) -> None:
    seq = stack.seq
    # Marketable limits well through the ask: a market order the SOR prices on a book one tick
    # older than the sandbox's expires whole (ioc_remainder) on this fast-moving local market.
    yes = await stack.call(seq.buy, f"{SLUG}:yes", 10, limit_price=0.95)
    no = await stack.call(seq.buy, f"{SLUG}:no", 4.5, limit_price=0.95)
    for graph_id, qty in ((yes["graph_id"], 10), (no["graph_id"], 4.5)):
        node = await _filled(stack, graph_id)
        assert node["filled_qty_1e8"] == int(qty * 10**8) and 0 < node["avg_fill_price_1e9"] < ONE
    # The fills and positions carry the contracts the slug legs name.
    fills = (await stack.call(seq.fills))["fills"]
    filled: dict[str, int] = {}
    for f in fills:
        assert f["venue"] == "polymarket"
        filled[f["symbol"]] = filled.get(f["symbol"], 0) + f["qty_1e8"]
    assert filled == {YES_TOKEN: 10 * 10**8, NO_TOKEN: 450_000_000}
    held = _event_contracts(await _positions(stack))
    assert {s: (p["qty_1e8"], p["lifecycle"]["state"]) for s, p in held.items()} == {
        YES_TOKEN: (10 * 10**8, "active"),
        NO_TOKEN: (450_000_000, "active"),
    }
    # Typed as prediction-market orders though the SDK sent `spot`: TCA reports them as such.
    api, graphs = stack.api, {yes["graph_id"], no["graph_id"]}
    await api.ledger_follower.wait_until(lambda: graphs <= {r.graph_id for r in api.ledger.tca.values()}, timeout=20)
    reports = [r for r in (await stack.call(seq.tca))["reports"] if r["graph_id"] in graphs]
    assert len(reports) == 2 and all(r["is_prediction"] for r in reports)
    # An unknown slug is still refused up front.
    with pytest.raises(SequenceError) as unknown:
        await stack.call(seq.buy, "no-such-market:yes", 1)
    assert unknown.value.status == 422


async def _positions(stack: Stack, **query: Any) -> dict[str, Any]:
    """Positions once the view has folded every fill so far (it trails the log by a batch)."""
    api = stack.api
    await api.ledger_follower.wait_caught_up()
    await api.positions.wait_for(api.ledger_follower.position)
    return await stack.call(stack.seq.positions_unified, **query)


def _event_contracts(positions: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["instrument"]["symbol"]: p for p in positions["positions"] if p["instrument"]["kind"] == "event_contract"}


def _usd(positions: dict[str, Any], venue: str) -> int:
    return next(
        p["qty_1e8"] for p in positions["positions"] if p["venue"] == venue and p["instrument"]["symbol"] == "USD"
    )


async def test_a_kalshi_market_resolves_and_is_redeemed_in_sandbox(stack: Stack, bus: Bus) -> None:
    seq, api = stack.seq, stack.api
    kalshi = next(s for s in stack.servers if s.protocol.venue == "kalshi")
    bought_yes = await _filled(
        stack, (await stack.call(seq.buy, TICKER, 7, limit_price=0.95))["graph_id"]
    )  # bare = YES
    bought_no = await _filled(stack, (await stack.call(seq.buy, f"{TICKER}:NO", 3, limit_price=0.95))["graph_id"])
    with pytest.raises(SequenceError) as early:
        await stack.call(seq.redeem, TICKER, "kalshi")
    assert early.value.status == 409  # not resolved yet

    # Resolved the way `make run` lets a user do it: the venue server's control endpoint.
    async with httpx.AsyncClient(base_url=kalshi.rest_url) as sim:
        assert (await sim.get(f"/__sim/resolve/{TICKER}", params={"winner": "yes"})).status_code == 200
        assert (await sim.get("/__sim/resolve/NOPE-1", params={"winner": "yes"})).status_code == 404
    resolved_frames = seq.stream_resolved_markets()
    try:
        frame = await resolved_frames.__anext__()
    finally:
        await resolved_frames.aclose()
    assert (frame["venue"], frame["slug"], frame["winning_token_id"]) == ("kalshi", TICKER, f"{TICKER}:YES")
    settlement = await stack.call(seq.settlement, TICKER)
    assert (settlement["status"], settlement["resolved_outcome"], settlement["yes_price"]) == ("resolved", "Yes", 1.0)

    before = await _positions(stack)
    held = _event_contracts(before)
    yes, no = held[f"{TICKER}:YES"], held[f"{TICKER}:NO"]
    assert (yes["lifecycle"], yes["settled"], yes["settled_mark_usd_1e9"]) == ({"state": "resolved"}, True, ONE)
    assert (no["lifecycle"], no["settled"], no["settled_mark_usd_1e9"]) == ({"state": "resolved"}, True, 0)
    assert yes["qty_1e8"] == 7 * 10**8 and yes["current_value_usd_1e9"] == 7 * ONE and no["current_value_usd_1e9"] == 0
    cost_yes = bought_yes["filled_qty_1e8"] * bought_yes["avg_fill_price_1e9"] // 10**8
    assert yes["unrealized_pnl_usd_1e9"] == pytest.approx(7 * ONE - cost_yes, abs=10)

    answer = await stack.call(seq.redeem, TICKER, "kalshi")
    assert (answer["mode"], answer["venue"], answer["slug"]) == ("auto_settled", "kalshi", TICKER)
    assert sorted((r["symbol"], r["qty_1e8"], r["payout_usd_1e9"]) for r in answer["redeemed"]) == [
        (f"{TICKER}:NO", 3 * 10**8, 0),
        (f"{TICKER}:YES", 7 * 10**8, 7 * ONE),
    ]
    # Answered once the view shows it: the payout is booked, the contracts are gone.
    after = await _positions(stack)
    assert _usd(after, "kalshi") == _usd(before, "kalshi") + 7 * 10**8
    assert _event_contracts(after) == {}
    closed = _event_contracts(await _positions(stack, include_closed=True))
    assert {s: p["lifecycle"]["state"] for s, p in closed.items()} == {
        f"{TICKER}:YES": "redeemed",
        f"{TICKER}:NO": "redeemed",
    }
    assert closed[f"{TICKER}:YES"]["realized_pnl_usd_1e9"] == pytest.approx(7 * ONE - cost_yes, abs=10)
    no_cost = bought_no["filled_qty_1e8"] * bought_no["avg_fill_price_1e9"] // 10**8
    assert closed[f"{TICKER}:NO"]["realized_pnl_usd_1e9"] == pytest.approx(-no_cost, abs=10)
    # Nothing left to redeem: a repeat moves no money.
    again = await stack.call(seq.redeem, TICKER, "kalshi")
    assert (again["mode"], again["redeemed"]) == ("noop", [])
    assert _usd(await _positions(stack), "kalshi") == _usd(after, "kalshi")

    # Replays identically: the positions view rebuilt from the log equals the live one, and the
    # risk account folded from the log holds the same dollars and no contracts.
    report = await audit(bus, api.views, PositionsProjection())
    assert report.clean, report
    seen: list[AnyEvent] = []
    follower = StreamFollower(
        bus, "LEDGER", ["exec.>", "route.>"], lambda e, _: seen.append(e) if e.tenant == "acme" else None
    )
    await follower.start()
    try:
        await follower.wait_caught_up()
    finally:
        await follower.stop()
    assert sum(isinstance(e, PositionRedeemed) for e in seen) == 2
    account = replay(
        "acme",
        # The children first make the ledger know each fill's child (a fill for another is refused).
        [e for e in seen if isinstance(e, (ChildAllocated, BalanceAdjusted, FillRecorded, PositionRedeemed))],
        rules_book(instrument_rules()),
    )
    assert account.balances[("kalshi", "USD")] == _usd(after, "kalshi")
    assert (
        account.balances.get(("kalshi", f"{TICKER}:YES"), 0) == 0
        and account.balances.get(("kalshi", f"{TICKER}:NO"), 0) == 0
    )
    assert account.position(f"{TICKER}:YES").qty_1e8 == 0


async def test_markets_the_venues_announce_appear_in_the_listing_and_the_stream(stack: Stack) -> None:
    seq, servers = stack.seq, {s.protocol.venue: s for s in stack.servers}
    await servers["kalshi"].lifecycle(
        created_msg("KXHIGHNY-26JUN25-T84", "High above 84°F?", 1_782_300_000, 1_782_400_000)
    )
    snow_tokens = ["7" * 77, "8" * 77]
    snow = new_market_msg("will-it-snow", "Will it snow?", "0x" + "cd" * 32, snow_tokens, ["Yes", "No"])
    await servers["polymarket"].lifecycle(snow)
    frames = seq.stream_new_markets()
    try:
        seen: list[tuple[str, str]] = []
        while len(seen) < 4:  # the two markets the edges started with, then the two announced
            frame = await asyncio.wait_for(frames.__anext__(), 10)
            seen.append((frame["venue"], frame["slug"]))
    finally:
        await frames.aclose()
    assert sorted(seen) == sorted(
        [("kalshi", TICKER), ("polymarket", SLUG), ("kalshi", "KXHIGHNY-26JUN25-T84"), ("polymarket", "will-it-snow")]
    )
    kalshi = {m["slug"]: m for m in (await stack.call(seq.markets, venue="kalshi"))["markets"]}
    assert kalshi["KXHIGHNY-26JUN25-T84"]["yes_token_id"] == "KXHIGHNY-26JUN25-T84:YES"
    assert kalshi["KXHIGHNY-26JUN25-T84"]["end_date"] == "2026-06-25T15:06:40Z"
    [found] = (await stack.call(seq.markets, venue="polymarket", slug="will-it-snow"))["markets"]
    assert (found["question"], found["outcome_token_ids"]) == ("Will it snow?", snow_tokens)


async def _live_fill(stack: Stack, venue: str, symbol: str, n: int) -> None:
    """A fill from the live venue on tenant acme's live book (as its private channel reports one)."""
    fill = FillRecorded(
        event_id=new_event_id(),
        ts_ns=time.time_ns(),
        tenant="acme",
        fill_id=f"live-trade-{n}",
        child_id=f"g_live{n}:order:1",
        client_order_id=f"c{n}",
        graph_id=f"g_live{n}",
        node_id="order",
        venue=venue,
        symbol=symbol,
        side="buy",
        qty_1e8=5 * 10**8,
        px_1e9=400_000_000,
        fee_usd_1e9=0,
        liquidity="taker",
        is_sandbox=False,
    )
    acks = await stack.api.bus.publish_many(with_children([fill]))
    await stack.api.positions.wait_for(acks[-1].seq)


async def test_redeem_refusals_and_the_live_book(stack: Stack) -> None:
    seq, markets = stack.seq, stack.api.markets
    assert markets is not None and markets.follower is not None
    servers = {s.protocol.venue: s for s in stack.servers}
    with pytest.raises(SequenceError) as bad_venue:
        await stack.call(seq.redeem, SLUG, "okx")
    assert bad_venue.value.status == 400
    with pytest.raises(SequenceError) as unknown:
        await stack.call(seq.redeem, "no-such-market", "polymarket")
    assert unknown.value.status == 404
    await servers["polymarket"].lifecycle(resolved_msg(CONDITION_ID, [YES_TOKEN, NO_TOKEN], NO_TOKEN, "No"))
    await servers["kalshi"].lifecycle(determined_msg(TICKER, "no", int(time.time())))
    await markets.follower.wait_until(
        lambda: all(e.resolution is not None for e in markets.entries.values()), timeout=20
    )
    sandbox = await stack.call(seq.redeem, SLUG, "polymarket")
    assert (sandbox["mode"], sandbox["condition_id"], sandbox["token_ids"], sandbox["redeemed"]) == (
        "noop",
        CONDITION_ID,
        [YES_TOKEN, NO_TOKEN],
        [],
    )
    live_key = create_key(stack.settings, "acme", sandbox=False, now_ns=time.time_ns()).secret
    live = Sequence(live_key, base_url=stack.base_url, max_retries=0)
    assert (await stack.call(live.redeem, SLUG, "polymarket"))["mode"] == "noop"  # holds nothing live yet

    # A live position: Polymarket's on-chain redemption is not wired here; Kalshi pays out itself.
    await _live_fill(stack, "polymarket", YES_TOKEN, 1)
    with pytest.raises(SequenceError) as not_wired:
        await stack.call(live.redeem, SLUG, "polymarket")
    assert not_wired.value.status == 501 and "relayer" in not_wired.value.message
    await _live_fill(stack, "kalshi", f"{TICKER}:YES", 2)
    kalshi = await stack.call(live.redeem, TICKER, "kalshi")
    assert (kalshi["mode"], kalshi["redeemed"], kalshi["token_ids"]) == ("auto_settled", [], None)
    assert "Kalshi pays" in kalshi["note"]
    # The live position shows its market resolved against it (NO won: worth $0).
    row = _event_contracts(await stack.call(live.positions_unified))[f"{TICKER}:YES"]
    assert (row["lifecycle"]["state"], row["settled_mark_usd_1e9"], row["is_sandbox"]) == ("resolved", 0, False)
