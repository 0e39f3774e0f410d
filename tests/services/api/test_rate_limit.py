"""429 with Retry-After from a per-account token bucket, decided before any side effect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.api.app import create_app
from services.api.keys import create_key
from services.api.ratelimit import RateLimiter
from services.bus import Bus
from services.settings import Settings


def test_bucket_holds_twice_qps_and_refills_at_qps() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(4)] == [0, 0, 0, 0]  # burst = 2 x qps
    assert limiter.take("a") == 1  # empty: wait one second for the next token
    assert limiter.take("b") == 0  # buckets are per account
    now[0] += 0.5  # half a second refills one token at 2/s
    assert limiter.take("a") == 0 and limiter.take("a") == 1
    assert RateLimiter(0).take("a") == 0  # 0 switches limiting off


@pytest.fixture
async def limited(bus: Bus, settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Bus]]:
    app = create_app(settings.model_copy(update={"rate_limit_qps": 1.0}))
    key = create_key(settings, "acme", sandbox=True, now_ns=1).secret
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client, bus


async def test_over_the_limit_answers_429_with_retry_after_and_no_side_effect(
    limited: tuple[httpx.AsyncClient, Bus],
) -> None:
    client, bus = limited
    assert (await client.get("/v1/account")).status_code == 200
    assert (await client.get("/v1/account")).status_code == 200  # burst of 2 at 1 qps
    ledger_before = (await bus.js.stream_info("LEDGER")).state.last_seq
    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.01})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.json()["error"]["code"] == "RATE_LIMITED" and "1 requests/s" in r.json()["error"]["message"]
    assert (await bus.js.stream_info("LEDGER")).state.last_seq == ledger_before  # nothing was published
    assert (await client.get("/v1/health/live")).status_code == 200  # health is never limited
