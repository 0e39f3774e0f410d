"""Prediction-market lifecycle over real sockets: each local venue server pushes its own
lifecycle messages (Kalshi `market_lifecycle_v2`, Polymarket `new_market`/`market_resolved`)
and the edge turns them into `MarketListed`/`MarketResolved`, one event per market however
often the venue repeats itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from events.market import MarketListed, MarketResolved
from services.edges import registry
from services.edges.kalshi.sim import created_msg, determined_msg
from services.edges.polymarket.sim import CONDITION_ID, NO_TOKEN, YES_TOKEN, new_market_msg, resolved_msg
from services.edges.runtime import EdgeRunner, EdgeTiming, MemorySink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints


def _of(sink: MemorySink, cls: type) -> list:
    return [e for e in sink.events if isinstance(e, cls)]


@pytest.fixture
async def edge(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SimServer, EdgeRunner, MemorySink]]:
    venue = request.param
    instruments = registry.sim_instruments()[venue]
    server = await SimServer(registry.sim_protocols()[venue](), instruments, tick_ms=50, seed=3).start()
    sink = MemorySink()
    runner = EdgeRunner(
        registry.adapters()[venue](VenueEndpoints(server.ws_url, server.rest_url)),
        [i.symbol for i in instruments],
        sink,
        timing=EdgeTiming(0.05, 0.5, 5.0, 0.1),
    )
    await runner.start()
    try:
        await runner.wait_until(lambda r: r.connected and all(not r.is_stale(vs) for vs in r.venue_symbols))
        yield server, runner, sink
    finally:
        await runner.stop()
        await server.stop()


@pytest.mark.parametrize("edge", ["kalshi"], indirect=True)
async def test_kalshi_lifecycle_lists_and_resolves_markets(edge: tuple[SimServer, EdgeRunner, MemorySink]) -> None:
    server, runner, sink = edge
    # The market it streams was announced on start.
    assert [m.slug for m in _of(sink, MarketListed)] == ["KXHIGHNY-26JUN24-T82"]
    await server.lifecycle(
        created_msg("KXHIGHNY-26JUN25-T84", "High above 84°F on Jun 25?", 1_782_300_000, 1_782_400_000)
    )
    await runner.wait_until(lambda r: r.counters["markets_listed"] == 1)
    new = _of(sink, MarketListed)[-1]
    assert (new.venue, new.slug, new.venue_event_id) == ("kalshi", "KXHIGHNY-26JUN25-T84", "KXHIGHNY-26JUN25")
    assert new.outcome_token_ids == ["KXHIGHNY-26JUN25-T84:YES", "KXHIGHNY-26JUN25-T84:NO"]

    await server.lifecycle(determined_msg("KXHIGHNY-26JUN24-T82", "yes", 1_782_345_700))
    # Kalshi follows `determined` with `settled`: the same resolution, the same event id.
    await server.lifecycle(
        {**determined_msg("KXHIGHNY-26JUN24-T82", "yes", 0), "event_type": "settled", "settled_ts": 1_782_349_300}
    )
    await runner.wait_until(lambda r: r.counters["markets_resolved"] == 2)
    first, again = _of(sink, MarketResolved)
    assert first.event_id == again.event_id  # JetStream's dedup keeps one
    assert (first.slug, first.winning_outcome, first.winning_token_id, first.losing_token_id) == (
        "KXHIGHNY-26JUN24-T82",
        "Yes",
        "KXHIGHNY-26JUN24-T82:YES",
        "KXHIGHNY-26JUN24-T82:NO",
    )
    assert first.ts_event_ns == 1_782_345_700 * 10**9 and first.outcome_source == "kalshi"


@pytest.mark.parametrize("edge", ["polymarket"], indirect=True)
async def test_polymarket_new_market_and_resolution_by_condition_id(
    edge: tuple[SimServer, EdgeRunner, MemorySink],
) -> None:
    server, runner, sink = edge
    [seeded] = _of(sink, MarketListed)
    assert seeded.venue_event_id == CONDITION_ID
    condition = "0x" + "ab" * 32
    tokens = ["1" * 77, "2" * 77]
    await server.lifecycle(new_market_msg("will-it-snow", "Will it snow?", condition, tokens, ["Yes", "No"]))
    await runner.wait_until(lambda r: r.counters["markets_listed"] == 1)
    listed = _of(sink, MarketListed)[-1]
    assert (listed.slug, listed.condition_id, listed.outcome_token_ids) == ("will-it-snow", condition, tokens)

    # market_resolved names only the condition id: the edge maps it to the slug it listed,
    # for a market announced on the wire and for one it streamed from the start.
    await server.lifecycle(resolved_msg(condition, tokens, tokens[1], "No"))
    await server.lifecycle(resolved_msg(CONDITION_ID, [YES_TOKEN, NO_TOKEN], YES_TOKEN, "Yes"))
    await runner.wait_until(lambda r: r.counters["markets_resolved"] == 2)
    snow, sim = _of(sink, MarketResolved)
    assert (snow.slug, snow.winning_token_id, snow.losing_token_id, snow.winning_outcome) == (
        "will-it-snow",
        tokens[1],
        tokens[0],
        "No",
    )
    assert (sim.slug, sim.winning_token_id, sim.losing_token_id) == (seeded.slug, YES_TOKEN, NO_TOKEN)
