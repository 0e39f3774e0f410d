"""OnlineFeatures from our own books and trades, for `algo_on_book_v3` and `algo_on_heartbeat`.

One `FeatureTracker` per (venue, symbol) instance, fed every book (and trade, if the caller has
them) in order; integer arithmetic only and time only from the inputs' `recv_ns`, so a replay
gives the same bytes. State is bounded: one mid sample per second for an hour, trades for a
minute (at most `MAX_TRADES`).

What each field holds here (upstream's names and units; docs/algo_abi.md):
- microprice_1e9: size-weighted mid of the touch, (bid_px*ask_sz + ask_px*bid_sz)/(bid_sz+ask_sz).
- ofi_1level_1e8: order-flow imbalance of the latest update at the touch (Cont, Kukanov and
  Stoikov: bid-side size added at or above the previous best bid, minus size removed, minus the
  same on the ask side). ofi_5level_1e8 / mlofi_10_1e8: the same summed over the first 5 / 10
  levels, level by level.
- ofi_ewma_1e6: EWMA (alpha 1/16) of the 1-level OFI divided by the touch's mean depth, x 1e6.
- trade_sign_imbalance_1e6: (buy - sell aggressor qty) / total qty over the last minute, x 1e6.
- trade_arrival_rate_1e3: trades per second over the last minute, x 1e3.
- spread_regime: 0 tight (z < -0.5), 1 normal, 2 wide (z >= 1), 3 crisis (z >= 3 or a side empty),
  where z (spread_zscore_1e3, x 1e3) compares the spread with its EWMA mean and deviation (the
  deviation floored at a tenth of the mean).
- depth_imbalance_1e4: (bid - ask) / (bid + ask) depth over the first 5 levels, x 1e4.
- rv_1m_bps / rv_5m_bps / rv_1h_bps: realised volatility, the root of the summed squared
  one-second mid returns over the window, in basis points.
- feature_ts_ns: recv_ns of the last book.
Left 0 because nothing here computes them (no order-level data or models): vpin_1e4 (flags bit0
stays 0), cancel_rate_1e4, every pred_* field, prediction_age_ms, fill_prob_bid/ask_1e4,
queue_decay_rate_1e4.
"""

from __future__ import annotations

import math
from collections import deque

from services.algos import abi

NS_PER_S = 1_000_000_000
MAX_TRADES = 10_000
_EWMA_SHIFT = 4  # alpha = 1/16


class FeatureTracker:
    def __init__(self) -> None:
        self._prev: abi.Book | None = None
        self._ofi_ewma_1e6 = 0
        self._spread_mean_1e3 = 0  # EWMA of the spread (px units x 1e3 of 1e9)
        self._spread_var_1e6 = 0
        self._spread_seen = 0
        self._secs: deque[tuple[int, int]] = deque(maxlen=3601)  # (second, last mid) samples
        self._trades: deque[tuple[int, int, int]] = deque()  # (recv_ns, signed qty, qty), at most MAX_TRADES
        self._signed_sum = 0  # of the trades held: kept as they come and go (a sum per book costs O(trades))
        self._qty_sum = 0
        self._features = abi.OnlineFeatures()

    @property
    def features(self) -> abi.OnlineFeatures:
        return self._features

    def on_trade(self, recv_ns: int, qty_1e8: int, aggressor_side: int) -> None:
        """A trade print; aggressor_side 1 buy, -1 sell, 0 unknown (counted, no sign)."""
        if len(self._trades) >= MAX_TRADES:
            self._drop_oldest_trade()
        trade = (recv_ns, qty_1e8 * aggressor_side, qty_1e8)
        self._trades.append(trade)
        self._signed_sum += trade[1]
        self._qty_sum += trade[2]

    def _drop_oldest_trade(self) -> None:
        _, signed, qty = self._trades.popleft()
        self._signed_sum -= signed
        self._qty_sum -= qty

    def on_book(self, book: abi.Book) -> abi.OnlineFeatures:
        prev, self._prev = self._prev, book
        bids, asks = book.bids, book.asks
        if not bids or not asks:
            self._features = abi.OnlineFeatures(spread_regime=3, feature_ts_ns=book.recv_ns)
            return self._features
        (bp, bs), (ap, as_) = bids[0], asks[0]
        microprice = (bp * as_ + ap * bs) // (bs + as_) if bs + as_ else (bp + ap) // 2
        ofi1 = ofi5 = ofi10 = 0
        if prev is not None and prev.bids and prev.asks:
            for i in range(10):
                e = _level_ofi(prev, book, i)
                ofi10 += e
                if i < 5:
                    ofi5 += e
                if i == 0:
                    ofi1 = e
        depth = (bs + as_) // 2 or 1
        self._ofi_ewma_1e6 += (ofi1 * 1_000_000 // depth - self._ofi_ewma_1e6) >> _EWMA_SHIFT
        regime, zscore = self._spread(ap - bp)
        bid5 = sum(sz for _, sz in bids[:5])
        ask5 = sum(sz for _, sz in asks[:5])
        imbalance = (bid5 - ask5) * 10_000 // (bid5 + ask5) if bid5 + ask5 else 0
        mid = (bp + ap) // 2
        self._sample(book.recv_ns, mid)
        sign_1e6, rate_1e3 = self._trade_stats(book.recv_ns)
        self._features = abi.OnlineFeatures(
            microprice_1e9=microprice,
            ofi_1level_1e8=ofi1,
            ofi_5level_1e8=ofi5,
            mlofi_10_1e8=ofi10,
            ofi_ewma_1e6=self._ofi_ewma_1e6,
            trade_sign_imbalance_1e6=sign_1e6,
            trade_arrival_rate_1e3=rate_1e3,
            spread_regime=regime,
            spread_zscore_1e3=max(-32768, min(32767, zscore)),
            depth_imbalance_1e4=imbalance,
            rv_1m_bps=self._rv_bps(book.recv_ns, 60),
            rv_5m_bps=self._rv_bps(book.recv_ns, 300),
            rv_1h_bps=self._rv_bps(book.recv_ns, 3600),
            feature_ts_ns=book.recv_ns,
        )
        return self._features

    def _spread(self, spread: int) -> tuple[int, int]:
        s_1e3 = spread * 1000
        self._spread_seen += 1
        if self._spread_seen == 1:
            self._spread_mean_1e3 = s_1e3
            return 1, 0
        dev = s_1e3 - self._spread_mean_1e3
        # The deviation is floored at a tenth of the mean spread: a spread flickering by one tick
        # is normal, not a regime change.
        std_1e3 = max(math.isqrt(self._spread_var_1e6), self._spread_mean_1e3 // 10)
        zscore = dev * 1000 // std_1e3 if std_1e3 else 0
        self._spread_mean_1e3 += dev >> _EWMA_SHIFT
        self._spread_var_1e6 += (dev * dev - self._spread_var_1e6) >> _EWMA_SHIFT
        regime = 3 if zscore >= 3000 else 2 if zscore >= 1000 else 0 if zscore < -500 else 1
        return regime, zscore

    def _sample(self, recv_ns: int, mid: int) -> None:
        sec = recv_ns // NS_PER_S
        if self._secs and self._secs[-1][0] == sec:
            self._secs[-1] = (sec, mid)
        else:
            self._secs.append((sec, mid))

    def _rv_bps(self, now_ns: int, window_s: int) -> int:
        since = now_ns // NS_PER_S - window_s
        total = 0  # squared returns in (1e-8)^2
        prev = None
        for sec, mid in self._secs:
            if sec < since:
                continue
            if prev:
                r = (mid - prev) * 100_000_000 // prev
                total += r * r
            prev = mid
        return math.isqrt(total) // 10_000  # 1e-8 -> bps

    def _trade_stats(self, now_ns: int) -> tuple[int, int]:
        since = now_ns - 60 * NS_PER_S
        while self._trades and self._trades[0][0] < since:
            self._drop_oldest_trade()
        if not self._trades:
            return 0, 0
        signed, total = self._signed_sum, self._qty_sum
        span_ns = max(NS_PER_S, now_ns - self._trades[0][0])
        return (signed * 1_000_000 // total if total else 0), len(self._trades) * 1000 * NS_PER_S // span_ns


_NO_ASK = 1 << 63  # an empty ask level sits at +infinity, an empty bid level at 0


def _level(levels: tuple[tuple[int, int], ...], i: int, empty_px: int = 0) -> tuple[int, int]:
    return levels[i] if i < len(levels) and levels[i][0] else (empty_px, 0)


def _level_ofi(prev: abi.Book, cur: abi.Book, i: int) -> int:
    """Cont-Kukanov-Stoikov OFI at depth i between two books."""
    pb, pbs = _level(prev.bids, i)
    cb, cbs = _level(cur.bids, i)
    pa, pas = _level(prev.asks, i, _NO_ASK)
    ca, cas = _level(cur.asks, i, _NO_ASK)
    e = 0
    if cb >= pb:
        e += cbs
    if cb <= pb:
        e -= pbs
    if ca <= pa:
        e -= cas
    if ca >= pa:
        e += pas
    return e
