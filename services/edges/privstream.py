"""How a live venue tells us about our orders without being asked: its user-data WebSocket.

`VenuePrivateStream` sits beside `VenueOrders` (transport.py): pure, no I/O. It says how to open
and authenticate the stream (Binance: a listenKey from REST, then a URL with it; OKX and Bybit:
a signed login frame, then subscribe frames) and parses each frame into the same `Outcome`s the
REST parsers give, with the same ids (a Binance fill id is its trade id on both paths), so a fill
seen on the stream and again by a REST poll is booked once.

The live executor (services/edges/live/service.py) owns the connection; REST stays the fallback
(a slower poll while the stream is up) and the recovery (reconcile after every reconnect).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from events.routing import ChildAllocated
from services.edges.sandbox.orders import Outcome
from services.edges.transport import SignedRequest, VenueReply
from services.vault import Credentials

# The child of ours a frame names, by the venue's client order id (None: not ours, skipped).
ChildLookup = Callable[[str], ChildAllocated | None]


class VenuePrivateStream(ABC):
    venue: str
    keepalive_s: float = 20.0  # how often `keepalive_request`/`ping_frame` go out while connected

    # --- opening ---------------------------------------------------------------------------
    def open_request(self, creds: Credentials, now_ms: int) -> SignedRequest | None:
        """A REST call that hands out the stream's token (Binance listenKey); None: not needed."""
        return None

    def parse_open(self, reply: VenueReply) -> str:
        """The token `open_request` answered ("" when there is none)."""
        return ""

    def keepalive_request(self, creds: Credentials, token: str, now_ms: int) -> SignedRequest | None:
        """A REST call that keeps the token alive (Binance PUT listenKey); None: not needed."""
        return None

    @abstractmethod
    def url(self, base: str, token: str) -> str:
        """The WebSocket URL under `base` (the venue's, or a local server's ws:// root)."""

    def login_frames(self, creds: Credentials, now_ms: int) -> list[str]:
        """Frames that authenticate the connection (OKX/Bybit login, signed); [] for Binance."""
        return []

    def login_reply(self, raw: str | bytes) -> bool | None:
        """Whether `raw` answers the login: True accepted, False refused, None not a login reply.
        Subscribe frames go out only once it was accepted (OKX refuses them before)."""
        return None

    def subscribe_frames(self) -> list[str]:
        return []

    def ping_frame(self) -> str | None:
        return None

    def covers(self, child: ChildAllocated) -> bool:
        """Whether this stream reports `child` (the spot streams here do not carry perps: those
        children keep the normal REST poll)."""
        return not child.symbol.endswith("-PERP")

    # --- frames ----------------------------------------------------------------------------
    @abstractmethod
    def parse(self, raw: str | bytes, child_of: ChildLookup, now_ns: int) -> list[Outcome]:
        """Outcomes for our orders in one frame (others' orders and account traffic: [])."""

    def is_expired(self, raw: str | bytes) -> bool:
        """The venue says the stream's token or session is gone: reconnect with a new one."""
        return False


def frame_json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
