"""Shared builders for the sandbox tests: whole-unit prices and sizes, one venue, one symbol."""

from __future__ import annotations

import random

from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.fees import FeeSchedule
from services.edges.sandbox.orders import OrderType, SandboxOrder, Side, Tif

PX = 10**9  # one dollar in px_1e9
Q = 10**8  # one unit in qty_1e8
SYM = "BTC-USDT-PERP"
VENUE = "binance"  # its perps (USD-M): same venue id as its spot, a -PERP symbol
FEES = FeeSchedule(VENUE, maker_ppm=200, taker_ppm=500)
LAT = 2_000_000


def venue(
    latency_ns: int = LAT,
    seed: int = 1,
    *,
    jitter_ns: int = 0,
    max_book_age_ns: int | None = None,
    symbols: list[str] | None = None,
    native_amend: bool = True,
) -> SandboxVenue:
    return SandboxVenue(
        VENUE,
        FEES,
        latency_ns,
        random.Random(seed),
        jitter_ns=jitter_ns,
        max_book_age_ns=max_book_age_ns,
        symbols=symbols,
        native_amend=native_amend,
    )


def order(
    coid: str,
    side: Side,
    qty: int,
    px: int | None = None,
    tif: Tif = "gtc",
    order_type: OrderType | None = None,
) -> SandboxOrder:
    kind: OrderType = order_type or ("market" if px is None else "limit")
    return SandboxOrder(coid, SYM, side, qty, kind, px, tif)


def book(v: SandboxVenue, bids: list[tuple[int, int]], asks: list[tuple[int, int]], ts: int = 0) -> None:
    v.on_book(SYM, bids, asks, ts)
