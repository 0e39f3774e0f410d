"""OKX v5 public protocol for the local sim: books snapshot/updates with seqIds and CRC32, trades."""

from __future__ import annotations

import json
import time
from typing import Any

from services.edges.book import L2Book
from services.edges.numbers import PX_SCALE, QTY_SCALE, wire_decimal
from services.edges.okx.adapter import to_venue_symbol
from services.edges.okx.book import CHECKSUM_DEPTH, book_checksum
from services.edges.sim.market import SimInstrument, SimMarket, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

FIRST_SEQ_ID = 10_452_301_877  # arbitrary: real seqIds are large and not consecutive
SNAPSHOT_DEPTH = 400
_FUNDING_CHANNELS = ("mark-price", "funding-rate")  # swaps only
_FUNDING_INTERVAL_MS = 8 * 3_600_000


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _now_ms() -> str:
    return str(time.time_ns() // 1_000_000)


class OkxSimProtocol(SimProtocol):
    """Speak `/ws/v5/public`: `books` + `trades` subscriptions, text ping/pong."""

    venue = "okx"
    ws_path = "/ws/v5/public"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        conn_id = conn.state.setdefault("conn_id", f"{id(conn) & 0xFFFFFFFF:08x}")
        try:
            msg = json.loads(text)
            op, args = msg["op"], msg["args"]
            if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
                raise ValueError(op)
        except (ValueError, KeyError, TypeError):
            return [
                _compact({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:60]}", "connId": conn_id})
            ]
        replies: list[str] = []
        trades: set[str] = conn.state.setdefault("trades", set())
        assert self.server is not None
        for arg in args:
            arg = arg if isinstance(arg, dict) else {}
            channel, inst = arg.get("channel", ""), arg.get("instId", "")
            perp_only = channel in _FUNDING_CHANNELS and not inst.endswith("-SWAP")
            if channel not in ("books", "trades", *_FUNDING_CHANNELS) or perp_only or inst not in self.server.markets_by_venue_symbol:
                replies.append(
                    _compact(
                        {
                            "event": "error",
                            "code": "60018",
                            "msg": f"Wrong URL or channel:{channel},instId:{inst} doesn't exist.",
                            "connId": conn_id,
                        }
                    )
                )
                continue
            if channel in _FUNDING_CHANNELS:
                subscribed: set[str] = conn.state.setdefault(channel, set())
                (subscribed.add if op == "subscribe" else subscribed.discard)(inst)
            elif op == "subscribe":
                if channel == "books":
                    self.subscribe(conn, inst)
                else:
                    trades.add(inst)
            elif channel == "books":
                conn.subscribed.discard(inst)
            else:
                trades.discard(inst)
            replies.append(_compact({"event": op, "arg": {"channel": channel, "instId": inst}, "connId": conn_id}))
        return replies

    # --- book frames ------------------------------------------------------------------------
    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        _, seq = self.state.get(venue_symbol, (-1, FIRST_SEQ_ID))
        # Grow by more than one, as OKX does, so a client assuming +1 would fail.
        self.state[venue_symbol] = (seq, seq + 1 + len(bids) + len(asks))

    def _seq(self, venue_symbol: str) -> tuple[int, int]:
        seqs: tuple[int, int] = self.state.get(venue_symbol, (-1, FIRST_SEQ_ID))
        return seqs

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        bids = _rows(book.bids(SNAPSHOT_DEPTH))
        asks = _rows(book.asks(SNAPSHOT_DEPTH))
        data = {
            "asks": asks,
            "bids": bids,
            "ts": _now_ms(),
            "checksum": _checksum(bids, asks),
            "prevSeqId": -1,
            "seqId": self._seq(venue_symbol)[1],
        }
        return [_compact({"arg": {"channel": "books", "instId": venue_symbol}, "action": "snapshot", "data": [data]})]

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
        prev, seq = self._seq(venue_symbol)
        data = {
            "asks": _rows(asks),
            "bids": _rows(bids),
            "ts": _now_ms(),
            "checksum": checksum,
            "prevSeqId": prev,
            "seqId": seq,
        }
        return [_compact({"arg": {"channel": "books", "instId": venue_symbol}, "action": "update", "data": [data]})]

    def funding_frames(self, conn: SimConn, venue_symbol: str, market: SimMarket) -> list[str]:
        now = int(_now_ms())
        f = market.funding(now, _FUNDING_INTERVAL_MS)
        frames = []
        if venue_symbol in conn.state.get("mark-price", ()):
            data = {"instType": "SWAP", "instId": venue_symbol, "markPx": wire_decimal(f.mark_px_1e9, PX_SCALE),
                    "ts": str(now)}
            frames.append(_compact({"arg": {"channel": "mark-price", "instId": venue_symbol}, "data": [data]}))
        if venue_symbol in conn.state.get("funding-rate", ()):
            data = {"instType": "SWAP", "instId": venue_symbol, "fundingRate": f.rate_text, "nextFundingRate": "",
                    "fundingTime": str(f.next_funding_ms),
                    "nextFundingTime": str(f.next_funding_ms + _FUNDING_INTERVAL_MS),
                    "method": "current_period", "ts": str(now)}
            frames.append(_compact({"arg": {"channel": "funding-rate", "instId": venue_symbol}, "data": [data]}))
        return frames

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if venue_symbol not in conn.state.get("trades", ()):
            return []
        data = {
            "instId": venue_symbol,
            "tradeId": str(trade.trade_id),
            "px": wire_decimal(trade.px_1e9, PX_SCALE),
            "sz": wire_decimal(trade.qty_1e8, QTY_SCALE),
            "side": trade.aggressor,
            "ts": _now_ms(),
        }
        return [_compact({"arg": {"channel": "trades", "instId": venue_symbol}, "data": [data]})]


def _rows(levels: list[tuple[int, int]]) -> list[list[str]]:
    # [px, sz, deprecated liquidated-orders "0", order count]
    return [[wire_decimal(px, PX_SCALE), wire_decimal(q, QTY_SCALE), "0", "1" if q else "0"] for px, q in levels]


def _checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    return book_checksum([(r[0], r[1]) for r in bids], [(r[0], r[1]) for r in asks])


SIM_PROTOCOLS = {"okx": OkxSimProtocol}
SIM_INSTRUMENTS = {
    "okx": [
        # mids nudged off the other venues' (+0.03%) so the cluster's venues differ
        SimInstrument("BTC-USDT", mid_px_1e9=97_029_100_000_000, tick_1e9=100_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USDT", mid_px_1e9=3_401_020_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=500_000_000
        ),
        # swap sizes are contracts (ctVal 0.01 BTC), lot 0.01 contract
        SimInstrument(
            "BTC-USDT-PERP",
            mid_px_1e9=97_047_300_000_000,
            tick_1e9=100_000_000,
            lot_1e8=1_000_000,
            base_qty_1e8=5_000_000_000,
        ),
    ]
}
