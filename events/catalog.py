"""The closed set of event types and their tagged union."""

from __future__ import annotations

from typing import TypeAlias

from events.algos import (
    ALGO_EVENTS,
    AlgoDeployed,
    AlgoInstancePaused,
    AlgoInstanceRunning,
    AlgoLogBatch,
    AlgoMeshMessage,
    AlgoStarted,
    AlgoStats,
    AlgoStopped,
    AlgoUndeployed,
)
from events.commands import (
    COMMANDS,
    LIVE_COMMANDS,
    AmendNode,
    CancelGraph,
    CancelNode,
    ChangeSandboxSettings,
    ClearKillSwitch,
    SyncPositions,
    EngageKillSwitch,
    FundSandbox,
    RedeemPositions,
    ResetSandbox,
    ResumeGraph,
    SetSandboxBalance,
    SubmitGraph,
)
from events.execution import (
    EXECUTION_EVENTS,
    BalanceAdjusted,
    ChildAcked,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    ChildSubmitted,
    FillRecorded,
    PositionRedeemed,
    VenueReconciled,
)
from events.graph import (
    GRAPH_EVENTS,
    GraphCancelled,
    GraphCompleted,
    GraphPaused,
    GraphResumed,
    GraphSubmitted,
    NodeActivated,
    NodeAmended,
    NodeCancelled,
    NodeCompleted,
)
from events.market import (
    FUNDING_EVENTS,
    LIFECYCLE_EVENTS,
    MARKET_EVENTS,
    BookDeltaBatch,
    BookSnapshot,
    FundingRateUpdated,
    MarketListed,
    MarketResolved,
    NbboChanged,
    TradePrinted,
    VenueStatusChanged,
)
from events.risk import (
    RISK_EVENTS,
    FactRefused,
    KillSwitchCleared,
    KillSwitchEngaged,
    ReservationMade,
    ReservationReleased,
    RiskCheckPassed,
    RiskCheckRejected,
)
from events.regions import REGION_EVENTS, RegionRttMeasured
from events.routing import ROUTING_EVENTS, ChildAllocated, PlanMade
from events.sandbox import SANDBOX_EVENTS, SandboxReset, SandboxSettingsChanged
from events.strategies import STRATEGY_EVENTS, StrategyCreated, StrategyDeleted, StrategyStarted, StrategyStopped
from events.tca import TCA_EVENTS, TcaReported, VenueScored
from events.vault import VAULT_EVENTS, CredentialRevoked, CredentialStored

ALL_EVENT_TYPES = (
    *MARKET_EVENTS,
    *LIFECYCLE_EVENTS,
    *FUNDING_EVENTS,
    *REGION_EVENTS,
    *GRAPH_EVENTS,
    *RISK_EVENTS,
    *ROUTING_EVENTS,
    *EXECUTION_EVENTS,
    *SANDBOX_EVENTS,
    *TCA_EVENTS,
    *VAULT_EVENTS,
    *ALGO_EVENTS,
    *STRATEGY_EVENTS,
    *COMMANDS,
    *LIVE_COMMANDS,
)

# Spelled out (not `Union[ALL_EVENT_TYPES]`) so a type checker sees the members; a test keeps
# the two in step.
AnyEvent: TypeAlias = (
    BookSnapshot | BookDeltaBatch | TradePrinted | NbboChanged | VenueStatusChanged
    | MarketListed | MarketResolved | FundingRateUpdated
    | RegionRttMeasured
    | GraphSubmitted | NodeActivated | NodeAmended | NodeCompleted | NodeCancelled
    | GraphCompleted | GraphCancelled | GraphPaused | GraphResumed
    | RiskCheckPassed | RiskCheckRejected | ReservationMade | ReservationReleased
    | KillSwitchEngaged | KillSwitchCleared | FactRefused
    | PlanMade | ChildAllocated
    | ChildSubmitted | ChildAcked | ChildRejected | ChildCancelled | ChildAmended
    | FillRecorded | BalanceAdjusted | PositionRedeemed | VenueReconciled
    | SandboxSettingsChanged | SandboxReset
    | TcaReported | VenueScored
    | CredentialStored | CredentialRevoked
    | AlgoDeployed | AlgoStarted | AlgoStopped | AlgoUndeployed
    | AlgoInstanceRunning | AlgoInstancePaused | AlgoLogBatch | AlgoMeshMessage | AlgoStats
    | StrategyCreated | StrategyStarted | StrategyStopped | StrategyDeleted
    | SubmitGraph | CancelGraph | CancelNode | AmendNode | ResumeGraph | EngageKillSwitch | ClearKillSwitch
    | FundSandbox | ChangeSandboxSettings | SetSandboxBalance | ResetSandbox | RedeemPositions
    | SyncPositions
)
