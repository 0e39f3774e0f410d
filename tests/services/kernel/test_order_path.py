"""The order path in one round trip: the trader's graph engine hands a new graph to the router
of its process, which routes the roots and appends the graph, the risk verdict, the plan and its
children as one pipelined batch (services/sor/service.py `carry`, services/kernel/appender.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
from nats.js.api import PubAck

from events import AnyEvent
from events.graph import GraphSubmitted, NodeActivated
from events.risk import RiskCheckPassed
from events.routing import ChildAllocated, PlanMade
from events.subjects import writer_of
from services.bus import Bus
from services.errors import BusError
from services.settings import Settings
from tests.services.kernel.test_single_writer import ledger_messages
from tests.services.trading.test_policies import U, Desk, desk  # noqa: F401  (the fixture)


class RecordingBus(Bus):
    """The process's connection, noting each pipelined batch it sends (shared by its handles)."""

    batches: list[list[type]]

    async def publish_chained(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], **kwargs: float
    ) -> list[PubAck | BusError]:
        self.batches.append([type(e) for e in events])
        return await super().publish_chained(events, expected, **kwargs)


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    recording = await RecordingBus.connect(settings, name="test")
    recording.batches = []
    await recording.ensure_streams()
    yield recording
    await recording.close()


async def test_a_new_graph_is_appended_with_its_verdict_plan_and_children_in_one_batch(desk: Desk) -> None:
    # Act: one market order, split over two venues (larger than the best level)
    graph_id = await desk.submit(qty_1e8=U // 2)
    status = await desk.until_final(graph_id)
    # Assert: the graph's facts up to its children sit side by side on the log, in decision
    # order, each stamped by its own declared writer, and the order executed once.
    messages = [m for m in await ledger_messages(desk.bus) if getattr(m[3], "graph_id", None) == graph_id]
    kinds = (GraphSubmitted, NodeActivated, RiskCheckPassed, PlanMade, ChildAllocated)
    batch = [m for m in messages if isinstance(m[3], kinds)]
    assert [type(m[3]) for m in batch] == [GraphSubmitted, NodeActivated, RiskCheckPassed, PlanMade,
                                           ChildAllocated, ChildAllocated]
    assert [seq for seq, *_ in batch] == list(range(batch[0][0], batch[0][0] + len(batch)))
    assert all(writer == writer_of(subject) for _, subject, writer, _ in batch)
    plan = batch[3][3]
    assert isinstance(plan, PlanMade) and [m[3] for m in batch[4:]] == list(plan.children)
    assert status["status"] == "COMPLETED"
    # ... because they went out in one batch, not one append after another.
    assert isinstance(desk.bus, RecordingBus)
    assert [GraphSubmitted, NodeActivated, RiskCheckPassed, PlanMade, ChildAllocated, ChildAllocated] in desk.bus.batches

