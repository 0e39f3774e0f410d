"""`crossbook tca --plot` against the running stack: one order's chart, two different orders,
and the aggregate view, each a valid PNG of the chart's size; plus the price history it reads."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from services.bus import Bus
from services.cli.main import app
from services.md.service import NbboPublisher
from services.tca.plot import SIZE_PX
from tests.services.conftest import Stack
from tests.services.tca.test_interval_end_to_end import twap_body

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    png = path.read_bytes()
    assert png[:8] == PNG_MAGIC and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.fixture
async def nbbo_publisher(bus: Bus) -> AsyncIterator[NbboPublisher]:
    publisher = NbboPublisher(bus, tick_ms=25)
    await publisher.start()
    yield publisher
    await publisher.stop()


async def test_tca_plot_draws_each_order_and_the_aggregate(
    stack: Stack, nbbo_publisher: NbboPublisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", stack.key)
    runner = CliRunner()

    async def cli(*args: str) -> str:
        result = await asyncio.to_thread(runner.invoke, app, list(args))
        assert result.exit_code == 0, f"crossbook {' '.join(args)} -> {result.exit_code}: {result.output}"
        return result.output

    await stack.api.md_follower.wait_until(lambda: nbbo_publisher.published_count > 0)
    # Arrange: two orders of different sizes, each with its TCA report.
    graphs = []
    for qty in ("0.01", "0.6"):
        graphs.append(json.loads(await cli("buy", "BTC-USDT", qty, "--json"))["graph_id"])
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.key}"}) as client:
        r = await client.post("/v1/orders", json=twap_body(20_000_000))
    assert r.status_code == 200, r.text
    graphs.append(r.json()["graph_id"])
    await stack.api.ledger_follower.wait_until(
        lambda: {r.graph_id for r in stack.api.ledger.tca.values()} >= set(graphs), timeout=30
    )
    # Act
    charts = [tmp_path / "small.png", tmp_path / "large.png", tmp_path / "twap.png"]
    reviewed = []
    for graph_id, chart in zip(graphs, charts):
        review = json.loads(await cli("tca", graph_id, "--plot", str(chart), "--json"))
        assert [r["graph_id"] for r in review["reports"]] == [graph_id]
        reviewed.append(review["reports"][0])
    assert review["reports"][0]["interval_twap_1e9"] is not None  # the TWAP's chart has its interval benchmark
    everything, by_symbol = tmp_path / "all.png", tmp_path / "btc.png"
    assert "chart written to" in await cli("tca", "--plot", str(everything))
    await cli("tca", "--symbol", "BTC-USDT", "--plot", str(by_symbol), "--json")
    # Assert
    for chart in (*charts, everything, by_symbol):
        assert png_size(chart) == SIZE_PX and chart.stat().st_size > 10_000
    assert len({chart.read_bytes() for chart in charts}) == 3
    # Each order's chart shows the report's own savings figure vs the best single venue.
    shown = 0
    for report, chart in zip(reviewed, charts):
        with Image.open(chart) as image:
            caption = image.text.get("Description")
        bps = report["savings_vs_single_venue_bps"]
        if bps is None:
            assert caption is None
            continue
        assert caption == f"savings vs best single venue ({report['best_single_venue']}): {bps:+.2f} bps"
        shown += 1
    assert shown >= 1  # the small market buy always has one venue that could fill it alone
    assert everything.read_bytes() != charts[0].read_bytes()


async def test_tca_plot_of_an_order_without_a_report_exits_1(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", stack.key)
    result = await asyncio.to_thread(CliRunner().invoke, app, ["tca", "--plot", str(tmp_path / "none.png")])
    assert result.exit_code == 1 and not (tmp_path / "none.png").exists()
    unknown = await asyncio.to_thread(CliRunner().invoke, app, ["tca", "g_unknown", "--plot", str(tmp_path / "x.png")])
    assert unknown.exit_code == 3  # the API refused: unknown graph


async def test_the_sdk_reads_price_history_from_the_recorded_nbbo(stack: Stack, nbbo_publisher: NbboPublisher) -> None:
    await stack.api.md_follower.wait_until(lambda: nbbo_publisher.published_count > 0)
    # The published client, unmodified: a percent-encoded symbol and the query it builds.
    data = await stack.call(stack.seq.price_history, "BTC-USDT", range="1h", fidelity_secs=0)
    assert data["symbol"] == "BTC-USDT" and isinstance(data["points"], list)
    nbbo = await stack.call(stack.seq._get, "/v1/price_history/BTC-USDT?range=1h&fidelity_secs=0&source=nbbo")
    assert nbbo["points"], "the NBBO publisher has published"
    last = nbbo["points"][-1]
    # Two venues' books may cross each other: only both sides being there is certain.
    assert last["bid_1e9"] > 0 and last["ask_1e9"] > 0
    assert last["price_1e9"] == (last["bid_1e9"] + last["ask_1e9"]) // 2
