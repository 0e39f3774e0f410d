"""services/edges/sandbox/engine.py under random books and order flow: takers match a plain
greedy oracle exactly (never better than the book, no liquidity used twice), resting orders
keep their invariants, and a seed fully determines the outcomes."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected, SandboxOrder, Side
from tests.services.edges.sandbox.helpers import FEES, PX, SYM, VENUE, Q

levels = st.dictionaries(
    st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=5 * Q), min_size=0, max_size=8
)
SIDES: list[Side] = ["buy", "sell"]
takers = st.lists(
    st.tuples(
        st.sampled_from(SIDES),
        st.integers(min_value=1, max_value=12 * Q),
        st.sampled_from(["market", "ioc", "fok"]),
        st.integers(min_value=0, max_value=40),
    ),
    min_size=1,
    max_size=6,
)


def split_book(raw: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    # Ticks 1..20 are bids, 21..40 asks: the book is never crossed.
    bids = {(100 + t) * PX: q for t, q in raw.items() if t <= 20}
    asks = {(100 + t) * PX: q for t, q in raw.items() if t > 20}
    return bids, asks


def oracle(remaining: dict[int, int], side: str, qty: int, limit: int | None, fok: bool) -> list[tuple[int, int]]:
    # A buyer walks asks upwards up to its limit; a seller walks bids downwards.
    best_first = sorted(remaining, reverse=side == "sell")
    eligible = [p for p in best_first if limit is None or (p <= limit if side == "buy" else p >= limit)]
    if fok and sum(remaining[p] for p in eligible) < qty:
        return []
    out = []
    for p in eligible:
        q = min(qty, remaining[p])
        if q:
            out.append((p, q))
            remaining[p] -= q
            qty -= q
    return out


@settings(max_examples=200, deadline=None)
@given(raw=levels, flow=takers)
def test_takers_match_a_greedy_oracle_and_never_reuse_liquidity(
    raw: dict[int, int], flow: list[tuple[Side, int, str, int]]
) -> None:
    # Arrange
    bids, asks = split_book(raw)
    v = SandboxVenue(VENUE, FEES, 0, random.Random(0))
    v.on_book(SYM, list(bids.items()), list(asks.items()), 0)
    left = {"buy": dict(asks), "sell": dict(bids)}
    for i, (side, qty, kind, tick) in enumerate(flow):
        limit = None if kind == "market" else (100 + tick) * PX
        order = SandboxOrder(
            f"o{i}",
            SYM,
            side,
            qty,
            "market" if kind == "market" else "limit",
            limit,
            "ioc" if kind != "fok" else "fok",
        )
        expected = oracle(left[side], side, qty, limit, kind == "fok")
        # Act
        out = v.submit(order, 0)
        # Assert
        got = [(o.px_1e9, o.qty_1e8) for o in out if isinstance(o, Filled)]
        assert got == expected
        assert all(o.liquidity == "taker" for o in out if isinstance(o, Filled))
        filled = sum(q for _, q in got)
        if isinstance(out[0], Rejected):
            assert kind == "fok" and got == []
        else:
            assert isinstance(out[0], Acked)
            tail = [o for o in out if isinstance(o, Cancelled)]
            assert filled + sum(c.cancelled_qty_1e8 for c in tail) == qty
    for side, book in (("buy", asks), ("sell", bids)):
        for px, qty in book.items():
            assert 0 <= left[side][px] <= qty


resting_flow = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.sampled_from(["buy", "sell"]), st.integers(1, 40), st.integers(1, 6 * Q)),
        st.tuples(
            st.just("trade"), st.sampled_from(["buy", "sell", "unknown"]), st.integers(1, 40), st.integers(1, 6 * Q)
        ),
        st.tuples(st.just("level"), st.sampled_from(["bid", "ask"]), st.integers(1, 40), st.integers(0, 6 * Q)),
        st.tuples(st.just("cancel"), st.just(""), st.integers(0, 20), st.just(0)),
    ),
    max_size=30,
)


def run(raw: dict[int, int], flow: list[tuple[str, str, int, int]], seed: int) -> tuple[list[Outcome], SandboxVenue]:
    bids, asks = split_book(raw)
    v = SandboxVenue(VENUE, FEES, 3, random.Random(seed), jitter_ns=5)
    v.on_book(SYM, list(bids.items()), list(asks.items()), 0)
    out: list[Outcome] = []
    for i, (kind, side, tick, qty) in enumerate(flow):
        now = 10 * (i + 1)
        px = (100 + tick) * PX
        if kind == "order":
            out += v.submit(SandboxOrder(f"r{i}", SYM, side, qty, "limit", px), now)  # type: ignore[arg-type]
        elif kind == "trade":
            out += v.on_trade(SYM, px, qty, side, now)  # type: ignore[arg-type]
        elif kind == "level":
            levels_ = [(px, qty)]
            # Keep the displayed book uncrossed, as the edges guarantee.
            if side == "bid" and (v.best_px(SYM, "ask") or 10**18) > px:
                out += v.on_book(SYM, levels_, [], now, snapshot=False)
            if side == "ask" and (v.best_px(SYM, "bid") or 0) < px:
                out += v.on_book(SYM, [], levels_, now, snapshot=False)
        else:
            out += v.cancel(f"r{tick}", now)
        for o in v.open_orders():
            shown = v.level_qty(SYM, "bid" if o.side == "buy" else "ask", o.limit_px_1e9)
            assert o.queue_ahead_1e8 >= 0
            assert o.queue_ahead_1e8 <= shown or now < o.active_from_ns
            assert 0 <= o.filled_qty_1e8 < o.qty_1e8
    return out, v


@settings(max_examples=150, deadline=None)
@given(raw=levels, flow=resting_flow, seed=st.integers(0, 2**32))
def test_resting_orders_keep_their_invariants_and_the_seed_decides_everything(
    raw: dict[int, int], flow: list[tuple[str, str, int, int]], seed: int
) -> None:
    # Act
    first, _ = run(raw, flow, seed)
    second, _ = run(raw, flow, seed)
    # Assert
    assert first == second
    by_order: dict[str, int] = {}
    for o in first:
        if isinstance(o, Filled):
            by_order[o.client_order_id] = by_order.get(o.client_order_id, 0) + o.qty_1e8
            if o.liquidity == "maker":
                i = int(o.client_order_id[1:])
                assert o.px_1e9 == (100 + flow[i][2]) * PX  # makers fill at their own limit
    for coid, total in by_order.items():
        i = int(coid[1:])
        assert total <= flow[i][3]
    assert len({o.fill_id for o in first if isinstance(o, Filled)}) == sum(isinstance(o, Filled) for o in first)
