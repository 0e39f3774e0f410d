"""`crossbook connect <venue>` prompts for secrets without echo and stores them in the vault."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.services.conftest import Stack

SECRET = "sEcReT-4f9a1c0b7e2d"


async def test_connect_prompts_stores_and_never_shows_the_secret(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", stack.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", stack.key)
    monkeypatch.setenv("CROSSBOOK_DATA_DIR", str(stack.settings.data_dir))
    result = await asyncio.to_thread(CliRunner().invoke, app, ["connect", "okx"], input=f"AK-1234\n{SECRET}\npass-phrase\n")
    assert result.exit_code == 0, result.output
    assert "okx connected" in result.output
    assert SECRET not in result.output and "pass-phrase" not in result.output  # hidden input, nothing echoed
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.key}"}) as client:
        listed = (await client.get("/v1/credentials")).json()
    [row] = [v for v in listed["venues"] if v["venue"] == "okx"]
    assert row["connected"] is True and row["key_hint"] == "1234" and row["has_passphrase"] is True
    assert SECRET not in str(listed)
