"""Build the API app: resources start in `lifespan`, routers are joined here."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from events import AnyEvent
from projections.follower import StreamFollower
from projections.funding import FundingRates
from projections.market_follower import MarketFollower
from events.algos import ALGO_EVENTS
from projections.ledger import LedgerView
from projections.market import DAY_NS, MarketBooks
from projections.orders import OrdersProjection
from projections.retention import window_ns
from projections.positions import PositionsProjection
from projections.runner import ProjectionRunner
from projections.store import open_store
from services.edges import registry
from services.edges.markets import PREDICTION_VENUES
from services.api import errors
from services.api.auth import require_key
from services.api.keys import open_key_store
from services.api.order_door import OrderDoor
from services.api.order_gate import OrderGate
from services.api.routers import account, health, market, orders, positions
from services.api.routers import preview, tca
from services.api.routers import cancel, stream
from services.api.routers import credentials
from services.api.routers import wallets
from services.api.routers import history
from services.api.routers import lifecycle, markets, venues
from services.api.routers import intelligence
from services.api.routers import api_keys, traces as trace_routes
from services.api.routers import sandbox
from services.api.routers import funding as funding_routes
from services.api.routers import analytics, fair_price, rewards, simulate
from services.api.routers import backtest as backtest_routes
from services.backtest.jobs import JobStore
from services.api.routers import strategies as strategy_routes
from services.api.routers import algos as algo_routes
from services.api.plans import RoutingPlans
from services.api.ratelimit import RateLimiter
from services.api.traces import TraceIndex
from services.api.state import ApiState
from services.algos.deployments import DeploymentsView
from services.bus import Bus
from services.readiness import ReadinessWatch
from services.runtime import settle_gc
from services.settings import Settings


VIEW_LINGER_S = 0.005


def create_app(settings: Settings, *, own_process: bool = False) -> FastAPI:
    """`own_process`: the app is the process (`crossbook api`), so it may tune the process's
    garbage collector once started; not when embedded (tests start many apps in one process)."""
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = await Bus.connect(settings, name="api", user="api")
        await bus.ensure_streams()
        readiness = await ReadinessWatch(bus).start()  # first: heartbeats arrive while the reads catch up
        books = MarketBooks()
        funding = FundingRates()

        def fold_md(event: AnyEvent, seq: int) -> None:
            books.apply(event, seq)
            funding.apply(event, seq)

        # /v1/markets' volume_24h needs the day's prints of the (sparse) prediction markets.
        day_ago_ns = time.time_ns() - DAY_NS
        follower = MarketFollower(bus, fold_md, trade_history=(frozenset(PREDICTION_VENUES), day_ago_ns))
        await follower.start()
        # Ended graphs leave the hot view a dedup window after they end (projections/retention.py).
        ledger = LedgerView(window_ns=window_ns(bus))
        traces = TraceIndex(ledger)
        plans = RoutingPlans()
        ledger.on_evict += [traces.forget, plans.forget]

        deployments = DeploymentsView()

        def fold_ledger(event: AnyEvent, seq: int) -> None:
            plans.apply(event, seq)  # cannot raise; readers never see a fold half done (no await)
            if isinstance(event, ALGO_EVENTS):
                deployments.apply(event, seq)
            try:
                ledger.apply(event, seq)
            finally:  # after the ledger: the trace index places child replies through its child map
                traces.apply(event, seq)

        ledger_follower = StreamFollower(bus, "LEDGER", [">"], fold_ledger)
        await ledger_follower.start()
        keys = open_key_store(settings)
        views = open_store(settings)
        # Each view lingers a few ms per burst (projections/runner.py): fewer commits per order, and
        # none of them competing with the order path while it runs. A read waits for its view.
        # And each folds only once no order is in flight here (services/api/order_gate.py).
        gate = OrderGate()
        positions_runner = ProjectionRunner(
            bus, views, PositionsProjection(), linger_s=VIEW_LINGER_S, gate=gate.quiet
        )
        await positions_runner.start()
        orders_runner = ProjectionRunner(bus, views, OrdersProjection(), linger_s=VIEW_LINGER_S, gate=gate.quiet)
        await orders_runner.start()
        app.state.api = ApiState(
            settings=settings,
            bus=bus,
            market=books,
            md_follower=follower,
            ledger=ledger,
            ledger_follower=ledger_follower,
            sandbox_venues=sorted(registry.sim_instruments_by_venue()),
            keys=keys,
            views=views,
            positions=positions_runner,
            orders=orders_runner,
            limiter=RateLimiter(settings.rate_limit_qps),
            traces=traces,
            plans=plans,
            funding=funding,
            readiness=readiness,
            deployments=deployments,
            gate=gate,
        )
        JobStore(settings.data_dir).recover()  # backtest jobs whose worker died with the last API run again
        if own_process:
            settle_gc()  # after the folds' first catch-up started: see services/runtime.py
        try:
            yield
        finally:
            await orders_runner.stop()
            await positions_runner.stop()
            views.close()
            await ledger_follower.stop()
            await follower.stop()
            await readiness.stop()
            await bus.close()
            keys.close()

    app = FastAPI(title="Crossbook API", version="0.1.0", lifespan=lifespan, redirect_slashes=False)
    # POST /v1/orders without the framework; inside RequestIds (added next), so it has the request id.
    app.add_middleware(OrderDoor, place_order=orders.place_order)
    errors.install(app)
    app.include_router(health.router)  # the only route without a key: the SDK calls it bare
    # Every other router needs a key. Handlers that need the caller take `Auth` as well;
    # FastAPI resolves it once per request.
    authed = [Depends(require_key)]
    app.include_router(market.router, dependencies=authed)
    app.include_router(preview.router, dependencies=authed)  # before orders: /orders/preview is literal
    app.include_router(orders.router, dependencies=authed)
    app.include_router(tca.router, dependencies=authed)
    app.include_router(account.router, dependencies=authed)
    app.include_router(positions.router, dependencies=authed)
    app.include_router(cancel.router, dependencies=authed)
    app.include_router(credentials.router, dependencies=authed)
    app.include_router(wallets.router, dependencies=authed)
    app.include_router(history.router, dependencies=authed)
    app.include_router(intelligence.router, dependencies=authed)
    app.include_router(venues.router, dependencies=authed)
    app.include_router(markets.router, dependencies=authed)  # its lifespan follows the MARKETS stream
    app.include_router(health.keyed, dependencies=authed)  # GET /v1/health (the SRE view)
    app.include_router(trace_routes.router, dependencies=authed)
    app.include_router(api_keys.router, dependencies=authed)
    app.include_router(sandbox.router, dependencies=authed)
    app.include_router(funding_routes.router, dependencies=authed)
    app.include_router(simulate.router, dependencies=authed)
    app.include_router(fair_price.router, dependencies=authed)
    app.include_router(analytics.router, dependencies=authed)
    app.include_router(rewards.router, dependencies=authed)
    app.include_router(strategy_routes.router, dependencies=authed)  # after credentials: it seals with its vault
    app.include_router(backtest_routes.router, dependencies=authed)
    app.include_router(algo_routes.router, dependencies=authed)  # its lifespan follows algo.>
    # The WebSocket authenticates its own upgrade (a 401 denial, not the HTTP error envelope).
    app.include_router(stream.router)
    # Lifecycle WebSockets authenticate like /v1/stream; its GET /v1/ws/ticket takes `Auth` itself.
    app.include_router(lifecycle.router)
    return app


def run_api(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        create_app(settings, own_process=True),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        proxy_headers=False,
        http="httptools",  # the C parser (a dependency): less CPU per request than h11 on the order path
    )
