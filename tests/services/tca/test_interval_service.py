"""TcaService over a real nats-server: a TWAP parent already complete on the log when the service
starts is scored from the MD record once both followers have caught up, with hand-worked values."""

from __future__ import annotations

from events.tca import TcaReported
from projections.follower import StreamFollower
from services.bus import Bus
from services.tca.service import TcaService
from tests.services.tca.test_interval import graph_submitted, nbbo, trade
from tests.services.tca.test_report import BTC, USD, activation, completed, fill, plan


async def test_a_twap_completed_before_the_start_is_scored_against_the_recorded_market(bus: Bus) -> None:
    # Arrange: accepted at 1000 ns, completed at 9000 ns; bought 1 BTC at 100,010.
    await bus.publish_many(
        [
            graph_submitted("twap"),
            activation(1_000),
            plan("buy", BTC, None, None),
            fill("f1", "a", "buy", BTC, 100_010 * USD, 0),
            completed(BTC, ts=9_000),
            # Mid 100,000 holds [1000, 5000), 100,002 holds [5000, 9000]: TWAP 100,001.
            nbbo(500, 99_999 * USD, 100_001 * USD),
            nbbo(5_000, 100_001 * USD, 100_003 * USD),
            nbbo(9_500, 1 * USD, 3 * USD),  # after the completion
            # 1 BTC at 100,000 and 2 at 100,003 inside; outside the interval or another symbol: not counted.
            trade(2_000, 100_000 * USD, BTC),
            trade(3_000, 1 * USD, BTC, symbol="ETH-USDT"),
            trade(8_000, 100_003 * USD, 2 * BTC),
            trade(9_500, 1 * USD, BTC),
        ]
    )
    reports: list[TcaReported] = []
    watcher = StreamFollower(bus, "LEDGER", ["tca.>"], lambda e, seq: reports.append(e) if isinstance(e, TcaReported) else None)
    await watcher.start()
    service = TcaService(bus)
    # Act
    await service.start()
    try:
        await watcher.wait_until(lambda: bool(reports), timeout=20)
    finally:
        await service.stop()
        await watcher.stop()
    # Assert
    [report] = reports
    assert (report.interval_start_ns, report.interval_end_ns) == (1_000, 9_000)
    assert report.interval_twap_1e9 == 100_001 * USD
    assert report.interval_vwap_1e9 == 100_002 * USD
    assert report.vs_interval_twap_bps == 9 * 10_000 / 100_001
    assert report.vs_interval_vwap_bps == 8 * 10_000 / 100_002
    assert not service.tape.pins  # scored: the record may be trimmed again

