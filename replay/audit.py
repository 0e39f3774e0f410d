"""Audit: rebuild a durable projection from the log into a shadow store and diff it with the
live view. An empty diff means the view is exactly a fold of the log."""

from __future__ import annotations

from dataclasses import dataclass

from projections.runner import Projection, ProjectionRunner
from projections.store import Doc, SqliteViewStore, ViewStore
from services.bus import Bus


@dataclass(frozen=True)
class AuditReport:
    projection: str
    live_position: int
    rebuilt_position: int
    missing: dict[tuple[str, str], Doc]  # in the rebuild, not in the live view
    extra: dict[tuple[str, str], Doc]  # in the live view, not in the rebuild
    changed: dict[tuple[str, str], tuple[Doc, Doc]]  # key -> (live, rebuilt)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)


async def audit(bus: Bus, live: ViewStore, projection: Projection, *, through_seq: int | None = None) -> AuditReport:
    """Fold the log from the start into an in-memory store up to the live view's position."""
    live_position = live.max_position(projection.name)
    target = through_seq if through_seq is not None else live_position
    shadow = SqliteViewStore(":memory:")
    durable = f"audit-{projection.name}"
    runner = ProjectionRunner(bus, shadow, projection)
    runner.durable = durable
    try:
        await bus.delete_consumer(projection.stream, durable)
        await runner.start()
        await runner.wait_for(target, timeout=120)
        await runner.stop()
        rebuilt = shadow.dump(projection.name)
        rebuilt_position = shadow.max_position(projection.name)
    finally:
        await runner.stop()
        await bus.delete_consumer(projection.stream, durable)
        shadow.close()
    current = live.dump(projection.name)
    return AuditReport(
        projection=projection.name,
        live_position=live_position,
        rebuilt_position=rebuilt_position,
        missing={k: v for k, v in rebuilt.items() if k not in current},
        extra={k: v for k, v in current.items() if k not in rebuilt},
        changed={k: (current[k], rebuilt[k]) for k in current.keys() & rebuilt.keys() if current[k] != rebuilt[k]},
    )
