"""Drive the synchronous kernel (services/kernel/kernel.py) over recorded market data and timed
orders, with a virtual clock: the backtest's only loop.

Yields `(is_market, event)` in log order: each market input (True) and every event the kernel
appends (False): paper funding, the orders' commands, and all that follows from them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from events import AnyEvent
from events.ids import derive_id
from projections.market import MarketBooks
from replay.recording import MdEvent
from replay.runs import DRAIN_NS, PROGRESS_EVERY, TENANT, BacktestError, TimedOrder
from services.edges import registry
from services.edges.sandbox.service import funding_events
from services.graph import parse_order_body
from services.graph.errors import GraphError
from services.graph.schema import resolve_notional
from services.kernel.kernel import Kernel
from services.kernel.ports import VirtualClock


def _command(order: TimedOrder, seed: int, ts_ns: int, kernel: Kernel) -> AnyEvent:
    from services.api.routers.orders import submit_command  # the API's own command for a body

    ids = iter(range(1 << 30))
    try:
        parsed = parse_order_body(
            order.body,
            lambda: derive_id("backtest-order", str(seed), str(order.line), str(next(ids))),
            force_sandbox=True,
        )
        if parsed.notional_usd_1e9:
            mids = {}
            for node in parsed.nodes:
                nbbo = kernel.market.nbbo(node.instrument.symbol)
                if nbbo is not None and nbbo.bid_px_1e9 and nbbo.ask_px_1e9:
                    mids[node.node_id] = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
            parsed = resolve_notional(parsed, mids)
    except GraphError as exc:
        raise BacktestError(f"order on line {order.line}: {exc}") from exc
    command, _ = submit_command(parsed, TENANT, ts_ns)
    return command


def drive(
    market: Iterator[MdEvent], orders: list[TimedOrder], seed: int, progress: Callable[[int], None],
    books: Callable[[MarketBooks], None] = lambda _: None,
) -> Iterator[tuple[bool, AnyEvent]]:
    """`books` receives the kernel's own market fold (read it for marks; never write to it)."""
    kernel = Kernel(clock=VirtualClock(0), rng=random.Random(seed))
    books(kernel.market)
    pending = list(reversed(orders))  # pop() gives the next by offset
    start_ns: int | None = None
    last_ns = 0
    done = 0

    def submit_due(until_ns: int) -> Iterator[tuple[bool, AnyEvent]]:
        assert start_ns is not None
        while pending and start_ns + pending[-1].offset_ns <= until_ns:
            order = pending.pop()
            at = start_ns + order.offset_ns
            for e in kernel.advance_to(at):
                yield False, e
            command = _command(order, seed, at, kernel)
            yield False, command
            for e in kernel.handle(command):
                yield False, e

    for event in market:
        if start_ns is None:
            start_ns = event.ts_ns
            for grant in funding_events(TENANT, sorted(registry.adapters()), start_ns):
                yield False, grant
                for e in kernel.handle(grant):
                    yield False, e
        yield from submit_due(event.ts_ns)
        for e in kernel.advance_to(event.ts_ns):
            yield False, e
        reactions = kernel.handle(event)  # folded first, so a reader of `books` sees this event
        yield True, event
        for e in reactions:
            yield False, e
        last_ns = event.ts_ns
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(done)
    if start_ns is None:
        return
    # Orders after the data's end still go in at their time (they meet the last books), then
    # the venues' replies and timers due soon after land.
    if pending:
        yield from submit_due(start_ns + pending[0].offset_ns)
    horizon = max(last_ns, kernel.clock.now_ns()) + DRAIN_NS
    for e in kernel.advance_to(horizon):
        yield False, e
