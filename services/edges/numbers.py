"""Exact decimal-string to fixed-point integer conversion (never through float)."""

from __future__ import annotations

from decimal import Decimal

from services.edges.book import RawLevel
from services.edges.venue import ParseError
from services.errors import CrossbookError

PX_SCALE = 9  # prices: px_1e9
QTY_SCALE = 8  # quantities: qty_1e8


class PrecisionError(CrossbookError):
    """A venue value has more decimals than the fixed-point scale can hold exactly."""


def scale(text: str | int | Decimal, places: int) -> int:
    """Return `text * 10**places` exactly; raise PrecisionError if that is not an integer."""
    if type(text) is str:
        # Fast path for the common wire form "123.4500": digits, one dot, no sign or exponent.
        whole, _, frac = text.partition(".")
        if whole.isdigit() and len(frac) <= places and (frac.isdigit() or not frac):
            return int(whole + frac) * _POW10[places - len(frac)]
    return _scale_slow(text, places)


_POW10 = [10**i for i in range(19)]


def _scale_slow(text: str | int | Decimal, places: int) -> int:
    if isinstance(text, int):
        return text * 10**places
    if isinstance(text, Decimal):
        text = format(text, "f")
    s = text.strip()
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    if "e" in s or "E" in s:
        value = Decimal(s).scaleb(places)
        if value != value.to_integral_value():
            raise PrecisionError(f"value {text!r} has more than {places} decimals")
        n = int(value)
    else:
        whole, _, frac = s.partition(".")
        if len(frac) > places:
            extra = frac[places:]
            if extra.strip("0"):
                raise PrecisionError(f"value {text!r} has more than {places} decimals")
            frac = frac[:places]
        n = int((whole or "0") + frac.ljust(places, "0"))
    return -n if neg else n


def px_1e9(text: str | int | Decimal) -> int:
    return scale(text, PX_SCALE)


def qty_1e8(text: str | int | Decimal) -> int:
    return scale(text, QTY_SCALE)


def unscale(value: int, places: int) -> Decimal:
    """Return the Decimal for a fixed-point integer (for venue requests and human output)."""
    return Decimal(value).scaleb(-places)


def wire_decimal(value_1e: int, places: int) -> str:
    """`150000000, 8` -> "1.5": plain notation, no exponent, no trailing zeros (how venues write
    numbers, and how our requests to them must)."""
    text = format(unscale(value_1e, places), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def ms_to_ns(text: object) -> int:
    """A venue's epoch-milliseconds (int or digit string) as ns; ParseError for anything else."""
    try:
        ms = int(str(text))
    except ValueError:
        raise ParseError(f"bad millisecond timestamp {text!r}") from None
    if ms < 0:
        raise ParseError(f"negative timestamp {text!r}")
    return ms * 1_000_000


def string_levels(rows: list[list[str]] | None, venue: str, side: str, *, keep_raw: bool = True) -> list[RawLevel]:
    """Levels sent as `[[price, size, ...], ...]` strings (OKX, Bitget, Crypto.com), exactly scaled.

    `keep_raw` keeps the wire text for venues whose checksum needs it. Raises ParseError naming
    the venue, side and row for a missing side or a bad level."""
    if rows is None:
        raise ParseError(f"{venue}: book push without {side}")
    out: list[RawLevel] = []
    for row in rows:
        if len(row) < 2:
            raise ParseError(f"{venue}: {side} level {row!r} has fewer than 2 fields")
        px, sz = row[0], row[1]
        price, qty = px_1e9(px), qty_1e8(sz)
        if price <= 0 or qty < 0:
            raise ParseError(f"{venue}: {side} level {row!r} has a non-positive price or negative size")
        out.append(RawLevel(price, qty, px, sz) if keep_raw else RawLevel(price, qty))
    return out
