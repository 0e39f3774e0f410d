"""Orders score their venues over JetStream, the router costs its next plan with those scores,
and a restarted TCA publishes no score twice."""

from __future__ import annotations


from events.routing import ChildAllocated, PlanMade
from events.subjects import VENUE_SCORES
from events.tca import VenueScored
from services.bus import Bus
from services.refdata import instrument_rules
from services.risk import rules_book
from services.sor import SorParams, VenueScore, plan_order
from services.sor.books import venue_books
from services.sor.convert import allocation_event
from services.tca.scoring import VenueScorer
from services.tca.service import LEDGER_SUBJECTS
from tests.stack import freeze
from tests.services.tca.test_end_to_end import (  # noqa: F401 (cluster: the fixture)
    Cluster,
    cluster,
    read_ledger,
    restart_publishes_nothing,
)

ROUTER_PARAMS = SorParams(latency_penalty_ppm_per_ms=5)  # RouterService's default


async def test_scores_of_one_order_cost_the_next_plan_and_a_restart_repeats_none(
    bus: Bus, cluster: Cluster  # noqa: F811
) -> None:
    client, servers, api, tca, runners = cluster
    # Arrange: freeze the markets so the books the router planned on are the books we re-plan on
    # (every frame the venues sent is on the log before we read them).
    await freeze(bus, servers, runners)
    await api.md_follower.wait_caught_up()
    depth = {v: sum(q for _, q in b.top(20)[1]) for (v, s), b in api.market.books.items() if s == "BTC-USDT"}
    qty_1e8 = (min(depth.values()) // 2) // 10_000 * 10_000
    assert qty_1e8 > 0

    async def buy() -> str:
        r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": qty_1e8 / 1e8})
        assert r.status_code == 200, r.text
        graph_id: str = r.json()["graph_id"]
        await api.ledger_follower.wait_until(
            lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=20
        )
        return graph_id

    async def scores_published() -> None:
        # Every child closed in the TCA's fold (a venue's last word can follow the completion).
        await tca.follower.wait_until(lambda: not tca.scorer.children, timeout=20)
        await tca.follower.wait_caught_up()
        await tca.outbox.drain()

    books = venue_books(api.market, rules_book(instrument_rules()), "BTC-USDT", "buy")  # frozen: as the router sees them

    # Act: one order scores the venues it used; the next is planned after the router read them.
    first = await buy()
    await scores_published()
    second = await buy()
    for server in servers:
        server.resume()
    await scores_published()

    # Assert: every venue the first order used is scored, from sandbox children, for no tenant.
    log = await read_ledger(bus, ["route.>", VENUE_SCORES])
    used = {e.venue for e in log if isinstance(e, ChildAllocated) and e.graph_id == first}
    [made] = [e for e in log if isinstance(e, PlanMade) and e.graph_id == second]
    latest = {e.venue: e for e in log[: log.index(made)] if isinstance(e, VenueScored)}
    assert used and set(latest) == used
    for s in latest.values():
        assert (s.symbol, s.is_sandbox, s.tenant) == ("BTC-USDT", True, "")
        assert s.latency_samples >= 1 and s.latency_ema_ns is not None and s.latency_ema_ns > 0
        assert s.fill_samples >= 1 and s.fill_rate_ppm is not None and 0 <= s.fill_rate_ppm <= 1_000_000

    # The second plan is the planner's answer on those books with exactly those scores...
    venue_scores = {
        v: VenueScore(latency_ns=s.latency_ema_ns, fill_rate_ppm=s.fill_rate_ppm, realised_slippage_ppm=s.realised_slippage_ppm)
        for v, s in latest.items()
    }
    mid = made.arrival_mid_px_1e9
    expected = plan_order("buy", qty_1e8, books, arrival_mid_px_1e9=mid, params=ROUTER_PARAMS, scores=venue_scores)
    assert made.allocations == [allocation_event(a) for a in expected.allocations]
    assert (made.expected_cost_usd_1e9, made.best_single_venue_cost_usd_1e9) == (
        expected.expected_cost_usd_1e9,
        expected.best_single_venue_traded_cost_usd_1e9,  # the TCA counterfactual: price and fee
    )
    # ...and not what it would have been without them (default latency, no fill-rate charge).
    unscored = plan_order("buy", qty_1e8, books, arrival_mid_px_1e9=mid, params=ROUTER_PARAMS)
    assert unscored.expected_cost_usd_1e9 != made.expected_cost_usd_1e9

    # A fresh fold of the log emits exactly the scores on the log: ids derive from their causes.
    ledger = await read_ledger(bus, LEDGER_SUBJECTS)
    on_log = [e for e in ledger if isinstance(e, VenueScored)]
    scorer = VenueScorer()
    rebuilt = [out for e in ledger if not isinstance(e, VenueScored) and (out := scorer.apply(e)) is not None]
    assert rebuilt == on_log and len({s.event_id for s in on_log}) == len(on_log)

    # A restarted TCA replays everything and publishes no score again.
    await tca.stop()
    again = await restart_publishes_nothing(bus)
    assert again.held_scores == {}
    assert [e for e in await read_ledger(bus, [VENUE_SCORES]) if isinstance(e, VenueScored)] == on_log
