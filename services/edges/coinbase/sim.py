"""Coinbase Advanced Trade for the local venue server: level2, market_trades, heartbeats.

Every frame a connection is sent takes the next `sequence_num` of that connection, across all
channels, exactly as the venue numbers them. A `gap` fault drops a rendered frame, so its
number is skipped on the wire. Numbers go out as trimmed decimal strings ("97000.1", "0").
"""

from __future__ import annotations

import json
import time
from typing import Any

from services.edges.book import L2Book
from services.edges.numbers import unscale
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

_MAKER_SIDE = {"buy": "SELL", "sell": "BUY"}  # `side` reports the maker (see CoinbaseConfig)


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def _num(value: int, places: int) -> str:
    return format(unscale(value, places).normalize(), "f")


class CoinbaseSim(SimProtocol):
    venue = "coinbase"
    ws_path = "/"

    def to_venue(self, canonical: str) -> str:
        return canonical

    def _frame(self, conn: SimConn, channel: str, events: list[dict[str, Any]]) -> str:
        seq = conn.state.get("next_seq", 0)
        conn.state["next_seq"] = seq + 1
        conn.state["last_seq"] = seq  # rendered (a gap fault may still drop it)
        body = {"channel": channel, "client_id": "", "timestamp": _now(), "sequence_num": seq, "events": events}
        return json.dumps(body, separators=(",", ":"))

    def _subscriptions(self, conn: SimConn) -> str:
        subs: dict[str, list[str]] = {}
        if conn.state.get("heartbeats"):
            subs["heartbeats"] = ["heartbeats"]
        if conn.subscribed:
            subs["level2"] = sorted(conn.subscribed)
        if conn.state.get("trades"):
            subs["market_trades"] = sorted(conn.state["trades"])
        return self._frame(conn, "subscriptions", [{"subscriptions": subs}])

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        assert self.server is not None
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or msg.get("type") not in ("subscribe", "unsubscribe"):
            return [json.dumps({"type": "error", "message": "Failed to parse the request"})]
        on = msg["type"] == "subscribe"
        channel = msg.get("channel")
        products = msg.get("product_ids") or []
        if channel == "heartbeats":
            conn.state["heartbeats"] = on
        elif channel in ("level2", "market_trades"):
            unknown = [p for p in products if p not in self.server.markets_by_venue_symbol]
            if unknown or not products:
                return [json.dumps({"type": "error", "message": f"Failed to subscribe: unknown product {unknown}"})]
            for p in products:
                if channel == "market_trades":
                    trades: set[str] = conn.state.setdefault("trades", set())
                    if on:
                        trades.add(p)
                    else:
                        trades.discard(p)
                elif on:
                    self.subscribe(conn, p)  # the snapshot follows the ack
                else:
                    conn.subscribed.discard(p)
        else:
            return [json.dumps({"type": "error", "message": "authentication failure"})]  # what the venue says
        return [self._subscriptions(conn)]

    # --- server frames ----------------------------------------------------------------------
    def _l2(self, conn: SimConn, kind: str, sym: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> str:
        now = _now()
        updates = [
            {"side": side, "event_time": now, "price_level": _num(px, 9), "new_quantity": _num(q, 8)}
            for side, levels in (("bid", bids), ("offer", asks))
            for px, q in levels
        ]
        return self._frame(conn, "l2_data", [{"type": kind, "product_id": sym, "updates": updates}])

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        return [self._l2(conn, "snapshot", venue_symbol, book.bids(), book.asks())]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,  # level2 has no checksum
    ) -> list[str]:
        if not bids and not asks:
            return []
        return [self._l2(conn, "update", venue_symbol, bids, asks)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        t = {
            "trade_id": str(trade.trade_id),
            "product_id": venue_symbol,
            "price": _num(trade.px_1e9, 9),
            "size": _num(trade.qty_1e8, 8),
            "side": _MAKER_SIDE[trade.aggressor],
            "time": _now(),
        }
        return [self._frame(conn, "market_trades", [{"type": "update", "trades": [t]}])]

    def heartbeat_frames(self, conn: SimConn) -> list[str]:
        if not conn.state.get("heartbeats"):
            return []
        counter = conn.state.get("heartbeat_counter", 0) + 1
        conn.state["heartbeat_counter"] = counter
        return [self._frame(conn, "heartbeats", [{"current_time": _now(), "heartbeat_counter": counter}])]


SIM_PROTOCOLS = {"coinbase": CoinbaseSim}
SIM_INSTRUMENTS = {
    "coinbase": [
        SimInstrument("BTC-USD", mid_px_1e9=96_970_000_000_000, tick_1e9=10_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USD", mid_px_1e9=3_398_800_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
    ]
}
