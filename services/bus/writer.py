"""Appending as one declared writer (events/subjects.py `WRITERS`).

Each role of the trader (graph engine, risk, router, executor, TCA) and each front door gets
its own handle on the process's one connection (`as_writer`). An append to a subject declared
for another role fails at once with `WrongWriter` instead of reaching the log, and every
append carries its role in the `Crossbook-Writer` header, so a check over the log can prove
that no subject was written by anyone but its declared writer."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, TypeVar

from events.subjects import may_write, writer_of
from services.errors import BusError

if TYPE_CHECKING:
    from services.bus.bus import Bus

B = TypeVar("B", bound="Bus")


class WrongWriter(BusError):
    """An append to a subject whose declared single writer is another role."""

    def __init__(self, subject: str, role: str) -> None:
        super().__init__(
            f"single-writer conflict on {subject}: it is written only by {writer_of(subject)!r}; "
            f"{role!r} may not append to it"
        )
        self.subject = subject
        self.role = role


ROLE_SEPARATOR = "+"  # a handle of a process that holds several roles: "risk+router"


def check_writer(writer: str, subject: str) -> str:
    """The role of `writer` (one role, or several joined by `ROLE_SEPARATOR`) that appends to
    `subject`; WrongWriter when none may."""
    for role in writer.split(ROLE_SEPARATOR):
        if may_write(role, subject):
            return role
    raise WrongWriter(subject, writer)


def as_writer(bus: B, role: str, *more_roles: str) -> B:
    """`bus`'s connection (and its class: a test's crashing bus stays one) appending as `role`
    (or, for one batch across the roles a process holds, as whichever of them owns each subject)."""
    handle = copy.copy(bus)
    handle.writer = ROLE_SEPARATOR.join((role, *more_roles))
    return handle
