"""Local Binance spot and USD-M servers: SUBSCRIBE/ack, diff-depth frames, trades, REST depth.

Update ids are server-wide per symbol (`self.state[symbol]`), advanced once per market step,
so every client sees the same `U`/`u` and the REST snapshot's `lastUpdateId` lines up with
the stream exactly as on the real venue. A `gap` fault drops one frame, so the next `U`
(spot) or `pu` (USD-M) no longer follows. Binance has no book checksum: `bad_checksum` is a
no-op here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from services.edges.binance.adapter import BinanceBase, BinanceSpot, BinanceUsdm
from services.edges.book import L2Book
from services.edges.numbers import PX_SCALE, QTY_SCALE, unscale
from services.edges.sim.market import SimInstrument, SimMarket, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

_SEP = (",", ":")  # Binance sends compact JSON


@dataclass(slots=True)
class _Ids:
    """The last rendered depth event for one symbol."""

    first: int  # U
    final: int  # u (= the REST snapshot's lastUpdateId)
    prev_final: int  # pu


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceSimBase(SimProtocol):
    adapter_cls: ClassVar[type[BinanceBase]]
    depth_path: ClassVar[str]
    first_update_id: ClassVar[int]
    default_rest_limit: ClassVar[int]
    max_rest_limit: ClassVar[int]
    decimals: ClassVar[dict[str, tuple[int, int]]]  # venue symbol -> (price, qty) decimals

    def __init__(self) -> None:
        super().__init__()
        self._adapter = self.adapter_cls()

    def to_venue(self, canonical: str) -> str:
        return self._adapter.to_venue(canonical)

    # --- ids ----------------------------------------------------------------------------------
    def ids(self, venue_symbol: str) -> _Ids:
        ids = self.state.get(venue_symbol)
        if ids is None:
            start = self.first_update_id
            ids = self.state[venue_symbol] = _Ids(start, start, start - 1)
        return ids

    def hidden_updates(self, n_changes: int) -> int:
        """Update ids consumed by changes the stream merged away (USD-M `U` jumps past `pu+1`)."""
        return 0

    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        n = len(bids) + len(asks)
        if not n:
            return  # nothing changed: no event, no ids
        ids = self.ids(venue_symbol)
        ids.prev_final = ids.final
        ids.first = ids.final + 1 + self.hidden_updates(n)
        ids.final = ids.first + n - 1

    # --- formatting ---------------------------------------------------------------------------
    def _levels(self, venue_symbol: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        px_dp, qty_dp = self.decimals.get(venue_symbol, (8, 8))
        return [
            [f"{unscale(px, PX_SCALE):.{px_dp}f}", f"{unscale(qty, QTY_SCALE):.{qty_dp}f}"] for px, qty in levels
        ]

    def _frame(self, conn: SimConn, stream: str, payload: dict[str, Any]) -> str:
        if conn.state.get("combined"):
            return json.dumps({"stream": stream, "data": payload}, separators=_SEP)
        return json.dumps(payload, separators=_SEP)

    def depth_payload(self, venue_symbol: str, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
        ids = self.ids(venue_symbol)
        return {
            "e": "depthUpdate",
            "E": _now_ms(),
            "s": venue_symbol,
            "U": ids.first,
            "u": ids.final,
            "b": bids,
            "a": asks,
        }

    def trade_payload(self, venue_symbol: str, trade: SimTrade) -> dict[str, Any]:
        raise NotImplementedError

    # --- client frames ------------------------------------------------------------------------
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        # The combined endpoint (/stream) wraps every event as {"stream":..,"data":..}.
        conn.state.setdefault("combined", conn.ws.request is not None and conn.ws.request.path.startswith("/stream"))
        streams: set[str] = conn.state.setdefault("streams", set())
        try:
            msg = json.loads(text)
        except ValueError as exc:
            return [_error(3, f"Invalid JSON: {exc}", None)]
        if not isinstance(msg, dict):
            return [_error(2, "Invalid request: expected an object", None)]
        req_id = msg.get("id")
        method = msg.get("method")
        params = msg.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            return [json.dumps({"result": sorted(streams), "id": req_id}, separators=_SEP)]
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return [_error(2, f"Invalid request: unknown method {method!r}", req_id)]
        kinds = (self.adapter_cls.depth_stream, self.adapter_cls.trade_stream, *self.adapter_cls.extra_streams)
        parsed: list[tuple[str, str]] = []
        for param in params:
            sym, _, kind = str(param).partition("@")
            if kind not in kinds or sym != sym.lower():
                return [_error(2, f"Invalid request: invalid stream name {param!r}", req_id)]
            parsed.append((sym.upper(), kind))
        assert self.server is not None
        for sym, kind in parsed:
            name = f"{sym.lower()}@{kind}"
            if method == "UNSUBSCRIBE":
                streams.discard(name)
            elif sym in self.server.markets_by_venue_symbol:
                # Binance accepts unknown symbols silently; they simply never publish.
                streams.add(name)
                if sym not in conn.subscribed:
                    self.subscribe(conn, sym)
        return [json.dumps({"result": None, "id": req_id}, separators=_SEP)]

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        return []  # Binance books bootstrap over REST

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]:
        stream = f"{venue_symbol.lower()}@{self.adapter_cls.depth_stream}"
        if stream not in conn.state.get("streams", ()) or not (bids or asks):
            return []
        payload = self.depth_payload(venue_symbol, self._levels(venue_symbol, bids), self._levels(venue_symbol, asks))
        return [self._frame(conn, stream, payload)]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        stream = f"{venue_symbol.lower()}@{self.adapter_cls.trade_stream}"
        if stream not in conn.state.get("streams", ()):
            return []
        return [self._frame(conn, stream, self.trade_payload(venue_symbol, trade))]

    # --- REST ---------------------------------------------------------------------------------
    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        if path != self.depth_path:
            return None
        assert self.server is not None
        sym = query.get("symbol", "")
        market = self.server.markets_by_venue_symbol.get(sym)
        if market is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        try:
            limit = int(query.get("limit", self.default_rest_limit))
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in parameter 'limit'."}
        limit = max(1, min(limit, self.max_rest_limit))
        # Handlers run on the loop between ticks, so book and ids are one consistent instant.
        return 200, self.snapshot_body(sym, market.book, limit)

    def snapshot_body(self, venue_symbol: str, book: L2Book, limit: int) -> dict[str, Any]:
        return {
            "lastUpdateId": self.ids(venue_symbol).final,
            "bids": self._levels(venue_symbol, book.bids(limit)),
            "asks": self._levels(venue_symbol, book.asks(limit)),
        }


def _error(code: int, msg: str, req_id: Any) -> str:
    return json.dumps({"error": {"code": code, "msg": msg}, "id": req_id}, separators=_SEP)


class BinanceSpotSim(BinanceSimBase):
    venue = "binance"
    ws_path = "/ws"
    adapter_cls = BinanceSpot
    depth_path = "/api/v3/depth"
    first_update_id = 71_203_118_402
    default_rest_limit = 100
    max_rest_limit = 5000
    decimals: ClassVar[dict[str, tuple[int, int]]] = {"BTCUSDT": (8, 8), "ETHUSDT": (8, 8)}

    def trade_payload(self, venue_symbol: str, trade: SimTrade) -> dict[str, Any]:
        px, qty = self._levels(venue_symbol, [(trade.px_1e9, trade.qty_1e8)])[0]
        now = _now_ms()
        # `m`: the buyer was the maker, i.e. a sell aggressor hit the bid.
        return {
            "e": "trade",
            "E": now,
            "s": venue_symbol,
            "t": trade.trade_id,
            "p": px,
            "q": qty,
            "T": now,
            "m": trade.aggressor == "sell",
            "M": True,
        }


class BinanceUsdmSim(BinanceSimBase):
    venue = "binance_usdm"
    ws_path = "/public/ws"
    adapter_cls = BinanceUsdm
    depth_path = "/fapi/v1/depth"
    first_update_id = 9_417_305_228_614
    default_rest_limit = 500
    max_rest_limit = 1000
    decimals: ClassVar[dict[str, tuple[int, int]]] = {"BTCUSDT": (2, 3)}

    def hidden_updates(self, n_changes: int) -> int:
        return 1 + (n_changes * 7) % 23  # deterministic, never zero: U must not be assumed pu+1

    def depth_payload(self, venue_symbol: str, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
        payload = super().depth_payload(venue_symbol, bids, asks)
        payload["T"] = payload["E"]
        payload["pu"] = self.ids(venue_symbol).prev_final
        return payload

    def trade_payload(self, venue_symbol: str, trade: SimTrade) -> dict[str, Any]:
        px, qty = self._levels(venue_symbol, [(trade.px_1e9, trade.qty_1e8)])[0]
        now = _now_ms()
        return {
            "e": "aggTrade",
            "E": now,
            "a": trade.trade_id,
            "s": venue_symbol,
            "p": px,
            "q": qty,
            "f": trade.trade_id,
            "l": trade.trade_id,
            "T": now,
            "m": trade.aggressor == "sell",
        }

    def funding_frames(self, conn: SimConn, venue_symbol: str, market: SimMarket) -> list[str]:
        if f"{venue_symbol.lower()}@markPrice@1s" not in conn.state.get("streams", ()):
            return []
        now = _now_ms()
        f = market.funding(now, 8 * 3_600_000)
        mark, index = self._levels(venue_symbol, [(f.mark_px_1e9, 0), (f.index_px_1e9, 0)])
        payload = {"e": "markPriceUpdate", "E": now, "s": venue_symbol, "p": mark[0], "i": index[0],
                   "P": mark[0], "r": f.rate_text, "T": f.next_funding_ms}
        return [self._frame(conn, f"{venue_symbol.lower()}@markPrice@1s", payload)]

    def snapshot_body(self, venue_symbol: str, book: L2Book, limit: int) -> dict[str, Any]:
        now = _now_ms()
        return {
            "lastUpdateId": self.ids(venue_symbol).final,
            "E": now,
            "T": now,
            "bids": self._levels(venue_symbol, book.bids(limit)),
            "asks": self._levels(venue_symbol, book.asks(limit)),
        }


SIM_PROTOCOLS: dict[str, type[SimProtocol]] = {"binance": BinanceSpotSim, "binance_usdm": BinanceUsdmSim}

SIM_INSTRUMENTS: dict[str, list[SimInstrument]] = {
    # Spot: tick 0.01, lots 0.00001 BTC / 0.0001 ETH (exchangeInfo PRICE_FILTER / LOT_SIZE).
    "binance": [
        SimInstrument("BTC-USDT", mid_px_1e9=97_021_350_000_000, tick_1e9=10_000_000, lot_1e8=1_000),
        SimInstrument(
            "ETH-USDT", mid_px_1e9=3_401_270_000_000, tick_1e9=10_000_000, lot_1e8=10_000, base_qty_1e8=800_000_000
        ),
    ],
    # USD-M BTCUSDT perp: tick 0.10, lot 0.001.
    "binance_usdm": [
        SimInstrument(
            "BTC-USDT-PERP",
            mid_px_1e9=96_988_400_000_000,
            tick_1e9=100_000_000,
            lot_1e8=100_000,
            base_qty_1e8=150_000_000,
        ),
    ],
}
