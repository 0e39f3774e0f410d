"""`crossbook buy/sell --urgency` reaches the order: low is scheduled as slices over a horizon,
high as one immediate sweep; an unknown urgency is refused by the API (exit 3)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.services.conftest import Stack


async def test_urgency_flag_schedules_the_order(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", stack.key)
    monkeypatch.setenv("CROSSBOOK_DATA_DIR", str(stack.settings.data_dir))
    runner = CliRunner()
    executions = {}
    for urgency in ("low", "high"):
        result = await asyncio.to_thread(
            runner.invoke, app, ["sell", "BTC-USDT", "0.02", "--urgency", urgency, "--no-wait", "--json"])
        assert result.exit_code == 0, result.output
        graph_id = json.loads(result.output)["graph_id"]
        await stack.api.ledger_follower.wait_until(lambda: graph_id in stack.api.ledger.graphs)  # noqa: B023
        executions[urgency] = stack.api.ledger.graphs[graph_id].nodes["order"].spec.execution
    assert (executions["low"].urgency, executions["low"].policy, executions["low"].horizon_ms) == ("low", "twap", 60_000)
    assert (executions["high"].urgency, executions["high"].policy) == ("high", "sor")
    refused = await asyncio.to_thread(runner.invoke, app, ["buy", "BTC-USDT", "0.01", "--urgency", "asap", "--json"])
    assert refused.exit_code == 3, refused.output
