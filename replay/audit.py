"""Audit: rebuild a durable projection from the log into a shadow store and diff it with the
live view. An empty diff means the view is exactly a fold of the log.

The live view may keep running meanwhile (the API folds `orders` and `positions` itself): the
audit takes a snapshot of it at one tracked position and folds the log through exactly that
position, so events arriving during the audit never show up as a difference."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from events import AnyEvent
from events.graph import NodeActivated
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


def differences(report: AuditReport) -> list[str]:
    """Each discrepancy of a report as one line naming the document and the field path, with the
    live and the rebuilt value (`orders/fills:f1: qty_1e8: live 5, rebuilt 7`)."""
    lines: list[str] = []
    for (collection, key), doc in sorted(report.missing.items()):
        lines.append(f"{report.projection}/{collection}:{key}: missing from the live view (rebuilt {doc!r})")
    for (collection, key), doc in sorted(report.extra.items()):
        lines.append(f"{report.projection}/{collection}:{key}: in the live view only ({doc!r})")
    for (collection, key), (live_doc, rebuilt_doc) in sorted(report.changed.items()):
        for path, live_value, rebuilt_value in _field_diffs(live_doc, rebuilt_doc, ""):
            lines.append(f"{report.projection}/{collection}:{key}: {path or '<doc>'}: live {live_value!r}, rebuilt {rebuilt_value!r}")
    return lines


_ABSENT = "<absent>"


def _field_diffs(live: object, rebuilt: object, path: str) -> list[tuple[str, object, object]]:
    if isinstance(live, dict) and isinstance(rebuilt, dict):
        out: list[tuple[str, object, object]] = []
        for k in sorted(live.keys() | rebuilt.keys(), key=str):
            sub = f"{path}.{k}" if path else str(k)
            out.extend(_field_diffs(live.get(k, _ABSENT), rebuilt.get(k, _ABSENT), sub))
        return out
    if isinstance(live, list) and isinstance(rebuilt, list) and len(live) == len(rebuilt):
        out = []
        for i, (a, b) in enumerate(zip(live, rebuilt)):
            out.extend(_field_diffs(a, b, f"{path}[{i}]"))
        return out
    return [] if live == rebuilt else [(path, live, rebuilt)]


# --- one order's causal chain ---------------------------------------------------------------


@dataclass(frozen=True)
class ChainLink:
    seq: int
    subject: str
    event: AnyEvent

    @property
    def type(self) -> str:
        return type(self.event).__struct_config__.tag  # type: ignore[return-value]


@dataclass(frozen=True)
class OrderChain:
    target: str
    graph_id: str
    node_id: str | None  # None: the whole graph was asked for
    links: list[ChainLink]


def _mentions(event: AnyEvent, graph_id: str, node_id: str | None) -> bool:
    if getattr(event, "graph_id", None) != graph_id:
        return False
    event_node = getattr(event, "node_id", None)
    return node_id is None or event_node is None or event_node == node_id


async def order_chain(bus: Bus, target: str, *, stream: str = "LEDGER") -> OrderChain | None:
    """Every ledger event of one order (a node_order_id) or graph (a graph_id), in log order:
    the events that name it, the command that caused it, and every event caused by any of them
    (reservations and fills that carry no graph id are found through their causation ids).
    None when the log does not know `target`."""
    graph_id, node_id = target, None
    async for d in bus.replay(stream, ">"):
        event = d.event
        if isinstance(event, NodeActivated) and event.node_order_id == target:
            graph_id, node_id = event.graph_id, event.node_id
            break
    commands: dict[str, ChainLink] = {}
    links: list[ChainLink] = []
    ids: set[str] = set()
    async for d in bus.replay(stream, ">"):
        event = d.event
        link = ChainLink(d.seq, d.subject, event)
        if d.subject.startswith("cmd."):
            commands[event.event_id] = link
            if not _mentions(event, graph_id, None):
                continue
        if _mentions(event, graph_id, node_id) or (event.causation_id is not None and event.causation_id in ids):
            links.append(link)
            ids.add(event.event_id)
    if not links:
        return None
    causes = {link.event.causation_id for link in links} - ids
    links.extend(commands[c] for c in causes if c in commands)
    links.sort(key=lambda link: link.seq)
    return OrderChain(target, graph_id, node_id, links)
