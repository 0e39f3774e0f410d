"""Human-unit conversions at the API edge (the contract's unsuffixed fields are floats)."""

from __future__ import annotations

INT64_MAX = 2**63 - 1  # events carry 64-bit integers: the bound of any _1e8 / _1e9 amount


def px(px_1e9: int) -> float:
    return px_1e9 / 1e9


def qty(qty_1e8: int) -> float:
    return qty_1e8 / 1e8
