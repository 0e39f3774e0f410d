"""Crypto.com Exchange v1 market socket for the local sim: book snapshot + `pu`-chained deltas,
trades, and the server heartbeat a client must answer."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

from services.edges.book import L2Book
from services.edges.cryptocom.adapter import to_venue_symbol
from services.edges.numbers import PX_SCALE, QTY_SCALE, unscale
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

FIRST_U = 375_554_806_244_928  # arbitrary: real u values are large and not consecutive
DEPTHS = (10, 50)
MAX_UNANSWERED_HEARTBEATS = 5  # the venue closes after ~5 s without a reply


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _places(step: int, scale: int) -> int:
    # decimals of a tick/lot given in fixed point: 10_000_000 at scale 9 (0.01) -> 2
    return max(0, scale - (len(str(step)) - len(str(step).rstrip("0"))))


class CryptocomSimProtocol(SimProtocol):
    """Speak `/exchange/v1/market`: `book.{i}.{depth}` (SNAPSHOT_AND_UPDATE) and `trade.{i}`."""

    venue = "cryptocom"
    ws_path = "/exchange/v1/market"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    def _fmt(self, venue_symbol: str, px: int, qty: int) -> tuple[str, str]:
        # fixed decimals from the instrument's tick and lot, as the venue sends ("2749.90")
        assert self.server is not None
        inst = self.server.markets_by_venue_symbol[venue_symbol].instrument
        px_places, qty_places = _places(inst.tick_1e9, PX_SCALE), _places(inst.lot_1e8, QTY_SCALE)
        return (
            format(unscale(px, PX_SCALE).quantize(Decimal(1).scaleb(-px_places)), "f"),
            format(unscale(qty, QTY_SCALE).quantize(Decimal(1).scaleb(-qty_places)), "f"),
        )

    def _rows(self, venue_symbol: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        return [[*self._fmt(venue_symbol, px, q), "1" if q else "0"] for px, q in levels]

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        try:
            msg = json.loads(text)
            req_id, method = msg.get("id", 0), msg["method"]
            channels = msg.get("params", {}).get("channels", [])
            if not isinstance(channels, list):
                raise TypeError("channels")
        except (ValueError, KeyError, TypeError, AttributeError):
            return [_compact({"id": -1, "method": "", "code": 10004, "message": "BAD_REQUEST"})]
        if method == "public/respond-heartbeat":
            if isinstance(req_id, int):
                conn.state.get("heartbeats", set()).discard(req_id)
            return []
        if method not in ("subscribe", "unsubscribe"):
            return [_compact({"id": req_id, "method": method, "code": 10004, "message": "BAD_REQUEST"})]
        trades: set[str] = conn.state.setdefault("trades", set())
        replies: list[str] = []
        for channel in channels:
            inst = self._instrument(channel)
            if inst is None:
                replies.append(
                    _compact(
                        {"id": req_id, "method": method, "code": 40003, "channel": channel, "message": "Unknown symbol"}
                    )
                )
                continue
            is_book = channel.startswith("book.")
            if method == "subscribe":
                if is_book:
                    self.subscribe(conn, inst)
                else:
                    trades.add(inst)
            elif is_book:
                conn.subscribed.discard(inst)
            else:
                trades.discard(inst)
            replies.append(_compact({"id": req_id, "method": method, "code": 0, "channel": channel}))
        return replies

    def _instrument(self, channel: object) -> str | None:
        # book.{i}.{10|50} or trade.{i}; the sim's books stay within 35 levels, so 10 and 50
        # are served the same levels
        assert self.server is not None
        if not isinstance(channel, str):
            return None
        parts = channel.split(".")
        known = len(parts) >= 2 and parts[1] in self.server.markets_by_venue_symbol
        if parts[0] == "book" and len(parts) == 3 and known and parts[2] in {str(d) for d in DEPTHS}:
            return parts[1]
        if parts[0] == "trade" and len(parts) == 2 and known:
            return parts[1]
        return None

    # --- heartbeat --------------------------------------------------------------------------
    def heartbeat_frames(self, conn: SimConn) -> list[str]:
        pending: set[int] = conn.state.setdefault("heartbeats", set())
        if len(pending) >= MAX_UNANSWERED_HEARTBEATS:
            # The venue drops clients that never answer; keep the task so it is not collected.
            conn.state["closing"] = asyncio.get_running_loop().create_task(
                conn.ws.close(1000, "heartbeat not answered")
            )
            return []
        hb_id = _now_ms() * 100 + len(pending)  # unique even within one ms
        pending.add(hb_id)
        return [_compact({"id": hb_id, "method": "public/heartbeat", "code": 0})]

    # --- book frames ------------------------------------------------------------------------
    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        _, u = self.state.get(venue_symbol, (0, FIRST_U))
        self.state[venue_symbol] = (u, u + 38_528 * (1 + len(bids) + len(asks)))

    def _u(self, venue_symbol: str) -> tuple[int, int]:
        seqs: tuple[int, int] = self.state.get(venue_symbol, (0, FIRST_U))
        return seqs

    def _push(self, venue_symbol: str, channel: str, data: dict[str, Any]) -> str:
        result = {
            "instrument_name": venue_symbol,
            "subscription": f"book.{venue_symbol}.50",
            "channel": channel,
            "depth": 50,
            "data": [data],
        }
        return _compact({"id": -1, "method": "subscribe", "code": 0, "result": result})

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        now = _now_ms()
        data = {
            "asks": self._rows(venue_symbol, book.asks(50)),
            "bids": self._rows(venue_symbol, book.bids(50)),
            "t": now,
            "tt": now,
            "u": self._u(venue_symbol)[1],
            "cs": 0,  # the venue's algorithm is unpublished; clients ignore it
        }
        return [self._push(venue_symbol, "book", data)]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,  # no checkable checksum on this venue
    ) -> list[str]:
        pu, u = self._u(venue_symbol)
        now = _now_ms()
        update = {"asks": self._rows(venue_symbol, asks), "bids": self._rows(venue_symbol, bids)}
        data = {"update": update, "t": now, "tt": now, "u": u, "pu": pu, "cs": 0}
        return [self._push(venue_symbol, "book.update", data)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        px, qty = self._fmt(venue_symbol, trade.px_1e9, trade.qty_1e8)
        item = {
            "d": str(4_611_686_018_427_387_904 + trade.trade_id),
            "t": _now_ms(),
            "p": px,
            "q": qty,
            "s": trade.aggressor.upper(),
            "i": venue_symbol,
        }
        result = {
            "instrument_name": venue_symbol,
            "subscription": f"trade.{venue_symbol}",
            "channel": "trade",
            "data": [item],
        }
        return [_compact({"id": -1, "method": "subscribe", "code": 0, "result": result})]


SIM_PROTOCOLS = {"cryptocom": CryptocomSimProtocol}
SIM_INSTRUMENTS = {
    "cryptocom": [
        # mids nudged (+0.04% / -0.03%) so the cluster's venues differ; tick 0.01, lot 0.00001 / 0.0001
        SimInstrument("BTC-USDT", mid_px_1e9=97_038_800_000_000, tick_1e9=10_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USDT", mid_px_1e9=3_398_980_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
    ]
}
