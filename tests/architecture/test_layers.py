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


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks (never executed)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def imports_of(package: str, *, run_time_only: bool = False) -> dict[str, set[str]]:
    """Module path -> the project modules it imports (absolute names; relative ones resolved)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree) if run_time_only else set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
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


def _module(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_the_api_has_no_import_cycle() -> None:
    # Routers share what they need through services.api.access (auth context, visibility,
    # request bodies), so no run-time import path leads from a module back to itself.
    graph = {_module(path): {n for n in names if n.startswith("services.api")}
             for path, names in imports_of("services/api", run_time_only=True).items()}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycles.append([*trail[trail.index(module):], module])
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*trail, module])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        visit(module, [])
    assert "services.api.state" in graph["services.api.auth"]  # the walk sees the API's own imports
    assert cycles == []


def test_only_the_app_imports_the_routers() -> None:
    # The cycle (auth -> state -> plans -> routers.orders -> auth) ran through a shared
    # module importing a router; the app, which mounts them, is the only one that may.
    wrong = {path: sorted(n for n in names if n.startswith("services.api.routers"))
             for path, names in imports_of("services/api").items()
             if not path.startswith(("services/api/routers/", "services/api/app.py"))}
    assert {path: names for path, names in wrong.items() if names} == {}
