"""Kraken book integrity: the CRC32 over the top 10 levels (v1 and v2 alike) and the sequence rule.

Kraken sends no sequence numbers, so every delta is applied and the checksum is the only gap
detector. The checksum text of a level is its price and quantity written at the instrument's
precision with the '.' removed and leading zeros stripped, i.e. the decimal digits of the
integer `value * 10**precision`. That integer comes straight from our fixed-point book, so the
check needs no wire strings and no Decimal.
"""

from __future__ import annotations

import zlib

from services.edges.venue import BookUpdate, SeqState, SeqVerdict

CHECKSUM_LEVELS = 10
_PX_PLACES = 9  # px_1e9
_QTY_PLACES = 8  # qty_1e8


def _factor(places: int, precision: int) -> tuple[int, int]:
    # (multiplier, divisor) taking a `places`-scaled integer to `precision` decimals
    if precision <= places:
        return 1, 10 ** (places - precision)
    return 10 ** (precision - places), 1


def checksum_text(
    asks: list[tuple[int, int]], bids: list[tuple[int, int]], price_precision: int, qty_precision: int
) -> str:
    """Return the string Kraken hashes: top 10 asks ascending, then top 10 bids descending."""
    pm, pd = _factor(_PX_PLACES, price_precision)
    qm, qd = _factor(_QTY_PLACES, qty_precision)
    n = CHECKSUM_LEVELS
    return "".join([f"{px * pm // pd}{qty * qm // qd}" for px, qty in asks[:n] + bids[:n]])


def checksum(
    asks: list[tuple[int, int]], bids: list[tuple[int, int]], price_precision: int, qty_precision: int
) -> int:
    """Return Kraken's unsigned CRC32 for best-first (px_1e9, qty_1e8) levels."""
    return zlib.crc32(checksum_text(asks, bids, price_precision, qty_precision).encode("ascii"))


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """Apply every delta: there is no sequence to check (the checksum catches losses)."""
    return SeqVerdict.APPLY


def text_decimals(text: str) -> int:
    """Return how many decimals a wire number is written with (`1797.30` -> 2, `5.325e-05` -> 8)."""
    mantissa, _, exp = text.lower().partition("e")
    _, dot, frac = mantissa.partition(".")
    places = len(frac) if dot else 0
    if exp:
        places -= int(exp)
    return max(places, 0)


def infer_precision(update: BookUpdate) -> tuple[int, int]:
    """Guess (price, qty) precision from a snapshot's wire text: the most decimals seen.

    Kraken pads numbers to the instrument precision, so any full-width level gives it away;
    only used for symbols with no configured or `instrument`-channel precision.
    """
    levels = update.bids + update.asks
    return (
        max((text_decimals(lvl.raw_px) for lvl in levels), default=0),
        max((text_decimals(lvl.raw_qty) for lvl in levels), default=0),
    )
