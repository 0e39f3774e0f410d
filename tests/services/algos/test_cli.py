"""`crossbook algo deploy|status|logs|stop|start|undeploy` against the running stack (API on a real
port, the algo runner in-process)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.services.algos.conftest import AlgoStack
from tests.services.algos.guests import MESH_PAIR, ROUND_TRIP, wasm_file


async def test_deploy_status_logs_stop_start_undeploy_from_the_cli(
    algos: AlgoStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", algos.stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", algos.stack.key)
    cli = CliRunner()

    async def run(*args: str) -> str:
        result = await asyncio.to_thread(cli.invoke, app, ["algo", *args])
        assert result.exit_code == 0, result.output
        return result.output

    deployed = json.loads(await run("deploy", wasm_file(tmp_path, ROUND_TRIP, "rt"), "--symbol", "BTC-USDT@okx",
                                    "--name", "rt", "--json"))
    dep_id = deployed["deployment_id"]
    assert deployed["pushed_to"] == ["okx"] and deployed["edges"][0]["status"] == "pending"
    await algos.until(lambda: algos.instance(dep_id).status == "running")
    await algos.until(lambda: (a := algos.runner.accounts.get((dep_id, 0))) is not None and a.fill_count >= 2)
    algos.runner.flush()
    await algos.until(lambda: any(x.message == "sell sent" for x in algos.runner.view.deployments[dep_id].logs))

    status = json.loads(await run("status", "rt", "--json"))  # by its unique name
    assert status["status"] == "running" and status["edges"][0]["edge_id"] == "okx"
    assert "sell sent" in await run("logs", dep_id)
    assert "rt (" in await run("status")  # the table of every deployment

    await run("stop", dep_id)
    assert json.loads(await run("status", dep_id, "--json"))["status"] == "stopped"
    await run("start", dep_id)
    await algos.until(lambda: (i := algos.instance(dep_id)).run == 2 and i.status == "running")
    await run("undeploy", dep_id)
    missing = await asyncio.to_thread(cli.invoke, app, ["algo", "status", dep_id])
    assert missing.exit_code == 3 and "unknown deployment" in missing.output

    refused = await asyncio.to_thread(cli.invoke, app, ["algo", "deploy", wasm_file(tmp_path, MESH_PAIR, "p"),
                                                         "-s", "BTC-USDT@kraken"])
    assert refused.exit_code == 3 and "does not quote" in refused.output
