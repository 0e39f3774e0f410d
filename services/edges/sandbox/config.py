"""Sandbox settings: strict, frozen, units in every name."""

from __future__ import annotations

import random

import msgspec

from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.fees import FeeModel, FeeSchedule, default_fee_schedule, default_fee_venues

DEFAULT_MAX_BOOK_AGE_NS = 5_000_000_000  # a book older than this is stale: orders on it are refused

# Venues whose API has no amend call at all: every change is a cancel-replace.
_NO_NATIVE_AMEND = frozenset({"polymarket"})


class FeeOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    maker_ppm: int
    taker_ppm: int
    model: FeeModel = "notional"


class SandboxConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How every sandbox venue behaves; `fees` replaces a venue's default schedule (key `<venue>`
    for all its instruments, `<venue>:perp` for its perps alone)."""

    latency_ns: int = 20_000_000  # one-way order entry, a typical cloud-to-exchange figure
    jitter_ns: int = 5_000_000
    max_book_age_ns: int | None = DEFAULT_MAX_BOOK_AGE_NS
    fees: dict[str, FeeOverride] = {}


def fee_schedule(venue: str, config: SandboxConfig, instrument_type: str = "spot") -> FeeSchedule:
    """Return the configured fee schedule for `venue` (its perps: `instrument_type` "perp"), else its default."""
    override = config.fees.get(f"{venue}:{instrument_type}") or config.fees.get(venue)
    if override is None:
        return default_fee_schedule(venue, instrument_type)
    return FeeSchedule(venue, override.maker_ppm, override.taker_ppm, override.model)


def build_venue(venue: str, config: SandboxConfig, seed: int, symbols: list[str] | None = None) -> SandboxVenue:
    """Build one venue's simulator; the same config and seed give the same outcomes."""
    return SandboxVenue(
        venue,
        fee_schedule(venue, config),
        config.latency_ns,
        random.Random(seed),
        jitter_ns=config.jitter_ns,
        max_book_age_ns=config.max_book_age_ns,
        symbols=symbols,
        native_amend=venue not in _NO_NATIVE_AMEND,
        perp_fees=fee_schedule(venue, config, "perp") if venue in default_fee_venues() else None,
    )
