"""/v1/edges on the three-region supercluster: each edge's region (nats/regions/layout.json) and
the measured RTT from the API's region to it (RegionRttMeasured on the log); one region keeps
`region: "local"`. The supercluster's own wiring is tested in tests/services/bus/test_supercluster.py;
here the API reads one server's log as AP's API would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from events import new_event_id
from events.market import BookSnapshot, VenueStatusChanged
from events.regions import RegionRttMeasured
from services.api.app import create_app
from services.api.keys import create_key
from services.bus import Bus
from services.settings import Settings

BTC = 97_000_000_000_000
RTT_NS = 85_123_456


def snap(venue: str) -> BookSnapshot:
    return BookSnapshot(event_id=new_event_id(), ts_ns=1, venue=venue, symbol="BTC-USDT",
                        bids=[(BTC, 10**8)], asks=[(BTC + 10**9, 10**8)], ts_recv_ns=1)


async def edges(settings: Settings) -> dict[str, dict[str, object]]:
    key = create_key(settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as c:
            return {e["venue"]: e for e in (await c.get("/v1/edges")).json()["edges"]}


@pytest.fixture
async def logged(bus: Bus) -> AsyncIterator[None]:
    await bus.publish_many([
        VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="okx", state="connected", rtt_ns=2_000_000),
        VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="bitmart", state="connected"),
        snap("okx"),
        snap("bitmart"),
        RegionRttMeasured(event_id=new_event_id(), ts_ns=2, from_region="ap", to_region="eu", rtt_ns=RTT_NS),
    ])
    yield


async def test_edges_show_their_region_and_the_rtt_to_it(settings: Settings, logged: None) -> None:
    # AP's API (the streams exist already: the region only names the view here).
    rows = await edges(settings.model_copy(update={"region": "ap"}))
    okx, bitmart = rows["okx"], rows["bitmart"]
    assert (okx["region"], okx["region_rtt_ns"], okx["rtt_ms"]) == ("ap", 0, 2.0)
    assert (bitmart["region"], bitmart["region_rtt_ns"], bitmart["rtt_ms"]) == ("eu", RTT_NS, RTT_NS / 1e6)
    # The contract's fields are all still there.
    assert {"edge_id", "venue", "region", "status", "sandbox_capable", "last_heartbeat_ns", "rtt_ms",
            "subscribed_symbols"} <= set(bitmart)


async def test_one_region_keeps_local_edges(settings: Settings, logged: None) -> None:
    rows = await edges(settings)
    assert {(r["region"], r["region_rtt_ns"]) for r in rows.values()} == {("local", 0)}
    assert rows["okx"]["rtt_ms"] == 2.0 and rows["bitmart"]["rtt_ms"] is None
