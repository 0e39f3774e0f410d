"""The closed set of event types and their tagged union."""

from __future__ import annotations

from typing import Union

from events.algos import ALGO_EVENTS
from events.commands import COMMANDS
from events.execution import EXECUTION_EVENTS
from events.graph import GRAPH_EVENTS
from events.market import LIFECYCLE_EVENTS, MARKET_EVENTS
from events.risk import RISK_EVENTS
from events.routing import ROUTING_EVENTS
from events.sandbox import SANDBOX_EVENTS
from events.tca import TCA_EVENTS
from events.vault import VAULT_EVENTS

ALL_EVENT_TYPES = (
    *MARKET_EVENTS,
    *LIFECYCLE_EVENTS,
    *GRAPH_EVENTS,
    *RISK_EVENTS,
    *ROUTING_EVENTS,
    *EXECUTION_EVENTS,
    *SANDBOX_EVENTS,
    *TCA_EVENTS,
    *VAULT_EVENTS,
    *ALGO_EVENTS,
    *COMMANDS,
)

AnyEvent = Union[ALL_EVENT_TYPES]  # type: ignore[valid-type]
