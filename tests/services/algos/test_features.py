"""OnlineFeatures computed from books and trades (services/algos/features.py)."""

from __future__ import annotations

from services.algos import abi
from services.algos.features import MAX_TRADES, FeatureTracker

S = 1_000_000_000


def book(bid: int, bid_sz: int, ask: int, ask_sz: int, ts: int, deeper: int = 0) -> abi.Book:
    bids = ((bid, bid_sz),) + tuple((bid - 10 * (i + 1), deeper) for i in range(4 if deeper else 0))
    asks = ((ask, ask_sz),) + tuple((ask + 10 * (i + 1), deeper) for i in range(4 if deeper else 0))
    return abi.Book(bids=bids, asks=asks, recv_ns=ts)


def test_microprice_leans_towards_the_thin_side() -> None:
    f = FeatureTracker().on_book(book(1000, 300, 1010, 100, ts=5))
    assert f.microprice_1e9 == (1000 * 100 + 1010 * 300) // 400 == 1007
    assert f.feature_ts_ns == 5


def test_ofi_counts_size_added_and_removed_at_the_touch() -> None:
    t = FeatureTracker()
    t.on_book(book(1000, 100, 1010, 100, ts=1))
    assert t.on_book(book(1000, 150, 1010, 100, ts=2)).ofi_1level_1e8 == 50  # bid size added
    assert t.on_book(book(1000, 150, 1010, 40, ts=3)).ofi_1level_1e8 == 60  # ask size removed
    assert t.on_book(book(990, 70, 1010, 40, ts=4)).ofi_1level_1e8 == -150  # best bid gone
    assert t.on_book(book(990, 70, 1000, 10, ts=5)).ofi_1level_1e8 == -10  # a better ask arrives
    f = t.on_book(book(990, 70, 1000, 10, ts=6))
    assert (f.ofi_1level_1e8, f.ofi_5level_1e8, f.mlofi_10_1e8) == (0, 0, 0)
    assert t.features.ofi_ewma_1e6 != 0  # decays towards 0, never jumps there


def test_depth_imbalance_over_five_levels() -> None:
    f = FeatureTracker().on_book(book(1000, 500, 1010, 100, ts=1, deeper=100))
    bid5, ask5 = 500 + 400, 100 + 400
    assert f.depth_imbalance_1e4 == (bid5 - ask5) * 10_000 // (bid5 + ask5)


def test_realised_volatility_from_one_second_mid_samples() -> None:
    t = FeatureTracker()
    mid = 100_000
    for sec in range(120):
        step = 100 if sec % 2 else -100  # +-10 bps per second around 100_000
        mid += step
        t.on_book(book(mid - 1, 1, mid + 1, 1, ts=sec * S + S // 2))
    f = t.features
    # sqrt(60 returns of ~10 bps each) ~ 77 bps over a minute; sqrt(119) * 10 ~ 109 over 5 minutes
    assert 75 <= f.rv_1m_bps <= 79
    assert 107 <= f.rv_5m_bps <= 110 and f.rv_1h_bps == f.rv_5m_bps


def test_spread_regime_flags_a_blowout() -> None:
    t = FeatureTracker()
    for i in range(200):
        t.on_book(book(1000, 1, 1010 + (i % 2), 1, ts=i))
    assert t.features.spread_regime in (0, 1)
    wide = t.on_book(book(1000, 1, 1100, 1, ts=300))
    assert wide.spread_regime == 3 and wide.spread_zscore_1e3 >= 3000
    assert t.on_book(abi.Book(bids=(), asks=((1, 1),), recv_ns=301)).spread_regime == 3


def test_trade_sign_imbalance_and_arrival_rate_over_a_minute() -> None:
    t = FeatureTracker()
    for i in range(10):
        t.on_trade(recv_ns=i * S, qty_1e8=100, aggressor_side=1 if i < 7 else -1)
    f = t.on_book(book(1000, 1, 1010, 1, ts=10 * S))
    assert f.trade_sign_imbalance_1e6 == (700 - 300) * 1_000_000 // 1000
    assert f.trade_arrival_rate_1e3 == 10 * 1000 // 10  # 10 trades over 10 s
    later = t.on_book(book(1000, 1, 1010, 1, ts=100 * S))  # all older than a minute
    assert (later.trade_sign_imbalance_1e6, later.trade_arrival_rate_1e3) == (0, 0)


def test_trade_stats_keep_the_newest_trades_when_more_than_the_cap_arrive() -> None:
    t = FeatureTracker()
    n = MAX_TRADES + 500  # the first 500 (all sells) fall out by count, not by age
    for i in range(n):
        t.on_trade(recv_ns=i * 1_000_000, qty_1e8=100, aggressor_side=-1 if i < 500 else 1)
    f = t.on_book(book(1000, 1, 1010, 1, ts=n * 1_000_000))
    assert f.trade_sign_imbalance_1e6 == 1_000_000  # only buys are left
    first_kept_ns = 500 * 1_000_000
    assert f.trade_arrival_rate_1e3 == MAX_TRADES * 1000 * S // (n * 1_000_000 - first_kept_ns)
    for i in range(3):  # two sells more: the running sums follow
        t.on_trade(recv_ns=(n + i) * 1_000_000, qty_1e8=100, aggressor_side=-1 if i else 1)
    f = t.on_book(book(1000, 1, 1010, 1, ts=(n + 3) * 1_000_000))
    assert f.trade_sign_imbalance_1e6 == (MAX_TRADES - 4) * 100 * 1_000_000 // (MAX_TRADES * 100)


def test_uncomputed_fields_stay_zero_and_replay_is_identical() -> None:
    def run() -> list[abi.OnlineFeatures]:
        t = FeatureTracker()
        return [t.on_book(book(1000 + i % 7, 10 + i, 1012 + i % 5, 20 + i % 3, ts=i * S // 3)) for i in range(100)]

    a, b = run(), run()
    assert a == b
    last = a[-1]
    assert (last.vpin_1e4, last.flags, last.cancel_rate_1e4, last.pred_dir_up_1e4, last.fill_prob_bid_1e4) == (0, 0, 0, 0, 0)
    assert abi.pack_features(last)[:2] == b"\x01\x00"  # version 1
