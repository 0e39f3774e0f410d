"""Hosted strategies: a tenant's Python project run by the strategy supervisor.

Never carries secrets, the strategy's key or its artifact: those stay in the strategy store
(secrets sealed with the tenant's vault data key). The artifact is named by its SHA-256."""

from __future__ import annotations

from events.base import Event


class StrategyCreated(Event, frozen=True, kw_only=True, tag="strat.created.v1"):
    strategy_id: str
    name: str
    runtime: str
    entrypoint: str
    artifact_sha256: str
    key_id: str  # the API key the strategy trades with (a handle, never the key)


class StrategyStarted(Event, frozen=True, kw_only=True, tag="strat.started.v1"):
    strategy_id: str
    run_id: str


class StrategyStopped(Event, frozen=True, kw_only=True, tag="strat.stopped.v1"):
    strategy_id: str
    run_id: str
    reason: str  # stopped | exited | crashed | memory_limit | cpu_limit | wall_clock_limit | deleted | shutdown
    exit_code: int | None


class StrategyDeleted(Event, frozen=True, kw_only=True, tag="strat.deleted.v1"):
    strategy_id: str
    key_id: str


STRATEGY_EVENTS = (StrategyCreated, StrategyStarted, StrategyStopped, StrategyDeleted)
