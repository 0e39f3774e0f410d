"""The kernel's fold as canonical bytes: two folds are the same state iff their encodings are equal.

Dicts and sets are written sorted (by their encoded keys / members) and objects as their fields in
declaration order, so the bytes depend only on the content, never on insertion order or hashing.
What is encoded is the fold of the log (graphs, submissions, activations, arrivals, accounts, the
sandbox book, the kill switch facts seen, ended graphs, TCA facts): not the simulated venues'
queue positions, the timers or the market books, which are no fold of the LEDGER, nor the
router's memo of follow-up plans (`_made`: live it notes only follow-ups, restored every plan).
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from services.kernel.kernel import Kernel

_encode = msgspec.msgpack.Encoder().encode


def canonical(value: Any) -> Any:
    """`value` as msgpack-able builtins with a content-defined order."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, float):  # not money: scores and weights of the router's cost model
        return repr(value)
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, dict):
        pairs = [(_encode(canonical(k)), canonical(v)) for k, v in value.items()]
        return [[k, v] for k, v in sorted(pairs, key=lambda kv: kv[0])]
    if isinstance(value, (set, frozenset)):
        return sorted(_encode(canonical(v)) for v in value)
    if isinstance(value, (list, tuple, deque)):
        return [canonical(v) for v in value]
    if isinstance(value, msgspec.Struct):
        return [type(value).__name__, *(canonical(getattr(value, f)) for f in value.__struct_fields__)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, *(canonical(getattr(value, f.name)) for f in dataclasses.fields(value))]
    if hasattr(value, "__dict__"):
        return [type(value).__name__, canonical(vars(value))]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def fold_state(kernel: Kernel) -> bytes:
    """The kernel's fold of the ledger, canonical bytes."""
    accounts = kernel.accounts
    return _encode(canonical({
        "graphs": kernel.graphs,
        "submitted": kernel.submitted,
        "activations": kernel.activations,
        "arrivals": kernel.arrivals,
        "accounts": accounts.accounts,
        "graph_sandbox": accounts.graph_sandbox,
        "funded": kernel.book.funded,
        "connected": kernel.policy.connected,
        "kill_seen": kernel.kill_seen,
        "ended": kernel.ended,
        "tca": [kernel.tca.nodes, kernel.tca.reported, kernel.tca.interval_nodes],
    }))
