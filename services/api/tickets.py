"""Single-use WebSocket tickets (GET /v1/ws/ticket): for clients, such as browsers, that cannot
send an Authorization header with an upgrade. A ticket stands for the key that asked for it,
once, for `TICKET_TTL_NS`, and is presented as `?ticket=` on any WebSocket path."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from fastapi import WebSocket

from services.api.access import AuthContext

TICKET_TTL_NS = 30 * 1_000_000_000


class TicketBook:
    def __init__(self, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.clock_ns = clock_ns
        self._open: dict[str, tuple[AuthContext, int]] = {}  # ticket -> (caller, expiry)
        self._lock = threading.Lock()

    def issue(self, auth: AuthContext) -> str:
        now = self.clock_ns()
        ticket = "wst_" + secrets.token_hex(24)
        with self._lock:
            # Expired tickets are dropped here, so the book never outgrows 30 s of requests.
            self._open = {t: held for t, held in self._open.items() if held[1] > now}
            self._open[ticket] = (auth, now + TICKET_TTL_NS)
        return ticket

    def redeem(self, ticket: str) -> AuthContext | None:
        """The caller the ticket stands for; None when unknown, used or expired."""
        with self._lock:
            held = self._open.pop(ticket, None)
        if held is None or held[1] <= self.clock_ns():
            return None
        return held[0]


def redeem_ticket(websocket: WebSocket) -> AuthContext | None:
    """The caller behind `?ticket=` on an upgrade, or None."""
    book: TicketBook | None = getattr(websocket.app.state, "ws_tickets", None)
    ticket = websocket.query_params.get("ticket", "")
    return book.redeem(ticket) if book is not None and ticket else None
