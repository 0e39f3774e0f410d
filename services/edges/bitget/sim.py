"""Bitget v2 public protocol for the local sim: spot books with seq/pseq and CRC32, trades."""

from __future__ import annotations

import json
import time
from typing import Any

from services.edges.bitget.adapter import INST_TYPE, to_venue_symbol
from services.edges.book import L2Book
from services.edges.numbers import PX_SCALE, QTY_SCALE, wire_decimal
from services.edges.okx.book import CHECKSUM_DEPTH, book_checksum
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

FIRST_SEQ = 395_681_152  # arbitrary: real seqs are large and grow by more than one


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BitgetSimProtocol(SimProtocol):
    """Speak `/v2/ws/public`: SPOT `books` + `trade` subscriptions, text ping/pong."""

    venue = "bitget"
    ws_path = "/v2/ws/public"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        try:
            msg = json.loads(text)
            op, args = msg["op"], msg["args"]
            if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
                raise ValueError(op)
        except (ValueError, KeyError, TypeError):
            return [_compact({"event": "error", "code": 30004, "msg": "The request format is invalid"})]
        assert self.server is not None
        trades: set[str] = conn.state.setdefault("trades", set())
        replies: list[str] = []
        for arg in args:
            arg = arg if isinstance(arg, dict) else {}
            inst_type, channel, inst = arg.get("instType"), arg.get("channel"), arg.get("instId", "")
            echo = {"instType": inst_type, "channel": channel, "instId": inst}
            if (
                inst_type != INST_TYPE
                or channel not in ("books", "trade")
                or inst not in self.server.markets_by_venue_symbol
            ):
                replies.append(
                    _compact(
                        {
                            "event": "error",
                            "arg": echo,
                            "code": 30001,
                            "msg": f"instType:{inst_type},channel:{channel},instId:{inst} doesn't exist",
                            "op": op,
                        }
                    )
                )
                continue
            if op == "subscribe":
                if channel == "books":
                    self.subscribe(conn, inst)
                else:
                    trades.add(inst)
            elif channel == "books":
                conn.subscribed.discard(inst)
            else:
                trades.discard(inst)
            replies.append(_compact({"event": op, "arg": echo}))
        return replies

    # --- book frames ------------------------------------------------------------------------
    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        _, seq = self.state.get(venue_symbol, (0, FIRST_SEQ))
        self.state[venue_symbol] = (seq, seq + 1 + 3 * (len(bids) + len(asks)))

    def _seq(self, venue_symbol: str) -> tuple[int, int]:
        seqs: tuple[int, int] = self.state.get(venue_symbol, (0, FIRST_SEQ))
        return seqs

    def _push(self, venue_symbol: str, action: str, data: dict[str, Any]) -> str:
        arg = {"instType": INST_TYPE, "channel": "books", "instId": venue_symbol}
        return _compact({"action": action, "arg": arg, "data": [data], "ts": _now_ms()})

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        bids, asks = _rows(book.bids()), _rows(book.asks())
        # Real v2 snapshots may send checksum 0; the sim sends the real one so it is exercised.
        data = {
            "asks": asks,
            "bids": bids,
            "checksum": _checksum(bids, asks),
            "seq": self._seq(venue_symbol)[1],
            "ts": str(_now_ms()),
        }
        return [self._push(venue_symbol, "snapshot", data)]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]:
        checksum = _checksum(_rows(book.bids(CHECKSUM_DEPTH)), _rows(book.asks(CHECKSUM_DEPTH)))
        if corrupt_checksum:
            checksum = (checksum ^ 0x2F) or 1  # low bits only: stays a valid, non-zero int32
        pseq, seq = self._seq(venue_symbol)
        data = {
            "asks": _rows(asks),
            "bids": _rows(bids),
            "checksum": checksum,
            "seq": seq,
            "pseq": pseq,
            "ts": str(_now_ms()),
        }
        return [self._push(venue_symbol, "update", data)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        now = _now_ms()
        data = {
            "ts": str(now),
            "price": wire_decimal(trade.px_1e9, PX_SCALE),
            "size": wire_decimal(trade.qty_1e8, QTY_SCALE),
            "side": trade.aggressor,
            "tradeId": str(1_370_000_000_000_000_000 + trade.trade_id),
        }
        arg = {"instType": INST_TYPE, "channel": "trade", "instId": venue_symbol}
        return [_compact({"action": "update", "arg": arg, "data": [data], "ts": now})]


def _rows(levels: list[tuple[int, int]]) -> list[list[str]]:
    return [[wire_decimal(px, PX_SCALE), wire_decimal(q, QTY_SCALE)] for px, q in levels]


def _checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    return book_checksum([(r[0], r[1]) for r in bids], [(r[0], r[1]) for r in asks])


SIM_PROTOCOLS = {"bitget": BitgetSimProtocol}
SIM_INSTRUMENTS = {
    "bitget": [
        # mids nudged (-0.02%) so the cluster's venues differ; tick 0.01, lot 0.00001
        SimInstrument("BTC-USDT", mid_px_1e9=96_980_600_000_000, tick_1e9=10_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USDT", mid_px_1e9=3_399_330_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
    ]
}
