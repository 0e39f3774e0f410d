"""Funding from the perp edges: recorded venue payloads parse to exact integers, and each perp
venue's edge, against its local server over a real socket, publishes FundingRateUpdated."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from events.market import FundingRateUpdated
from events.subjects import subject_for
from services.edges import registry
from services.edges.binance.parse import parse_frame as binance_frame
from services.edges.bybit.parse import parse_frame as bybit_frame
from services.edges.funding import EIGHT_HOURS_NS, HOUR_NS, rate_1e9
from services.edges.hyperliquid.parse import parse_frame as hyperliquid_frame
from services.edges.okx.parse import parse_frame as okx_frame
from services.edges.runtime import EdgeRunner, EdgeTiming, MemorySink
from services.edges.sim.market import MAX_FUNDING_1E9
from services.edges.sim.server import SimServer
from services.edges.venue import Control, FundingUpdate, ParseError, VenueEndpoints
from tests.shared_fixtures import fixture_path

PERP_VENUES = ("binance_usdm", "bybit_linear", "okx", "hyperliquid")  # the perp edges


def test_binance_mark_price_stream_is_a_funding_update() -> None:
    raw = fixture_path("venues", "binance_usdm", "ws_mark_price_stream.json").read_text()
    assert binance_frame(raw) == [
        FundingUpdate(
            symbol="BTCUSDT",
            rate_1e9=381_670,  # "0.00038167"
            interval_ns=EIGHT_HOURS_NS,
            next_funding_ns=1_562_306_400_000 * 10**6,
            mark_px_1e9=11_794_150_000_000,
            index_px_1e9=11_784_626_590_910,
            ts_event_ns=1_562_305_380_000 * 10**6,
        )
    ]
    wrapped = json.dumps({"stream": "btcusdt@markPrice@1s", "data": json.loads(raw)})
    assert binance_frame(wrapped) == binance_frame(raw)


def test_bybit_linear_ticker_snapshot_then_delta_merge() -> None:
    raw = fixture_path("venues", "bybit", "ws_ticker_linear.json").read_text()
    tickers: dict[str, dict[str, str]] = {}
    [update] = bybit_frame(raw, tickers)
    assert update == FundingUpdate(
        symbol="BTCUSDT",
        rate_1e9=-212_000,  # "-0.000212": shorts pay longs
        interval_ns=8 * HOUR_NS,
        next_funding_ns=1_673_280_000_000 * 10**6,
        mark_px_1e9=17_217_330_000_000,
        index_px_1e9=17_227_360_000_000,
        open_interest_1e8=6_874_476_100_000,
        ts_event_ns=1_673_272_861_686 * 10**6,
    )
    # A delta carries only what changed; the rest comes from the snapshot.
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1_673_272_862_000,
             "data": {"symbol": "BTCUSDT", "fundingRate": "0.0001"}, "cs": 1}
    [merged] = bybit_frame(json.dumps(delta), tickers)
    assert isinstance(merged, FundingUpdate)
    assert merged.rate_1e9 == 100_000 and merged.mark_px_1e9 == update.mark_px_1e9
    # A number where the venue usually sends a string still reads exactly; garbage is a bad frame.
    delta["data"] = {"symbol": "BTCUSDT", "fundingRate": 0.0002}
    [numeric] = bybit_frame(json.dumps(delta), tickers)
    assert isinstance(numeric, FundingUpdate) and numeric.rate_1e9 == 200_000
    delta["data"] = {"symbol": "BTCUSDT", "fundingRate": "abc"}
    with pytest.raises(ParseError):
        bybit_frame(json.dumps(delta), tickers)
    assert tickers["BTCUSDT"]["fundingRate"] == "0.0002"  # the bad frame left the merged state alone
    # Without ticker state (the spot socket) a ticker is only control traffic.
    assert bybit_frame(raw) == [Control("unhandled", "tickers.BTCUSDT")]


def test_okx_funding_rate_carries_the_last_mark_price() -> None:
    marks: dict[str, int] = {}
    mark = {"arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
            "data": [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "markPx": "42310.6", "ts": "1630049139746"}]}
    assert okx_frame(json.dumps(mark), marks) == [Control("mark-price", "BTC-USDT-SWAP")]
    push = {"arg": {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
            "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "fundingRate": "0.0001515",
                      "nextFundingRate": "0.00029", "fundingTime": "1622822400000",
                      "nextFundingTime": "1622851200000", "method": "next_period", "ts": "1622822400000"}]}
    assert okx_frame(json.dumps(push), marks) == [
        FundingUpdate(
            symbol="BTC-USDT-SWAP",
            rate_1e9=151_500,
            interval_ns=EIGHT_HOURS_NS,
            next_funding_ns=1_622_822_400_000 * 10**6,
            mark_px_1e9=42_310_600_000_000,
            predicted_rate_1e9=290_000,
            ts_event_ns=1_622_822_400_000 * 10**6,
        )
    ]


def test_hyperliquid_asset_context_is_hourly_funding() -> None:
    frame = {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {
        "funding": "0.0000125", "markPx": "97045.0", "oraclePx": "97040.5", "openInterest": "1234.5"}}}
    assert hyperliquid_frame(json.dumps(frame)) == [
        FundingUpdate(symbol="BTC", rate_1e9=12_500, interval_ns=HOUR_NS, mark_px_1e9=97_045_000_000_000,
                      index_px_1e9=97_040_500_000_000, open_interest_1e8=123_450_000_000)
    ]


@pytest.mark.parametrize("text", ["abc", "1.5", "-2", "NaN"])
def test_garbage_rates_are_parse_errors(text: str) -> None:
    with pytest.raises(ParseError):
        rate_1e9(text)


def test_rates_round_past_nine_decimals() -> None:
    assert rate_1e9("0.00001234567") == 12_346
    assert rate_1e9("-0.0000000005") == 0  # half-even


@pytest.fixture(params=PERP_VENUES)
async def perp_edge(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EdgeRunner, SimServer, str]]:
    name = request.param
    instruments = [i for i in registry.sim_instruments()[name] if i.symbol.endswith("-PERP")][:1]
    server = SimServer(registry.sim_protocols()[name](), instruments, tick_ms=20, seed=5)
    await server.start()
    adapter = registry.adapters()[name](VenueEndpoints(server.ws_url, server.rest_url))
    clock = iter(range(10**18, 10**19, 10**9))  # an injected clock: the edge reads no wall time
    runner = EdgeRunner(adapter, [instruments[0].symbol], MemorySink(), clock_ns=lambda: next(clock),
                        timing=EdgeTiming(reconnect_base_s=0.05, reconnect_max_s=0.5, snapshot_retry_s=0.1))
    await runner.start()
    yield runner, server, instruments[0].symbol
    await runner.stop()
    await server.stop()


async def test_each_perp_edge_publishes_funding(perp_edge: tuple[EdgeRunner, SimServer, str]) -> None:
    runner, server, symbol = perp_edge
    sink = runner.sink
    assert isinstance(sink, MemorySink)

    def fundings() -> list[FundingRateUpdated]:
        return [e for e in sink.events if isinstance(e, FundingRateUpdated)]

    await runner.wait_until(lambda r: len(fundings()) >= 2, timeout=20)
    first = fundings()[0]
    assert first.venue == runner.venue and first.symbol == symbol
    # A perp edge publishes under its exchange's venue id, like that exchange's spot edge.
    assert runner.venue == {"binance_usdm": "binance", "bybit_linear": "bybit"}.get(runner.adapter.name, runner.adapter.name)
    assert subject_for(first) == f"md.{runner.venue}.{symbol}.funding"
    assert 0 < abs(first.rate_1e9) <= MAX_FUNDING_1E9
    assert first.interval_ns in (HOUR_NS, EIGHT_HOURS_NS)
    # Settles on a future interval boundary; the mark sits inside the venue's own book.
    assert first.next_funding_ns % first.interval_ns == 0 and first.next_funding_ns > first.ts_event_ns
    truth = server.true_book(runner.adapter.to_venue(symbol))
    tick = server.markets[symbol].instrument.tick_1e9
    assert truth.bids(1)[0][0] - 50 * tick <= first.mark_px_1e9 <= truth.asks(1)[0][0] + 50 * tick
    assert runner.counters["bad_frames"] == 0
