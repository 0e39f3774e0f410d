"""Errors of the graph engine, sorted by what the API answers (422, 409, 404, 400)."""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import CrossbookError


class GraphError(CrossbookError):
    """Root of every error the graph package raises."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one request field; `field` is a path such as `nodes[1].side`."""

    field: str
    message: str


class ValidationError(GraphError):
    """The body is well-formed JSON but its meaning is invalid (HTTP 422 VALIDATION_ERROR)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors: tuple[FieldError, ...] = tuple(errors)

    def details(self) -> list[dict[str, str]]:
        """Return the envelope's `details` list: `[{field, message}, ...]`."""
        return [{"field": e.field, "message": e.message} for e in self.errors]


class GraphConflict(GraphError):
    """The same graph_id was submitted with a different body (HTTP 409 CONFLICT)."""

    def __init__(self, graph_id: str, existing_sha256: str, new_sha256: str) -> None:
        super().__init__(
            f"graph_id {graph_id!r} exists with body sha256 {existing_sha256}, was {new_sha256}"
        )
        self.graph_id = graph_id


class GraphStateConflict(GraphError):
    """A command does not fit the graph's current state, e.g. resume when not PAUSED (HTTP 409)."""


class UnknownNode(GraphError):
    """A command names a node the graph does not have (HTTP 404)."""


class AmendRejected(GraphError):
    """An amend is invalid for the node, e.g. new total <= filled (HTTP 400)."""


class ScheduleError(GraphError):
    """A slicing request is impossible (non-positive quantity, horizon or lot)."""
