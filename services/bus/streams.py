"""Stream definitions, read from `nats/streams.json` (the one place they are declared)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.settings import PROJECT_ROOT, Settings

STREAMS_FILE = PROJECT_ROOT / "nats" / "streams.json"


@dataclass(frozen=True, slots=True)
class SourceDef:
    """Another region's stream this one sources (cross-account, over the gateway)."""

    name: str
    api: str  # that region's JetStream API as imported here ($JS.<ACCOUNT>.API)
    deliver: str
    subjects: tuple[str, ...]  # only these (its own venues': never what it sourced itself)


@dataclass(frozen=True, slots=True)
class StreamDef:
    name: str
    subjects: tuple[str, ...]
    storage: str
    max_age_s: int
    max_bytes: int
    duplicate_window_s: int
    kind: str
    replicas: int
    placement_tags: tuple[str, ...] = ()  # the region's server tag on the supercluster
    sources: tuple[SourceDef, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsumerDefaults:
    max_ack_pending: int
    ack_wait_s: float


def load_stream_defs(settings: Settings, path: Path = STREAMS_FILE) -> tuple[list[StreamDef], ConsumerDefaults]:
    doc = json.loads(path.read_text())
    streams = []
    for s in doc["streams"]:
        streams.append(
            StreamDef(
                name=s["name"],
                subjects=tuple(s["subjects"]),
                storage=s["storage"],
                max_age_s=settings.md_max_age_s if s["max_age_s"] is None else s["max_age_s"],
                max_bytes=settings.md_max_bytes if s["max_bytes"] is None else s["max_bytes"],
                duplicate_window_s=settings.dedup_window_s if s["duplicate_window_s"] is None else s["duplicate_window_s"],
                kind=s["kind"],
                # null = CROSSBOOK_STREAM_REPLICAS (1 on one server, 3 on the 3-node cluster)
                replicas=settings.stream_replicas if s.get("replicas") is None else s["replicas"],
                **_regional(settings.region, s["name"], s["kind"]),
            )
        )
    c = doc["consumers"]
    ack_wait = settings.ack_wait_s if c["ack_wait_s"] is None else c["ack_wait_s"]
    return streams, ConsumerDefaults(max_ack_pending=c["max_ack_pending"], ack_wait_s=ack_wait)


def _regional(region: str, name: str, kind: str) -> dict[str, Any]:
    """A region's streams sit on its own nodes; its market data also sources every other
    region's venues, so its router sees every book (nats/regions/layout.json)."""
    if not region:
        return {}
    from services.regions import default_layout, deliver_prefix, source_api

    layout = default_layout()
    here = layout.region(region)
    sources: tuple[SourceDef, ...] = ()
    if kind == "market_data":
        sources = tuple(
            SourceDef(name, source_api(o), deliver_prefix(o, here), tuple(f"md.{v}.>" for v in o.venue_ids))
            for o in layout.regions.values()
            if o.name != region and o.venue_ids
        )
    return {"placement_tags": (here.tag,), "sources": sources}


def stream_for_subject(streams: list[StreamDef], subject: str) -> StreamDef:
    root = subject.split(".", 1)[0]
    for s in streams:
        if any(pattern.split(".", 1)[0] == root for pattern in s.subjects):
            return s
    raise KeyError(f"no stream captures subject {subject!r}")
