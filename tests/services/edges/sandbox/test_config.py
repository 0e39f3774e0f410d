"""services/edges/sandbox/config.py: strict settings and the venue factory."""

from __future__ import annotations

import random

import msgspec
import pytest

from services.edges.sandbox.config import FeeOverride, SandboxConfig, build_venue, fee_schedule
from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.errors import SandboxError
from services.edges.sandbox.fees import FeeSchedule
from services.edges.sandbox.ids import sandbox_venue_order_id
from services.edges.sandbox.orders import Amended, SandboxOrder

PX = 10**9
Q = 10**8


def test_unknown_config_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="latency_ms"):
        msgspec.json.decode(b'{"latency_ms": 5}', type=SandboxConfig)


def test_fee_override_replaces_the_default() -> None:
    config = SandboxConfig(fees={"okx": FeeOverride(maker_ppm=-50, taker_ppm=300)})
    assert fee_schedule("okx", config) == FeeSchedule("okx", -50, 300)
    assert fee_schedule("bybit", config) == FeeSchedule("bybit", 1_000, 1_000)


def test_built_venue_uses_config_latency_and_polymarket_always_replaces() -> None:
    config = SandboxConfig(latency_ns=100, jitter_ns=0, max_book_age_ns=None)
    v = build_venue("polymarket", config, seed=1)
    v.on_book("TOKEN", [(400_000_000, 10 * Q)], [(600_000_000, 10 * Q)], 0)
    v.submit(SandboxOrder("c", "TOKEN", "buy", Q, "limit", 400_000_000), 0)
    out = v.amend("c", Q // 2, None, 1_000, new_client_order_id="c2")
    assert out[1] == Amended(
        "c", sandbox_venue_order_id("polymarket", "c"), Q // 2, 400_000_000, "cancel_replace", "c2", 1_100
    )


def test_mismatched_fee_venue_and_negative_latency_are_refused() -> None:
    with pytest.raises(SandboxError, match="venue='okx' does not match venue='bybit'"):
        SandboxVenue("bybit", FeeSchedule("okx", 0, 0), 0, random.Random(0))
    with pytest.raises(SandboxError, match="latency_ns=-1"):
        SandboxVenue("okx", FeeSchedule("okx", 0, 0), -1, random.Random(0))
