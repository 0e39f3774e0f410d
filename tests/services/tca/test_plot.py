"""TCA charts from plain data: valid PNGs of the asked size, and different orders draw differently."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from PIL import Image

from events.graph import NodeActivated, NodeCompleted
from services.sor import VenueBook, plan_made_event, plan_order
from services.sor.config import ROUTER_PARAMS
from services.tca import build_report
from services.tca.plot import (
    SIZE_PX,
    aggregate_png,
    order_png,
    savings_caption,
    single_venue_shortfall_bps,
    venue_colours,
    write_png,
)
from tests.services.tca.test_savings_property import fills_at_planned_levels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
USD = 10**9
T0 = 1_700_000_000 * 10**9


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a PNG must start with."""
    assert png[:8] == PNG_MAGIC
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", png[16:24])


def report(graph_id: str, side: str, mix: list[tuple[str, int, int]], is_bps: float, single: int | None) -> dict[str, Any]:
    return {
        "graph_id": graph_id, "symbol": "BTC-USDT", "side": side, "filled_qty_1e8": sum(q for _, q, _ in mix),
        "arrival_mid_px_1e9": 100_000 * USD, "achieved_vwap_1e9": 100_010 * USD, "implementation_shortfall_bps": is_bps,
        "best_single_venue": mix[0][0] if single else None, "single_venue_vwap_1e9": single,
        "venue_mix": [{"venue": v, "qty_1e8": q, "notional_usd_1e9": n} for v, q, n in mix],
        "interval_start_ns": T0, "interval_twap_1e9": 100_004 * USD,
    }


def nbbo(n: int, spread: int) -> list[dict[str, int]]:
    return [{"ts_ns": T0 + i * 100_000_000, "bid_1e9": (100_000 - spread + i) * USD, "ask_1e9": (100_000 + spread + i) * USD}
            for i in range(n)]


SMALL = (
    report("g-small", "buy", [("binance", 10_000_000, 10_001 * USD)], 1.5, 100_012 * USD),
    [{"ts_ns": T0 + 300_000_000, "price_1e9": 100_010 * USD, "qty_1e8": 10_000_000, "venue": "binance"}],
    nbbo(10, 5),
)
LARGE = (
    report("g-large", "buy", [("okx", 200_000_000, 1), ("binance", 100_000_000, 1), ("bybit", 50_000_000, 1)], 4.25,
           100_060 * USD),
    [
        {"ts_ns": T0 + 100_000_000, "price_1e9": 100_020 * USD, "qty_1e8": 200_000_000, "venue": "okx"},
        {"ts_ns": T0 + 500_000_000, "price_1e9": 100_030 * USD, "qty_1e8": 100_000_000, "venue": "binance"},
        {"ts_ns": T0 + 900_000_000, "price_1e9": 100_045 * USD, "qty_1e8": 50_000_000, "venue": "bybit"},
    ],
    nbbo(20, 15),
)


def test_two_orders_render_to_valid_pngs_of_the_asked_size_that_differ(tmp_path: Path) -> None:
    small, large = order_png(*SMALL), order_png(*LARGE)
    for png in (small, large):
        assert png_size(png) == SIZE_PX
        assert len(png) > 10_000  # a drawn chart, not an empty canvas
        with Image.open(io.BytesIO(png)) as image:
            image.verify()  # every chunk's CRC and the stream decode
    assert small != large
    with Image.open(io.BytesIO(small)) as a, Image.open(io.BytesIO(large)) as b:
        assert a.size == b.size == SIZE_PX
        differing = int(np.count_nonzero(np.any(np.asarray(a.convert("RGB")) != np.asarray(b.convert("RGB")), axis=2)))
    assert differing > 1_000  # different data, not a different byte encoding of the same picture
    path = write_png(tmp_path / "order.png", small)
    assert path.read_bytes() == small


def test_size_is_exactly_what_is_asked() -> None:
    assert png_size(order_png(*SMALL, size_px=(640, 480))) == (640, 480)
    assert png_size(aggregate_png([SMALL[0], LARGE[0]], size_px=(900, 500))) == (900, 500)


def test_an_order_without_quotes_or_a_counterfactual_still_draws() -> None:
    bare = dict(SMALL[0], single_venue_vwap_1e9=None, best_single_venue=None, interval_start_ns=None,
                interval_twap_1e9=None)
    assert png_size(order_png(bare, SMALL[1], [])) == SIZE_PX


def test_aggregate_of_different_orders_differs() -> None:
    one = aggregate_png([SMALL[0]])
    both = aggregate_png([SMALL[0], LARGE[0]])
    assert png_size(one) == png_size(both) == SIZE_PX and one != both
    assert png_size(aggregate_png([])) == SIZE_PX


def test_single_venue_shortfall_is_against_the_arrival_mid_and_signed_per_side() -> None:
    buy = SMALL[0]
    assert single_venue_shortfall_bps(buy) == pytest.approx(1.2)  # 100,012 vs 100,000
    assert single_venue_shortfall_bps(dict(buy, side="sell")) == pytest.approx(-1.2)
    assert single_venue_shortfall_bps(dict(buy, single_venue_vwap_1e9=None)) is None


def test_venue_colours_are_stable_and_distinct() -> None:
    colours = venue_colours(["okx", "binance", "okx", "bybit"])
    assert list(colours) == ["binance", "bybit", "okx"]
    assert len(set(colours.values())) == 3
    assert venue_colours(["bybit", "okx", "binance"]) == colours


def test_a_route_identical_to_the_best_single_venue_plots_zero_savings_and_equal_bars() -> None:
    # The case: 3 ETH bought entirely on OKX with the production router's latency
    # penalty (20 ms at 5 ppm/ms = 1 bp). The chart used to say "routed 10.00, best single venue 11.00".
    mid = 3_400 * USD
    okx = VenueBook(venue="okx", levels=[(mid + 2 * USD, 2 * 10**8), (mid + 3 * USD, 5 * 10**8)], taker_fee_ppm=800,
                    latency_ns=20_000_000)
    kraken = VenueBook(venue="kraken", levels=[(mid + 5 * USD, 10**8)], taker_fee_ppm=2_600, latency_ns=20_000_000)
    plan = plan_order("buy", 3 * 10**8, [okx, kraken], arrival_mid_px_1e9=mid, params=ROUTER_PARAMS)
    assert [(a.venue, a.qty_1e8) for a in plan.allocations] == [("okx", 3 * 10**8)] and plan.best_single_venue == "okx"
    made = plan_made_event(plan, event_id="p", ts_ns=T0, plan_id="p", graph_id="g-eth", node_id="order", symbol="ETH-USD")
    act = NodeActivated(event_id="a", ts_ns=T0, graph_id="g-eth", node_id="order", node_order_id="g-eth:order:1")
    done = NodeCompleted(event_id="d", ts_ns=T0 + 10**9, graph_id="g-eth", node_id="order", status="FILLED",
                         filled_qty_1e8=3 * 10**8, avg_fill_px_1e9=None)
    fill_events = [msgspec.structs.replace(f, graph_id="g-eth", node_id="order")
                   for f in fills_at_planned_levels(plan, [okx, kraken], per_fill_fee_rounding=False)]
    report = build_report(activation=act, completed=done, plan=made, fills=fill_events, event_id="r",
                          single_venue_qty_1e8=plan.best_single_venue_qty_1e8)
    assert report.savings_usd_1e9 == 0 and report.savings_vs_single_venue_bps == 0.0
    row = msgspec.to_builtins(report)
    fills = [{"ts_ns": T0 + 10**8, "price_1e9": f.px_1e9, "qty_1e8": f.qty_1e8, "venue": f.venue} for f in fill_events]
    # Act
    png = order_png(row, fills, nbbo(10, 1))
    # Assert: both bars show the same shortfall, and the chart prints the report's own figure.
    assert single_venue_shortfall_bps(row) == pytest.approx(row["implementation_shortfall_bps"], abs=1e-6)
    assert savings_caption(row) == "savings vs best single venue (okx): +0.00 bps"
    with Image.open(io.BytesIO(png)) as image:
        assert image.text["Description"] == savings_caption(row)
