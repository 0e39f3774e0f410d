"""What the API process holds: the bus, the in-memory projections, the durable views and the API
key store.

The in-memory `ledger` (rebuilt from LEDGER on start) is what commands decide on: submit
idempotency, the kill switch, cancel/amend/resume need the freshest whole graph state. REST
reads of orders, fills and graph status come from the durable `orders` view; each waits until
that view has folded everything `ledger_follower` has (services/api/routers/orders.py), so a
read is never older than an answer the API already gave."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from projections.follower import StreamFollower
from services.algos.deployments import DeploymentsView
from projections.funding import FundingRates
from projections.ledger import LedgerView
from projections.market import MarketBooks
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from services.api.keys import KeyStore
from services.api.order_gate import OrderGate
from services.api.ratelimit import RateLimiter
from services.api.traces import TraceIndex
from services.bus import Bus
from services.readiness import ReadinessWatch
from services.settings import Settings

if TYPE_CHECKING:  # plans.py imports this module at run time
    from services.api.market_catalog import MarketCatalog
    from services.api.plans import RoutingPlans


@dataclass
class ApiState:
    settings: Settings
    bus: Bus
    market: MarketBooks
    md_follower: StreamFollower
    ledger: LedgerView
    ledger_follower: StreamFollower
    sandbox_venues: list[str]
    keys: KeyStore
    views: ViewStore  # durable read models (SQLite or PostgreSQL)
    positions: ProjectionRunner  # folds balances and positions into `views`
    orders: ProjectionRunner  # folds orders, fills and graph status into `views` (projections/orders.py)
    limiter: RateLimiter
    traces: TraceIndex  # LEDGER sequences per order, fed by `ledger_follower` (GET /v1/traces)
    plans: RoutingPlans  # the SOR's PlanMade events, fed by `ledger_follower` (services/api/plans.py)
    funding: FundingRates = field(default_factory=FundingRates)  # perp funding, fed by `md_follower`
    markets: MarketCatalog | None = None  # prediction markets and symbol forms (the markets router's lifespan)
    readiness: ReadinessWatch | None = None  # the trader's heartbeats (services/api/readiness.py)
    deployments: DeploymentsView = field(default_factory=DeploymentsView)  # WASM algos, fed by `ledger_follower`
    gate: OrderGate = field(default_factory=OrderGate)  # orders in flight: the views' runners step aside


async def get_state(request: Request) -> ApiState:  # async: FastAPI runs sync dependencies on a thread
    return request.app.state.api
