"""BitMart spot public protocol for the local sim: `spot/depth/increase100` with `version`
chaining, `spot/trade`, text ping/pong, and the REST book `/spot/quotation/v3/books`."""

from __future__ import annotations

import json
import time
from typing import Any

from services.edges.bitmart.adapter import BOOK_DEPTH, to_venue_symbol
from services.edges.bitmart.parse import DEPTH_TABLE, TRADE_TABLE
from services.edges.book import L2Book
from services.edges.numbers import PX_SCALE, QTY_SCALE, wire_decimal
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

FIRST_VERSION = 2_141_731  # arbitrary start; each push of a symbol adds exactly 1
REST_BOOKS_PATH = "/spot/quotation/v3/books"
REST_BOOKS_MAX = 50  # the REST book serves at most 50 levels a side
ERR_INVALID_CHANNEL = "90004"  # the docs' failed-subscription example
ERR_BAD_REQUEST = "90001"  # the sim's code for a frame that is not a request at all


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rows(levels: list[tuple[int, int]]) -> list[list[str]]:
    return [[wire_decimal(px, PX_SCALE), wire_decimal(q, QTY_SCALE)] for px, q in levels]


class BitmartSimProtocol(SimProtocol):
    """Speak `/api` (the `?protocol=1.1` socket): `op` subscribe/unsubscribe of `table:symbol` topics."""

    venue = "bitmart"
    ws_path = "/api"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        try:
            msg = json.loads(text)
            op, args = msg["op"], msg["args"]
            if op not in ("subscribe", "unsubscribe", "request") or not isinstance(args, list):
                raise ValueError(op)
        except (ValueError, KeyError, TypeError):
            return [_error("", ERR_BAD_REQUEST, "Invalid request")]
        assert self.server is not None
        trades: set[str] = conn.state.setdefault("trades", set())
        replies: list[str] = []
        for topic in args:
            table, _, symbol = str(topic).rpartition(":")
            known = symbol in self.server.markets_by_venue_symbol
            if not known or table not in (DEPTH_TABLE, TRADE_TABLE) or (op == "request" and table != DEPTH_TABLE):
                replies.append(_error(op, ERR_INVALID_CHANNEL, "Invalid channel param"))
            elif op == "request":  # one snapshot now, no ack; the subscription is unchanged
                self.server.schedule_snapshot(conn, symbol)
            elif op == "subscribe":
                replies.append(_compact({"event": op, "topic": topic}))
                if table == DEPTH_TABLE:
                    self.subscribe(conn, symbol)
                else:
                    trades.add(symbol)
            else:
                replies.append(_compact({"event": op, "topic": topic}))
                (conn.subscribed if table == DEPTH_TABLE else trades).discard(symbol)
        return replies

    def heartbeat_frames(self, conn: SimConn) -> list[str]:
        """The venue's keep-alive for a quiet book: an empty push repeating the last version."""
        return [self._push(sym, "update", [], []) for sym in sorted(conn.subscribed)]

    # --- book frames ------------------------------------------------------------------------
    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.state[venue_symbol] = self._version(venue_symbol) + 1

    def _version(self, venue_symbol: str) -> int:
        version: int = self.state.get(venue_symbol, FIRST_VERSION)
        return version

    def _push(self, venue_symbol: str, kind: str, bids: list[list[str]], asks: list[list[str]]) -> str:
        item = {
            "asks": asks,
            "bids": bids,
            "ms_t": _now_ms(),
            "symbol": venue_symbol,
            "type": kind,
            "version": self._version(venue_symbol),
        }
        return _compact({"data": [item], "table": DEPTH_TABLE})

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        return [self._push(venue_symbol, "snapshot", _rows(book.bids(BOOK_DEPTH)), _rows(book.asks(BOOK_DEPTH)))]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,  # BitMart spot depth carries no checksum
    ) -> list[str]:
        return [self._push(venue_symbol, "update", _rows(bids), _rows(asks))]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        now = _now_ms()
        item = {
            "symbol": venue_symbol,
            "price": wire_decimal(trade.px_1e9, PX_SCALE),
            "side": trade.aggressor,
            "size": wire_decimal(trade.qty_1e8, QTY_SCALE),
            "s_t": now // 1000,
            "ms_t": now,
        }
        return [_compact({"table": TRADE_TABLE, "data": [item]})]

    # --- REST -------------------------------------------------------------------------------
    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        if path != REST_BOOKS_PATH:
            return None
        assert self.server is not None
        symbol = query.get("symbol", "")
        market = self.server.markets_by_venue_symbol.get(symbol)
        if market is None:
            return 400, {"code": 50000, "message": "Bad Request [symbol is invalid]", "trace": "sim", "data": {}}
        try:
            limit = max(1, min(REST_BOOKS_MAX, int(query.get("limit", "35"))))
        except ValueError:
            return 400, {"code": 50000, "message": "Bad Request [limit is invalid]", "trace": "sim", "data": {}}
        data = {
            "ts": str(_now_ms()),
            "symbol": symbol,
            "asks": _rows(market.book.asks(limit)),
            "bids": _rows(market.book.bids(limit)),
        }
        return 200, {"code": 1000, "trace": "sim", "message": "success", "data": data}


def _error(op: str, code: str, message: str) -> str:
    return _compact({"event": op, "errorCode": code, "errorMessage": message})


SIM_PROTOCOLS = {"bitmart": BitmartSimProtocol}
SIM_INSTRUMENTS = {
    "bitmart": [
        # mids nudged (+0.03% / +0.02%) so the cluster's venues differ; tick 0.01, lot 0.00001 / 0.0001
        SimInstrument("BTC-USDT", mid_px_1e9=97_025_700_000_000, tick_1e9=10_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USDT", mid_px_1e9=3_400_680_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
    ]
}
