"""Export/import of a stream, and audit of a durable projection against a rebuild from the log."""

from __future__ import annotations

from pathlib import Path

from events import new_event_id
from events.graph import GraphPaused
from events.market import TradePrinted
from projections.health import StreamHealthProjection
from projections.runner import ProjectionRunner
from projections.store import SqliteViewStore
from replay.audit import audit
from replay.export import export_stream, import_events, read_export
from services.bus import Bus
from services.natsd import NatsServer
from services.settings import Settings


def trades(n: int) -> list[TradePrinted]:
    return [
        TradePrinted(event_id=new_event_id(), ts_ns=i, venue="okx", symbol="BTC-USDT", px_1e9=10 + i, qty_1e8=5,
                     aggressor="sell")
        for i in range(n)
    ]


async def test_export_then_import_into_another_cluster_is_identical_and_idempotent(bus: Bus, tmp_path: Path) -> None:
    originals = trades(25)
    await bus.publish_many(originals)
    path = tmp_path / "md.jsonl"
    assert await export_stream(bus, "MD", "md.>", path) == 25
    assert list(read_export(path)) == originals
    other_server = NatsServer(tmp_path / "other")
    other_server.start()
    try:
        other = await Bus.connect(Settings(nats_url=other_server.url, _env_file=None))
        await other.ensure_streams()
        assert await import_events(other, read_export(path)) == 25
        assert await import_events(other, read_export(path)) == 0  # same ids: stored once
        assert [d.event async for d in other.replay("MD", "md.>")] == originals
        await other.close()
    finally:
        other_server.stop()


async def test_audit_is_clean_for_a_true_fold_and_names_a_tampered_document(bus: Bus, tmp_path: Path) -> None:
    await bus.publish_many([GraphPaused(event_id=new_event_id(), ts_ns=i, tenant="t", graph_id=f"g{i}", reason="r")
                            for i in range(30)])
    live = SqliteViewStore(tmp_path / "live.sqlite")
    projection = StreamHealthProjection("LEDGER")
    runner = ProjectionRunner(bus, live, projection)
    await runner.start()
    await runner.wait_for(30)
    await runner.stop()

    report = await audit(bus, live, StreamHealthProjection("LEDGER"))
    assert report.clean and report.rebuilt_position == report.live_position == 30

    # Tamper with the live view outside the fold: the audit names the document.
    doc = live.load(projection.name, "types", "ord.graph_paused.v1")
    live.commit(projection.name, {("types", "ord.graph_paused.v1"): {**doc, "count": 29}}, 31)
    report = await audit(bus, live, StreamHealthProjection("LEDGER"), through_seq=30)
    assert list(report.changed) == [("types", "ord.graph_paused.v1")]
    live_doc, rebuilt_doc = report.changed[("types", "ord.graph_paused.v1")]
    assert (live_doc["count"], rebuilt_doc["count"]) == (29, 30)
    live.close()
