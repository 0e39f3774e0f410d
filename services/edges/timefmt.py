"""Venue timestamp text to epoch nanoseconds (exact: no float, every fraction digit kept)."""

from __future__ import annotations

from datetime import datetime

from services.edges.venue import ParseError

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def rfc3339_ns(text: str) -> int:
    """Return epoch ns for `2025-05-06T09:17:26.208075Z` (any number of fraction digits); '' -> 0."""
    if not text:
        return 0
    body, offset_s = text[19:], 0
    if body[-1:] in ("Z", "z"):
        body = body[:-1]
    elif len(body) >= 6 and body[-6] in "+-" and body[-3] == ":":  # e.g. +00:00
        sign = -1 if body[-6] == "-" else 1
        try:
            offset_s = sign * (int(body[-5:-3]) * 3600 + int(body[-2:]) * 60)
        except ValueError as exc:
            raise ParseError(f"bad timestamp {text!r}") from exc
        body = body[:-6]
    frac = body[1:]
    if body and (body[0] != "." or not (frac.isascii() and frac.isdigit())):
        raise ParseError(f"bad timestamp {text!r}")
    try:
        dt = datetime.fromisoformat(text[:19])
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text!r}") from exc
    secs = (dt.toordinal() - _EPOCH_ORDINAL) * 86_400 + dt.hour * 3_600 + dt.minute * 60 + dt.second - offset_s
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])
