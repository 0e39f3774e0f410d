"""Fixed-point arithmetic for risk: notional, cost, fee, lot/tick rounding and human formatting.

Units: quantities `qty_1e8`, prices `px_1e9`, USD `usd_1e9`, fees in ppm of notional.
Rounding rule: amounts we pay (costs, fees, reservations) round UP; amounts we receive
(proceeds, values) round DOWN, so every rounding error is against us, never against the balance.
A quote asset is treated as USD 1:1 (USD/USDT/USDC quotes), so a quote `qty_1e8` is `usd_1e9 / 10`.
"""

from __future__ import annotations

from events.base import Side
from events.execution import FillRecorded

QTY_ONE = 10**8
PX_ONE = 10**9
PPM_ONE = 10**6
NS_PER_DAY = 86_400 * 10**9


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def notional_usd_1e9(px_1e9: int, qty_1e8: int) -> int:
    """Return the value of `qty_1e8` at `px_1e9` in USD_1e9, rounded down (proceeds, values)."""
    return px_1e9 * qty_1e8 // QTY_ONE


def cost_usd_1e9(px_1e9: int, qty_1e8: int) -> int:
    """Return the cost of `qty_1e8` at `px_1e9` in USD_1e9, rounded up (what we pay)."""
    return _ceil_div(px_1e9 * qty_1e8, QTY_ONE)


def usd_to_quote_qty_up(usd_1e9: int) -> int:
    """Return the quote-asset qty_1e8 that covers `usd_1e9` (rounded up: we pay it)."""
    return _ceil_div(usd_1e9, 10)


def usd_to_quote_qty_down(usd_1e9: int) -> int:
    """Return the quote-asset qty_1e8 worth `usd_1e9` (rounded down: we receive it)."""
    return usd_1e9 // 10


def fee_usd_1e9(amount_usd_1e9: int, fee_ppm: int) -> int:
    """Return a fee of `fee_ppm` on `amount_usd_1e9`, rounded up."""
    return _ceil_div(amount_usd_1e9 * fee_ppm, PPM_ONE)


def fee_paid(fill: FillRecorded, quote_asset: str) -> tuple[str, int]:
    """The asset a fill's fee was paid in and the amount (qty_1e8, positive = paid).

    The venue's own figure when the fill carries one (a fee in BNB or in the base asset is
    booked there); fills from before `fee_asset` existed paid in the quote asset, from USD."""
    if fill.fee_asset:
        return fill.fee_asset, fill.fee_qty_1e8
    return quote_asset, usd_to_quote_qty_up(fill.fee_usd_1e9)


def fee_split(fill: FillRecorded, quote_asset: str) -> tuple[int, tuple[str, int] | None]:
    """A fill's fee as the risk account and the positions view both book it: the part paid in
    the quote asset (folded into the trade's cash leg), and the (asset, qty_1e8) paid in any
    other asset (BNB, the base), which is charged to that asset's balance; None when there is none."""
    asset, qty = fee_paid(fill, quote_asset)
    return (qty, None) if asset == quote_asset else (0, (asset, qty))


def round_qty_down(qty_1e8: int, lot_1e8: int) -> int:
    """Round a quantity down to a whole number of lots (never trade more than asked)."""
    return qty_1e8 - qty_1e8 % lot_1e8


def round_px_to_tick(px_1e9: int, tick_1e9: int, side: Side) -> int:
    """Round a limit price onto the tick grid in the trader's favour: buys down, sells up."""
    rem = px_1e9 % tick_1e9
    if rem == 0:
        return px_1e9
    return px_1e9 - rem if side == "buy" else px_1e9 - rem + tick_1e9


def scale_up_ppm(px_1e9: int, ppm: int) -> int:
    """Return `px_1e9 * (1 + ppm/1e6)`, rounded up (a worst-case buy price)."""
    return _ceil_div(px_1e9 * (PPM_ONE + ppm), PPM_ONE)


def utc_day(ts_ns: int) -> int:
    """Return the UTC day number (days since 1970-01-01) of a nanosecond timestamp."""
    return ts_ns // NS_PER_DAY


def _fixed(value: int, places: int, min_decimals: int, grouping: bool) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**places)
    digits = str(frac).rjust(places, "0").rstrip("0").ljust(min_decimals, "0")
    head = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{head}.{digits}" if digits else f"{sign}{head}"


def fmt_qty(qty_1e8: int) -> str:
    """Format a quantity exactly, without trailing zeros: 10_000 -> '0.0001'."""
    return _fixed(qty_1e8, 8, 0, False)


def fmt_px(px_1e9: int) -> str:
    """Format a price exactly, without trailing zeros: 65_000_500_000_000 -> '65000.5'."""
    return _fixed(px_1e9, 9, 0, False)


def fmt_usd(usd_1e9: int) -> str:
    """Format USD with grouping and at least 2 decimals, exact: 2e15 -> '2,000,000.00'."""
    return _fixed(usd_1e9, 9, 2, True)


def fmt_ppm(ppm: int) -> str:
    """Format parts per million as a percentage: 50_000 -> '5%'."""
    return _fixed(ppm, 4, 0, False) + "%"
