"""Commands: what a front door (API, CLI, MCP) asks the kernel to do.

A front door validates a request and appends ONE command on `cmd.<tenant>`, idempotent by its
id (`Nats-Msg-Id`); the kernel is the only writer of the facts that follow (the graph engine of
`ord.*`, risk of `risk.*`). A command is a request, not a fact: the kernel may find it moot
(e.g. a cancel of a graph that ended meanwhile) and then appends nothing.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event
from events.graph import EdgeSpec, NodeSpec
from events.sandbox import BalanceDelta, PaperBalance, PositionRef


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


# -- the sandbox book: applied by the sandbox executor (the `executor` role), the only writer of
# `exec.*` facts (services/edges/sandbox/accounts.py). Each fact it appends names the command
# as its `causation_id`, so a front door knows when its command was applied.


class FundSandbox(Event, frozen=True, kw_only=True, tag="cmd.fund_sandbox.v1"):
    """Grant a new tenant its paper balances (`BalanceAdjusted`, reason "paper_funding"), once:
    the executor ignores it for a tenant already funded."""

    grants: list[BalanceDelta]


class ChangeSandboxSettings(Event, frozen=True, kw_only=True, tag="cmd.change_sandbox_settings.v1"):
    """Record the paper amounts the next funding or reset grants (`SandboxSettingsChanged`)."""

    balances: list[PaperBalance]


class SetSandboxBalance(Event, frozen=True, kw_only=True, tag="cmd.set_sandbox_balance.v1"):
    """Move one sandbox (venue, asset) balance by `delta_qty_1e8` (`BalanceAdjusted`, reason
    "sandbox_set_position"): the front door's target minus the balance it read."""

    venue: str
    asset: str
    delta_qty_1e8: int


class ResetSandbox(Event, frozen=True, kw_only=True, tag="cmd.reset_sandbox.v1"):
    """Bring the sandbox balances back to their paper amounts (`BalanceAdjusted` per delta,
    reason "sandbox_reset") and mark the positions flat (`SandboxReset`, last)."""

    request_id: str
    cancelled: int
    adjusted: list[BalanceDelta]
    flattened: list[PositionRef]


class Redemption(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    symbol: str
    slug: str
    qty_1e8: int
    settle_px_1e9: int


class RedeemPositions(Event, frozen=True, kw_only=True, tag="cmd.redeem_positions.v1"):
    """Pay out resolved sandbox prediction-market positions (`PositionRedeemed` each)."""

    redemptions: list[Redemption]
    mode: Literal["auto_settled"] = "auto_settled"


class SyncPositions(Event, frozen=True, kw_only=True, tag="cmd.sync_positions.v1"):
    """Reconcile the tenant's live venue accounts now (`POST /v1/positions/sync`): the live
    executor answers with one `VenueReconciled` per venue, caused by this command."""

    venues: list[str]


GRAPH_COMMANDS = (SubmitGraph, CancelGraph, CancelNode, AmendNode, ResumeGraph)
KILL_COMMANDS = (EngageKillSwitch, ClearKillSwitch)
SANDBOX_COMMANDS = (FundSandbox, ChangeSandboxSettings, SetSandboxBalance, ResetSandbox, RedeemPositions)
COMMANDS = (*GRAPH_COMMANDS, *KILL_COMMANDS, *SANDBOX_COMMANDS)
LIVE_COMMANDS = (SyncPositions,)  # what the live executor runs
