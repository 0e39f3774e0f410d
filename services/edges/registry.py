"""Venue discovery: each `services/edges/<venue>/` package registers itself.

A venue package exposes `ADAPTERS` (VenueAdapter subclasses) in `adapter.py` and, for its
local server, `SIM_PROTOCOLS` (name -> SimProtocol subclass) and `SIM_INSTRUMENTS`
(name -> list[SimInstrument]) in `sim.py`. Nothing outside the package lists it.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import services.edges as edges_pkg
from services.edges.venue import VenueAdapter

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


def sim_protocols() -> dict[str, type]:
    out: dict[str, type] = {}
    for module in _venue_modules("sim"):
        out.update(getattr(module, "SIM_PROTOCOLS", {}))
    return out


def sim_instruments() -> dict[str, list]:
    out: dict[str, list] = {}
    for module in _venue_modules("sim"):
        out.update(getattr(module, "SIM_INSTRUMENTS", {}))
    return out
