"""The algo ABI on the host side: struct layouts, fixed guest-memory regions, codes and limits.

The v0.1 surface follows the published `algo-sdk` exactly (little-endian `repr(C)` structs; see
docs/algo_abi.md, which also defines, as Crossbook ABI version `ABI_VERSION`, the layouts the
published material leaves unknown: `RiskSnapshot`, `NbboSnapshot`, `VenueBooks`, `MeshTable`,
`MeshMessage` and the signatures of the later callbacks). Every layout here is a precompiled
`struct.Struct`; tests/services/algos/test_abi.py pins sizes and offsets, and the C header
(services/algos/sdk/crossbook_algo.h) asserts the same numbers with `_Static_assert`.
"""

from __future__ import annotations

import itertools
import struct
from enum import IntEnum

import msgspec

ABI_VERSION = 1  # Crossbook's definitions of the layouts upstream leaves open (docs/algo_abi.md)
FEATURES_VERSION = 1  # OnlineFeatures.version as upstream defines it

# Limits (upstream constants; the host enforces them).
MAX_LEVELS = 20
MAX_ORDERS = 32
MAX_ACTIONS = 16
MAX_VENUES = 20
MAX_MESSAGE_SIZE = 256
MAX_LABEL_LEN = 32
MAX_MESH_PEERS = 16

# Fixed guest-memory regions the host writes (upstream offsets, so Rust v0.4 binaries run
# unmodified). A C guest keeps HOST_REGION free: the SDK links with the stack first (below
# 0x10000) and data from GUEST_DATA_BASE on.
VENUE_BOOKS_OFFSET = 0x10000  # Crossbook-defined (upstream: "before 0x14000", exact offset unknown)
POOL_BOOKS_OFFSET = 0x14000  # upstream; the pools among the NBBO's venues (pool_ct 0 without any)
FEATURES_OFFSET = 0x1A000
MESH_TABLE_OFFSET = 0x24200
HOST_REGION = (0x10000, 0x25000)
GUEST_DATA_BASE = 0x30000
GUEST_STACK_SIZE = 0x10000

# --- v0.1 structs (exact) -------------------------------------------------------------------

LEVEL = struct.Struct("<QQ")  # px_1e9, sz_1e8
L2BOOK_LEVELS = struct.Struct("<80Q")  # bids[20] then asks[20], (px, sz) pairs
L2BOOK_TAIL = struct.Struct("<BBHIQ")  # bid_ct, ask_ct, symbol_id, _pad, recv_ns
L2BOOK = struct.Struct("<80QBBHIQ")
OPEN_ORDER = struct.Struct("<QQqqbB6x")  # order_id, px_1e9, qty_1e8 (+buy/-sell), filled_1e8, side, status
ALGO_STATE_HEAD = struct.Struct("<qQqq")  # position_1e8, avg_entry_1e9, realized_pnl_1e9, unrealized_pnl_1e9
ACTION = struct.Struct("<QQqbBBB4x")  # order_id, px_1e9, qty_1e8, side, is_cancel, order_type, venue_id
WASM_ACTIONS_HEAD = struct.Struct("<I4x")  # count, _pad; then Action[16]
FILL = struct.Struct("<QQqQb7x")  # order_id, px_1e9, qty_1e8, recv_ns, side
REJECT = struct.Struct("<QB7x")  # order_id, code

L2BOOK_SIZE = 656
ALGO_STATE_V01_SIZE = 1320  # the v0.1 prefix old binaries read
WASM_ACTIONS_SIZE = 520

# --- v0.2+ AlgoState tail (upstream fields, then Crossbook's RiskSnapshot) ------------------

ALGO_STATE_TAIL = struct.Struct("<qQ")  # session_pnl_1e9 @1320, total_fill_count @1328
SYMBOL_META = struct.Struct("<QQQQBB6x")  # tick_size_1e9, lot_size_1e8, min_qty_1e8, min_notional_1e9, px prec, qty prec
# RiskSnapshot (Crossbook ABI 1, @1376, 64 B): the limits the host and risk apply to this instance.
RISK_SNAPSHOT = struct.Struct("<qqQqBB6xQ16x")
# max_position_1e8, max_order_qty_1e8, max_order_notional_1e9, max_daily_loss_1e9,
# max_open_orders, max_actions, _pad, fuel_per_callback, _reserved
ALGO_STATE_SIZE = 1440

# --- OnlineFeatures (upstream v1 layout, 256 B at FEATURES_OFFSET) --------------------------

ONLINE_FEATURES = struct.Struct("<HH4xQqqqqqIH2xBxhHhIII4x11H2xQ136x")
ONLINE_FEATURES_SIZE = 256

# --- Crossbook ABI 1: layouts upstream does not publish -------------------------------------

VENUE_QUOTE = struct.Struct("<QQQQQ")  # bid_px_1e9, bid_sz_1e8, ask_px_1e9, ask_sz_1e8, recv_ns
# NbboSnapshot: best bid/ask (+ sizes), recv_ns, symbol_id, venue_ct, best_bid_venue,
# best_ask_venue, _pad[3], venue_ids[20], _pad[4], venues: VenueQuote[20]
NBBO_HEAD = struct.Struct("<QQQQQHBBB3x20s4x")
NBBO_SIZE = 872
# VenueBooks at VENUE_BOOKS_OFFSET: venue_ct, _pad[7], venue_ids[20], _pad[4], books: L2Book[20]
VENUE_BOOKS_HEAD = struct.Struct("<B7x20s4x")
VENUE_BOOKS_SIZE = 32 + MAX_VENUES * L2BOOK_SIZE
# PoolBooks at POOL_BOOKS_OFFSET (upstream layout): pool_ct, _pad[7], metas: PoolMeta[32] @8,
# books: L2Book[32] @1544. PoolMeta (48 B): address[32] (EVM: first 20), pair_index u16, fee_bps
# u16, venue_id u8, protocol_id u8, gas_cost_1e5 u16, gas_units u16, gas_price_gwei u16,
# native_price_cents u32.
MAX_POOLS = 32
POOL_META = struct.Struct("<32sHHBBHHHI")
POOL_META_SIZE = 48
POOL_BOOKS_HEAD = struct.Struct("<B7x")
POOL_BOOKS_SIZE = 8 + MAX_POOLS * (POOL_META_SIZE + L2BOOK_SIZE)
PROTOCOL_IDS = {"uniswap_v2": 1, "uniswap_v3": 2, "curve": 3, "balancer_v2": 4, "aerodrome": 5}
# MeshTable at MESH_TABLE_OFFSET: self_label[32], self_mesh_id, peer_ct, _pad[7], peers[16]
MESH_TABLE_HEAD = struct.Struct("<32sQB7x")
MESH_PEER = struct.Struct("<32sQ")  # label (NUL-padded), mesh_id
MESH_TABLE_SIZE = 48 + MAX_MESH_PEERS * 40
# MeshMessage passed to algo_on_message: from_mesh_id, from_label[32], len, _pad, payload[256]
MESH_MESSAGE_HEAD = struct.Struct("<Q32sI4x")
MESH_MESSAGE_SIZE = 48 + MAX_MESSAGE_SIZE


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    IOC = 2
    FOK = 3
    POST_ONLY = 4


class ActionKind(IntEnum):
    """`Action.is_cancel`, which doubles as the action type."""

    NEW = 0
    CANCEL = 1
    AMEND = 2


class OrderStatus(IntEnum):
    PENDING = 0
    ACKED = 1
    PARTIAL = 2
    DEAD = 3


class RejectCode(IntEnum):
    UNKNOWN = 0
    INSUFFICIENT_BALANCE = 1
    INVALID_PARAMS = 2
    RATE_LIMIT = 3
    EXCHANGE_BUSY = 4
    NETWORK = 5
    AUTH = 6
    RISK = 100
    POSITION_LIMIT = 101
    KILL_SWITCH = 102
    PRICE_DEVIATION = 103
    DAILY_LOSS_LIMIT = 104


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


# Action.venue_id / NbboSnapshot.venue_ids wire values: upstream's (CC VenueId + 1) where
# upstream names the venue, Crossbook's own from 40 for the rest. 0 = the instance's venue.
VENUE_IDS: dict[str, int] = {
    "kraken": 1,
    "coinbase": 2,
    "binance": 3,
    "bitget": 4,
    "cryptocom": 5,
    "bitmart": 6,
    "okx": 8,
    "bybit": 9,
    "binance_usdm": 40,
    "bybit_linear": 41,
    "hyperliquid": 42,
    "kalshi": 43,
    "polymarket": 44,
    "uniswap_v2_ethereum": 45,  # Crossbook-defined: upstream's 11 (DEX-Ethereum) names no protocol
    "uniswap_v3_ethereum": 46,
}
VENUE_NAMES: dict[int, str] = {v: k for k, v in VENUE_IDS.items()}


# --- host-side values -----------------------------------------------------------------------


class OpenOrder(msgspec.Struct, frozen=True):
    order_id: int
    px_1e9: int
    qty_1e8: int  # signed: + buy, - sell
    filled_1e8: int = 0
    side: int = 1
    status: OrderStatus = OrderStatus.ACKED

    @property
    def live(self) -> bool:
        return self.status != OrderStatus.DEAD


class SymbolMeta(msgspec.Struct, frozen=True):
    tick_size_1e9: int = 0
    lot_size_1e8: int = 0
    min_qty_1e8: int = 0
    min_notional_1e9: int = 0
    price_precision: int = 0
    qty_precision: int = 0


class RiskSnapshot(msgspec.Struct, frozen=True):
    max_position_1e8: int = 0  # 0 = no limit given
    max_order_qty_1e8: int = 0
    max_order_notional_1e9: int = 0
    max_daily_loss_1e9: int = 0
    max_open_orders: int = MAX_ORDERS
    max_actions: int = MAX_ACTIONS
    fuel_per_callback: int = 0


class AlgoState(msgspec.Struct, frozen=True):
    """The server-owned state written before each callback (read-only to the algo)."""

    position_1e8: int = 0
    avg_entry_1e9: int = 0
    realized_pnl_1e9: int = 0
    unrealized_pnl_1e9: int = 0
    orders: tuple[OpenOrder, ...] = ()
    session_pnl_1e9: int = 0
    total_fill_count: int = 0
    symbol: SymbolMeta = msgspec.field(default_factory=SymbolMeta)
    risk: RiskSnapshot = msgspec.field(default_factory=RiskSnapshot)

    def open_order_ids(self) -> set[int]:
        return {o.order_id for o in self.orders if o.live}


class Book(msgspec.Struct, frozen=True):
    """One venue book as the algo sees it: best level first, at most 20 levels a side."""

    bids: tuple[tuple[int, int], ...]  # (px_1e9, sz_1e8)
    asks: tuple[tuple[int, int], ...]
    recv_ns: int
    symbol_id: int = 1


class Action(msgspec.Struct, frozen=True):
    order_id: int
    px_1e9: int
    qty_1e8: int
    side: int  # 1 buy, -1 sell, 0 for a cancel
    kind: ActionKind
    order_type: OrderType
    venue_id: int  # 0 = this instance's venue

    @property
    def venue(self) -> str | None:
        """The venue named by `venue_id` (None = the instance's own)."""
        return VENUE_NAMES.get(self.venue_id) if self.venue_id else None


class Fill(msgspec.Struct, frozen=True):
    order_id: int
    px_1e9: int
    qty_1e8: int
    recv_ns: int
    side: int


class Reject(msgspec.Struct, frozen=True):
    order_id: int
    code: int


class VenueQuote(msgspec.Struct, frozen=True):
    venue: str
    bid_px_1e9: int
    bid_sz_1e8: int
    ask_px_1e9: int
    ask_sz_1e8: int
    recv_ns: int


class PoolMeta(msgspec.Struct, frozen=True, kw_only=True):
    """One pool's PoolMeta: what the log knows of it (0 where it does not say)."""

    venue: str
    address: bytes = b""  # 20 bytes on EVM chains
    pair_index: int = 0
    fee_bps: int = 0
    protocol_id: int = 0
    gas_cost_1e5: int = 0  # one swap's gas in quote currency x 1e5 (u16: capped at 65535)
    gas_units: int = 0
    gas_price_gwei: int = 0
    native_price_cents: int = 0


class NbboSnapshot(msgspec.Struct, frozen=True):
    """The cross-venue view for `algo_on_nbbo`; `books` (venue -> Book) fills VenueBooks, and
    `pools` (the on-chain pools among them, with their meta) fills PoolBooks."""

    venues: tuple[VenueQuote, ...]
    recv_ns: int
    symbol_id: int = 1
    books: tuple[tuple[str, Book], ...] = ()
    pools: tuple[tuple[PoolMeta, Book], ...] = ()


# --- packing --------------------------------------------------------------------------------

_ZEROS = (0,) * 80
_chain = itertools.chain.from_iterable
_L2BOOK_PACK_INTO = L2BOOK.pack_into


def pack_book_into(buf: bytearray | memoryview, offset: int, book: Book) -> None:
    """Write `book` as an L2Book (656 B) at `offset`; levels past 20 are dropped."""
    bids = book.bids
    asks = book.asks
    nb = len(bids)
    na = len(asks)
    if nb > MAX_LEVELS:
        bids = bids[:MAX_LEVELS]
        nb = MAX_LEVELS
    if na > MAX_LEVELS:
        asks = asks[:MAX_LEVELS]
        na = MAX_LEVELS
    _L2BOOK_PACK_INTO(
        buf, offset, *_chain(bids), *_ZEROS[: 40 - 2 * nb], *_chain(asks), *_ZEROS[: 40 - 2 * na],
        nb, na, book.symbol_id, 0, book.recv_ns,
    )


def pack_book(book: Book) -> bytes:
    buf = bytearray(L2BOOK_SIZE)
    pack_book_into(buf, 0, book)
    return bytes(buf)


def unpack_book(data: bytes | bytearray | memoryview, offset: int = 0) -> Book:
    vals = L2BOOK.unpack_from(data, offset)
    bid_ct, ask_ct, symbol_id, _pad, recv_ns = vals[80:]
    bids = tuple((vals[2 * i], vals[2 * i + 1]) for i in range(min(bid_ct, MAX_LEVELS)))
    asks = tuple((vals[40 + 2 * i], vals[41 + 2 * i]) for i in range(min(ask_ct, MAX_LEVELS)))
    return Book(bids=bids, asks=asks, recv_ns=recv_ns, symbol_id=symbol_id)


def pack_state(state: AlgoState) -> bytes:
    """The whole AlgoState (1440 B): the v0.1 prefix, then the appended fields."""
    buf = bytearray(ALGO_STATE_SIZE)
    ALGO_STATE_HEAD.pack_into(
        buf, 0, state.position_1e8, state.avg_entry_1e9, state.realized_pnl_1e9, state.unrealized_pnl_1e9
    )
    orders = state.orders[:MAX_ORDERS]
    for i, o in enumerate(orders):
        OPEN_ORDER.pack_into(buf, 32 + 40 * i, o.order_id, o.px_1e9, o.qty_1e8, o.filled_1e8, o.side, int(o.status))
    buf[1312] = len(orders)
    ALGO_STATE_TAIL.pack_into(buf, 1320, state.session_pnl_1e9, state.total_fill_count)
    m = state.symbol
    SYMBOL_META.pack_into(
        buf, 1336, m.tick_size_1e9, m.lot_size_1e8, m.min_qty_1e8, m.min_notional_1e9, m.price_precision, m.qty_precision
    )
    r = state.risk
    RISK_SNAPSHOT.pack_into(
        buf, 1376, r.max_position_1e8, r.max_order_qty_1e8, r.max_order_notional_1e9, r.max_daily_loss_1e9,
        r.max_open_orders, r.max_actions, r.fuel_per_callback,
    )
    return bytes(buf)


def unpack_action(data: bytes | bytearray | memoryview, offset: int = 0) -> Action:
    """Decode one Action; enum fields outside their range raise ValueError (a bad action)."""
    order_id, px, qty, side, kind, otype, venue = ACTION.unpack_from(data, offset)
    return Action(order_id, px, qty, side, ActionKind(kind), OrderType(otype) if kind == ActionKind.NEW else OrderType.LIMIT, venue)


def pack_action(a: Action) -> bytes:
    return ACTION.pack(a.order_id, a.px_1e9, a.qty_1e8, a.side, int(a.kind), int(a.order_type), a.venue_id)


def pack_fill(fill: Fill) -> bytes:
    return FILL.pack(fill.order_id, fill.px_1e9, fill.qty_1e8, fill.recv_ns, fill.side)


def pack_reject(reject: Reject) -> bytes:
    return REJECT.pack(reject.order_id, reject.code)


def pack_nbbo(nbbo: NbboSnapshot) -> bytes:
    """NbboSnapshot (872 B): best bid/ask over the venues given, then one VenueQuote each."""
    quotes = nbbo.venues[:MAX_VENUES]
    ids = bytes(VENUE_IDS.get(q.venue, 0) for q in quotes)
    best_bid = max(quotes, key=lambda q: (q.bid_px_1e9, q.bid_sz_1e8), default=None)
    asks = [q for q in quotes if q.ask_px_1e9 > 0]
    best_ask = min(asks, key=lambda q: (q.ask_px_1e9, -q.ask_sz_1e8), default=None)
    buf = bytearray(NBBO_SIZE)
    NBBO_HEAD.pack_into(
        buf, 0,
        best_bid.bid_px_1e9 if best_bid else 0, best_bid.bid_sz_1e8 if best_bid else 0,
        best_ask.ask_px_1e9 if best_ask else 0, best_ask.ask_sz_1e8 if best_ask else 0,
        nbbo.recv_ns, nbbo.symbol_id, len(quotes),
        VENUE_IDS.get(best_bid.venue, 0) if best_bid and best_bid.bid_px_1e9 else 0,
        VENUE_IDS.get(best_ask.venue, 0) if best_ask else 0,
        ids,
    )
    for i, q in enumerate(quotes):
        VENUE_QUOTE.pack_into(buf, 72 + 40 * i, q.bid_px_1e9, q.bid_sz_1e8, q.ask_px_1e9, q.ask_sz_1e8, q.recv_ns)
    return bytes(buf)


def pack_venue_books(books: tuple[tuple[str, Book], ...]) -> bytes:
    books = books[:MAX_VENUES]
    buf = bytearray(VENUE_BOOKS_SIZE)
    VENUE_BOOKS_HEAD.pack_into(buf, 0, len(books), bytes(VENUE_IDS.get(v, 0) for v, _ in books))
    for i, (_venue, book) in enumerate(books):
        pack_book_into(buf, 32 + L2BOOK_SIZE * i, book)
    return bytes(buf)


def pack_pool_books(pools: tuple[tuple[PoolMeta, Book], ...]) -> bytes:
    pools = pools[:MAX_POOLS]
    buf = bytearray(POOL_BOOKS_SIZE)
    POOL_BOOKS_HEAD.pack_into(buf, 0, len(pools))
    for i, (meta, book) in enumerate(pools):
        POOL_META.pack_into(buf, 8 + POOL_META_SIZE * i, meta.address[:32], meta.pair_index, meta.fee_bps,
                            VENUE_IDS.get(meta.venue, 0), meta.protocol_id, min(meta.gas_cost_1e5, 0xFFFF),
                            min(meta.gas_units, 0xFFFF), min(meta.gas_price_gwei, 0xFFFF),
                            min(meta.native_price_cents, 0xFFFFFFFF))
        pack_book_into(buf, 8 + MAX_POOLS * POOL_META_SIZE + L2BOOK_SIZE * i, book)
    return bytes(buf)


def label_bytes(label: str) -> bytes:
    raw = label.encode()
    if not raw or len(raw) > MAX_LABEL_LEN:
        raise ValueError(f"a mesh label is 1..{MAX_LABEL_LEN} bytes, was {label!r}")
    return raw


def pack_mesh_table(self_label: str, self_mesh_id: int, peers: dict[str, int]) -> bytes:
    if len(peers) > MAX_MESH_PEERS:
        raise ValueError(f"at most {MAX_MESH_PEERS} mesh peers, was {len(peers)}")
    buf = bytearray(MESH_TABLE_SIZE)
    MESH_TABLE_HEAD.pack_into(buf, 0, label_bytes(self_label), self_mesh_id, len(peers))
    for i, (label, mesh_id) in enumerate(sorted(peers.items())):
        MESH_PEER.pack_into(buf, 48 + 40 * i, label_bytes(label), mesh_id)
    return bytes(buf)


def pack_mesh_message(from_mesh_id: int, from_label: str, payload: bytes) -> bytes:
    if len(payload) > MAX_MESSAGE_SIZE:
        raise ValueError(f"a mesh message is at most {MAX_MESSAGE_SIZE} bytes, was {len(payload)}")
    buf = bytearray(MESH_MESSAGE_SIZE)
    MESH_MESSAGE_HEAD.pack_into(buf, 0, from_mesh_id, label_bytes(from_label), len(payload))
    buf[48 : 48 + len(payload)] = payload
    return bytes(buf)


class OnlineFeatures(msgspec.Struct, frozen=True):
    """Upstream's OnlineFeatures v1; services/algos/features.py says which fields we compute."""

    flags: int = 0  # bit0 = vpin_valid
    microprice_1e9: int = 0
    ofi_1level_1e8: int = 0
    ofi_5level_1e8: int = 0
    mlofi_10_1e8: int = 0
    ofi_ewma_1e6: int = 0
    trade_sign_imbalance_1e6: int = 0
    trade_arrival_rate_1e3: int = 0
    vpin_1e4: int = 0
    spread_regime: int = 0
    spread_zscore_1e3: int = 0
    cancel_rate_1e4: int = 0
    depth_imbalance_1e4: int = 0
    rv_1m_bps: int = 0
    rv_5m_bps: int = 0
    rv_1h_bps: int = 0
    pred_dir_up_1e4: int = 0
    pred_dir_flat_1e4: int = 0
    pred_dir_down_1e4: int = 0
    pred_stress_normal_1e4: int = 0
    pred_stress_widening_1e4: int = 0
    pred_stress_crisis_1e4: int = 0
    pred_toxic_1e4: int = 0
    prediction_age_ms: int = 0
    fill_prob_bid_1e4: int = 0
    fill_prob_ask_1e4: int = 0
    queue_decay_rate_1e4: int = 0
    feature_ts_ns: int = 0


def pack_features(f: OnlineFeatures) -> bytes:
    return ONLINE_FEATURES.pack(
        FEATURES_VERSION, f.flags, f.microprice_1e9, f.ofi_1level_1e8, f.ofi_5level_1e8, f.mlofi_10_1e8,
        f.ofi_ewma_1e6, f.trade_sign_imbalance_1e6, f.trade_arrival_rate_1e3, f.vpin_1e4, f.spread_regime,
        f.spread_zscore_1e3, f.cancel_rate_1e4, f.depth_imbalance_1e4, f.rv_1m_bps, f.rv_5m_bps, f.rv_1h_bps,
        f.pred_dir_up_1e4, f.pred_dir_flat_1e4, f.pred_dir_down_1e4, f.pred_stress_normal_1e4,
        f.pred_stress_widening_1e4, f.pred_stress_crisis_1e4, f.pred_toxic_1e4, f.prediction_age_ms,
        f.fill_prob_bid_1e4, f.fill_prob_ask_1e4, f.queue_decay_rate_1e4, f.feature_ts_ns,
    )
