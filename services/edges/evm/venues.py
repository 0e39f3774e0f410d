"""The EVM pools as venues: their ids, their reference data (instruments, fees, block time) and
their books as market data.

One venue id per protocol and chain (`uniswap_v2_ethereum`, `uniswap_v3_ethereum`), so a V2
and a V3 pool of one pair are two books the router can split between. A pool's fee is inside its
level prices (taken from the input), so its fee schedule is zero; the gas of one swap is a fixed
cost per order, carried on each book snapshot in quote currency (`order_cost_quote_1e9`), which
the router charges over the notional it sends there. The wait for the chain's next block is
charged as the expected adverse move over it (services/sor/cost.py `block_wait_ppm`: grows with
the square root of the block time at the chain's volatility), not as the router's ppm per ms
of a CEX round trip, under which Ethereum's 12 s cost 6 % and a pool never won.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from events.ids import derive_id
from events.market import BookSnapshot
from events.venues import ONCHAIN_VENUES
from services.edges.evm.pools import PoolSpec, PoolState, pool_book
from services.edges.sandbox.fees import FeeSchedule
from services.refdata.book import ReferenceData
from services.risk.config import InstrumentRules
from services.sor.cost import block_wait_ppm

if TYPE_CHECKING:
    from web3 import Web3

CHAIN = "ethereum"
VENUE_OF_KIND = {"v2": f"uniswap_v2_{CHAIN}", "v3": f"uniswap_v3_{CHAIN}"}
assert set(VENUE_OF_KIND.values()) <= ONCHAIN_VENUES
BLOCK_TIME_NS = {CHAIN: 12_000_000_000}  # Ethereum's slot; a local chain mines on each tx (pass 0-ish)
# The chain's native asset's volatility, ppm per square-root second: ETH at ~60 % a year is
# 0.6 / sqrt(31.5e6 s) = 107 ppm/sqrt(s). Prices the wait for a block (cost.block_wait_ppm).
VOL_PPM_PER_SQRT_S = {CHAIN: 107}
WEI = 10**18
# Sizes the equivalent book is quoted at (qty_1e8): 0.001 to 10,000 base, about 3 per decade.
BOOK_SIZES = [m * 10**e for e in range(5, 13) for m in (1, 2, 5)]


@dataclass(frozen=True, slots=True)
class Listing:
    """A pool as listed under a canonical symbol (a WETH-USDC pool trades as ETH-USDC)."""

    spec: PoolSpec
    symbol: str = ""

    @property
    def canonical(self) -> str:
        return self.symbol or self.spec.symbol

    @property
    def venue(self) -> str:
        return VENUE_OF_KIND[self.spec.kind]


def configured_pools() -> list[tuple[str, str, str, str]]:
    """CROSSBOOK_DEX_ETHEREUM_POOLS, `v2:0xPair:BASE[:SYMBOL],v3:0xPool:BASE[:SYMBOL]`, as
    (kind, address, base, symbol) ("" = the tokens' own BASE-QUOTE)."""
    out = []
    for item in filter(None, (x.strip() for x in os.environ.get("CROSSBOOK_DEX_ETHEREUM_POOLS", "").split(","))):
        kind, address, base, *symbol = item.split(":")
        if kind not in VENUE_OF_KIND:
            raise ValueError(f"pool kind must be v2 or v3, got {kind!r}")
        out.append((kind, address, base, symbol[0] if symbol else ""))
    return out


def configured_listings(w3: Web3) -> list[Listing]:
    """The configured pools as listings, their tokens read from the chain."""
    from services.edges.evm import chain  # web3 is loaded only where a chain is configured

    return [Listing(chain.discover(w3, kind, address, base), symbol)  # type: ignore[arg-type]
            for kind, address, base, symbol in configured_pools()]


def chain_block_time_ns() -> int:
    """The chain's block time: CROSSBOOK_DEX_ETHEREUM_BLOCK_TIME_MS, else Ethereum's slot."""
    ms = os.environ.get("CROSSBOOK_DEX_ETHEREUM_BLOCK_TIME_MS")
    return int(ms) * 1_000_000 if ms else BLOCK_TIME_NS[CHAIN]


def chain_vol_ppm_per_sqrt_s() -> int:
    """CROSSBOOK_DEX_ETHEREUM_VOL_PPM_PER_SQRT_S, else ETH's long-run figure."""
    vol = os.environ.get("CROSSBOOK_DEX_ETHEREUM_VOL_PPM_PER_SQRT_S")
    return int(vol) if vol else VOL_PPM_PER_SQRT_S[CHAIN]


def fee_schedule(venue: str) -> FeeSchedule:
    # The pool fee is in the prices and gas is a per-order cost on the book: nothing per notional.
    return FeeSchedule(venue=venue, maker_ppm=0, taker_ppm=0)


def instrument(listing: Listing) -> InstrumentRules:
    """A pool trades any amount its token decimals can express: one raw unit of base is the lot
    (at most 1e-8, the system's own grid), the price grid is the system's (1e-9)."""
    base, quote = listing.canonical.split("-")[:2]
    lot = max(1, 10**8 // 10**listing.spec.base.decimals)
    return InstrumentRules(venue=listing.venue, symbol=listing.canonical, base_asset=base, quote_asset=quote,
                           tick_1e9=1, lot_1e8=lot, min_qty_1e8=lot, fee_ppm=0)


def feed_refdata(data: ReferenceData, listings: Iterable[Listing], block_time_ns: int | None = None,
                 vol_ppm_per_sqrt_s: int | None = None) -> None:
    """Feed the pools' venues into reference data (each venue replaced whole), with the cost of
    waiting `block_time_ns` for inclusion at the chain's volatility (both from the environment
    by default)."""
    by_venue: dict[str, list[InstrumentRules]] = {v: [] for v in VENUE_OF_KIND.values()}
    for listing in listings:
        by_venue[listing.venue].append(instrument(listing))
    block = chain_block_time_ns() if block_time_ns is None else block_time_ns
    wait = block_wait_ppm(block, chain_vol_ppm_per_sqrt_s() if vol_ppm_per_sqrt_s is None else vol_ppm_per_sqrt_s)
    for venue, rules in by_venue.items():
        if rules:
            # latency stays the router's default (the submission's round trip to the node)
            data.feed(venue, rules, fee_schedule(venue), wait_cost_ppm=wait)


def feed_configured(data: ReferenceData) -> list[Listing]:
    """At start-up, where CROSSBOOK_DEX_ETHEREUM_RPC_URL is set: the configured pools' venues
    into reference data (tokens read from the node), so the router and risk know them."""
    from web3 import Web3

    from services.edges.evm.wallet import rpc_url

    url = rpc_url("dex_ethereum")
    if not url or not configured_pools():
        return []
    listings = configured_listings(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30})))
    feed_refdata(data, listings)
    return listings


def gas_quote_1e9(swap_gas: int, gas_price_wei: int, native_px_1e9: int) -> int:
    """Gas of one swap in quote currency x 1e9 (the native asset's price in quote, x 1e9), up."""
    return -(-swap_gas * gas_price_wei * native_px_1e9 // WEI)


def book_snapshot(
    listing: Listing, state: PoolState, *, gas_price_wei: int, native_px_1e9: int | None = None,
    sizes_1e8: list[int] | None = None, ts_ns: int, venue_seq: int | None = None,
) -> BookSnapshot:
    """The pool's equivalent book (exact V2/V3 math at `sizes_1e8`) as a market-data snapshot
    under its venue, with one swap's gas in quote. `native_px_1e9` is the chain's native asset
    in quote currency; None = the pool's own base is the wrapped native asset (WETH-USDC), priced
    at its book's mid."""
    book = pool_book(listing.venue, listing.spec, state, sizes_1e8 or BOOK_SIZES, gas_price_wei)
    if native_px_1e9 is None:
        bid, ask = (book.bids[0][0] if book.bids else 0), (book.asks[0][0] if book.asks else 0)
        native_px_1e9 = (bid + ask) // 2 if bid and ask else bid or ask
    return BookSnapshot(
        event_id=derive_id("evm.book", listing.venue, listing.canonical, str(venue_seq), str(ts_ns)),
        ts_ns=ts_ns, venue=listing.venue, symbol=listing.canonical,
        bids=list(book.bids), asks=list(book.asks),
        venue_seq=venue_seq, ts_event_ns=ts_ns, ts_recv_ns=ts_ns,
        order_cost_quote_1e9=gas_quote_1e9(book.swap_gas, gas_price_wei, native_px_1e9),
    )
