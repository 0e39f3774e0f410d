"""Export a stream range as JSON lines (one event per line, for humans and recordings) and
import it back into another cluster: the same event ids, so importing twice stores once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec

from events import AnyEvent, decode_json, encode_json
from services.bus import Bus

_line = msgspec.json.Encoder()


async def export_stream(
    bus: Bus, stream: str, subjects: str | list[str], path: Path, *, start_seq: int = 1, end_seq: int | None = None
) -> int:
    """Write `{"seq":..,"subject":..,"event":{..}}` lines; return how many."""
    count = 0
    with path.open("wb") as out:
        async for d in bus.replay(stream, subjects, start_seq=start_seq, end_seq=end_seq):
            out.write(b'{"seq":%d,"subject":%s,"event":' % (d.seq, _line.encode(d.subject)))
            out.write(encode_json(d.event))
            out.write(b"}\n")
            count += 1
    return count


def read_export(path: Path) -> Iterable[AnyEvent]:
    """Events of an export file, in order (each validated by the codec)."""
    raw = msgspec.json.Decoder(dict[str, msgspec.Raw])
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield decode_json(bytes(raw.decode(line)["event"]))


async def import_events(bus: Bus, events: Iterable[AnyEvent], batch: int = 1000) -> int:
    """Publish events (same ids: deduplicated by JetStream); return how many were new."""
    new = 0
    chunk: list[AnyEvent] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= batch:
            new += sum(not a.duplicate for a in await bus.publish_many(chunk))
            chunk = []
    if chunk:
        new += sum(not a.duplicate for a in await bus.publish_many(chunk))
    return new
