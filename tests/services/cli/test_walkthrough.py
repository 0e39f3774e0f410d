"""The README's CLI walk-through, run exactly as written against a running stack."""

from __future__ import annotations

import asyncio
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
    statuses = [o["status"] for o in __import__("json").loads(orders.output)]
    assert statuses.count("FILLED") >= 2
