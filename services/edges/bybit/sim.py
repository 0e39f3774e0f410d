"""Bybit v5 public sockets on loopback: `orderbook.50` snapshot + deltas with a per-topic `u`,
`publicTrade`, and the `{"op":"ping"}` keepalive. Bybit has no checksum, so `bad_checksum` is a no-op.
"""

from __future__ import annotations

import itertools
import time
import zlib
from typing import Any

import msgspec

from services.edges.book import L2Book
from services.edges.bybit.adapter import perp_to_venue, spot_to_venue
from services.edges.numbers import unscale
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

_DEPTH = 50
_U0 = 10_132_540  # first update id per topic; far from 1, which clients must treat as a restart
_SEQ0 = 546_137_962_055
_ENC = msgspec.json.Encoder()


def _places(step_scaled: int, scale: int) -> int:
    """Decimal places of a tick or lot given as a scaled integer (0.01 at 1e9 -> 2)."""
    zeros = len(str(step_scaled)) - len(str(step_scaled).rstrip("0"))
    return max(0, scale - zeros)


def _text(value: int, scale: int, places: int) -> str:
    return format(unscale(value, scale), f".{places}f")


class _BybitSim(SimProtocol):
    venue: str
    category: str

    def __init__(self) -> None:
        super().__init__()
        self.state = {"u": {}, "seq": {}}
        self._conn_ids = itertools.count(1)

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        try:
            msg = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return [self._reply(conn, "", "", False, f"Invalid request: {text[:60]}")]
        if not isinstance(msg, dict):
            return [self._reply(conn, "", "", False, "Invalid request")]
        op, req_id = msg.get("op", ""), str(msg.get("req_id", ""))
        if op == "ping":
            return [self._pong(conn, req_id)]
        if op != "subscribe":
            return [self._reply(conn, op, req_id, False, f"Invalid op: {op}")]
        args = msg.get("args") or []
        books, trades, bad = [], [], []
        for arg in args:
            parts = str(arg).split(".")
            known = len(parts) >= 2 and parts[-1] in self.server.markets_by_venue_symbol  # type: ignore[union-attr]
            if known and len(parts) == 3 and parts[0] == "orderbook" and parts[1] == str(_DEPTH):
                books.append(parts[2])
            elif known and len(parts) == 2 and parts[0] == "publicTrade":
                trades.append(parts[1])
            else:
                bad.append(str(arg))
        if bad:  # Bybit rejects the whole request
            return [self._reply(conn, "subscribe", req_id, False, f"Invalid symbol :[{','.join(bad)}]")]
        conn.state.setdefault("trades", set()).update(trades)
        for sym in books:
            self.subscribe(conn, sym)
        return [self._reply(conn, "subscribe", req_id, True, "")]

    def _conn_id(self, conn: SimConn) -> str:
        if "conn_id" not in conn.state:
            conn.state["conn_id"] = f"sim{next(self._conn_ids):06d}-{self.category}"
        return conn.state["conn_id"]

    def _reply(self, conn: SimConn, op: str, req_id: str, ok: bool, ret_msg: str) -> str:
        body = {"success": ok, "ret_msg": ret_msg, "conn_id": self._conn_id(conn), "req_id": req_id, "op": op}
        return _ENC.encode(body).decode()

    def _pong(self, conn: SimConn, req_id: str) -> str:
        return self._reply(conn, "ping", req_id, True, "pong")

    # --- book -------------------------------------------------------------------------------
    def _fmt(self, venue_symbol: str) -> tuple[int, int]:
        inst = self.server.markets_by_venue_symbol[venue_symbol].instrument  # type: ignore[union-attr]
        return _places(inst.tick_1e9, 9), _places(inst.lot_1e8, 8)

    def _rows(self, venue_symbol: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        pp, qp = self._fmt(venue_symbol)
        return [[_text(px, 9, pp), _text(q, 8, qp)] for px, q in levels]

    def _ids(self, venue_symbol: str) -> tuple[int, int]:
        return self.state["u"].setdefault(venue_symbol, _U0), self.state["seq"].setdefault(venue_symbol, _SEQ0)

    def _frame(self, venue_symbol: str, kind: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> str:
        u, seq = self._ids(venue_symbol)
        ts = _now_ms()
        data = {"s": venue_symbol, "b": self._rows(venue_symbol, bids), "a": self._rows(venue_symbol, asks), "u": u, "seq": seq}
        return _ENC.encode({"topic": f"orderbook.{_DEPTH}.{venue_symbol}", "type": kind, "ts": ts, "data": data, "cts": ts - 3}).decode()

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        return [self._frame(venue_symbol, "snapshot", book.bids(_DEPTH), book.asks(_DEPTH))]

    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        if not bids and not asks:
            return  # Bybit pushes nothing when the book did not change
        u, seq = self._ids(venue_symbol)
        self.state["u"][venue_symbol] = u + 1
        self.state["seq"][venue_symbol] = seq + 7  # the cross-depth seq moves faster than u

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]:
        if not bids and not asks:
            return []
        return [self._frame(venue_symbol, "delta", bids, asks)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        pp, qp = self._fmt(venue_symbol)
        ts = _now_ms()
        fill = {
            "T": ts,
            "s": venue_symbol,
            "S": "Buy" if trade.aggressor == "buy" else "Sell",
            "v": _text(trade.qty_1e8, 8, qp),
            "p": _text(trade.px_1e9, 9, pp),
            "L": "PlusTick" if trade.aggressor == "buy" else "MinusTick",
            "i": f"{trade.trade_id:08x}-0000-5000-8000-{zlib.crc32(venue_symbol.encode()):012x}",
            "BT": False,
            "RPI": False,
            "seq": self._ids(venue_symbol)[1],
        }
        frame: dict[str, Any] = {"topic": f"publicTrade.{venue_symbol}", "type": "snapshot", "ts": ts, "data": [fill]}
        return [_ENC.encode(frame).decode()]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BybitSpotSim(_BybitSim):
    venue = "bybit"
    category = "spot"
    ws_path = "/v5/public/spot"

    def to_venue(self, canonical: str) -> str:
        return spot_to_venue(canonical)


class BybitLinearSim(_BybitSim):
    venue = "bybit_linear"
    category = "linear"
    ws_path = "/v5/public/linear"

    def to_venue(self, canonical: str) -> str:
        return perp_to_venue(canonical)

    def _pong(self, conn: SimConn, req_id: str) -> str:
        # the derivatives sockets answer with op "pong" and the server time [verify per category]
        body = {"req_id": req_id, "op": "pong", "args": [str(_now_ms())], "conn_id": self._conn_id(conn)}
        return _ENC.encode(body).decode()


SIM_PROTOCOLS = {"bybit": BybitSpotSim, "bybit_linear": BybitLinearSim}

SIM_INSTRUMENTS = {
    "bybit": [
        SimInstrument("BTC-USDT", mid_px_1e9=97_012_340_000_000, tick_1e9=10_000_000, lot_1e8=100, base_qty_1e8=40_000_000),
        SimInstrument("ETH-USDT", mid_px_1e9=3_401_270_000_000, tick_1e9=10_000_000, lot_1e8=1_000, base_qty_1e8=900_000_000),
    ],
    "bybit_linear": [
        SimInstrument(
            "BTC-USDT-PERP", mid_px_1e9=96_985_000_000_000, tick_1e9=100_000_000, lot_1e8=100_000, base_qty_1e8=80_000_000
        ),
    ],
}
