"""Venue discovery: each `services/edges/<venue>/` package registers itself.

A venue package exposes `ADAPTERS` (VenueAdapter subclasses) in `adapter.py` and, for its
local server, `SIM_PROTOCOLS` (name -> SimProtocol subclass) and `SIM_INSTRUMENTS`
(name -> list[SimInstrument]) in `sim.py`. Nothing outside the package lists it.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import TYPE_CHECKING

import services.edges as edges_pkg
from services.edges.venue import VenueAdapter

if TYPE_CHECKING:  # the simulator is only loaded when a venue's sim.py is
    from services.edges.sim.market import SimInstrument
    from services.edges.sim.server import SimProtocol

_NOT_VENUES = {"sim", "_template"}


def _venue_modules(submodule: str) -> list[ModuleType]:
    found = []
    for info in pkgutil.iter_modules(edges_pkg.__path__):
        if not info.ispkg or info.name in _NOT_VENUES:
            continue
        try:
            found.append(importlib.import_module(f"services.edges.{info.name}.{submodule}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"services.edges.{info.name}.{submodule}":
                raise
    return found


def adapters() -> dict[str, type[VenueAdapter]]:
    """Return every venue adapter class by venue name."""
    out: dict[str, type[VenueAdapter]] = {}
    for module in _venue_modules("adapter"):
        for cls in getattr(module, "ADAPTERS", ()):
            if cls.name in out:
                raise RuntimeError(f"venue name {cls.name!r} registered twice")
            out[cls.name] = cls
    return out


def sim_protocols() -> dict[str, type[SimProtocol]]:
    out: dict[str, type[SimProtocol]] = {}
    for module in _venue_modules("sim"):
        out.update(getattr(module, "SIM_PROTOCOLS", {}))
    return out


def sim_instruments() -> dict[str, list[SimInstrument]]:
    out: dict[str, list[SimInstrument]] = {}
    for module in _venue_modules("sim"):
        out.update(getattr(module, "SIM_INSTRUMENTS", {}))
    return out


def venue_of(edge: str) -> str:
    """The venue id an edge's events carry (a perp edge shares its exchange's id)."""
    cls = adapters().get(edge)
    return cls.venue_id() if cls is not None else edge


def venue_ids() -> list[str]:
    """Every venue id users see (one per exchange, whatever its edges), sorted."""
    return sorted({cls.venue_id() for cls in adapters().values()})


def sim_instruments_by_venue() -> dict[str, list[SimInstrument]]:
    """The local servers' instruments per venue id (a venue's spot and perp edges together)."""
    out: dict[str, list[SimInstrument]] = {}
    for edge, instruments in sorted(sim_instruments().items()):
        out.setdefault(venue_of(edge), []).extend(instruments)
    return out
