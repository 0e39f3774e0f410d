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
from services.edges.sim.market import SimInstrument, SimMarket, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

_DEPTH = 50
_U0 = 10_132_540  # first update id per topic; far from 1, which clients must treat as a restart
_SEQ0 = 546_137_962_055
_ENC = msgspec.json.Encoder()


def _places(step: int, scale: int) -> int:
    """Decimal places of a tick or lot given as a scaled integer (0.01 at 1e9 -> 2)."""
    digits = str(step)
    return max(0, scale - (len(digits) - len(digits.rstrip("0"))))


def _text(value: int, scale: int, places: int) -> str:
    return format(unscale(value, scale), f".{places}f")


def _json(body: dict[str, Any]) -> str:
    return _ENC.encode(body).decode()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _BybitSim(SimProtocol):
    venue: str
    category: str

    def __init__(self) -> None:
        super().__init__()
        self.state = {"u": {}, "seq": {}}  # per topic, shared by every connection like the venue's
        self._conn_ids = itertools.count(1)

    def _market(self, venue_symbol: str) -> SimMarket | None:
        assert self.server is not None
        return self.server.markets_by_venue_symbol.get(venue_symbol)

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        try:
            msg = msgspec.json.decode(text)
        except msgspec.DecodeError:
            msg = None
        if not isinstance(msg, dict):
            return [self._reply(conn, "", "", False, f"Invalid request: {text[:60]}")]
        op, req_id = msg.get("op", ""), str(msg.get("req_id", ""))
        if op == "ping":
            return [self._pong(conn, req_id)]
        if op != "subscribe":
            return [self._reply(conn, op, req_id, False, f"Invalid op: {op}")]
        books, trades, bad = [], [], []
        for arg in msg.get("args") or []:
            parts = str(arg).split(".")
            if len(parts) == 3 and parts[:2] == ["orderbook", str(_DEPTH)] and self._market(parts[2]):
                books.append(parts[2])
            elif len(parts) == 2 and parts[0] == "publicTrade" and self._market(parts[1]):
                trades.append(parts[1])
            elif len(parts) == 2 and parts[0] == "tickers" and self.category == "linear" and self._market(parts[1]):
                conn.state.setdefault("tickers", set()).add(parts[1])
            else:  # the sim serves orderbook.50, publicTrade and (linear) tickers only
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
        return str(conn.state["conn_id"])

    def _reply(self, conn: SimConn, op: str, req_id: str, ok: bool, ret_msg: str) -> str:
        return _json({"success": ok, "ret_msg": ret_msg, "conn_id": self._conn_id(conn), "req_id": req_id, "op": op})

    def _pong(self, conn: SimConn, req_id: str) -> str:
        return self._reply(conn, "ping", req_id, True, "pong")

    # --- book and trades --------------------------------------------------------------------
    def _formats(self, venue_symbol: str) -> tuple[int, int]:
        market = self._market(venue_symbol)
        assert market is not None
        # Bybit prints prices with at least 2 decimals ("71423.80" on a 0.1 tick)
        return max(2, _places(market.instrument.tick_1e9, 9)), _places(market.instrument.lot_1e8, 8)

    def _rows(self, venue_symbol: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        pp, qp = self._formats(venue_symbol)
        return [[_text(px, 9, pp), _text(q, 8, qp)] for px, q in levels]

    def _ids(self, venue_symbol: str) -> tuple[int, int]:
        return self.state["u"].setdefault(venue_symbol, _U0), self.state["seq"].setdefault(venue_symbol, _SEQ0)

    def _book_frame(self, sym: str, kind: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> str:
        u, seq = self._ids(sym)
        ts = _now_ms()
        data = {"s": sym, "b": self._rows(sym, bids), "a": self._rows(sym, asks), "u": u, "seq": seq}
        return _json({"topic": f"orderbook.{_DEPTH}.{sym}", "type": kind, "ts": ts, "data": data, "cts": ts - 3})

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        return [self._book_frame(venue_symbol, "snapshot", book.bids(_DEPTH), book.asks(_DEPTH))]

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
        return [self._book_frame(venue_symbol, "delta", bids, asks)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        pp, qp = self._formats(venue_symbol)
        ts = _now_ms()
        buy = trade.aggressor == "buy"
        fill = {
            "T": ts,
            "s": venue_symbol,
            "S": "Buy" if buy else "Sell",
            "v": _text(trade.qty_1e8, 8, qp),
            "p": _text(trade.px_1e9, 9, pp),
            "L": "PlusTick" if buy else "MinusTick",
            "i": f"{trade.trade_id:08x}-0000-5000-8000-{zlib.crc32(venue_symbol.encode()):012x}",
            "BT": False,
            "RPI": False,
            "seq": self._ids(venue_symbol)[1],
        }
        return [_json({"topic": f"publicTrade.{venue_symbol}", "type": "snapshot", "ts": ts, "data": [fill]})]


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

    def funding_frames(self, conn: SimConn, venue_symbol: str, market: SimMarket) -> list[str]:
        """`tickers.<symbol>`: a full snapshot first, then deltas with the changed fields only."""
        if venue_symbol not in conn.state.get("tickers", ()):
            return []
        now = _now_ms()
        f = market.funding(now, 8 * 3_600_000)
        px_places = self._formats(venue_symbol)[0]
        data = {"symbol": venue_symbol, "markPrice": _text(f.mark_px_1e9, 9, px_places),
                "indexPrice": _text(f.index_px_1e9, 9, px_places), "fundingRate": f.rate_text,
                "nextFundingTime": str(f.next_funding_ms)}
        sent: set[str] = conn.state.setdefault("ticker_sent", set())
        kind = "delta" if venue_symbol in sent else "snapshot"
        if kind == "snapshot":
            data["fundingIntervalHour"] = "8"
            sent.add(venue_symbol)
        return [_json({"topic": f"tickers.{venue_symbol}", "type": kind, "data": data, "cs": now, "ts": now})]

    def _pong(self, conn: SimConn, req_id: str) -> str:
        # the other documented pong shape: op "pong" with the server time [verify per category]
        return _json({"req_id": req_id, "op": "pong", "args": [str(_now_ms())], "conn_id": self._conn_id(conn)})


SIM_PROTOCOLS = {"bybit": BybitSpotSim, "bybit_linear": BybitLinearSim}

# Spot: 0.01 ticks, 0.000001 BTC / 0.00001 ETH lots. Linear: 0.1 ticks, 0.001 BTC lots.
SIM_INSTRUMENTS = {
    "bybit": [
        SimInstrument("BTC-USDT", mid_px_1e9=97_012_340_000_000, tick_1e9=10**7, lot_1e8=100, base_qty_1e8=40_000_000),
        SimInstrument("ETH-USDT", mid_px_1e9=3_401_270_000_000, tick_1e9=10**7, lot_1e8=1_000, base_qty_1e8=9 * 10**8),
    ],
    "bybit_linear": [
        SimInstrument(
            "BTC-USDT-PERP", mid_px_1e9=96_985_000_000_000, tick_1e9=10**8, lot_1e8=100_000, base_qty_1e8=80_000_000
        ),
    ],
}
