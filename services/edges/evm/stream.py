"""The DEX edge's runner: the common edge loop (connect, subscribe, keepalive, reconnect,
resync, one snapshot a second per live book), publishing each pool under its own venue.

`EdgeRunner` writes every event under the adapter's one venue id; one node connection here
carries pools of several venues (`uniswap_v2_ethereum`, `uniswap_v3_ethereum`), and a pool's
snapshot carries its gas (`order_cost_quote_1e9`), which the generic snapshot has no field for.
So snapshots and status events are made per pool by the adapter (`pool_snapshot`); everything
else is the common loop."""

from __future__ import annotations

import msgspec

from events import AnyEvent
from events.market import VenueState, VenueStatusChanged
from services.edges.book import L2Book
from services.edges.evm.adapter import DexEthereumAdapter
from services.edges.runtime import EdgeRunner


class PoolEdgeRunner(EdgeRunner):
    adapter: DexEthereumAdapter

    def _snapshot_events(
        self, venue_symbol: str, book: L2Book, seq: int | None, ts_event_ns: int, recv_ns: int
    ) -> list[AnyEvent]:
        # The adapter's state is what the book was built from: the snapshot is made from it,
        # at the current gas price (a refresh after a new head carries the new gas).
        return [self.adapter.pool_snapshot(venue_symbol, seq, recv_ns)]

    def _status_event(self, state: VenueState, symbol: str = "", reason: str = "") -> VenueStatusChanged:
        if not symbol:
            return super()._status_event(state, symbol, reason)
        return msgspec.structs.replace(super()._status_event(state, symbol, reason),
                                       venue=self.adapter.venue_of(symbol))

    async def _status(self, state: VenueState, reason: str = "") -> None:
        # A connection change covers every pool venue the connection carries.
        events: list[AnyEvent] = []
        for venue in sorted({self.adapter.venue_of(vs) for vs in self.venue_symbols}):
            symbols = [self.adapter.to_canonical(vs) for vs in self.venue_symbols if self.adapter.venue_of(vs) == venue]
            events.append(msgspec.structs.replace(self._status_event(state, reason=reason), venue=venue,
                                                  subscribed_symbols=symbols))
        await self.sink.emit(events)
