"""BitMart adapter wiring (services/edges/bitmart/adapter.py): symbols, frames, registration."""

from __future__ import annotations

import json

import pytest

from services.edges import registry
from services.edges.bitmart import adapter as bm_adapter
from services.edges.bitmart import sim as bm_sim
from services.edges.bitmart.adapter import BitmartAdapter
from services.edges.sandbox import default_fee_schedule
from services.edges.sandbox.fees import FeeSchedule
from services.errors import ConfigError
from tests.services.edges.bitmart.recorded import payload_lines


@pytest.mark.parametrize(("canonical", "venue"), [("BTC-USDT", "BTC_USDT"), ("ETH-USDT", "ETH_USDT")])
def test_symbol_mapping_round_trips(canonical: str, venue: str) -> None:
    adapter = BitmartAdapter()
    assert adapter.to_venue(canonical) == venue
    assert adapter.to_canonical(venue) == canonical


@pytest.mark.parametrize("bad", ["BTC-USDT-PERP", "BTCUSDT", "", "-USDT"])
def test_unsupported_canonicals_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        BitmartAdapter().to_venue(bad)


def test_frames_match_the_documented_requests() -> None:
    adapter = BitmartAdapter()
    depth = payload_lines("ws_depth_increase100_BTC_USDT.jsonl")
    trade = payload_lines("ws_trade.jsonl")
    (frame,) = adapter.subscribe_frames(["BTC_USDT"])
    documented = json.loads(depth[0])["args"] + json.loads(trade[0])["args"]
    assert json.loads(frame) == {"op": "subscribe", "args": documented}
    # after a version jump the docs say: request a snapshot on the open socket
    assert [json.loads(f) for f in adapter.resync_frames("BTC_USDT")] == [json.loads(depth[4])]
    assert adapter.ping_frame() == "ping"
    assert adapter.ping_interval_s < 20  # the venue closes a socket silent for 20 s


def test_endpoints_and_book_settings() -> None:
    adapter = BitmartAdapter()
    assert adapter.ws_url(["BTC_USDT"]) == "wss://ws-manager-compress.bitmart.com/api?protocol=1.1"
    assert adapter.endpoints.rest_url == "https://api-cloud.bitmart.com"
    assert adapter.depth == 100 and adapter.truncate_to_depth


def test_package_registers_itself_with_its_sim_and_fees() -> None:
    assert bm_adapter.ADAPTERS == [BitmartAdapter]
    assert registry.adapters()["bitmart"] is BitmartAdapter
    assert registry.sim_protocols()["bitmart"] is bm_sim.BitmartSimProtocol
    assert [i.symbol for i in registry.sim_instruments()["bitmart"]] == ["BTC-USDT", "ETH-USDT"]
    assert default_fee_schedule("bitmart") == FeeSchedule("bitmart", maker_ppm=1_000, taker_ppm=1_000)
