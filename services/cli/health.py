"""What keeps the system from being ready, read from the API's GET /v1/health body (shared by
`crossbook up`, which announces readiness, and the trade commands, which wait for it)."""

from __future__ import annotations

from typing import Any


def readiness_problems(health: Any, edges: int = 0) -> list[str]:
    """The problems `health` lists (or "not ready"), and too few connected edges when `edges` are
    expected; empty once ready. A body that is not the health object counts as "starting"."""
    if not isinstance(health, dict):
        return ["starting"]
    problems = [] if health.get("ready") else [str(p) for p in health.get("problems") or ["not ready"]]
    connected = int((health.get("edges") or {}).get("connected", 0))
    if connected < edges:
        problems.append(f"{connected} of {edges} edges connected")
    return problems
