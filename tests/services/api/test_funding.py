"""Perp funding through the API: real perp edges (Binance USD-M, Hyperliquid) stream their local
venue servers' funding messages onto a real nats-server; the published SDK and the /v1/stream
WebSocket read them back in the client's names (`binance`, `BTC-USDT`)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import websockets
from sequence_markets import Sequence, SequenceError

from events.market import FundingRateUpdated
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.edges import registry
from services.edges.runtime import EdgeRunner
from services.edges.service import BusSink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from services.settings import Settings
from tests.services.conftest import api_on_port
from tests.stack import EDGE_TIMING, freeze

PERPS = {"binance_usdm": "BTC-USDT-PERP", "hyperliquid": "BTC-USD-PERP"}  # edge -> perp it streams


@dataclass
class Perps:
    seq: Sequence
    api: ApiState
    base_url: str
    key: str
    servers: list[SimServer]
    runners: list[EdgeRunner]
    bus: Bus

    async def freeze(self) -> None:
        """Stop the venues' pushes and let the API fold everything they sent."""
        await freeze(self.bus, self.servers, self.runners)  # every frame on the wire is on the log
        await self.api.md_follower.wait_caught_up()

    async def call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(fn, *args, **kwargs)

    def latest(self, edge: str) -> FundingRateUpdated:
        # The USD-M edge publishes under the venue id of Binance's spot ("binance").
        return self.api.funding.latest[(registry.venue_of(edge), PERPS[edge])]


@pytest.fixture
async def perps(bus: Bus, settings: Settings) -> AsyncIterator[Perps]:
    servers, runners = [], []
    try:
        for i, (venue, symbol) in enumerate(PERPS.items()):
            inst = [x for x in registry.sim_instruments()[venue] if x.symbol == symbol]
            server = await SimServer(registry.sim_protocols()[venue](), inst, tick_ms=20, seed=60 + i).start()
            servers.append(server)
            runner = EdgeRunner(registry.adapters()[venue](VenueEndpoints(server.ws_url, server.rest_url)), [symbol],
                                BusSink(bus), timing=EDGE_TIMING)
            await runner.start()
            runners.append(runner)
        key = create_key(settings, "acme", sandbox=True, now_ns=time.time_ns()).secret
        async with api_on_port(settings) as (api, base_url):
            await api.md_follower.wait_until(lambda: len(api.funding.latest) == len(PERPS))
            yield Perps(Sequence(key, base_url=base_url, max_retries=0), api, base_url, key, servers, runners, bus)
    finally:
        for runner in runners:
            await runner.stop()
        for server in servers:
            await server.stop()


async def test_funding_rates_in_the_clients_names_and_units(perps: Perps) -> None:
    await perps.freeze()
    body = await perps.call(perps.seq.funding_rates)
    assert body["unit"] == "bps_per_hour"
    rows = {(r["venue"], r["symbol"]): r for r in body["rates"]}
    assert set(rows) >= {("binance", "BTC-USDT"), ("hyperliquid", "BTC-USD")}
    binance = rows[("binance", "BTC-USDT")]
    latest = perps.latest("binance_usdm")
    assert binance["rate_1e9"] == latest.rate_1e9 and binance["next_settlement_ns"] == latest.next_funding_ns
    assert binance["mark_price_1e9"] == latest.mark_px_1e9
    # an 8-hour rate spread over its hours, in bps: fraction x 1e4 / 8
    assert binance["rate_bps_per_hour"] == pytest.approx(binance["rate_1e9"] / 1e9 * 1e4 / 8)
    assert binance["funding_interval_ns"] == 8 * 3600 * 10**9
    assert binance["next_settlement_ns"] % binance["funding_interval_ns"] == 0
    assert binance["next_settlement_ns"] > time.time_ns()
    assert binance["mark_price_1e9"] > 0 and binance["snapshot_age_ms"] >= 0
    hyper = rows[("hyperliquid", "BTC-USD")]
    assert hyper["rate_bps_per_hour"] == pytest.approx(hyper["rate_1e9"] / 1e9 * 1e4)  # hourly already
    assert hyper["open_interest_1e8"] is not None

    one = await perps.call(perps.seq.funding_rate, "binance", "BTC-USDT")
    assert one is not None and (one["venue"], one["symbol"]) == ("binance", "BTC-USDT")
    assert await perps.call(perps.seq.funding_rate, "okx", "BTC-USDT") is None  # not streamed here
    only_hyper = await perps.call(perps.seq.funding_rates, venue="hyperliquid")
    assert [r["venue"] for r in only_hyper["rates"]] == ["hyperliquid"]


async def test_funding_history_replays_the_published_rates(perps: Perps) -> None:
    await perps.freeze()
    history = await perps.call(perps.seq.funding_history, "BTC-USDT", "binance", "1d")
    assert (history["symbol"], history["venue"]) == ("BTC-USDT", "binance")
    assert history["count"] == len(history["points"]) >= 1
    last = history["points"][-1]
    latest = perps.latest("binance_usdm")
    # the last change replayed is the rate the venue publishes now
    assert (last["rate_1e9"], last["next_settlement_ns"]) == (latest.rate_1e9, latest.next_funding_ns)
    stamps = [p["ts_ns"] for p in history["points"]]
    assert stamps == sorted(stamps) and all(p["mark_price_1e9"] > 0 for p in history["points"])
    # consecutive points differ: repeats of the same rate for the same settlement are folded away
    keys = [(p["rate_1e9"], p["next_settlement_ns"]) for p in history["points"]]
    assert all(a != b for a, b in itertools.pairwise(keys))
    # an explicit window before anything was published is empty
    empty = await perps.call(perps.seq.funding_history, "BTC-USDT", "binance", start_ts=1, end_ts=2)
    assert empty["count"] == 0 and empty["points"] == []

    with pytest.raises(SequenceError) as spot:
        await perps.call(perps.seq.funding_history, "BTC-USDT", "coinbase")
    assert spot.value.status == 400
    with pytest.raises(SequenceError) as unknown:
        await perps.call(perps.seq.funding_history, "DOGE-USDT", "binance")
    assert unknown.value.status == 404


async def test_funding_channel_on_the_stream(perps: Perps) -> None:
    url = perps.base_url.replace("http", "ws", 1) + "/v1/stream"
    wanted = ["funding", "funding:binance:BTC-USDT", "funding:hyperliquid", "funding:coinbase",
              "funding:binance:DOGE-USDT"]
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {perps.key}"}) as ws:
        await ws.send(json.dumps({"subscribe": wanted}))
        assert json.loads(await ws.recv()) == {"subscribed": wanted[:3], "rejected": wanted[3:]}
        seen: dict[str, set[tuple[str, str]]] = {c: set() for c in wanted[:3]}
        async with asyncio.timeout(15):
            # the current rates on subscribe, then each change (the sims publish every second)
            while not (len(seen["funding"]) == 2 and seen["funding:binance:BTC-USDT"] and seen["funding:hyperliquid"]):
                frame = json.loads(await ws.recv())
                data = frame["data"]
                assert {"rate_bps_per_hour", "predicted_rate_bps_per_hour", "mark_price_1e9",
                        "next_settlement_ns", "snapshot_age_ms"} <= set(data)
                seen[frame["channel"]].add((data["venue"], data["symbol"]))
    assert seen["funding:binance:BTC-USDT"] == {("binance", "BTC-USDT")}
    assert seen["funding:hyperliquid"] == {("hyperliquid", "BTC-USD")}
