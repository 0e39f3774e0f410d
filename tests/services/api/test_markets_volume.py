"""`volume_24h` in /v1/markets is the trailing 24 h of traded notional, `volume_total` everything
the API has folded (prints published onto a real nats-server, read back over HTTP)."""

from __future__ import annotations

import time

from events import new_event_id
from events.market import TradePrinted
from projections.market import DAY_NS, TradeStats
from services.bus import Bus
from services.edges.polymarket.sim import YES_TOKEN
from services.settings import Settings
from tests.services.conftest import api_in_process

PX, QTY = 10**9, 10**8


def _print(px_1e9: int, qty_1e8: int, ts_ns: int) -> TradePrinted:
    return TradePrinted(event_id=new_event_id(), ts_ns=ts_ns, venue="polymarket", symbol=YES_TOKEN, px_1e9=px_1e9,
                        qty_1e8=qty_1e8, aggressor="buy", ts_event_ns=ts_ns)


def test_rolling_minutes_keep_one_day() -> None:
    stats = TradeStats()
    t0 = 1_800_000_000 * 10**9
    stats.add_minute_notional(t0, 5)
    stats.add_minute_notional(t0 + 10**9, 7)  # same minute: merged
    stats.add_minute_notional(t0 + DAY_NS // 2, 11)
    assert len(stats.minutes) == 2 and stats.notional_since_1e17(t0 - 60 * 10**9) == 23
    stats.add_minute_notional(t0 + DAY_NS + 120 * 10**9, 13)  # a day later: the first minute ages out
    assert [n for _, n in stats.minutes] == [11, 13]
    stats.add_minute_notional(t0 + DAY_NS // 2 + 5 * 10**9, 1)  # a late print folds into its kept minute
    assert stats.notional_since_1e17(t0 + DAY_NS) == 13 and stats.notional_since_1e17(0) == 25


async def test_volume_24h_counts_only_the_last_day(bus: Bus, settings: Settings) -> None:
    now = time.time_ns()
    await bus.publish_many([
        _print(62 * PX // 100, 100 * QTY, now - 2 * DAY_NS),  # $62, two days ago
        _print(60 * PX // 100, 10 * QTY, now - DAY_NS - 3_600 * 10**9),  # $6, 25 h ago
        _print(63 * PX // 100, 20 * QTY, now - 3_600 * 10**9),  # $12.60, an hour ago
    ])
    async with api_in_process(settings) as (client, _):
        r = await client.get("/v1/markets", params={"venue": "polymarket"})
    assert r.status_code == 200, r.text
    [row] = [m for m in r.json()["markets"] if m["yes_token_id"] == YES_TOKEN]
    assert row["volume_24h"] == 12.6
    assert row["volume_total"] == 62 + 6 + 12.6
