"""Stream health: how many events of each type a stream holds, the last of each, and any
payload that could not be decoded (recorded, counted, never silently skipped)."""

from __future__ import annotations

from typing import Literal

from events import AnyEvent
from projections.runner import ViewTx


class StreamHealthProjection:
    on_bad_event: Literal["halt", "record"] = "record"

    def __init__(self, stream: str, subjects: list[str] | None = None) -> None:
        self.stream = stream
        self.subjects = subjects or []
        self.name = f"stream_health_{stream.lower()}"

    def apply(self, tx: ViewTx, event: AnyEvent, seq: int) -> None:
        tag = str(type(event).__struct_config__.tag)  # every event's tag is a string
        doc = tx.get("types", tag) or {"count": 0, "first_seq": seq}
        doc["count"] += 1
        doc["last_seq"] = seq
        doc["last_ts_ns"] = event.ts_ns
        tx.put("types", tag, doc)
        total = tx.get("totals", "all") or {"events": 0, "bad": 0}
        total["events"] += 1
        total["last_seq"] = seq
        tx.put("totals", "all", total)

    def record_bad(self, tx: ViewTx, seq: int, subject: str, error: str) -> None:
        tx.put("bad", f"{seq:020d}", {"seq": seq, "subject": subject, "error": error})
        total = tx.get("totals", "all") or {"events": 0, "bad": 0}
        total["bad"] += 1
        total["last_seq"] = seq
        tx.put("totals", "all", total)
