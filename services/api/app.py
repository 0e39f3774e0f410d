"""Build the API app: resources start in `lifespan`, routers are joined here."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from projections.follower import StreamFollower
from projections.ledger import LedgerView
from projections.market import MarketBooks
from services.edges import registry
from services.api import errors
from services.api.routers import health, market, orders
from services.api.state import ApiState
from services.bus import Bus
from services.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = await Bus.connect(settings, name="api")
        await bus.ensure_streams()
        books = MarketBooks()
        follower = StreamFollower(bus, "MD", ["md.>"], books.apply)
        await follower.start()
        ledger = LedgerView()
        ledger_follower = StreamFollower(bus, "LEDGER", [">"], ledger.apply)
        await ledger_follower.start()
        app.state.api = ApiState(
            settings=settings,
            bus=bus,
            market=books,
            md_follower=follower,
            ledger=ledger,
            ledger_follower=ledger_follower,
            sandbox_venues=sorted(registry.sim_instruments()),
        )
        try:
            yield
        finally:
            await ledger_follower.stop()
            await follower.stop()
            await bus.close()

    app = FastAPI(title="Crossbook API", version="0.1.0", lifespan=lifespan, redirect_slashes=False)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(market.router)
    app.include_router(orders.router)
    return app


def run_api(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        proxy_headers=False,
    )
