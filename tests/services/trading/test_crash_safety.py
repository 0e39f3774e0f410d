"""kill -9 the router, the graph engine, the sandbox execution and a market-data edge -- each
its own process, or the trader as one -- at seeded random points while orders flow, restart
each, and audit the ledger: no child order is allocated or placed twice, no fill is lost or
doubled, every graph and every child order ends, and the durable positions view (the API's
ProjectionRunner) equals a fresh fold of the allocations, fills and balance adjustments on the log."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from events import AnyEvent
from events.execution import BalanceAdjusted, ChildAcked, ChildCancelled, ChildRejected, ChildSubmitted, FillRecorded
from events.graph import GraphCancelled, GraphCompleted, GraphSubmitted, NodeActivated, NodeCompleted
from events.risk import RiskCheckPassed
from events.routing import ChildAllocated, PlanMade
from projections.follower import StreamFollower
from projections.positions import NAME as POSITIONS, PositionsProjection
from projections.store import Doc
from services.api.state import ApiState
from services.bus import Bus
from services.edges import registry
from services.edges.sim.server import SimServer
from services.graph.state import graph_of
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
VENUES = ["binance", "okx"]
ROLES = ("graph", "router", "sandbox", "tca")
LIMITS = 8  # limit orders far from the market: they rest until the test cancels them
# How long an awaited event may take before the test calls it lost. Every wait is on its event;
# this only has to outlast a killed part's restart (interpreter start, catch-up on the ledger),
# which went past 30 s on 2 cores at load 16-20 (a resting child's ack waited for its sandbox).
EVENT_WAIT_S = 90.0
SEED = int(os.environ.get("CROSSBOOK_CRASH_SEED", "20261122"))  # another seed, other kill points
BTC_1e8 = 100_000_000
# The event on an order's graph that, once seen, pulls the trigger on a part: each names a
# different moment of that part's work (mid-routing, mid-plan, mid-fill, ...).
TRIGGERS: dict[str, tuple[type, ...]] = {
    "router": (NodeActivated, RiskCheckPassed, PlanMade),
    "graph": (NodeActivated, ChildAllocated, FillRecorded),
    "sandbox": (ChildAllocated, ChildAcked, FillRecorded),
    "edge": (GraphSubmitted, FillRecorded),
}


@dataclass
class Part:
    """One crossbook process that the test kills -9 and starts again."""

    name: str
    args: list[str]
    env: dict[str, str]
    ready_line: str  # logged once the part is up
    process: asyncio.subprocess.Process | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    log: list[str] = field(default_factory=list)
    kills: int = 0
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ready = asyncio.Event()
        self.log.append(f"--- start {self.name}")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli.main", *self.args, cwd=str(ROOT), env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self.process.stderr, self.ready))

    async def _read(self, stream: asyncio.StreamReader | None, ready: asyncio.Event) -> None:
        assert stream is not None
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if self.ready_line in line:
                ready.set()

    async def wait_ready(self, timeout: float = EVENT_WAIT_S) -> None:
        assert self.process is not None
        exited = asyncio.ensure_future(self.process.wait())
        up = asyncio.ensure_future(self.ready.wait())
        await asyncio.wait({exited, up}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        up.cancel()
        assert self.ready.is_set(), f"{self.name} did not come up:\n" + "\n".join(self.log[-40:])

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self._reader is not None:
            await self._reader
        self.kills += 1

    async def kill_and_restart(self) -> None:
        await self.kill()
        await self.start()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        if self._reader is not None:
            await self._reader


async def until_taken(send: Callable[[], Awaitable[httpx.Response]], attempts: int = 6) -> httpx.Response:
    """Send a command as the API's answers ask. 504 KERNEL_TIMEOUT: recorded, but the kernel (a
    part restarting on a loaded machine) has not applied it within the API's wait; 503
    SERVICE_UNAVAILABLE: JetStream did not confirm the append in time (a starved nats-server),
    retry it. Either way the same request again (same graph id, same graph version: the same
    command id, stored once) is safe. Any other answer is returned as it is."""
    for _ in range(attempts):
        r = await send()
        if r.status_code not in (503, 504):
            return r
        assert r.json()["error"]["code"] == {503: "SERVICE_UNAVAILABLE", 504: "KERNEL_TIMEOUT"}[r.status_code], r.text
    return r


class Watch:
    """What the LEDGER says so far, per graph: the kill triggers and the end conditions."""

    def __init__(self, orders: int) -> None:
        self.orders = orders
        self.graphs: set[str] = set()
        self.ended: set[str] = set()
        self.seen: set[tuple[str, type]] = set()
        self.child_graph: dict[str, str] = {}
        self.open_children: dict[str, int] = {}  # client order id -> qty still open
        self.limit_acked: set[str] = set()  # graphs whose (resting) child the venue acked

    def apply(self, event: AnyEvent, seq: int) -> None:
        graph_id = graph_of(event, self.child_graph)
        if graph_id is None:
            return
        self.seen.add((graph_id, type(event)))
        match event:
            case GraphSubmitted():
                self.graphs.add(graph_id)
            case GraphCompleted() | GraphCancelled():
                self.ended.add(graph_id)
            case ChildAllocated():
                self.open_children.setdefault(event.client_order_id, event.qty_1e8)
            case ChildAcked():
                self.limit_acked.add(graph_id)
            case FillRecorded() if event.client_order_id in self.open_children:
                self.open_children[event.client_order_id] -= event.qty_1e8
                if self.open_children[event.client_order_id] <= 0:
                    del self.open_children[event.client_order_id]
            case ChildCancelled() | ChildRejected():
                self.open_children.pop(event.client_order_id, None)

    def settled(self) -> bool:
        return len(self.graphs) == self.orders and self.ended == self.graphs and not self.open_children


class MemoryTx:
    """A view transaction over a plain dict: the fresh fold the durable view must equal."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], Doc] = {}

    def get(self, collection: str, key: str) -> Doc | None:
        return self.docs.get((collection, key))

    def put(self, collection: str, key: str, doc: Doc) -> None:
        self.docs[(collection, key)] = doc

    def delete(self, collection: str, key: str) -> None:
        self.docs.pop((collection, key), None)


@pytest.fixture
async def sims() -> AsyncIterator[dict[str, SimServer]]:
    protocols, instruments = registry.sim_protocols(), registry.sim_instruments()
    servers: dict[str, SimServer] = {}
    for i, name in enumerate(VENUES):
        inst = [x for x in instruments[name] if x.symbol == "BTC-USDT"]
        servers[name] = await SimServer(protocols[name](), inst, tick_ms=100, seed=41 + i).start()
    yield servers
    for server in servers.values():
        await server.stop()


def crossbook_parts(
    settings: Settings, sims: dict[str, SimServer], layout: str
) -> tuple[dict[str, Part], dict[str, str]]:
    """The processes, and which one hosts each role and edge: a process per role, or the whole
    trader in one (`crossbook trader`, as the Procfile runs it)."""
    env = dict(
        os.environ,
        CROSSBOOK_NATS_URL=settings.effective_nats_url,
        CROSSBOOK_DATA_DIR=str(settings.data_dir),
        CROSSBOOK_DATABASE_URL=settings.database_url,
    )
    for venue, server in sims.items():
        prefix = f"CROSSBOOK_{venue.upper()}_"
        env |= {prefix + "WS_URL": server.ws_url, prefix + "REST_URL": server.rest_url, prefix + "SYMBOLS": "BTC-USDT"}
    parts = {f"edge_{v}": Part(f"edge_{v}", ["edge", "--venue", v], env, f"edge {v} streaming") for v in VENUES}
    host = {name: name for name in parts}
    env["CROSSBOOK_TRADER"] = "kernel" if layout == "kernel" else "services"
    if layout in ("one_process", "kernel"):
        parts["trader"] = Part("trader", ["trader"], env, "trader running")
        host |= {role: "trader" for role in ROLES}
    else:
        parts |= {role: Part(role, ["trader", "--role", role], env, "trader running") for role in ROLES}
        host |= {role: role for role in ROLES}
    return parts, host


def order_plan(rng: random.Random, api: ApiState, orders: int) -> tuple[list[dict[str, Any]], set[int]]:
    """Order bodies: market buys and sells, most of them deeper than one venue's best levels
    so that they split across venues, and a few limits 10% away from the market that rest."""
    nbbo = api.market.nbbo("BTC-USDT")
    bid_1e9, ask_1e9 = nbbo.bid_px_1e9, nbbo.ask_px_1e9
    # The router leaves a venue only once its 20 visible levels are used up: a split takes more
    # (kept under the default $10M order notional limit).
    depth = max(sum(q for _, q in b.top(20)[1]) for (_, s), b in api.market.books.items() if s == "BTC-USDT")
    below_limit = 9_000_000 * 10**9 * BTC_1e8 // ask_1e9
    sizes = [BTC_1e8 // 100, BTC_1e8 // 2, min(depth * 6 // 5, below_limit)]
    limits = set(rng.sample(range(orders - 5), LIMITS))
    bodies = []
    for i in range(orders):
        side = "buy" if i % 2 else "sell"
        if i in limits:
            far = bid_1e9 * 9 // 10 if side == "buy" else ask_1e9 * 11 // 10
            price = far // 10**9 * 10**9
            bodies.append({"symbol": "BTC-USDT", "side": side, "qty": 0.02, "price": price / 1e9})
        else:
            qty_1e8 = rng.choice(sizes) // 10_000 * 10_000
            bodies.append({"symbol": "BTC-USDT", "side": side, "qty": qty_1e8 / BTC_1e8})
    return bodies, limits


def kill_plan(rng: random.Random, limits: set[int], orders: int) -> dict[int, tuple[str, type]]:
    """Order index -> (part, trigger event): each trading part three times, one edge once."""
    targets = ["router", "graph", "sandbox"] * 3 + [f"edge_{rng.choice(VENUES)}"]
    rng.shuffle(targets)
    at = sorted(rng.sample([i for i in range(2, orders - 2) if i not in limits], len(targets)))
    return {i: (part, rng.choice(TRIGGERS[part.split("_")[0]])) for i, part in zip(at, targets)}


# Each role its own process (the 100 orders), the whole trader as one process
# (`crossbook trader`, as the Procfile runs it; fewer orders to keep the suite quick), and the
# trader as the one kernel (`CROSSBOOK_TRADER=kernel`).
# A fixed workload (the 100 orders, ten kill -9 and restarts of Python processes): its
# time grows with the machine's load. Measured here on 2 cores at load 17-20: 187 s for the
# process-per-role run (150 s was the old budget). The budget covers that work; no wait in the
# test relies on it.
@pytest.mark.timeout(420)
@pytest.mark.parametrize(("layout", "orders"), [("process_per_role", 100), ("one_process", 40), ("kernel", 40)])
async def test_kill_9_of_each_part_during_the_orders_loses_nothing_and_doubles_nothing(
    bus: Bus, settings: Settings, sims: dict[str, SimServer], layout: str, orders: int
) -> None:
    from services.api.app import create_app
    from services.api.keys import create_key

    rng = random.Random(SEED)
    watch = Watch(orders)
    watcher = StreamFollower(bus, "LEDGER", [">"], watch.apply)
    await watcher.start()
    parts, host = crossbook_parts(settings, sims, layout)
    app = create_app(settings)
    try:
        for part in parts.values():
            await part.start()
        for part in parts.values():
            await part.wait_ready()
        async with app.router.lifespan_context(app):
            api: ApiState = app.state.api
            await api.md_follower.wait_until(
                lambda: all(api.market.books.get((v, "BTC-USDT")) for v in VENUES), timeout=EVENT_WAIT_S
            )
            bodies, limits = order_plan(rng, api, orders)
            kills = kill_plan(rng, limits, orders)
            key = create_key(settings, "default", sandbox=True, now_ns=1)
            headers = {"Authorization": f"Bearer {key.secret}"}
            resting: list[tuple[int, str]] = []
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:

                async def cancel(graph_id: str) -> None:
                    # Cancel once the venue holds the resting child (or the graph already ended).
                    await watcher.wait_until(lambda: graph_id in watch.limit_acked or graph_id in watch.ended, EVENT_WAIT_S)
                    r = await until_taken(lambda: client.delete(f"/v1/execution_graphs/{graph_id}", headers=headers))
                    assert r.status_code == 200, r.text

                async def post(body: dict[str, Any]) -> str:
                    body = {**body, "graph_id": f"crash-{next(numbers)}"}  # chosen here: a retry is the same order
                    r = await until_taken(lambda: client.post("/v1/orders", json=body, headers=headers))
                    assert r.status_code == 200, r.text
                    return str(r.json()["graph_id"])

                numbers = itertools.count()
                unplaced: str | None = None
                for i, body in enumerate(bodies):
                    if i == min(limits) and host["sandbox"] != host["router"]:
                        # A limit cancelled while the sandbox is down, after its child was
                        # allocated: the restarted sandbox must not place it for a cancelled node.
                        await parts[host["sandbox"]].wait_ready()
                        await parts[host["sandbox"]].kill()
                        graph_id = unplaced = await post(body)
                        await watcher.wait_until(lambda: (graph_id, ChildAllocated) in watch.seen, EVENT_WAIT_S)
                        r = await until_taken(lambda: client.delete(f"/v1/execution_graphs/{graph_id}", headers=headers))
                        assert r.status_code == 200 and r.json()["status"] == "CANCELLED", r.text
                        await parts[host["sandbox"]].start()
                        continue
                    graph_id = await post(body)
                    if i in limits:
                        resting.append((i, graph_id))
                    while resting and resting[0][0] <= i - 3:
                        await cancel(resting.pop(0)[1])
                    if i in kills:
                        name, trigger = kills[i]
                        part = parts[host[name]]
                        await part.wait_ready()  # kill a running part, not one still starting
                        await watcher.wait_until(
                            lambda: (graph_id, trigger) in watch.seen or graph_id in watch.ended, 30
                        )
                        await part.kill_and_restart()
                for _, graph_id in resting:
                    await cancel(graph_id)
            try:
                await watcher.wait_until(watch.settled, timeout=60)
            except TimeoutError:
                stuck = sorted(watch.graphs - watch.ended)
                raise AssertionError(
                    f"not settled: {len(stuck)} graphs without a final state, "
                    f"open children {list(watch.open_children.items())[:5]}\n"
                    + await story(bus, stuck[:2]) + logs(parts)
                ) from None
            # The API hosts the durable positions view: read it once it has the whole log.
            await api.positions.wait_caught_up()
            durable = api.positions.store.dump(POSITIONS)
    finally:
        for part in parts.values():
            await part.stop()
        await watcher.stop()
    planned = Counter(host[name] for name, _ in kills.values()) + Counter([host["sandbox"]] if unplaced else [])
    assert {name: part.kills for name, part in parts.items() if part.kills} == dict(planned)
    await audit(bus, durable, unplaced, orders)


async def story(bus: Bus, graph_ids: list[str]) -> str:
    """The log of a few graphs, one line per event, to see where they stopped."""
    child_graph: dict[str, str] = {}
    lines = []
    async for d in bus.replay("LEDGER", [">"]):
        if graph_of(d.event, child_graph) in graph_ids:
            shown = (getattr(d.event, name, "") for name in ("node_id", "child_id", "qty_1e8", "status", "reason"))
            lines.append(f"{d.seq} {type(d.event).__name__} " + " ".join(map(str, shown)))
    return "\n".join(lines) + "\n"


def logs(parts: dict[str, Part]) -> str:
    # Starts, warnings and errors of every part (the info lines are mostly noise).
    keep = ("--- start", "WARNING", "ERROR", "Traceback", "Error")
    return "\n".join(
        f"== {p.name}\n" + "\n".join(x for x in p.log if any(k in x for k in keep)) for p in parts.values()
    )


async def audit(bus: Bus, durable: dict[tuple[str, str], Doc], unplaced: str | None, orders: int) -> None:
    allocated: Counter[str] = Counter()  # client order id -> ChildAllocated events
    child_qty: dict[str, int] = {}
    child_ids: Counter[str] = Counter()
    node_qty: dict[tuple[str, str], int] = {}
    acked: Counter[str] = Counter()
    acked_graphs: set[str] = set()
    child_graph: dict[str, str] = {}
    fill_ids: Counter[str] = Counter()
    fills_by_order: dict[str, list[FillRecorded]] = defaultdict(list)
    filled: Counter[str] = Counter()  # client order id -> qty
    node_filled: Counter[tuple[str, str]] = Counter()
    cancelled: dict[str, ChildCancelled] = {}
    completed: dict[tuple[str, str], NodeCompleted] = {}
    btc: Counter[str] = Counter()  # venue -> BTC bought minus sold
    fresh = MemoryTx()
    fold = PositionsProjection()
    venues_per_graph: dict[str, set[str]] = defaultdict(set)
    async for d in bus.replay("LEDGER", [">"]):
        e = d.event
        graph_of(e, child_graph)
        if isinstance(e, (FillRecorded, BalanceAdjusted, ChildAllocated, PlanMade, ChildSubmitted)):  # + known children
            fold.apply(fresh, e, d.seq)
        match e:
            case GraphSubmitted():
                for n in e.nodes:
                    node_qty[(e.graph_id, n.node_id)] = n.qty_1e8
            case ChildAllocated():
                allocated[e.client_order_id] += 1
                child_ids[e.child_id] += 1
                child_qty[e.client_order_id] = e.qty_1e8
                venues_per_graph[e.graph_id].add(e.venue)
            case ChildAcked():
                acked[e.client_order_id] += 1
                acked_graphs.add(graph_of(e, child_graph) or "")
            case FillRecorded():
                fill_ids[e.fill_id] += 1
                fills_by_order[e.client_order_id].append(e)
                filled[e.client_order_id] += e.qty_1e8
                node_filled[(e.graph_id, e.node_id)] += e.qty_1e8
                btc[e.venue] += e.qty_1e8 if e.side == "buy" else -e.qty_1e8
            case ChildCancelled():
                assert e.client_order_id not in cancelled, f"child {e.client_order_id} cancelled twice"
                cancelled[e.client_order_id] = e
            case NodeCompleted():
                completed[(e.graph_id, e.node_id)] = e
    # No child order allocated or placed twice, and no node filled beyond its size (re-routes
    # may allocate a missed remainder again, so allocations can add up to more).
    assert allocated and max(allocated.values()) == 1, "a child order id was allocated twice"
    assert max(child_ids.values()) == 1, "a child was allocated twice"
    assert max(acked.values()) == 1, "a child order was placed twice"
    assert unplaced is None or unplaced not in acked_graphs, "placed a child of a node cancelled while it was down"
    over = {k: (q, node_qty[k]) for k, q in node_filled.items() if q > node_qty[k]}
    assert not over, f"nodes filled beyond their size: {over}"
    assert sum(len(v) >= 2 for v in venues_per_graph.values()) >= orders // 10, "too few orders split across venues"
    # No fill lost or doubled: fill ids are unique, each venue order's fills are numbered 1..n
    # without a gap, an order's cancel reports exactly what its fills add up to, no order fills
    # beyond its size, and each node completed with exactly its fills.
    assert fill_ids and max(fill_ids.values()) == 1, "a fill was recorded twice"
    for coid, fills in fills_by_order.items():
        numbers = sorted(int(f.fill_id.rsplit("-f", 1)[1]) for f in fills)
        assert numbers == list(range(1, len(fills) + 1)), f"order {coid} is missing fills: {numbers}"
    assert all(q <= child_qty[coid] for coid, q in filled.items()), "a child order filled beyond its size"
    for coid, cancel in cancelled.items():
        assert cancel.filled_qty_1e8 == filled[coid], f"order {coid}: cancel says {cancel.filled_qty_1e8} filled"
    for key, node in completed.items():
        assert node.filled_qty_1e8 == node_filled[key], f"node {key} completed with {node.filled_qty_1e8} filled"
    assert len(completed) >= orders - LIMITS
    # The durable positions equal a fresh fold of the log, and the BTC each venue holds is the
    # paper funding plus what the fills bought minus what they sold.
    assert durable == fresh.docs
    for venue in VENUES:
        balance = durable[("balances", f"default/sandbox/{venue}/BTC")]["qty_1e8"]
        assert balance == 10_000 * BTC_1e8 + btc[venue]
