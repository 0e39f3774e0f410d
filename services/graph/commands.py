"""Front-door command events (events/commands.py) <-> the graph engine's commands
(services/graph/engine.py): the API checks a request with the engine's command on its view of
the graph and appends the event; the engine runs the same command on its own fold."""

from __future__ import annotations

from typing import Any

from events import commands
from events import AnyEvent
from events.graph import GraphCancelled, GraphResumed, GraphSubmitted, NodeAmended, NodeCancelled
from events.ids import derive_id
from services.graph.engine import AmendNode, CancelGraph, CancelNode, Command, ResumeGraph, step, submit
from services.graph.schema import ParsedGraph
from services.graph.state import GraphState
from services.kernel.ports import derived_ids

# What a SubmitGraph asks for and the GraphSubmitted that records it share.
GRAPH_BODY = ("graph_id", "nodes", "edges", "is_sandbox", "body_sha256", "max_notional_usd_1e9", "max_loss_usd_1e9")
GraphCommand = commands.CancelGraph | commands.CancelNode | commands.AmendNode | commands.ResumeGraph


def graph_body(source: GraphSubmitted | commands.SubmitGraph) -> dict[str, Any]:
    """The graph a submission describes (every field but the envelope)."""
    return {name: getattr(source, name) for name in GRAPH_BODY}


def command_answer(state: GraphState, cmd: Command, now_ns: int, command_id: str) -> tuple[GraphState, list[AnyEvent]]:
    """The graph engine's whole answer to a command, in the order it appends it: the command's
    own events (ids from the command), each followed by the engine's reaction to it (ids from
    that event), exactly as an engine replaying the log reacts to them -- so a restart derives
    the same events and appends none twice. GraphCancelled goes first: folded after its
    NodeCancelled events, a replaying engine would see every node ended and complete the graph
    as FAILED. Raises what `step` raises for an invalid command."""
    _, decided = step(state, cmd, now_ns, derived_ids(command_id))
    own = [e for e in decided if isinstance(e, GraphCancelled)] + [
        e for e in decided if isinstance(e, (NodeCancelled, GraphResumed, NodeAmended))
    ]
    out: list[AnyEvent] = []
    current = state
    for event in own:
        current, reactions = step(current, event, now_ns, derived_ids(event.event_id))
        out += [event, *reactions]
    return current, out


def engine_command(command: GraphCommand) -> Command:
    """The engine's command for a command event (`request_id` = the event's id)."""
    match command:
        case commands.CancelGraph():
            return CancelGraph(reason=command.reason, request_id=command.event_id)
        case commands.CancelNode():
            return CancelNode(node_id=command.node_id, reason=command.reason, request_id=command.event_id)
        case commands.AmendNode():
            return AmendNode(
                node_id=command.node_id, new_qty_1e8=command.new_qty_1e8, new_limit_px_1e9=command.new_limit_px_1e9,
                request_id=command.event_id,
            )
        case commands.ResumeGraph():
            return ResumeGraph(request_id=command.event_id)
    raise TypeError(f"not a graph command: {type(command).__name__}")


def command_event(cmd: Command, *, graph_id: str, tenant: str, event_id: str, ts_ns: int) -> GraphCommand:
    """The command event a front door appends for the engine's command `cmd`."""
    match cmd:
        case CancelGraph():
            return commands.CancelGraph(
                event_id=event_id, ts_ns=ts_ns, tenant=tenant, correlation_id=graph_id, graph_id=graph_id,
                reason=cmd.reason,
            )
        case CancelNode():
            return commands.CancelNode(
                event_id=event_id, ts_ns=ts_ns, tenant=tenant, correlation_id=graph_id, graph_id=graph_id,
                node_id=cmd.node_id, reason=cmd.reason,
            )
        case AmendNode():
            return commands.AmendNode(
                event_id=event_id, ts_ns=ts_ns, tenant=tenant, correlation_id=graph_id, graph_id=graph_id,
                node_id=cmd.node_id, new_qty_1e8=cmd.new_qty_1e8, new_limit_px_1e9=cmd.new_limit_px_1e9,
            )
        case ResumeGraph():
            return commands.ResumeGraph(
                event_id=event_id, ts_ns=ts_ns, tenant=tenant, correlation_id=graph_id, graph_id=graph_id
            )
    raise TypeError(f"no command event for {type(cmd).__name__}")


def submit_command(parsed: ParsedGraph, tenant: str, now_ns: int) -> tuple[commands.SubmitGraph, list[AnyEvent]]:
    """The one command of a submission (its id is the same for a retry of the same body), and
    the graph engine's answer to it, with the engine's ids (GraphSubmitted, root activations)."""
    command_id = derive_id("cmd.submit", tenant, parsed.graph_id, parsed.body_sha256)
    _, events = submit(parsed, tenant=tenant, now_ns=now_ns, new_id=derived_ids(command_id))
    submitted = events[0]
    assert isinstance(submitted, GraphSubmitted)  # `submit` always starts with the graph itself
    command = commands.SubmitGraph(
        event_id=command_id, ts_ns=now_ns, tenant=tenant, correlation_id=parsed.graph_id, **graph_body(submitted)
    )
    return command, events
