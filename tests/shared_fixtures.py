"""Access to the recorded venue payloads in ../shared/fixtures (never copied into the repo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"


def fixture_path(*parts: str) -> Path:
    """Return the path of a shared fixture, skipping the test with a reason when it is absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} is not present on this machine")
    return path


def fixture_lines(*parts: str) -> list[str]:
    return [ln for ln in fixture_path(*parts).read_text().splitlines() if ln.strip()]


def fixture_json(*parts: str) -> Any:
    return json.loads(fixture_path(*parts).read_text())
