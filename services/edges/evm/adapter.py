"""The EVM DEX edge behind the common venue interface ("dex_ethereum").

The node's WebSocket is the stream: one `eth_subscribe("logs")` over the configured pools'
addresses. Every pool log that changes the price is a full snapshot of that pool's equivalent
book: V2 `Sync` carries both reserves; V3 `Swap` carries slot0's price and tick and the active
liquidity, and `Mint`/`Burn` update the initialized ticks the adapter holds. The subscription's
acknowledgement publishes each pool's book from the state read over RPC at start, so a book is
live before the first swap. Symbols: one pool per canonical symbol (`BASE-QUOTE` by token symbol).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from services.edges.book import RawLevel
from services.edges.evm import abi
from services.edges.evm.pools import PoolSpec, PoolState, V2State, V3State, pool_book
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Control,
    Parsed,
    ParseError,
    SeqState,
    SeqVerdict,
    VenueAdapter,
    VenueEndpoints,
    VenueNotice,
)

# Sizes the equivalent book is quoted at (qty_1e8): 0.001 to 10,000 base, about 3 per decade.
DEFAULT_SIZES = [m * 10**e for e in range(5, 13) for m in (1, 2, 5)]
TOPIC_V3_MINT = "0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde"
TOPIC_V3_BURN = "0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c"
_SUB_ID = 1


@dataclass(slots=True)
class PoolFeed:
    spec: PoolSpec
    state: PoolState


def _signed(word: int, bits: int = 256) -> int:
    return word - (1 << bits) if word >> (bits - 1) else word


def _words(data: str) -> list[int]:
    raw = bytes.fromhex(data.removeprefix("0x"))
    return [int.from_bytes(raw[i:i + 32], "big") for i in range(0, len(raw), 32)]


class DexEthereumAdapter(VenueAdapter):
    name: ClassVar[str] = "dex_ethereum"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = len(DEFAULT_SIZES)
    ping_interval_s: ClassVar[float] = 5.0  # a quiet chain sends nothing: keep the socket talking
    default_ws_url: ClassVar[str] = "ws://127.0.0.1:8545"
    default_rest_url: ClassVar[str] = "http://127.0.0.1:8545"

    def __init__(self, endpoints: VenueEndpoints | None = None, feeds: list[PoolFeed] | None = None,
                 sizes: list[int] | None = None, gas_price_wei: int = 0) -> None:
        super().__init__(endpoints)
        self.sizes = sizes or DEFAULT_SIZES
        self.gas_price_wei = gas_price_wei
        self.feeds: dict[str, PoolFeed] = {}  # canonical symbol -> pool
        self._by_address: dict[str, str] = {}
        for feed in feeds or []:
            self.add(feed)

    def add(self, feed: PoolFeed) -> None:
        symbol = feed.spec.symbol
        if symbol in self.feeds:
            raise ValueError(f"{self.name}: two pools for {symbol}")
        self.feeds[symbol] = feed
        self._by_address[feed.spec.address.lower()] = symbol

    def load_configured(self) -> None:
        """Pools from CROSSBOOK_DEX_ETHEREUM_POOLS (`v3:0xPool:BASE,v2:0xPair:BASE`), read over
        the RPC URL (CROSSBOOK_DEX_ETHEREUM_REST_URL, else the default)."""
        from web3 import Web3

        from services.edges.evm import chain

        w3 = Web3(Web3.HTTPProvider(self.endpoints.rest_url or self.default_rest_url))
        for item in os.environ.get("CROSSBOOK_DEX_ETHEREUM_POOLS", "").split(","):
            if not item.strip():
                continue
            kind, address, base = item.strip().split(":")
            spec = chain.discover(w3, kind, address, base)  # type: ignore[arg-type]
            self.add(PoolFeed(spec, chain.read_state(w3, spec)))
        self.gas_price_wei = chain.gas_price(w3)

    # --- connection -------------------------------------------------------------------------
    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        if not self.feeds:
            self.load_configured()
        addresses = [self.feeds[s].spec.address for s in venue_symbols if s in self.feeds]
        topics = [[abi.TOPIC_V2_SYNC, abi.TOPIC_V3_SWAP, TOPIC_V3_MINT, TOPIC_V3_BURN]]
        return [json.dumps({"jsonrpc": "2.0", "id": _SUB_ID, "method": "eth_subscribe",
                            "params": ["logs", {"address": addresses, "topics": topics}]})]

    def ping_frame(self) -> str | None:
        return '{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]}'

    # --- symbols ----------------------------------------------------------------------------
    def to_venue(self, canonical: str) -> str:
        return canonical

    def to_canonical(self, venue_symbol: str) -> str:
        return venue_symbol

    # --- frames -----------------------------------------------------------------------------
    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return SeqVerdict.APPLY  # every update is a whole book

    def snapshot(self, symbol: str, seq: int | None = None) -> BookUpdate:
        feed = self.feeds[symbol]
        book = pool_book(self.name, feed.spec, feed.state, self.sizes, self.gas_price_wei)
        return BookUpdate(symbol=symbol, snapshot=True, seq=seq,
                          bids=[RawLevel(px, qty) for px, qty in book.bids],
                          asks=[RawLevel(px, qty) for px, qty in book.asks])

    def parse(self, raw: str | bytes) -> list[Parsed]:
        try:
            msg = json.loads(raw)
        except ValueError as exc:
            raise ParseError(f"not JSON: {exc}") from exc
        if not isinstance(msg, dict):
            raise ParseError("a JSON-RPC frame is an object")
        if "error" in msg:
            return [VenueNotice(str(msg["error"].get("message", msg["error"])))]
        if msg.get("id") == _SUB_ID and "result" in msg:
            # Subscribed: publish every pool's book as read at start; logs carry it on from here.
            return [Control("subscribed", str(msg["result"])), *(self.snapshot(s) for s in self.feeds)]
        if msg.get("method") != "eth_subscription":
            return [Control("rpc_reply")]
        try:
            log = msg["params"]["result"]
            return self._apply_log(log)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ParseError(f"bad log: {exc}") from exc

    def _apply_log(self, log: dict[str, Any]) -> list[Parsed]:
        symbol = self._by_address.get(str(log["address"]).lower())
        if symbol is None or log.get("removed"):
            return []  # another contract's log; a reorged-out log is followed by its replacement
        feed = self.feeds[symbol]
        topic = log["topics"][0].lower()
        words = _words(log["data"])
        state = feed.state
        if topic == abi.TOPIC_V2_SYNC and isinstance(state, V2State):
            state.reserve0, state.reserve1 = words[0], words[1]
        elif topic == abi.TOPIC_V3_SWAP and isinstance(state, V3State):
            pool = state.pool
            pool.sqrt_price_x96, pool.liquidity, pool.tick = words[2], words[3], _signed(words[4])
        elif topic in (TOPIC_V3_MINT, TOPIC_V3_BURN) and isinstance(state, V3State):
            pool = state.pool
            lower, upper = _signed(int(log["topics"][2], 16)), _signed(int(log["topics"][3], 16))
            amount = words[1] if topic == TOPIC_V3_MINT else words[0]  # Mint(sender, amount, ...)
            sign = 1 if topic == TOPIC_V3_MINT else -1
            for tick, delta in ((lower, sign * amount), (upper, -sign * amount)):
                net = pool.liquidity_net.get(tick, 0) + delta
                # Kept at 0 when a Burn empties it: the log lacks liquidityGross, so a tick that is no
                # longer initialized still ends a swap step (a wei of rounding) until the next read.
                pool.liquidity_net[tick] = net
            if lower <= pool.tick < upper:
                pool.liquidity += sign * amount
            pool.reindex()
        else:
            return []
        seq = int(log["blockNumber"], 16) * 1_000_000 + int(log["logIndex"], 16)
        return [self.snapshot(symbol, seq)]


ADAPTERS = [DexEthereumAdapter]
