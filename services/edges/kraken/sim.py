"""Kraken WebSocket v2 for the local venue server: book (with real CRC32s), trades, instrument.

The book follows Kraken's depth-N rules: each connection's view is the top N levels; an update
carries the levels that changed inside the view and deletes for levels that left the book, but
no delete for a level merely pushed below depth N (the client truncates). Numbers go out as JSON
numbers padded to the pair's precision, and every checksum is computed over exactly that text.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from services.edges.book import L2Book
from services.edges.numbers import unscale
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

QTY_PRECISION = 8  # Kraken spot pairs publish sizes with 8 decimals
CHECKSUM_LEVELS = 10
DEPTHS = (10, 25, 100, 500, 1000)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fmt(value: int, places: int, precision: int) -> str:
    return format(unscale(value, places).quantize(Decimal(1).scaleb(-precision)), "f")


def _token(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def checksum_of(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    """CRC32 over wire text: top 10 asks ascending then top 10 bids descending (Kraken docs)."""
    text = "".join(_token(p) + _token(q) for p, q in asks[:CHECKSUM_LEVELS])
    text += "".join(_token(p) + _token(q) for p, q in bids[:CHECKSUM_LEVELS])
    return zlib.crc32(text.encode("ascii"))


class KrakenSim(SimProtocol):
    venue = "kraken"
    ws_path = "/v2"

    def to_venue(self, canonical: str) -> str:
        return canonical.replace("-", "/")

    # --- formatting -------------------------------------------------------------------------
    def price_precision(self, venue_symbol: str) -> int:
        assert self.server is not None
        tick = self.server.markets_by_venue_symbol[venue_symbol].instrument.tick_1e9
        places = 9
        while places and tick % 10 == 0:
            tick //= 10
            places -= 1
        return places

    def _texts(self, venue_symbol: str, levels: list[tuple[int, int]]) -> list[tuple[str, str]]:
        pp = self.price_precision(venue_symbol)
        return [(_fmt(px, 9, pp), _fmt(q, 8, QTY_PRECISION)) for px, q in levels]

    def _book_frame(
        self, kind: str, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], checksum: int
    ) -> str:
        def side(levels: list[tuple[int, int]]) -> str:
            return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in self._texts(venue_symbol, levels))

        stamp = "" if kind == "snapshot" else f',"timestamp":"{_now()}"'  # as the real feed does
        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{venue_symbol}",'
            f'"bids":[{side(bids)}],"asks":[{side(asks)}],"checksum":{checksum}{stamp}}}]}}'
        )

    def _view_checksum(self, venue_symbol: str, view: dict[str, dict[int, int]]) -> int:
        asks = sorted(view["asks"].items())[:CHECKSUM_LEVELS]
        bids = sorted(view["bids"].items(), reverse=True)[:CHECKSUM_LEVELS]
        return checksum_of(self._texts(venue_symbol, asks), self._texts(venue_symbol, bids))

    # --- client frames ----------------------------------------------------------------------
    def _ack(self, method: str, req_id: Any, result: dict[str, Any]) -> str:
        now = _now()
        body: dict[str, Any] = {"method": method, "result": result, "success": True, "time_in": now, "time_out": now}
        if req_id is not None:
            body["req_id"] = req_id
        return json.dumps(body)

    def _error(self, method: str, req_id: Any, error: str, symbol: str | None = None) -> str:
        now = _now()
        body: dict[str, Any] = {"error": error, "method": method, "success": False, "time_in": now, "time_out": now}
        if symbol is not None:
            body["symbol"] = symbol
        if req_id is not None:
            body["req_id"] = req_id
        return json.dumps(body)

    def _instrument_snapshot(self) -> str:
        assert self.server is not None
        pairs = []
        for sym, market in self.server.markets_by_venue_symbol.items():
            base, quote = sym.split("/")
            pp = self.price_precision(sym)
            # Increments are JSON numbers on the wire: write their text, never a float.
            pairs.append(
                f'{{"symbol":"{sym}","base":"{base}","quote":"{quote}","status":"online",'
                f'"qty_precision":{QTY_PRECISION},"qty_increment":{_fmt(market.instrument.lot_1e8, 8, 8)},'
                f'"price_precision":{pp},"price_increment":{_fmt(market.instrument.tick_1e9, 9, pp)},'
                f'"marginable":false}}'
            )
        return f'{{"channel":"instrument","type":"snapshot","data":{{"assets":[],"pairs":[{",".join(pairs)}]}}}}'

    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        try:
            msg = json.loads(text)
        except ValueError:
            return [json.dumps({"error": "Malformed request", "success": False, "time_in": _now(), "time_out": _now()})]
        if not isinstance(msg, dict):
            return [json.dumps({"error": "Malformed request", "success": False, "time_in": _now(), "time_out": _now()})]
        method, req_id = msg.get("method", ""), msg.get("req_id")
        params = msg.get("params") or {}
        if method == "ping":
            body: dict[str, Any] = {"method": "pong", "time_in": _now(), "time_out": _now()}
            if req_id is not None:
                body["req_id"] = req_id
            return [json.dumps(body)]
        if method not in ("subscribe", "unsubscribe"):
            return [self._error(method, req_id, "Method not supported")]
        channel = params.get("channel")
        if channel == "instrument":
            if method == "unsubscribe":
                return [self._ack(method, req_id, {"channel": "instrument"})]
            return [self._ack(method, req_id, {"channel": "instrument", "snapshot": True}), self._instrument_snapshot()]
        if channel not in ("book", "trade"):
            return [self._error(method, req_id, f"Channel {channel!r} not supported")]
        return self._symbols(conn, method, req_id, channel, params)

    def _symbols(self, conn: SimConn, method: str, req_id: Any, channel: str, params: dict[str, Any]) -> list[str]:
        assert self.server is not None
        out: list[str] = []
        depth = params.get("depth", 10)
        if channel == "book" and depth not in DEPTHS:
            return [self._error(method, req_id, f"Invalid depth {depth}")]
        for sym in params.get("symbol") or []:
            if sym not in self.server.markets_by_venue_symbol:
                out.append(self._error(method, req_id, f"Currency pair not supported {sym}", sym))
                continue
            result: dict[str, Any] = {"channel": channel, "symbol": sym}
            if channel == "book":
                result |= {"depth": depth, "snapshot": True}
                if method == "subscribe":
                    conn.state.setdefault("depth", {})[sym] = depth
                    self.subscribe(conn, sym)
                else:
                    conn.subscribed.discard(sym)
                    conn.state.get("view", {}).pop(sym, None)
            else:
                trades: set[str] = conn.state.setdefault("trades", set())
                if method == "subscribe":
                    trades.add(sym)
                else:
                    trades.discard(sym)
            out.append(self._ack(method, req_id, result))
        return out

    # --- server frames ----------------------------------------------------------------------
    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        n = conn.state.get("depth", {}).get(venue_symbol, 10)
        bids, asks = book.bids(n), book.asks(n)
        view = {"bids": dict(bids), "asks": dict(asks)}
        conn.state.setdefault("view", {})[venue_symbol] = view
        self._count(conn, venue_symbol)
        return [self._book_frame("snapshot", venue_symbol, bids, asks, self._view_checksum(venue_symbol, view))]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]:
        view = conn.state.get("view", {}).get(venue_symbol)
        if view is None:
            return []
        n = conn.state.get("depth", {}).get(venue_symbol, 10)
        out_bids = self._diff(view["bids"], book.bids(n), book.bid_qty)
        out_asks = self._diff(view["asks"], book.asks(n), book.ask_qty)
        if not out_bids and not out_asks:
            if corrupt_checksum:  # nothing to send this tick: keep the fault for the next frame
                conn.pending_faults[f"bad_checksum:{venue_symbol}"] = 1
            return []
        checksum = self._view_checksum(venue_symbol, view)
        if corrupt_checksum:
            checksum ^= 0x5A5A5A5A
        self._count(conn, venue_symbol)
        return [self._book_frame("update", venue_symbol, out_bids, out_asks, checksum)]

    @staticmethod
    def _count(conn: SimConn, venue_symbol: str) -> None:
        # Book frames rendered for this connection: tests compare books when they have seen them all.
        rendered: dict[str, int] = conn.state.setdefault("rendered", {})
        rendered[venue_symbol] = rendered.get(venue_symbol, 0) + 1

    @staticmethod
    def _diff(view: dict[int, int], top: list[tuple[int, int]], qty_now: Callable[[int], int]) -> list[tuple[int, int]]:
        """Update the connection's view to `top`; return the levels Kraken would send."""
        changes: list[tuple[int, int]] = []
        new = dict(top)
        for px in [px for px in view if px not in new]:
            if qty_now(px) == 0:
                changes.append((px, 0))  # gone from the book: Kraken sends the delete
            # else: pushed below depth N, no message; the client truncates
            del view[px]
        for px, q in top:
            if view.get(px) != q:
                changes.append((px, q))
                view[px] = q
        return changes

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        pp = self.price_precision(venue_symbol)
        return [
            f'{{"channel":"trade","type":"update","data":[{{"symbol":"{venue_symbol}","side":"{trade.aggressor}",'
            f'"price":{_fmt(trade.px_1e9, 9, pp)},"qty":{_fmt(trade.qty_1e8, 8, QTY_PRECISION)},'
            f'"ord_type":"market","trade_id":{trade.trade_id},"timestamp":"{_now()}"}}]}}'
        ]

    def heartbeat_frames(self, conn: SimConn) -> list[str]:
        if conn.subscribed or conn.state.get("trades"):
            return ['{"channel":"heartbeat"}']
        return []


SIM_PROTOCOLS = {"kraken": KrakenSim}
SIM_INSTRUMENTS = {
    "kraken": [
        SimInstrument("BTC-USD", mid_px_1e9=97_030_000_000_000, tick_1e9=100_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USD", mid_px_1e9=3_401_100_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
    ]
}
