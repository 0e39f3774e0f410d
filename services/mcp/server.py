"""Crossbook tools over MCP (stdio or streamable HTTP), backed by the REST API.

The server holds one API key given at start and acts only as that key's tenant. Orders are
sandbox unless the key is live AND the server was started with `--allow-live`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError

from services.errors import CrossbookError

TERMINAL = {"COMPLETED", "CANCELLED", "REJECTED", "FAILED"}


class ToolError(CrossbookError, McpToolError):
    """The API refused a tool call; the message (the API's own) reaches the agent."""


class CrossbookTools:
    """The tools, as plain async methods (the MCP layer only registers them)."""

    def __init__(self, api_url: str, api_key: str, *, allow_live: bool = False) -> None:
        self.client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0
        )
        self.live_key = api_key.startswith("seq_live_")
        self.allow_live = allow_live

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ToolError(f"{response.status_code}: {message}")
        return response.json() if response.content else None

    async def quote(self, symbol: str, depth: int = 5) -> dict[str, Any]:
        return await self._call("GET", f"/v1/quotes/{symbol}", params={"depth": depth})

    async def preview(self, symbol: str, side: str, qty: float) -> dict[str, Any]:
        return await self._call("POST", "/v1/orders/preview", json={"symbol": symbol, "side": side, "qty": qty})

    async def order(self, symbol: str, side: str, qty: float, limit_price: float | None, venue: str | None,
                    sandbox: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": symbol, "side": side, "qty": qty}
        if limit_price is not None:
            body["price"] = limit_price
        if venue:
            body["venue"] = venue
        # Sandbox unless explicitly live, with a live key, on a server started with --allow-live.
        body["sandbox"] = not (self.live_key and self.allow_live and not sandbox)
        return await self._call("POST", "/v1/orders", json=body)

    async def order_status(self, graph_id: str, wait_s: float = 0.0) -> dict[str, Any]:
        status = await self._call("GET", f"/v1/execution_graphs/{graph_id}")
        deadline = asyncio.get_running_loop().time() + wait_s
        while status["status"] not in TERMINAL and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)  # polling the API on the agent's behalf
            status = await self._call("GET", f"/v1/execution_graphs/{graph_id}")
        return status

    async def cancel(self, graph_id: str) -> dict[str, Any]:
        return await self._call("DELETE", f"/v1/execution_graphs/{graph_id}")

    async def positions(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/positions/unified")

    async def fills(self, limit: int = 50) -> dict[str, Any]:
        return await self._call("GET", "/v1/fills", params={"limit": limit})

    async def tca(self, symbol: str | None = None) -> dict[str, Any]:
        return await self._call("GET", "/v1/tca", params={"symbol": symbol} if symbol else None)

    async def kill_switch(self, engage: bool, reason: str | None = None) -> dict[str, Any]:
        if engage:
            return await self._call("POST", "/v1/kill_switch", json={"reason": reason})
        return await self._call("POST", "/v1/kill_switch/clear")


def build_server(api_url: str, api_key: str, *, allow_live: bool = False) -> MCPServer:
    tools = CrossbookTools(api_url, api_key, allow_live=allow_live)
    server: MCPServer = MCPServer(name="crossbook", instructions="Quote and trade across venues through Crossbook.")

    @server.tool(description="NBBO, per-venue best bid/offer and consolidated book for a symbol, e.g. BTC-USDT.")
    async def quote(symbol: str, depth: int = 5) -> dict[str, Any]:
        return await tools.quote(symbol, depth)

    @server.tool(description="What a market order would cost: the SOR split, average price, fees. Trades nothing.")
    async def preview(symbol: str, side: str, qty: float) -> dict[str, Any]:
        return await tools.preview(symbol, side, qty)

    @server.tool(description="Buy `qty` (base units) of `symbol`; market unless limit_price. Sandbox by default.")
    async def buy(symbol: str, qty: float, limit_price: float | None = None, venue: str | None = None,
                  sandbox: bool = True) -> dict[str, Any]:
        return await tools.order(symbol, "buy", qty, limit_price, venue, sandbox)

    @server.tool(description="Sell `qty` (base units) of `symbol`; market unless limit_price. Sandbox by default.")
    async def sell(symbol: str, qty: float, limit_price: float | None = None, venue: str | None = None,
                   sandbox: bool = True) -> dict[str, Any]:
        return await tools.order(symbol, "sell", qty, limit_price, venue, sandbox)

    @server.tool(description="Status of an order graph; wait_s waits up to that long for it to finish.")
    async def order_status(graph_id: str, wait_s: float = 0.0) -> dict[str, Any]:
        return await tools.order_status(graph_id, wait_s)

    @server.tool(description="Cancel an order graph (idempotent).")
    async def cancel(graph_id: str) -> dict[str, Any]:
        return await tools.cancel(graph_id)

    @server.tool(description="Positions across venues with totals.")
    async def positions() -> dict[str, Any]:
        return await tools.positions()

    @server.tool(description="Recent fills, newest first.")
    async def fills(limit: int = 50) -> dict[str, Any]:
        return await tools.fills(limit)

    @server.tool(description="Transaction cost analysis of completed orders (optionally for one symbol).")
    async def tca(symbol: str | None = None) -> dict[str, Any]:
        return await tools.tca(symbol)

    @server.tool(description="Engage (engage=true, with a reason) or clear the kill switch.")
    async def kill_switch(engage: bool, reason: str | None = None) -> dict[str, Any]:
        return await tools.kill_switch(engage, reason)

    return server
