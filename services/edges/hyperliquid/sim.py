"""Hyperliquid for the local venue server: l2Book pushes (the whole top 20 every time), trades, pong.

Numbers go out the way the venue writes them: trimmed, with at least one decimal ("97045.0",
"0.00123"). There is no sequence or checksum, so a `gap` fault just drops one push and
`bad_checksum` has nothing to corrupt.
"""

from __future__ import annotations

import json
import time
from typing import Any

from services.edges.book import L2Book
from services.edges.numbers import unscale
from services.edges.sim.market import SimInstrument, SimMarket, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

BOOK_LEVELS = 20
_SIDE = {"buy": "B", "sell": "A"}  # the taker's side
_CTX = "activeAssetCtx"  # mark price and funding per coin


def _num(value: int, places: int) -> str:
    text = format(unscale(value, places).normalize(), "f")
    return text if "." in text else text + ".0"


def _coin(canonical: str) -> str:
    return canonical.removesuffix("-USD-PERP")


class HyperliquidSim(SimProtocol):
    venue = "hyperliquid"
    ws_path = "/ws"

    def to_venue(self, canonical: str) -> str:
        return _coin(canonical)

    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        assert self.server is not None
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            error = f"Error parsing JSON into valid websocket request: {text}"
            return [json.dumps({"channel": "error", "data": error})]
        if msg.get("method") == "ping":
            return ['{"channel":"pong"}']
        sub = msg.get("subscription") or {}
        if msg.get("method") not in ("subscribe", "unsubscribe") or sub.get("type") not in ("l2Book", "trades", _CTX):
            return [json.dumps({"channel": "error", "data": f"Invalid subscription {json.dumps(sub)}"})]
        coin = sub.get("coin")
        if coin not in self.server.markets_by_venue_symbol:
            return [json.dumps({"channel": "error", "data": f"Invalid subscription {json.dumps(sub)}"})]
        on = msg["method"] == "subscribe"
        ack = json.dumps({"channel": "subscriptionResponse", "data": {"method": msg["method"], "subscription": sub}})
        if sub["type"] in ("trades", _CTX):
            trades: set[str] = conn.state.setdefault(sub["type"], set())
            if on:
                trades.add(coin)
            else:
                trades.discard(coin)
        elif on:
            self.subscribe(conn, coin)  # the first push follows the ack
        else:
            conn.subscribed.discard(coin)
        return [ack]

    def _push(self, conn: SimConn, coin: str, book: L2Book) -> str:
        def side(levels: list[tuple[int, int]]) -> list[dict[str, Any]]:
            return [{"px": _num(px, 9), "sz": _num(q, 8), "n": 1 + q % 3} for px, q in levels]

        data = {"coin": coin, "time": time.time_ns() // 1_000_000,
                "levels": [side(book.bids(BOOK_LEVELS)), side(book.asks(BOOK_LEVELS))]}
        frame = json.dumps({"channel": "l2Book", "data": data}, separators=(",", ":"))
        # Rendered (a gap fault may still drop it): tests compare books when they hold the last one.
        rendered: dict[str, int] = conn.state.setdefault("rendered", {})
        rendered[coin] = rendered.get(coin, 0) + 1
        conn.state.setdefault("last_push", {})[coin] = frame
        return frame

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        return [self._push(conn, venue_symbol, book)]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,  # l2Book has no checksum
    ) -> list[str]:
        return [self._push(conn, venue_symbol, book)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        t = {
            "coin": venue_symbol,
            "side": _SIDE[trade.aggressor],
            "px": _num(trade.px_1e9, 9),
            "sz": _num(trade.qty_1e8, 8),
            "time": time.time_ns() // 1_000_000,
            "hash": "0x" + f"{trade.trade_id:064x}",
            "tid": trade.trade_id,
            "users": ["0x" + "1" * 40, "0x" + "2" * 40],
        }
        return [json.dumps({"channel": "trades", "data": [t]}, separators=(",", ":"))]


    def funding_frames(self, conn: SimConn, venue_symbol: str, market: SimMarket) -> list[str]:
        if venue_symbol not in conn.state.get(_CTX, ()):
            return []
        f = market.funding(time.time_ns() // 1_000_000, 3_600_000)
        ctx = {"funding": f.rate_text, "markPx": _num(f.mark_px_1e9, 9), "oraclePx": _num(f.index_px_1e9, 9),
               "openInterest": "1234.5", "premium": "0.0", "prevDayPx": _num(f.index_px_1e9, 9)}
        return [json.dumps({"channel": _CTX, "data": {"coin": venue_symbol, "ctx": ctx}}, separators=(",", ":"))]


SIM_PROTOCOLS = {"hyperliquid": HyperliquidSim}
SIM_INSTRUMENTS = {
    "hyperliquid": [
        # Perp prices keep <= 5 significant figures: whole dollars for BTC, 0.1 for ETH.
        SimInstrument("BTC-USD-PERP", mid_px_1e9=97_045_000_000_000, tick_1e9=1_000_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USD-PERP", mid_px_1e9=3_401_700_000_000, tick_1e9=100_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
    ]
}
