"""The positions/balances read model on both stores: exact money, fill dedup, resume, rebuild."""

from __future__ import annotations

from typing import Literal

import msgspec

from events import new_event_id
from events.execution import BalanceAdjusted, FillRecorded
from tests.facts import with_children
from projections.positions import NAME, PositionsProjection
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from services.bus import Bus

T = "t1"
USDT_FUNDING = 100_000_000_000_000  # 1,000,000 USDT


def fund(venue: str, asset: str, qty_1e8: int, *, is_sandbox: bool = True) -> BalanceAdjusted:
    return BalanceAdjusted(
        event_id=new_event_id(), ts_ns=1, tenant=T, venue=venue, asset=asset, delta_qty_1e8=qty_1e8,
        reason="paper_funding", is_sandbox=is_sandbox,
    )


def fill(
    fill_id: str, venue: str, symbol: str, side: Literal["buy", "sell"], qty_1e8: int, px_1e9: int, fee_usd_1e9: int
) -> FillRecorded:
    return FillRecorded(
        event_id=new_event_id(), ts_ns=2, tenant=T, fill_id=fill_id, child_id=f"c-{venue}", client_order_id="co1",
        graph_id="g1", node_id="n1", venue=venue, symbol=symbol, side=side, qty_1e8=qty_1e8, px_1e9=px_1e9,
        fee_usd_1e9=fee_usd_1e9, liquidity="taker", is_sandbox=True,
    )


SPOT = [
    fund("binance", "USDT", USDT_FUNDING),
    fund("binance", "USDT", 500_000_000, is_sandbox=False),  # a live balance stays in its own book
    fill("b-1", "binance", "BTC-USDT", "buy", 12_345_679, 60_000_123_456_789, 7_407_411),
]
# The same venue trade seen again after a reconnect: a new event, the same fill_id.
DUPLICATE = fill("b-1", "binance", "BTC-USDT", "buy", 12_345_679, 60_000_123_456_789, 7_407_411)
MORE = [
    fill("b-2", "binance", "BTC-USDT", "sell", 4_000_000, 61_000_000_000_000, 2_440_001),
    fill("p-1", "bybit", "BTC-USDT-PERP", "sell", 100_000_000, 60_000_000_000_000, 33_000_000_000),
    fill("p-2", "bybit", "BTC-USDT-PERP", "buy", 40_000_000, 59_000_000_000_000, 12_980_000_000),
    fill("k-1", "kalshi", "KXBTC-25DEC31-T100000:YES", "buy", 1_000_000_000, 420_000_000, 70_000_000),
]

EXPECTED_BALANCES = {
    # 1_000_000 USDT
    #  - ceil(ceil(60_000.123456789 * 0.12345679 USD = 7_407_422_641_578.87 usd_1e9) / 10) = 740_742_264_158
    #  - ceil(fee 7_407_411 / 10) = 740_742
    #  + floor(61_000 * 0.04 USD = 2_440_000_000_000 usd_1e9 / 10) = 244_000_000_000
    #  - ceil(fee 2_440_001 / 10) = 244_001
    f"{T}/sandbox/binance/USDT": {"venue": "binance", "asset": "USDT", "qty_1e8": 99_503_256_751_099, "is_sandbox": True},
    f"{T}/sandbox/binance/BTC": {"venue": "binance", "asset": "BTC", "qty_1e8": 8_345_679, "is_sandbox": True},
    f"{T}/live/binance/USDT": {"venue": "binance", "asset": "USDT", "qty_1e8": 500_000_000, "is_sandbox": False},
    # perp: realized 0.4 * (60_000 - 59_000) = 400 USD -> +40_000_000_000; fees 33 + 12.98 USD -> -4_598_000_000
    f"{T}/sandbox/bybit/USDT": {"venue": "bybit", "asset": "USDT", "qty_1e8": 35_402_000_000, "is_sandbox": True},
    # 10 contracts at 0.42 = 4.20 USD, fee 0.07 USD
    f"{T}/sandbox/kalshi/USD": {"venue": "kalshi", "asset": "USD", "qty_1e8": -427_000_000, "is_sandbox": True},
}
EXPECTED_POSITIONS = {
    f"{T}/sandbox/binance/BTC-USDT": {
        "venue": "binance", "symbol": "BTC-USDT", "kind": "crypto", "qty_1e8": 8_345_679,
        # the sale took ceil(7_407_422_641_579 * 4_000_000 / 12_345_679) = 2_400_004_938_272 of the basis
        "basis_usd_1e9": 5_007_417_703_307, "entry_price_usd_1e9": 60_000_123_456_785,
        "realized_pnl_usd_1e9": 2_440_000_000_000 - 2_400_004_938_272, "fees_usd_1e9": 7_407_411 + 2_440_001,
        "is_sandbox": True,
    },
    f"{T}/sandbox/bybit/BTC-USDT-PERP": {
        "venue": "bybit", "symbol": "BTC-USDT-PERP", "kind": "perp", "qty_1e8": -60_000_000,
        "basis_usd_1e9": -36_000_000_000_000, "entry_price_usd_1e9": 60_000_000_000_000,
        "realized_pnl_usd_1e9": 400_000_000_000, "fees_usd_1e9": 45_980_000_000, "is_sandbox": True,
    },
    f"{T}/sandbox/kalshi/KXBTC-25DEC31-T100000:YES": {
        "venue": "kalshi", "symbol": "KXBTC-25DEC31-T100000:YES", "kind": "event_contract", "qty_1e8": 1_000_000_000,
        "basis_usd_1e9": 4_200_000_000, "entry_price_usd_1e9": 420_000_000, "realized_pnl_usd_1e9": 0,
        "fees_usd_1e9": 70_000_000, "is_sandbox": True,
    },
}


async def test_fills_fold_into_exact_balances_and_positions_once(bus: Bus, store: ViewStore) -> None:
    # Arrange
    first = await bus.publish_many(with_children(SPOT))
    runner = ProjectionRunner(bus, store, PositionsProjection(), batch=2)
    await runner.start()
    # Act: the duplicate and the rest arrive after a restart, so the dedup must hold across
    # batches and across runners (it lives in the view, not in memory). The first runner folds
    # all of SPOT with its child (not len(SPOT) events: where it stopped would move the count below).
    await runner.wait_for(first[-1].seq)
    await runner.stop()
    acks = await bus.publish_many(with_children([DUPLICATE, *MORE]))
    second = ProjectionRunner(bus, store, PositionsProjection(), batch=2)
    await second.start()
    await second.wait_for(acks[-1].seq)
    await second.stop()
    # Assert
    assert dict(store.scan(NAME, "balances")) == EXPECTED_BALANCES
    assert dict(store.scan(NAME, "positions")) == EXPECTED_POSITIONS
    # resumed after the first runner's position (the bybit and kalshi children are new events)
    assert second.applied == 1 + len(MORE) + 2
    assert [k for k, _ in store.scan(NAME, "fills")] == [
        f"{T}/sandbox/binance/b-1", f"{T}/sandbox/binance/b-2", f"{T}/sandbox/bybit/p-1",
        f"{T}/sandbox/bybit/p-2", f"{T}/sandbox/kalshi/k-1",
    ]


async def test_rebuild_replays_to_an_identical_view(bus: Bus, store: ViewStore) -> None:
    # Arrange
    acks = await bus.publish_many(with_children([*SPOT, DUPLICATE, *MORE]))
    runner = ProjectionRunner(bus, store, PositionsProjection(), batch=3)
    await runner.start()
    await runner.wait_for(acks[-1].seq)
    before = store.dump(NAME)
    # Act
    await runner.rebuild()
    after = store.dump(NAME)
    await runner.stop()
    # Assert
    assert after == before
    assert {k: d for (c, k), d in after.items() if c == "balances"} == EXPECTED_BALANCES
    assert store.max_position(NAME) == acks[-1].seq


async def test_a_fee_paid_in_bnb_is_booked_from_the_bnb_balance(bus: Bus, store: ViewStore) -> None:
    # Arrange: a Binance buy whose fee was charged in BNB, which the venue gives no USD price for.
    bnb_fee = msgspec.structs.replace(
        fill("b-9", "binance", "BTC-USDT", "buy", 10_000_000, 60_000_000_000_000, 0),
        fee_asset="BNB", fee_qty_1e8=1_234_567,
    )
    acks = await bus.publish_many(
        with_children([fund("binance", "USDT", USDT_FUNDING), fund("binance", "BNB", 100_000_000), bnb_fee])
    )
    runner = ProjectionRunner(bus, store, PositionsProjection())
    # Act
    await runner.start()
    await runner.wait_for(acks[-1].seq)
    await runner.stop()
    # Assert: BNB pays the fee, USDT pays only the trade (6,000 USDT), BTC arrives whole
    balances = {k: d["qty_1e8"] for k, d in store.scan(NAME, "balances")}
    assert balances == {
        f"{T}/sandbox/binance/BNB": 100_000_000 - 1_234_567,
        f"{T}/sandbox/binance/USDT": USDT_FUNDING - 600_000_000_000,
        f"{T}/sandbox/binance/BTC": 10_000_000,
    }
