"""The three-region supercluster (nats/regions/layout.json): which region each venue's edge runs
in, and each region's NATS nodes. A region is one NATS cluster and one NATS account; its
processes run with CROSSBOOK_REGION=<id> (empty = the single-region deployments)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from events.venues import venue_id
from services.errors import ConfigError
from services.settings import PROJECT_ROOT

LAYOUT_FILE = PROJECT_ROOT / "nats" / "regions" / "layout.json"
TAG_PREFIX = "region:"  # a node's server tag; streams are placed by it


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int
    cluster: int
    gateway: int
    http: int


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    venues: tuple[str, ...]  # edge processes (venue names of the Procfile) that run here
    nodes: tuple[NodePorts, ...]

    @property
    def account(self) -> str:
        return self.name.upper()

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.name}"

    @property
    def venue_ids(self) -> tuple[str, ...]:
        """The venue ids its edges publish under (a perp edge shares its exchange's id)."""
        return tuple(sorted({venue_id(v) for v in self.venues}))

    def client_url(self) -> str:
        return ",".join(f"tls://127.0.0.1:{n.client}" for n in self.nodes)


def source_api(region: Region) -> str:
    """The JetStream API prefix under which another region's account reaches `region`'s."""
    return f"$JS.{region.account}.API"


def deliver_prefix(source: Region, target: Region) -> str:
    """Where `source`'s MD delivers the messages `target`'s MD sources from it."""
    return f"_mdsrc.{source.name}.{target.name}"


def info_subject(stream: str) -> str:
    """The one JetStream API call a region's account exports besides sourcing: whether its
    `stream` exists yet (services/regions/link.py waits for it before sourcing it)."""
    return f"$JS.API.STREAM.INFO.{stream}"


def ping_subject(region: str) -> str:
    """The request subject of `region`'s RTT responder (services/regions/prober.py)."""
    return f"rtt.{region}.ping"


@dataclass(frozen=True, slots=True)
class Layout:
    home: str  # where venues not listed run, and the API and trader in `crossbook up --regions`
    regions: dict[str, Region]

    def region(self, name: str) -> Region:
        try:
            return self.regions[name]
        except KeyError:
            raise ConfigError(f"region {name!r} is not one of {sorted(self.regions)}") from None

    def region_of(self, venue: str) -> str:
        """The region whose edge streams `venue` (a venue id or an edge's venue name)."""
        vid = venue_id(venue)
        for r in self.regions.values():
            if venue in r.venues or vid in r.venue_ids:
                return r.name
        return self.home

    def with_nodes(self, nodes: dict[str, list[NodePorts]]) -> Layout:
        """The same regions on other nodes (tests: one node per region on free ports)."""
        return Layout(self.home, {n: Region(n, r.venues, tuple(nodes.get(n, r.nodes))) for n, r in self.regions.items()})


def load_layout(path: Path = LAYOUT_FILE) -> Layout:
    doc = json.loads(path.read_text())
    regions = {
        name: Region(name, tuple(r["venues"]), tuple(NodePorts(**n) for n in r["nodes"]))
        for name, r in doc["regions"].items()
    }
    if doc["home"] not in regions:
        raise ConfigError(f"{path}: home {doc['home']!r} is not a region")
    return Layout(doc["home"], regions)


@cache
def default_layout() -> Layout:
    return load_layout()
