"""The README's CLI walk-through, run exactly as written against a running stack."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.services.conftest import Stack

README = Path(__file__).resolve().parents[3] / "README.md"


def walkthrough() -> list[tuple[list[str], int]]:
    block = README.read_text().split("<!-- walkthrough -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    steps = []
    for line in block.splitlines():
        line = line.strip()
        if not line.startswith("crossbook "):
            continue
        command, _, comment = line.partition("#")
        expected = re.match(r"\s*exit (\d+)", comment)
        steps.append((shlex.split(command)[1:], int(expected.group(1)) if expected else 0))
    return steps


async def test_readme_cli_walkthrough_works_as_written(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = walkthrough()
    assert len(steps) >= 10
    monkeypatch.setenv("CROSSBOOK_API_URL", stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", stack.key)
    runner = CliRunner()
    for args, expected in steps:
        result = await asyncio.to_thread(runner.invoke, app, args)
        assert result.exit_code == expected, f"crossbook {' '.join(args)} -> {result.exit_code}: {result.output}"
    # The buy went through and filled; the refused one did not.
    orders = await asyncio.to_thread(runner.invoke, app, ["orders", "--json"])
    statuses = [o["status"] for o in json.loads(orders.output)]
    assert statuses.count("FILLED") >= 2


async def test_buy_and_status_print_the_graph_status_with_nodes_keyed_by_node_id(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", stack.key)
    runner = CliRunner()
    bought = await asyncio.to_thread(runner.invoke, app, ["buy", "BTC-USDT", "0.01", "--json"])
    assert bought.exit_code == 0, bought.output
    graph_id = json.loads(bought.output)["graph_id"]
    await stack.until_terminal(graph_id)
    # Act
    as_json = await asyncio.to_thread(runner.invoke, app, ["status", graph_id, "--json"])
    table = await asyncio.to_thread(runner.invoke, app, ["status", graph_id])
    # Assert: the API's shape, and the CLI's own reader of it
    assert as_json.exit_code == 0 and table.exit_code == 0, (as_json.output, table.output)
    status = json.loads(as_json.output)
    assert status == await stack.call(stack.seq.graph_status, graph_id)
    node = status["nodes"]["order"]
    assert node["node_id"] == "order" and node["filled_qty_1e8"] == 1_000_000 and node["avg_fill_price_1e9"] > 0
    assert "FILLED" in table.output and "0.01" in table.output
