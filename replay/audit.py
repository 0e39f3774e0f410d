"""Audit: rebuild a durable projection from the log into a shadow store and diff it with the
live view. An empty diff means the view is exactly a fold of the log.

The live view may keep running meanwhile (the API folds `orders` and `positions` itself): the
audit takes a snapshot of it at one tracked position and folds the log through exactly that
position, so events arriving during the audit never show up as a difference."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from events import AnyEvent
from projections.runner import Projection, ProjectionRunner, ViewTx
from projections.store import Doc, SqliteViewStore, ViewStore
from services.bus import Bus
from services.errors import StoreError

SNAPSHOT_ATTEMPTS = 10


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


class _Through:
    """A projection that folds stream sequences up to `last` only (later ones just advance tracking)."""

    def __init__(self, inner: Projection, last: int) -> None:
        self.inner, self.last = inner, last
        self.name, self.stream, self.subjects = inner.name, inner.stream, inner.subjects
        self.on_bad_event = inner.on_bad_event

    def apply(self, tx: ViewTx, event: AnyEvent, seq: int) -> None:
        if seq <= self.last:
            self.inner.apply(tx, event, seq)

    def record_bad(self, tx: ViewTx, seq: int, subject: str, error: str) -> None:
        if seq <= self.last:
            self.inner.record_bad(tx, seq, subject, error)


def _snapshot(live: ViewStore, name: str) -> tuple[int, dict[tuple[str, str], Doc]]:
    """The live view's documents and the position they stand at (no commit landed in between)."""
    for _ in range(SNAPSHOT_ATTEMPTS):
        position = live.max_position(name)
        docs = live.dump(name)
        if live.max_position(name) == position:
            return position, docs
    raise StoreError(f"projection {name} kept moving during {SNAPSHOT_ATTEMPTS} snapshot attempts; retry the audit")


async def audit(bus: Bus, live: ViewStore, projection: Projection, *, through_seq: int | None = None) -> AuditReport:
    """Fold the log from the start into an in-memory store through the live view's position
    (or `through_seq`), and diff."""
    live_position, current = await asyncio.to_thread(_snapshot, live, projection.name)
    target = through_seq if through_seq is not None else live_position
    shadow = SqliteViewStore(":memory:")
    durable = f"audit-{projection.name}"
    runner = ProjectionRunner(bus, shadow, _Through(projection, target))
    runner.durable = durable
    try:
        await bus.delete_consumer(projection.stream, durable)
        await runner.start()
        await runner.wait_for(target, timeout=120)
        await runner.stop()
        rebuilt = shadow.dump(projection.name)
        rebuilt_position = min(shadow.max_position(projection.name), target)  # folded through `target` only
    finally:
        await runner.stop()
        await bus.delete_consumer(projection.stream, durable)
        shadow.close()
    return AuditReport(
        projection=projection.name,
        live_position=live_position,
        rebuilt_position=rebuilt_position,
        missing={k: v for k, v in rebuilt.items() if k not in current},
        extra={k: v for k, v in current.items() if k not in rebuilt},
        changed={k: (current[k], rebuilt[k]) for k in current.keys() & rebuilt.keys() if current[k] != rebuilt[k]},
    )
