"""Polymarket's CLOB market channel on loopback: `{"assets_ids":[...],"type":"market"}` -> one
`book` per token (no ack), then `price_change` events with absolute sizes and `last_trade_price`;
text `PING` -> `PONG`; `GET /book?token_id=` for a REST book; with `custom_feature_enabled`,
`new_market` / `market_resolved` events pushed with `SimServer.lifecycle` (`new_market_msg`,
`resolved_msg`). There is no sequence and no published
hash algorithm, so the `hash` fields are opaque and `gap` faults cannot be detected by a client.

The two outcome tokens are independent SimInstruments (YES near 0.62, NO near 0.38): fine for a
sim, though a real pair mirrors. Levels outside (0, 1) are not rendered.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import msgspec

from services.edges.book import L2Book
from services.edges.numbers import unscale
from services.edges.sim.market import SimInstrument, SimTrade
from services.edges.sim.server import SimConn, SimProtocol

ONE_1E9 = 1_000_000_000
# A made-up market (condition id) and its two outcome token ids, shaped like the real ones.
CONDITION_ID = "0x2ae0c9abe099d78650604743bef96b5a4ccacf0b230e37aa4d3883cbfa1c2e8c"
YES_TOKEN = "31662006824806488727912537927193667194890475036330846952457883445591243619771"
NO_TOKEN = "93214274209067151667069820934643304804638776559219012319967146699125757460439"

_ENC = msgspec.json.Encoder()


def _num(value: int, scale: int) -> str:
    """Polymarket's shortest decimal text: 0.62 -> "0.62", 500 -> "500", 192.30 -> "192.3"."""
    return format(unscale(value, scale).normalize(), "f")


def _inside(px_1e9: int) -> bool:
    return 0 < px_1e9 < ONE_1E9


def _levels(levels: list[tuple[int, int]]) -> list[dict[str, str]]:
    return [{"price": _num(px, 9), "size": _num(q, 8)} for px, q in levels if _inside(px)]


class PolymarketSim(SimProtocol):
    venue = "polymarket"
    ws_path = "/ws/market"

    def to_venue(self, canonical: str) -> str:
        return canonical

    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        if text == "PING":
            return ["PONG"]
        try:
            msg = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return ["INVALID OPERATION"]
        if not isinstance(msg, dict) or not isinstance(msg.get("assets_ids"), list):
            return ["INVALID OPERATION"]
        if msg.get("custom_feature_enabled") is True:
            conn.state["lifecycle"] = True  # new_market / market_resolved go to this connection
        if str(msg.get("type", "")).lower() == "market" or msg.get("operation") == "subscribe":
            for asset in msg["assets_ids"]:
                self.subscribe(conn, str(asset))  # unknown tokens just get no data, like the venue
        elif msg.get("operation") == "unsubscribe":
            conn.subscribed.difference_update(str(a) for a in msg["assets_ids"])
        return []

    def _book_body(self, venue_symbol: str, book: L2Book) -> dict[str, Any]:
        bids, asks = _levels(book.bids()), _levels(book.asks())
        return {
            "market": CONDITION_ID,
            "asset_id": venue_symbol,
            "timestamp": str(_now_ms()),
            "hash": _hash(venue_symbol, bids, asks),
            # the venue lists both sides worst-first
            "bids": bids[::-1],
            "asks": asks[::-1],
        }

    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]:
        body = {"event_type": "book", **self._book_body(venue_symbol, book)}
        return [_ENC.encode([body]).decode()]  # the first books arrive as a JSON array

    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]:
        best_bid, best_ask = book.best_bid(), book.best_ask()
        top = {
            "best_bid": _num(best_bid[0], 9) if best_bid else "0",
            "best_ask": _num(best_ask[0], 9) if best_ask else "1",
        }
        changes = [
            {"asset_id": venue_symbol, "price": _num(px, 9), "size": _num(q, 8), "side": side}
            for side, levels in (("BUY", bids), ("SELL", asks))
            for px, q in levels
            if _inside(px)
        ]
        if not changes:
            return []
        for c in changes:
            c["hash"] = _hash(venue_symbol, c["price"], c["size"], c["side"])
            c.update(top)
        event = {"market": CONDITION_ID, "price_changes": changes, "timestamp": str(_now_ms())}
        return [_ENC.encode({**event, "event_type": "price_change"}).decode()]

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        if not _inside(trade.px_1e9):
            return []
        event = {
            "asset_id": venue_symbol,
            "event_type": "last_trade_price",
            "fee_rate_bps": "0",
            "market": CONDITION_ID,
            "price": _num(trade.px_1e9, 9),
            "side": "BUY" if trade.aggressor == "buy" else "SELL",
            "size": _num(trade.qty_1e8, 8),
            "timestamp": str(_now_ms()),
        }
        return [_ENC.encode(event).decode()]

    def resolution_msg(self, market: str, winner: str) -> dict[str, Any] | None:
        # The one market this server trades, named by its condition id.
        if market != CONDITION_ID:
            return None
        token, outcome = (YES_TOKEN, "Yes") if winner == "yes" else (NO_TOKEN, "No")
        return resolved_msg(CONDITION_ID, [YES_TOKEN, NO_TOKEN], token, outcome)

    def lifecycle_frames(self, conn: SimConn, msg: dict[str, Any]) -> list[str]:
        return [_ENC.encode(msg).decode()] if conn.state.get("lifecycle") else []

    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        if path != "/book":
            return None
        token = query.get("token_id", "")
        market = self.server.markets_by_venue_symbol.get(token) if self.server else None
        if market is None:
            return 404, {"error": "No orderbook exists for the requested token id"}
        return 200, self._book_body(token, market.book)


def new_market_msg(
    slug: str, question: str, condition_id: str, token_ids: list[str], outcomes: list[str]
) -> dict[str, Any]:
    """A `new_market` event (fixture polymarket/ws_market_new_market_msg.json's shape)."""
    return {
        "event_type": "new_market",
        "id": str(int(condition_id[-6:], 16)),
        "question": question,
        "market": condition_id,
        "slug": slug,
        "description": f"Resolves to the outcome Crossbook's local venue server announces for {slug}.",
        "assets_ids": token_ids,
        "outcomes": outcomes,
        "event_message": {"id": str(int(condition_id[-4:], 16)), "ticker": slug, "slug": slug, "title": question},
        "timestamp": str(_now_ms()),
        "tags": [],
        "condition_id": condition_id,
        "active": True,
        "clob_token_ids": token_ids,
        "order_price_min_tick_size": "0.01",
    }


def resolved_msg(
    condition_id: str, token_ids: list[str], winning_token_id: str, winning_outcome: str
) -> dict[str, Any]:
    """A `market_resolved` event (fixture polymarket/ws_market_resolved_msg.json's shape)."""
    return {
        "event_type": "market_resolved",
        "id": str(int(condition_id[-6:], 16)),
        "market": condition_id,
        "assets_ids": token_ids,
        "winning_asset_id": winning_token_id,
        "winning_outcome": winning_outcome,
        "timestamp": str(_now_ms()),
        "tags": [],
    }


def _hash(*parts: object) -> str:
    # The real algorithm is unpublished; an opaque 40-hex digest has the same shape.
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


SIM_PROTOCOLS = {"polymarket": PolymarketSim}

SIM_INSTRUMENTS = {
    "polymarket": [
        # Penny ticks, sizes in shares to 0.01.
        SimInstrument(YES_TOKEN, 620_000_000, tick_1e9=10**7, lot_1e8=10**6, depth=20, base_qty_1e8=400 * 10**8),
        SimInstrument(NO_TOKEN, 380_000_000, tick_1e9=10**7, lot_1e8=10**6, depth=20, base_qty_1e8=400 * 10**8),
    ],
}
