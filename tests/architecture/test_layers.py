"""The layer rules, checked by walking every module's imports (ast: nothing is executed).

* `events/` is the vocabulary: it imports nothing from the project but itself.
* `projections/` may use `services.*` only through the modules listed below. The list can only
  shrink: the pure folds still living in services (graph state, risk account) are to move down
  beside the projections, and the bus port, settings and the store error to a core module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("events", "projections", "replay", "services")

PROJECTIONS_MAY_IMPORT = frozenset({
    "services.aio",
    "services.bus",
    "services.bus.bus",
    "services.bus.pull",
    "services.edges.instruments",
    "services.errors",
    "services.graph",
    "services.graph.state",
    "services.refdata",
    "services.risk",
    "services.risk.account",
    "services.risk.books",
    "services.risk.money",
    "services.settings",
})


def imports_of(package: str) -> dict[str, set[str]]:
    """Module path -> the project modules it imports (absolute names; relative ones resolved)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")[: -node.level]
                    names.add(".".join([*base, node.module] if node.module else base))
                elif node.module:
                    names.add(node.module)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.split(".")[0] in PROJECT}
    return found


def test_the_walk_sees_imports() -> None:
    # The walk itself must find what is there, or every rule below would pass vacuously.
    assert "events.base" in imports_of("events")["events/execution.py"]
    assert "services.graph.state" in imports_of("projections")["projections/orders.py"]


def test_events_import_nothing_from_the_project_but_events() -> None:
    outside = {path: sorted(n for n in names if not n.startswith("events"))
               for path, names in imports_of("events").items()}
    assert {path: names for path, names in outside.items() if names} == {}


def test_projections_use_services_only_through_the_allowed_modules() -> None:
    outside = {path: sorted(n for n in names if n.startswith("services") and n not in PROJECTIONS_MAY_IMPORT)
               for path, names in imports_of("projections").items()}
    assert {path: names for path, names in outside.items() if names} == {}
