"""The EVM DEX edge behind the common venue interface ("dex_ethereum", one node connection).

The node's WebSocket is the stream: one `eth_subscribe("logs")` over the configured pools'
addresses and one `eth_subscribe("newHeads")`. Every pool log that changes the price is a full
snapshot of that pool's equivalent book: V2 `Sync` carries both reserves; V3 `Swap` carries
slot0's price and tick and the active liquidity, and `Mint`/`Burn` update the initialized ticks
the adapter holds. A new head carries the block's base fee: the gas price (base fee + the
priority tip seen at start) moves, so every pool's book is republished with its new gas. The
logs subscription's acknowledgement publishes each pool's book from the state read over RPC at
start, so a book is live before the first swap.

The edge's "venue symbols" are pool addresses; each pool's books are published under its
per-protocol venue (`uniswap_v2_ethereum`, `uniswap_v3_ethereum`: services/edges/evm/venues.py)
with one swap's gas in quote on the snapshot, by `PoolEdgeRunner` (services/edges/evm/stream.py),
so a V2 and a V3 pool of one pair are two books the router can split between.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from services.edges.book import RawLevel
from services.edges.evm import abi
from events.market import BookSnapshot
from services.edges.evm.pools import PoolSpec, PoolState, V2State, V3State, pool_book
from services.edges.evm.venues import BOOK_SIZES, Listing, book_snapshot
from services.edges.runtime import EdgeRunner, EdgeSink
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

DEFAULT_SIZES = BOOK_SIZES
TOPIC_V3_MINT = "0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde"
TOPIC_V3_BURN = "0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c"
_SUB_ID = 1
_HEADS_ID = 3
NATIVE_SYMBOLS = ("WETH", "ETH")  # the chain's native asset as a pool's base token


@dataclass(slots=True)
class PoolFeed:
    spec: PoolSpec
    state: PoolState
    symbol: str = ""  # canonical symbol it trades as ("" = BASE-QUOTE by token symbol)

    @property
    def listing(self) -> Listing:
        return Listing(self.spec, self.symbol)


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
                 sizes: list[int] | None = None, gas_price_wei: int = 0, priority_fee_wei: int = 0) -> None:
        super().__init__(endpoints)
        self.sizes = sizes or DEFAULT_SIZES
        self.gas_price_wei = gas_price_wei
        self.priority_fee_wei = priority_fee_wei  # the tip over each block's base fee
        self.feeds: dict[str, PoolFeed] = {}  # pool address (lower case) -> pool
        self._listed: set[tuple[str, str]] = set()  # (venue, canonical symbol)
        for feed in feeds or []:
            self.add(feed)

    def add(self, feed: PoolFeed) -> None:
        key = (feed.listing.venue, feed.listing.canonical)
        if key in self._listed:
            raise ValueError(f"{self.name}: two pools for {key[1]} at {key[0]}")
        self._listed.add(key)
        self.feeds[feed.spec.address.lower()] = feed

    def listings(self) -> list[Listing]:
        return [feed.listing for feed in self.feeds.values()]

    def load_configured(self) -> None:
        """Pools from CROSSBOOK_DEX_ETHEREUM_POOLS (`v3:0xPool:BASE[:SYMBOL],v2:...`, as the DEX
        executor reads them), read over the RPC URL (CROSSBOOK_DEX_ETHEREUM_RPC_URL, else the
        edge's REST URL), and the gas price."""
        from web3 import Web3

        from services.edges.evm import chain
        from services.edges.evm.venues import configured_listings
        from services.edges.evm.wallet import rpc_url

        w3 = Web3(Web3.HTTPProvider(rpc_url("dex_ethereum") or self.endpoints.rest_url or self.default_rest_url,
                                    request_kwargs={"timeout": 30}))
        for listing in configured_listings(w3):
            if listing.spec.address.lower() not in self.feeds:
                self.add(PoolFeed(listing.spec, chain.read_state(w3, listing.spec), listing.symbol))
        self.gas_price_wei = chain.gas_price(w3)
        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        self.priority_fee_wei = max(0, self.gas_price_wei - base_fee)

    # --- connection -------------------------------------------------------------------------
    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        if not self.feeds:
            self.load_configured()
        addresses = [self.feeds[s].spec.address for s in venue_symbols if s in self.feeds]
        topics = [[abi.TOPIC_V2_SYNC, abi.TOPIC_V3_SWAP, TOPIC_V3_MINT, TOPIC_V3_BURN]]
        return [json.dumps({"jsonrpc": "2.0", "id": _SUB_ID, "method": "eth_subscribe",
                            "params": ["logs", {"address": addresses, "topics": topics}]}),
                json.dumps({"jsonrpc": "2.0", "id": _HEADS_ID, "method": "eth_subscribe",
                            "params": ["newHeads"]})]

    def make_runner(self, symbols: list[str], sink: EdgeSink) -> EdgeRunner:
        from services.edges.evm.stream import PoolEdgeRunner  # it subclasses the runtime's runner

        return PoolEdgeRunner(self, symbols, sink)

    def configured_symbols(self) -> list[str]:
        """The edge's venue symbols: every configured pool's address (read from the chain)."""
        if not self.feeds:
            self.load_configured()
        return list(self.feeds)

    def ping_frame(self) -> str | None:
        return '{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]}'

    # --- symbols ----------------------------------------------------------------------------
    def to_venue(self, canonical: str) -> str:
        return canonical.lower()  # a pool's address

    def to_canonical(self, venue_symbol: str) -> str:
        feed = self.feeds.get(venue_symbol.lower())
        return feed.listing.canonical if feed is not None else venue_symbol

    def venue_of(self, venue_symbol: str) -> str:
        feed = self.feeds.get(venue_symbol.lower())
        return feed.listing.venue if feed is not None else self.name

    # --- frames -----------------------------------------------------------------------------
    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return SeqVerdict.APPLY  # every update is a whole book

    def snapshot(self, symbol: str, seq: int | None = None) -> BookUpdate:
        feed = self.feeds[symbol]
        book = pool_book(self.name, feed.spec, feed.state, self.sizes, self.gas_price_wei)
        return BookUpdate(symbol=symbol, snapshot=True, seq=seq,
                          bids=[RawLevel(px, qty) for px, qty in book.bids],
                          asks=[RawLevel(px, qty) for px, qty in book.asks])

    def native_px_1e9(self, feed: PoolFeed) -> int | None:
        """The native asset's price in `feed`'s quote: from a pool of WETH against that quote
        (the deepest-listed one first: V3, then V2), None = the pool's own mid (its base is WETH)."""
        if feed.spec.base.symbol.upper() in NATIVE_SYMBOLS:
            return None
        for other in sorted(self.feeds.values(), key=lambda f: f.spec.kind, reverse=True):
            if other.spec.base.symbol.upper() in NATIVE_SYMBOLS and other.spec.quote.address == feed.spec.quote.address:
                book = pool_book(self.name, other.spec, other.state, self.sizes[:1])
                if book.bids and book.asks:
                    return (book.bids[0][0] + book.asks[0][0]) // 2
        return None

    def pool_snapshot(self, venue_symbol: str, seq: int | None, ts_ns: int) -> BookSnapshot:
        """The pool's book as published: under its protocol's venue, with one swap's gas at the
        current gas price in quote currency."""
        feed = self.feeds[venue_symbol.lower()]
        return book_snapshot(feed.listing, feed.state, gas_price_wei=self.gas_price_wei,
                             native_px_1e9=self.native_px_1e9(feed), sizes_1e8=self.sizes, ts_ns=ts_ns,
                             venue_seq=seq)

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
            result = msg["params"]["result"]
            if "topics" not in result:
                return self._apply_head(result)
            return self._apply_log(result)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ParseError(f"bad log: {exc}") from exc

    def _apply_head(self, head: dict[str, Any]) -> list[Parsed]:
        """A new block: its base fee sets the gas price; every pool's book is republished when
        it moved (its gas in quote changed), keyed by the block so a replay is one event."""
        base_fee = head.get("baseFeePerGas")
        if base_fee is None:
            return [Control("head")]  # a pre-London chain: the start-up gas price stays
        gas = int(base_fee, 16) + self.priority_fee_wei
        if gas == self.gas_price_wei:
            return [Control("head")]
        self.gas_price_wei = gas
        seq = int(head["number"], 16) * 1_000_000
        return [self.snapshot(s, seq) for s in self.feeds]

    def _apply_log(self, log: dict[str, Any]) -> list[Parsed]:
        symbol = str(log["address"]).lower()
        if symbol not in self.feeds or log.get("removed"):
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
