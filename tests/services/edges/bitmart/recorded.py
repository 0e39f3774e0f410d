"""The BitMart payloads recorded from the venue's documentation (payloads/SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent / "payloads"


def payload_lines(name: str) -> list[str]:
    return [ln for ln in (PAYLOADS / name).read_text().splitlines() if ln.strip()]


def payload_json(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())
