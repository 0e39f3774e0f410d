"""An order whose command is recorded but not yet applied (the trader is down) is answered 200
ACCEPTED with its graph id, never 502/503/504: the published client retries those verbatim, and a
retried order without a client graph_id would be a second order (docs/api_contract.md, retries,
rule b). Once the trader is back, the order runs exactly once."""

from __future__ import annotations

import httpx
import pytest

from events import new_event_id
from events.market import BookSnapshot
from projections.follower import SharedFollower
from services.api import commands
from services.api.app import create_app
from services.api.keys import create_key
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.sandbox.service import SandboxBook
from services.settings import Settings
from tests.stack import kernel


async def test_an_order_the_trader_has_not_applied_is_accepted_once_and_runs_once_it_is_back(
    bus: Bus, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a venue book, the API, and only the executor's sandbox book (it applies the
    # tenant's funding); no graph engine or router. The API waits 0.5 s for the kernel.
    monkeypatch.setattr(commands, "KERNEL_WAIT_S", 0.5)
    await bus.publish(BookSnapshot(event_id=new_event_id(), ts_ns=1, venue="okx", symbol="BTC-USDT",
                                   bids=[(97_000 * 10**9, 10**8)], asks=[(97_001 * 10**9, 10**8)]))
    key = create_key(settings, "acme", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    book = SandboxBook(as_writer(bus, "executor"), ledger=SharedFollower(bus, "LEDGER"))
    await book.start()
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as http:
            state = app.state.api
            await state.md_follower.wait_caught_up()
            # Act: the simple form, as the published client sends it (no graph_id).
            r = await http.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.01})
            # Assert: recorded and said so, with the id to follow it by.
            assert r.status_code == 200, r.text
            answer = r.json()
            graph_id = answer["graph_id"]
            assert answer["status"] == "ACCEPTED" and answer["node_count"] == 1
            assert answer["node_order_ids"] == {"order": f"{graph_id}:order:1"}
            assert graph_id not in state.ledger.graphs  # nothing decided it yet
            await book.stop()  # the stack below brings its own sandbox book
            # Once the trader is back, it runs the recorded command: one graph, the one answered.
            async with kernel(bus):
                await state.ledger_follower.wait_until(lambda: graph_id in state.ledger.graphs, timeout=30)
            assert [g for g in state.ledger.graphs if state.ledger.graphs[g].tenant == "acme"] == [graph_id]
    finally:
        await book.stop()
