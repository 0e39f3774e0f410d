"""Commands: what a front door (API, CLI, MCP) asks the kernel to do.

A front door validates a request and appends ONE command on `cmd.<tenant>`, idempotent by its
id (`Nats-Msg-Id`); the kernel is the only writer of the facts that follow (the graph engine of
`ord.*`, risk of `risk.*`). A command is a request, not a fact: the kernel may find it moot
(e.g. a cancel of a graph that ended meanwhile) and then appends nothing.
"""

from __future__ import annotations

from events.base import Event
from events.graph import EdgeSpec, NodeSpec


class SubmitGraph(Event, frozen=True, kw_only=True, tag="cmd.submit_graph.v1"):
    """Create a graph; the engine records it as `GraphSubmitted` unless `graph_id` exists."""

    graph_id: str
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]
    is_sandbox: bool
    body_sha256: str
    max_notional_usd_1e9: int | None = None
    max_loss_usd_1e9: int | None = None


class CancelGraph(Event, frozen=True, kw_only=True, tag="cmd.cancel_graph.v1"):
    graph_id: str
    reason: str = "user"


class CancelNode(Event, frozen=True, kw_only=True, tag="cmd.cancel_node.v1"):
    graph_id: str
    node_id: str
    reason: str = "user"


class AmendNode(Event, frozen=True, kw_only=True, tag="cmd.amend_node.v1"):
    graph_id: str
    node_id: str
    new_qty_1e8: int | None = None
    new_limit_px_1e9: int | None = None


class ResumeGraph(Event, frozen=True, kw_only=True, tag="cmd.resume_graph.v1"):
    graph_id: str


class EngageKillSwitch(Event, frozen=True, kw_only=True, tag="cmd.engage_kill_switch.v1"):
    reason: str | None = None


class ClearKillSwitch(Event, frozen=True, kw_only=True, tag="cmd.clear_kill_switch.v1"):
    pass


class SyncPositions(Event, frozen=True, kw_only=True, tag="cmd.sync_positions.v1"):
    """Reconcile the tenant's live venue accounts now (`POST /v1/positions/sync`): the live
    executor answers with one `VenueReconciled` per venue, caused by this command."""

    venues: list[str]


GRAPH_COMMANDS = (SubmitGraph, CancelGraph, CancelNode, AmendNode, ResumeGraph)
KILL_COMMANDS = (EngageKillSwitch, ClearKillSwitch)
COMMANDS = (*GRAPH_COMMANDS, *KILL_COMMANDS)  # what the kernel decides
LIVE_COMMANDS = (SyncPositions,)  # what the live executor runs
