"""The API's own cost of one POST /v1/orders: the plain-ASGI order door vs the FastAPI route.

Run: .venv/bin/python bench/order_door.py [--requests N]

One process: a throwaway nats-server, the API app (its lifespan: bus, ledger and market-data
reads, views) called directly as ASGI (no sockets, no HTTP client), the same request through
the app with the door (services/api/order_door.py) and through a copy without it, in
alternating blocks so machine load hits both alike. The request is an order for a symbol no
venue lists: it runs every step up to the command (key and rate limit, readiness, body, order
parsing, the symbol check) and is refused with a 422 before anything is appended, so what is
timed is the API's own work, not the kernel's. Prints microseconds per request (wall and this
process's CPU time) and the ratio route / door.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402

from bench._common import throwaway_cluster  # noqa: E402
from services.api.app import create_app  # noqa: E402
from services.api.keys import create_key  # noqa: E402
from services.api.order_door import OrderDoor  # noqa: E402

BLOCK = 200
BODY = json.dumps({"symbol": "NOPE-USDT", "side": "buy", "qty": 0.01}).encode()


async def post(app: FastAPI, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/orders", "raw_path": b"/v1/orders", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8700),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def main(n_requests: int) -> None:
    with throwaway_cluster() as (settings, _):
        settings = settings.model_copy(update={"require_trader_ready": False, "rate_limit_qps": 0})
        secret = create_key(settings, "bench", sandbox=True, now_ns=time.time_ns()).secret
        headers = [(b"authorization", f"Bearer {secret}".encode()), (b"content-type", b"application/json")]
        door = create_app(settings)
        route = create_app(settings)
        route.user_middleware = [m for m in route.user_middleware if m.cls is not OrderDoor]
        samples: dict[str, list[tuple[float, float]]] = {"door": [], "route": []}
        async with door.router.lifespan_context(door), route.router.lifespan_context(route):
            for app in (door, route):
                await app.state.api.ledger_follower.caught_up.wait()
                for _ in range(50):  # warm up: the first requests build the middleware stack, caches
                    assert await post(app, headers) == 422
            for _ in range(max(1, n_requests // BLOCK)):
                for name, app in (("door", door), ("route", route)):
                    wall0, cpu0 = time.perf_counter(), time.process_time()
                    for _ in range(BLOCK):
                        await post(app, headers)
                    samples[name].append(
                        ((time.perf_counter() - wall0) * 1e6 / BLOCK, (time.process_time() - cpu0) * 1e6 / BLOCK)
                    )
    wall = {k: statistics.median(w for w, _ in v) for k, v in samples.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in samples.items()}
    print(f"POST /v1/orders refused with a 422 after every step before the append, {len(samples['door'])} "
          f"alternating blocks of {BLOCK} per side (medians of the blocks)")
    print(f"  FastAPI route   {wall['route']:7.1f} us wall  {cpu['route']:7.1f} us CPU")
    print(f"  order door      {wall['door']:7.1f} us wall  {cpu['door']:7.1f} us CPU")
    print(f"  route / door    {wall['route'] / wall['door']:7.2f}x wall  {cpu['route'] / cpu['door']:7.2f}x CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    asyncio.run(main(parser.parse_args().requests))
