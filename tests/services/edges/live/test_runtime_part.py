"""The trader's `live` part: built from settings, off unless CROSSBOOK_LIVE_ORDERS is set."""

from __future__ import annotations

import base64
import os

import pytest

from events.ids import new_event_id
from events.routing import ChildAllocated
from projections.follower import SharedFollower, SharedView
from services.bus import Bus
from services.edges.live import venues
from services.edges.live.service import LiveExecutor
from services.runtime import run_trader, trader_part
from services.settings import Settings


def test_rest_url_comes_from_the_environment_else_the_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    for venue in ("OKX", "BYBIT", "BITMART", "HYPERLIQUID", "COINBASE", "KRAKEN", "BITGET", "CRYPTOCOM", "KALSHI",
                  "POLYMARKET"):
        monkeypatch.delenv(f"CROSSBOOK_{venue}_REST_URL", raising=False)
    monkeypatch.setenv("CROSSBOOK_BINANCE_REST_URL", "http://127.0.0.1:1")
    assert venues.rest_urls() == {
        "binance": "http://127.0.0.1:1", "okx": "https://www.okx.com", "bybit": "https://api.bybit.com",
        "bitmart": "https://api-cloud.bitmart.com", "hyperliquid": "https://api.hyperliquid.xyz",
        "coinbase": "https://api.coinbase.com", "kraken": "https://api.kraken.com", "bitget": "https://api.bitget.com",
        "cryptocom": "https://api.crypto.com/exchange/v1",
        "kalshi": "https://api.elections.kalshi.com/trade-api/v2", "polymarket": "https://clob.polymarket.com"}


async def test_live_part_is_a_live_executor_on_the_configured_hosts(
    bus: Bus, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_BINANCE_REST_URL", "http://127.0.0.1:2")
    monkeypatch.setenv("CROSSBOOK_OKX_REST_URL", "http://127.0.0.1:3")
    monkeypatch.setenv("CROSSBOOK_BYBIT_REST_URL", "http://127.0.0.1:4")
    monkeypatch.setenv("CROSSBOOK_HYPERLIQUID_REST_URL", "http://127.0.0.1:5")
    monkeypatch.setenv("CROSSBOOK_BITMART_REST_URL", "http://127.0.0.1:6")
    for port, venue in enumerate(("COINBASE", "KRAKEN", "BITGET", "CRYPTOCOM"), start=7):
        monkeypatch.setenv(f"CROSSBOOK_{venue}_REST_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CROSSBOOK_KALSHI_REST_URL", "http://127.0.0.1:11/trade-api/v2")
    monkeypatch.setenv("CROSSBOOK_POLYMARKET_REST_URL", "http://127.0.0.1:12")
    live = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, live_orders=True, live_poll_ms=250,
                    master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    part = trader_part("live", bus, live)
    assert isinstance(part, LiveExecutor)
    assert {v: str(c.base_url) for v, c in part.clients.items()} == {
        "binance": "http://127.0.0.1:2", "okx": "http://127.0.0.1:3", "bybit": "http://127.0.0.1:4",
        "bitmart": "http://127.0.0.1:6", "hyperliquid": "http://127.0.0.1:5", "coinbase": "http://127.0.0.1:7",
        "kraken": "http://127.0.0.1:8", "bitget": "http://127.0.0.1:9", "cryptocom": "http://127.0.0.1:10",
        "kalshi": "http://127.0.0.1:11/trade-api/v2/", "polymarket": "http://127.0.0.1:12"}
    assert part.poll_interval_s == 0.25
    await part.start()
    await part.ledger.wait_caught_up()
    await part.stop()


async def test_live_part_reads_the_ledger_through_the_processes_shared_read(bus: Bus, settings: Settings) -> None:
    live = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, live_orders=True,
                    master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    shared = SharedFollower(bus, "LEDGER")
    part = trader_part("live", bus, live, shared)
    assert isinstance(part, LiveExecutor) and isinstance(part.ledger, SharedView)
    await part.start()  # its view is the only one: the shared read starts with it
    try:
        alloc = ChildAllocated(
            event_id=new_event_id(), ts_ns=1, tenant="acme", plan_id="p", graph_id="g", node_id="n", child_id="c",
            client_order_id=new_event_id(), venue="kraken", symbol="BTC-USDT", side="buy", qty_1e8=10**8,
            order_type="limit", limit_px_1e9=100 * 10**9, tif="ioc", is_sandbox=False,
        )
        await bus.publish(alloc)
        # Seen through the shared read, answered (acme has no kraken credentials) and read back.
        await part.ledger.wait_until(lambda: alloc.client_order_id in part.final)
    finally:
        await part.stop()


async def test_live_role_refuses_to_start_when_live_orders_are_off(settings: Settings) -> None:
    assert not settings.live_orders
    with pytest.raises(SystemExit, match="CROSSBOOK_LIVE_ORDERS"):
        await run_trader(settings, "live")
