"""Bounded reads (issue #11, item 5): a request reads its own tenant's history through per-tenant
indexes, never other tenants' (its cost does not grow with them), and `/v1/stream` cursors are
LEDGER sequences: a client resuming with one gets exactly what followed it."""

from __future__ import annotations

from typing import Any

import httpx

from services.api.auth import AuthContext
from services.api.routers.stream import Session
from services.api.state import ApiState
from services.edges.sim.server import SimServer
from tests.services.api.test_intelligence import _order

Cluster = tuple[httpx.AsyncClient, list[SimServer], ApiState]
NOISE = 2_000  # other tenants' history entries planted in every structure a read could scan
DEFAULT = AuthContext(tenant="default", key_id="k", is_sandbox=True, is_admin=False)
READS = [
    "/v1/execution/summary", "/v1/tca", "/v1/tca?symbol=BTC-USDT",
    "/v1/analytics/venues", "/v1/analytics/time_of_day", "/v1/analytics/assets",
]


class Foreign:
    """Another tenant's history entry: every attribute read of it is counted."""

    reads = [0]

    def __getattribute__(self, name: str) -> Any:
        Foreign.reads[0] += 1
        raise AttributeError(name)


def _plant_other_tenants(api: ApiState) -> None:
    """History of tenants `noise-*`, in the all-tenant maps and in their own per-tenant indexes."""
    ledger, plans = api.ledger, api.plans
    seq = ledger.position
    for n in range(NOISE):
        tenant, graph_id, entry = f"noise-{n % 7}", f"noise-graph-{n}", Foreign()
        ledger.graphs[graph_id] = entry  # type: ignore[assignment]
        ledger.tca[graph_id] = entry  # type: ignore[assignment]
        plans.by_graph[graph_id] = [entry]  # type: ignore[list-item]
        ledger.tenant_graphs.setdefault(tenant, {})[graph_id] = None
        ledger.working.setdefault(tenant, {})[graph_id] = None
        ledger.changed.setdefault(tenant, {})[graph_id] = seq
        ledger.tenant_fills.setdefault(tenant, []).append((seq, entry))  # type: ignore[arg-type]
        ledger.tenant_tca.setdefault(tenant, []).append((seq, entry))  # type: ignore[arg-type]
        plans.by_tenant.setdefault(tenant, []).append((seq, entry))  # type: ignore[arg-type]


def _unplant(api: ApiState) -> None:
    ledger, plans = api.ledger, api.plans
    for name in ("graphs", "tca"):
        for key in [k for k, v in getattr(ledger, name).items() if isinstance(v, Foreign)]:
            del getattr(ledger, name)[key]
    for index in (ledger.tenant_graphs, ledger.working, ledger.changed, ledger.tenant_fills, ledger.tenant_tca,
                  plans.by_tenant, plans.by_graph):
        for key in [k for k in index if str(k).startswith("noise-")]:
            del index[key]


def _stamp_free(body: Any) -> Any:
    return {k: v for k, v in body.items() if k != "as_of_ns"} if isinstance(body, dict) else body


async def test_reads_never_visit_other_tenants_history(cluster: Cluster) -> None:
    client, _, api = cluster
    graph_id = await _order(client, api, 0.02)
    await _order(client, api, 0.01)
    per_graph = [f"/v1/execution/live/{graph_id}", f"/v1/execution/review/{graph_id}"]
    before = {url: _stamp_free((await client.get(url)).json()) for url in READS + per_graph}
    assert before["/v1/execution/summary"]["order_count"] == 2
    assert before["/v1/tca"]["order_count"] == 2 and before[per_graph[0]]["fills"]

    _plant_other_tenants(api)
    Foreign.reads[0] = 0
    try:
        after = {url: _stamp_free((await client.get(url)).json()) for url in READS + per_graph}
        venue = before[per_graph[0]]["fills"][0]["venue"]
        swept = await client.post(f"/v1/venue_cancel_all/{venue}")
        session = Session(api, DEFAULT, plans=api.plans)
        session.subscribe(["orders", "fills", "tca", "routing"], cursor=0)
        frames = session.frames()
        visited = Foreign.reads[0]
    finally:
        _unplant(api)
    # The same answers, and not one of the other tenants' entries was read to give them.
    assert after == before
    assert swept.status_code == 200 and swept.json()["cancelled"] == 0
    assert {f["channel"] for f in frames} == {"orders", "fills", "tca", "routing"}
    assert visited == 0, f"a request read {visited} attributes of other tenants' history"


async def test_stream_cursor_is_a_ledger_sequence_and_resumes_after_it(cluster: Cluster) -> None:
    client, _, api = cluster
    first = await _order(client, api, 0.02)
    second = await _order(client, api, 0.01)
    session = Session(api, DEFAULT, plans=api.plans)
    assert session.subscribe(["fills", "orders", "tca", "routing"], cursor=0)["cursor"] == 0
    frames = session.frames()
    cursors = [f["cursor"] for f in frames]
    assert cursors == sorted(cursors) and cursors[-1] <= api.ledger.position
    fills = [f for f in frames if f["channel"] == "fills"]
    assert [f["data"]["fill_id"] for f in fills] == [f.fill_id for f in api.ledger.fills_of("default")]
    assert {f["data"]["graph_id"] for f in frames if f["channel"] in ("tca", "orders")} == {first, second}
    done = {f["data"]["node_order_id"]: f["data"]["status"] for f in frames if f["channel"] == "orders"}
    assert done == {f"{first}:order:1": "FILLED", f"{second}:order:1": "FILLED"}
    assert session.frames() == []  # nothing new on the ledger: nothing sent again

    # Resuming after any fill's cursor gets exactly the fills that followed it.
    assert len(fills) >= 2
    for k, fill in enumerate(fills):
        resumed = Session(api, DEFAULT, plans=api.plans)
        resumed.subscribe(["fills"], cursor=fill["cursor"])
        assert [f["data"]["fill_id"] for f in resumed.frames()] == [f["data"]["fill_id"] for f in fills[k + 1 :]]

    # A session subscribed now streams what happens from now on: the next order, and only it.
    live = Session(api, DEFAULT, plans=api.plans)
    assert live.subscribe(["fills", "orders", "tca", "routing"]) == {
        "subscribed": ["fills", "orders", "tca", "routing"], "rejected": []}
    assert live.frames() == []
    third = await _order(client, api, 0.01)
    news = live.frames()
    assert {f["channel"] for f in news} == {"fills", "orders", "tca", "routing"}
    assert {f["data"]["graph_id"] for f in news if f["channel"] != "routing"} == {third}
    assert [f["data"]["node_order_id"] for f in news if f["channel"] == "routing"] == [f"{third}:order:1"]
    assert min(f["cursor"] for f in news) > cursors[-1]
