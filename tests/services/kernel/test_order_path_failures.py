"""The one-round-trip order path when its batch fails: the trader's connection stores only a
prefix of the batch carrying a new graph (nothing, the graph, the graph up to the plan) and no
answer comes back. The graph is still appended once (by the engine's outbox when the router
could not), the node is routed again on the log as it then stands, and every child is allocated
and placed exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
from nats.js.api import PubAck

from events import AnyEvent
from events.execution import ChildAcked
from events.graph import GraphSubmitted, NodeActivated
from events.risk import RiskCheckPassed
from events.routing import ChildAllocated, PlanMade
from services.bus import Bus
from services.errors import BusError
from services.settings import Settings
from tests.services.kernel.test_single_writer import ledger_messages
from tests.services.trading.test_policies import U, Desk, desk  # noqa: F401  (the fixture)


class FailingCarryBus(Bus):
    """Its first batch carrying a new graph stores only its first `stored` messages and gets no
    answer (a stalled server): the sender cannot tell what was stored."""

    stored: int
    failed: list[bool]  # shared by the writer handles (copies) of this connection

    async def publish_chained(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], **kwargs: float
    ) -> list[PubAck | BusError]:
        if self.failed or not any(isinstance(e, GraphSubmitted) for e in events):
            return await super().publish_chained(events, expected, **kwargs)
        self.failed.append(True)
        await super().publish_chained(events[: self.stored], expected)
        return [BusError("no JetStream answer: TimeoutError()")] * len(events)


@pytest.fixture(params=[0, 2, 4], ids=["nothing-stored", "graph-stored", "plan-stored-children-not"])
async def bus(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Bus]:
    failing = await FailingCarryBus.connect(settings, name="test")
    failing.stored, failing.failed = request.param, []
    await failing.ensure_streams()
    yield failing
    await failing.close()


async def test_a_failed_order_batch_still_places_the_order_exactly_once(desk: Desk) -> None:
    # Act: a market order split over two venues, whose one batch fails part-way
    graph_id = await desk.submit(qty_1e8=U // 2)
    status = await desk.until_final(graph_id, timeout=30)
    # Assert
    assert isinstance(desk.bus, FailingCarryBus) and desk.bus.failed == [True]
    events = [m[3] for m in await ledger_messages(desk.bus)]
    mine = [e for e in events if getattr(e, "graph_id", None) == graph_id]
    count = Counter(type(e) for e in mine)
    assert (count[GraphSubmitted], count[NodeActivated], count[RiskCheckPassed], count[PlanMade]) == (1, 1, 1, 1)
    plan = next(e for e in mine if isinstance(e, PlanMade))
    children = [e for e in mine if isinstance(e, ChildAllocated)]
    assert children == list(plan.children) and len(children) == 2
    acks = Counter(e.child_id for e in events if isinstance(e, ChildAcked) and e.child_id in {c.child_id for c in children})
    assert sorted(acks.values()) == [1, 1]
    assert status["status"] == "COMPLETED"
