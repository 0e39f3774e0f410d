"""MCP client sessions: over stdio, list the tools, get a quote, place a sandbox order that fills;
over streamable HTTP, list the tools and get a quote."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.services.conftest import Stack
from services.net import free_port

ROOT = Path(__file__).resolve().parents[3]


def payload(result) -> dict:  # type: ignore[no-untyped-def]
    assert not result.is_error, result.content
    if result.structured_content:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


async def test_mcp_client_lists_tools_quotes_and_places_a_sandbox_order_that_fills(stack: Stack) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "services.cli.main", "mcp", "--api-url", stack.base_url],
        env={**os.environ, "CROSSBOOK_API_KEY": stack.key},
        cwd=str(ROOT),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"quote", "preview", "buy", "sell", "cancel", "order_status", "positions", "fills", "tca", "kill_switch"} <= names

        quote = payload(await session.call_tool("quote", {"symbol": "BTC-USDT", "depth": 3}))
        assert quote["symbol"] == "BTC-USDT" and quote["source"] == "edge_nbbo"
        assert quote["nbbo"]["bid"] > 0 and len(quote["book"]["asks"]) == 3

        plan = payload(await session.call_tool("preview", {"symbol": "BTC-USDT", "side": "buy", "qty": 0.05}))
        assert sum(v["alloc_qty_1e8"] for v in plan["candidate_venues"]) == 5_000_000

        submitted = payload(await session.call_tool("buy", {"symbol": "BTC-USDT", "qty": 0.05}))
        status = payload(await session.call_tool("order_status", {"graph_id": submitted["graph_id"], "wait_s": 20}))
        assert status["status"] == "COMPLETED" and status["is_sandbox"] is True
        assert status["nodes"]["order"]["filled_qty_1e8"] == 5_000_000

        bad = await session.call_tool("quote", {"symbol": "NOPE-USD"})
        assert bad.is_error and "NOPE-USD" in bad.content[0].text



async def wait_listening(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> list[bytes]:
    """Read the server's log until uvicorn says it is listening; returns the lines read."""
    assert proc.stderr is not None
    lines: list[bytes] = []
    async with asyncio.timeout(timeout):
        while not lines or b"Uvicorn running on" not in lines[-1]:
            line = await asyncio.to_thread(proc.stderr.readline)
            assert line, "crossbook mcp exited before it listened: " + b"".join(lines).decode(errors="replace")
            lines.append(line)
    return lines


async def test_mcp_client_over_streamable_http_lists_tools_and_quotes(stack: Stack) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "mcp", "--api-url", stack.base_url,
         "--transport", "streamable-http", "--port", str(port)],
        env={**os.environ, "CROSSBOOK_API_KEY": stack.key}, cwd=str(ROOT),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    started: list[bytes] = []
    try:
        started = await wait_listening(proc)
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"quote", "buy", "order_status", "kill_switch"} <= names
            quote = payload(await session.call_tool("quote", {"symbol": "BTC-USDT", "depth": 2}))
            assert quote["symbol"] == "BTC-USDT" and len(quote["book"]["bids"]) == 2
    finally:
        proc.terminate()
        _, rest = proc.communicate(timeout=20)
    assert stack.key.encode() not in b"".join(started) + rest  # the key never reaches the server's log
