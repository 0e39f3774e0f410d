"""Funding-rate numbers shared by the perp edges (venue strings -> integers, exactly or rounded)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from services.edges.venue import ParseError

HOUR_NS = 3_600 * 10**9
EIGHT_HOURS_NS = 8 * HOUR_NS


def rate_1e9(text: object) -> int:
    """A signed funding fraction ("-0.000212") x 1e9, rounded half-even past the 9th decimal
    (a rate, not money: venues print up to 10+ decimals of it)."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ParseError(f"bad funding rate {text!r}") from None
    if not value.is_finite() or abs(value) >= 1:
        raise ParseError(f"out-of-range funding rate {text!r}")
    return int(value.scaleb(9).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


