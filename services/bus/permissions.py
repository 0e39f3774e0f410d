"""Who may publish and read what on NATS: one user per kind of process, with permissions
generated from the single-writer table (events/subjects.py `WRITERS`, `ALSO_WRITTEN_BY`).

A user may publish exactly the subjects of the writer roles its process holds, plus the
JetStream API calls it needs on the streams it reads (info, its own consumers, next/ack,
last-message get) and its reply inboxes. Reading is granted per stream: a JetStream consumer
delivers into the reader's inbox, so a subject filter is not a permission. Changing or deleting
a stream (update, delete, purge) is for the `admin` user only; a service may create a missing
stream, which JetStream accepts only with the configuration it already has once it exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from events.subjects import ALSO_WRITTEN_BY, WRITERS
from services.errors import BusError

READY_SUBJECT = "crossbook.ready.*"  # services/readiness.py: the trader's heartbeat, in no stream
INBOX_PREFIX = "_INBOX"  # + "_<user>": each user reads only its own replies (API answers, pub acks, pulls)
STREAMS = ("LEDGER", "MD", "MARKETS")  # nats/streams.json


@dataclass(frozen=True, slots=True)
class Identity:
    """The NATS user of one kind of process."""

    name: str
    roles: tuple[str, ...]  # writer roles of events/subjects.py it appends as
    reads: tuple[str, ...]  # streams it consumes
    publishes: tuple[str, ...] = ()  # core subjects (no stream) it publishes
    subscribes: tuple[str, ...] = ()  # core subjects it subscribes to
    manages_streams: bool = False
    responds: bool = False  # may reply to the requests it receives (a service behind an import)


IDENTITIES: dict[str, Identity] = {
    i.name: i
    for i in (
        # The front doors: commands, vault, algo and strategy lifecycles; no exec.* or risk.* fact.
        Identity("api", ("front_door",), STREAMS, subscribes=(READY_SUBJECT,)),
        # Graph engine, risk, router, sandbox/live executors and TCA, in one process or one per role.
        Identity("trader", ("graph", "risk", "router", "executor", "tca"), STREAMS, publishes=(READY_SUBJECT,)),
        Identity("edge", ("edge",), ("MD", "MARKETS")),
        Identity("nbbo", ("nbbo",), ("MD",)),
        # The WASM algo runner: its algos' commands and what its instances did.
        Identity("algos", ("algo_host",), STREAMS),
        # The region's RTT prober (services/regions/prober.py): pings the other regions over the
        # gateway, answers theirs, and appends what it measured.
        Identity("prober", ("prober",), ("MD",), publishes=("rtt.*.ping",), subscribes=("rtt.*.ping",),
                 responds=True),
        # Durable projections, export and audit: read every stream, write nothing.
        Identity("reader", (), STREAMS),
        # Creates and changes streams (crossbook up, natsd); publishes no event.
        Identity("admin", (), STREAMS, manages_streams=True),
    )
}


class NotPermitted(BusError):
    """The NATS server refused an operation this process's user has no permission for."""

    def __init__(self, operation: str, subject: str, user: str) -> None:
        who = f"user {user!r}" if user else "this connection"
        super().__init__(f"NATS permission denied: {who} may not {operation} {subject!r}")
        self.operation = operation
        self.subject = subject
        self.user = user


class NotAuthorized(BusError):
    """The NATS server refused the connection: no credentials, or unknown ones."""


_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)


def parse_violation(text: str) -> tuple[str, str] | None:
    """(operation, subject) of a server's `Permissions Violation` error text, else None."""
    m = _VIOLATION.search(text)
    if m is None:
        return None
    return ("publish to" if m.group(1).lower() == "publish" else "subscribe to", m.group(2))


def _overlap(a: str, b: str) -> bool:
    # Two WRITERS patterns (tokens and '*', no '>') that some subject matches both.
    pa, pb = a.split("."), b.split(".")
    return len(pa) == len(pb) and all(x == "*" or y == "*" or x == y for x, y in zip(pa, pb))


def _writes(role: str, pattern: str) -> bool:
    writer = dict(WRITERS)[pattern]
    return role == writer or role in ALSO_WRITTEN_BY.get(pattern, ())


def event_subjects(roles: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(allow, deny) publish patterns for `roles`: the WRITERS patterns they own, less any
    earlier pattern of another writer that shadows one of them (the first match counts)."""
    allow: list[str] = []
    deny: list[str] = []
    for i, (pattern, _) in enumerate(WRITERS):
        if not any(_writes(role, pattern) for role in roles):
            continue
        allow.append(pattern)
        for earlier, _ in WRITERS[:i]:
            if _overlap(earlier, pattern) and not any(_writes(role, earlier) for role in roles):
                deny.append(earlier)
    return allow, sorted(set(deny))


def jetstream_api(reads: tuple[str, ...], manages_streams: bool) -> list[str]:
    """The JetStream API subjects a user reading `reads` needs (nats-py's calls)."""
    subjects = ["$JS.API.INFO"]
    # Every process makes sure every stream is there at start (`Bus.ensure_streams`).
    for s in STREAMS:
        subjects += [
            f"$JS.API.STREAM.INFO.{s}",
            f"$JS.API.STREAM.CREATE.{s}",  # only while missing: an existing stream keeps its config
        ]
    for s in reads:
        subjects += [
            f"$JS.API.STREAM.MSG.GET.{s}",
            f"$JS.API.DIRECT.GET.{s}",
            f"$JS.API.DIRECT.GET.{s}.>",
            f"$JS.API.CONSUMER.CREATE.{s}",
            f"$JS.API.CONSUMER.CREATE.{s}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.>",
            f"$JS.API.CONSUMER.INFO.{s}.>",
            f"$JS.API.CONSUMER.DELETE.{s}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.>",
            f"$JS.ACK.{s}.>",
        ]
        if manages_streams:
            subjects += [f"$JS.API.STREAM.UPDATE.{s}", f"$JS.API.STREAM.DELETE.{s}", f"$JS.API.STREAM.PURGE.{s}"]
    if manages_streams:
        # ... and, on the supercluster, whether another region's stream exists (before sourcing it)
        subjects += ["$JS.API.STREAM.NAMES", *(f"$JS.*.API.STREAM.INFO.{s}" for s in reads)]
    return subjects


def permissions(identity: Identity) -> dict[str, Any]:
    """The nats-server `permissions` block of `identity`."""
    allow, deny = event_subjects(identity.roles)
    publish: dict[str, Any] = {
        "allow": allow + list(identity.publishes) + jetstream_api(identity.reads, identity.manages_streams)
    }
    if deny:
        publish["deny"] = deny
    block: dict[str, Any] = {
        "publish": publish, "subscribe": {"allow": [f"{inbox_prefix(identity.name)}.>", *identity.subscribes]}
    }
    if identity.responds:
        block["allow_responses"] = True
    return block


def inbox_prefix(user: str) -> str:
    """The reply-inbox prefix of `user`'s connections (nats-py `inbox_prefix`)."""
    return f"{INBOX_PREFIX}_{user}"
