"""`crossbook export` and `crossbook audit` against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events import new_event_id
from events.graph import GraphPaused
from projections.health import StreamHealthProjection
from projections.runner import ProjectionRunner
from projections.store import open_store
from services.bus import Bus
from services.cli.main import app
from services.natsd import NatsServer
from services.settings import Settings


def test_export_writes_every_event_and_audit_passes_on_a_true_view(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, _env_file=None)
    monkeypatch.setenv("CROSSBOOK_NATS_URL", nats_server.url)
    monkeypatch.setenv("CROSSBOOK_DATA_DIR", str(tmp_path / "data"))

    async def seed() -> None:
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        await bus.publish_many(
            [GraphPaused(event_id=new_event_id(), ts_ns=i, tenant="t", graph_id=f"g{i}", reason="r") for i in range(12)]
        )
        store = open_store(settings)
        runner = ProjectionRunner(bus, store, StreamHealthProjection("LEDGER"))
        await runner.start()
        await runner.wait_for(12)
        await runner.stop()
        store.close()
        await bus.close()

    asyncio.run(seed())
    out = tmp_path / "ledger.jsonl"
    result = CliRunner().invoke(app, ["export", str(out), "--stream", "LEDGER"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 13))
    assert lines[0]["event"]["type"] == "ord.graph_paused.v1" and lines[0]["subject"] == "ord.t.g0"

    result = CliRunner().invoke(app, ["audit", "stream_health", "--stream", "LEDGER"])
    assert result.exit_code == 0, result.output
    assert "missing 0, extra 0, changed 0" in " ".join(result.output.split())  # rich may wrap
