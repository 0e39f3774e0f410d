"""Kalshi WebSocket v2 on loopback: `subscribe` -> `subscribed` (one sid per channel command),
`orderbook_snapshot` then one `orderbook_delta` per changed level with SIGNED counts and a per-sid
`seq`, `trade` prints, and `market_lifecycle_v2` notices pushed with `SimServer.lifecycle`
(`created_msg`, `determined_msg`). Kalshi pings at the WebSocket protocol level, so there are no heartbeat
frames; it has no checksum, so `bad_checksum` is a no-op.

The true book is the YES book: an ask at p is rendered as a NO bid at 1 - p. Levels the random walk
pushes outside (0, 1) dollars are not rendered (a real contract cannot trade there).
"""

from __future__ import annotations

import itertools
import time
import zlib
from typing import Any

import msgspec

from services.edges.book import L2Book
from services.edges.kalshi.adapter import to_venue_symbol
from services.edges.kalshi.parse import ONE_DOLLAR_1E9, event_ticker_of
from services.edges.numbers import unscale
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

_ENC = msgspec.json.Encoder()
_CHANNELS = ("orderbook_delta", "trade", "market_lifecycle_v2")
_ALL_MARKETS = ("market_lifecycle_v2",)  # channels that take no market filter


def _dollars(px_1e9: int) -> str:
    return format(unscale(px_1e9, 9), ".4f")


def _count(qty_1e8: int) -> str:
    return format(unscale(qty_1e8, 8), ".2f")


def _inside(px_1e9: int) -> bool:
    return 0 < px_1e9 < ONE_DOLLAR_1E9


class KalshiSim(SimProtocol):
    venue = "kalshi"
    ws_path = "/trade-api/ws/v2"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    # --- client frames ----------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        try:
            cmd = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return [_error(None, 1, "Unable to process message")]
        if not isinstance(cmd, dict):
            return [_error(None, 1, "Unable to process message")]
        cmd_id = cmd.get("id")
        if cmd.get("cmd") != "subscribe":
            return [_error(cmd_id, 5, "Unknown command")]
        params = cmd.get("params")
        if not isinstance(params, dict):
            return [_error(cmd_id, 2, "Params required")]
        channels = params.get("channels") or []
        if not channels:
            return [_error(cmd_id, 3, "Channels required")]
        if any(ch not in _CHANNELS for ch in channels):
            return [_error(cmd_id, 8, "Unknown channel name")]
        tickers = list(params.get("market_tickers") or [])
        if "market_ticker" in params:
            tickers.append(params["market_ticker"])
        assert self.server is not None
        unknown = [t for t in tickers if t not in self.server.markets_by_venue_symbol]
        if unknown or not (tickers or all(ch in _ALL_MARKETS for ch in channels)):
            return [_error(cmd_id, 11, f"Invalid parameter: market_tickers {unknown or tickers}")]
        sids = conn.state.setdefault("sid_counter", itertools.count(1))
        replies = []
        for channel in channels:
            sid = next(sids)
            conn.state.setdefault("seq", {})[sid] = 0
            replies.append(_frame({"id": cmd_id, "type": "subscribed", "msg": {"channel": channel, "sid": sid}}))
            if channel in _ALL_MARKETS:
                conn.state[channel] = sid  # every market, whatever tickers came along
                continue
            for ticker in tickers:
                conn.state.setdefault(channel, {})[ticker] = sid
                if channel == "orderbook_delta":
                    self.subscribe(conn, ticker)
        return replies

    def _next_seq(self, conn: SimConn, sid: int) -> int:
        conn.state["seq"][sid] += 1
        return conn.state["seq"][sid]

    # --- book -------------------------------------------------------------------------------
    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        yes = {px: q for px, q in book.bids() if _inside(px)}
        no = {ONE_DOLLAR_1E9 - px: q for px, q in book.asks() if _inside(px)}
        # What this subscriber has been told: the base the signed deltas are computed from.
        conn.state.setdefault("sent", {})[venue_symbol] = {"yes": yes, "no": no}
        sid = conn.state["orderbook_delta"][venue_symbol]
        msg: dict[str, Any] = {"market_ticker": venue_symbol, "market_id": _market_id(venue_symbol)}
        if yes:  # Kalshi omits an empty leg; levels ascend by price as in the docs example
            msg["yes_dollars_fp"] = [[_dollars(px), _count(q)] for px, q in sorted(yes.items())]
        if no:
            msg["no_dollars_fp"] = [[_dollars(px), _count(q)] for px, q in sorted(no.items())]
        seq = self._next_seq(conn, sid)
        return [_frame({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": msg})]

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]:
        sent = conn.state["sent"][venue_symbol]
        sid = conn.state["orderbook_delta"][venue_symbol]
        changes = [("yes", px, q) for px, q in bids if _inside(px)]
        changes += [("no", ONE_DOLLAR_1E9 - px, q) for px, q in asks if _inside(px)]
        now_ns = time.time_ns()
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ns // 10**9)) + f".{now_ns % 10**9 // 1000:06d}Z"
        frames = []
        for side, px, q in changes:
            change = q - sent[side].get(px, 0)
            if not change:
                continue
            if q:
                sent[side][px] = q
            else:
                sent[side].pop(px, None)
            msg = {
                "market_ticker": venue_symbol,
                "market_id": _market_id(venue_symbol),
                "price_dollars": _dollars(px),
                "delta_fp": _count(change),
                "side": side,
                "ts": iso,
                "ts_ms": now_ns // 1_000_000,
            }
            frames.append(_frame({"type": "orderbook_delta", "sid": sid, "seq": self._next_seq(conn, sid), "msg": msg}))
        return frames

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        sid = conn.state.get("trade", {}).get(venue_symbol)
        if sid is None or not _inside(trade.px_1e9):
            return []
        now_ns = time.time_ns()
        msg = {
            "trade_id": f"{zlib.crc32(venue_symbol.encode()):08x}-{trade.trade_id:012d}",
            "market_ticker": venue_symbol,
            "yes_price_dollars": _dollars(trade.px_1e9),
            "no_price_dollars": _dollars(ONE_DOLLAR_1E9 - trade.px_1e9),
            "count_fp": _count(trade.qty_1e8),
            "taker_side": "yes" if trade.aggressor == "buy" else "no",
            "ts": now_ns // 10**9,
            "ts_ms": now_ns // 1_000_000,
        }
        return [_frame({"type": "trade", "sid": sid, "msg": msg})]


    def resolution_msg(self, market: str, winner: str) -> dict[str, Any] | None:
        if self.server is None or market not in self.server.markets_by_venue_symbol:
            return None
        return determined_msg(market, winner, time.time_ns() // 10**9)

    def lifecycle_frames(self, conn: SimConn, msg: dict[str, Any]) -> list[str]:
        sid = conn.state.get("market_lifecycle_v2")
        if sid is None:
            return []
        return [_frame({"type": "market_lifecycle_v2", "sid": sid, "msg": msg})]


def created_msg(ticker: str, title: str, open_ts: int, close_ts: int) -> dict[str, Any]:
    """A `market_lifecycle_v2` msg announcing a new market (times in unix seconds)."""
    return {
        "market_ticker": ticker,
        "event_type": "created",
        "open_ts": open_ts,
        "close_ts": close_ts,
        "additional_metadata": {
            "name": title,
            "title": title,
            "yes_sub_title": "Yes",
            "no_sub_title": "No",
            "event_ticker": event_ticker_of(ticker),
            "can_close_early": True,
        },
    }


def determined_msg(ticker: str, result: str, determination_ts: int) -> dict[str, Any]:
    """A `market_lifecycle_v2` msg: the market's result (`yes` or `no`) is known."""
    return {"market_ticker": ticker, "event_type": "determined", "result": result, "determination_ts": determination_ts}


def _frame(body: dict[str, Any]) -> str:
    return _ENC.encode(body).decode()


def _error(cmd_id: Any, code: int, text: str) -> str:
    return _frame({"id": cmd_id, "type": "error", "msg": {"code": code, "msg": text}})


def _market_id(ticker: str) -> str:
    h = f"{zlib.crc32(ticker.encode()):08x}"
    return f"{h}-0000-4000-8000-{h}{h[:4]}"


SIM_PROTOCOLS = {"kalshi": KalshiSim}

SIM_INSTRUMENTS = {
    "kalshi": [
        # One binary market: YES around 45 cents, penny ticks, whole contracts.
        SimInstrument(
            "KXHIGHNY-26JUN24-T82:YES",
            mid_px_1e9=450_000_000,
            tick_1e9=10_000_000,
            lot_1e8=100_000_000,
            depth=20,
            base_qty_1e8=250 * 100_000_000,
        ),
    ],
}
