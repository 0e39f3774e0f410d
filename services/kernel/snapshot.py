"""Snapshots of the kernel's restored fold: `snapshot(kernel, seq)` -> bytes, `load(kernel, data)`
-> seq. Restore = load the newest snapshot, then `Kernel.restore` from its seq + 1: the same
state, byte for byte, as restoring from sequence 1 (tests/services/kernel/test_snapshot.py).

What is kept: every attribute of the kernel that folding the LEDGER sets (graphs, accounts, the
TCA fold, scores, credentials, the slices and timers a restore schedules, the open children
being restored...), not its ports and configuration (clock, limits, rules, sandbox config), nor
the market books and the simulated venues (market data is no fold of the ledger; the venues are
rebuilt from it by `finish_restore`). A snapshot is taken of a kernel that has only restored
(`restore` calls, no `finish_restore`, nothing decided): its state is then a function of the log
prefix alone, so the snapshot is as good as the log it replaces.

The encoding is msgpack (msgspec) of a tagged tree: containers by kind, events and other Structs
as their msgspec bytes, other objects as their class and fields, an object reachable twice (an
account held by the accounts and by a graph's children) written once and referred to after.
Sets are written sorted, so the bytes depend on the content only. Only classes from this project
and a few stdlib ones are read back (`_load_class`): a snapshot is data, never code.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import itertools
import random
from collections import deque
from typing import Any

import msgspec

from services.kernel.kernel import Kernel

FORMAT = 1
# Not the fold: ports, configuration, market data and the simulated venues.
NOT_FOLD = frozenset({
    "clock", "simulate_live", "limits", "sandbox", "rules", "market", "tape", "policy", "venues", "_dormant",
    "_venue_seed", "_queue", "_follow_up",
})
ALLOWED_MODULES = ("events.", "projections.", "services.")

_encoder = msgspec.msgpack.Encoder()


class SnapshotError(Exception):
    pass


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _load_class(path: str) -> Any:
    module, _, name = path.partition(":")
    if not module.startswith(ALLOWED_MODULES) or "." in name:
        raise SnapshotError(f"a snapshot may not name {path!r}")
    return getattr(importlib.import_module(module), name)


class _Writer:
    def __init__(self) -> None:
        self.refs: dict[int, int] = {}
        self.keep: list[Any] = []  # ids stay valid while the walk runs

    def tree(self, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**64:
            return ["I", str(v)]  # wider than msgpack's ints (products of scaled amounts)
        if v is None or isinstance(v, (bool, int, str, bytes, float)):
            return v
        if isinstance(v, enum.Enum):
            return ["N", _path(type(v)), v.value]
        if isinstance(v, tuple) and not hasattr(v, "_fields"):
            return ["T", [self.tree(x) for x in v]]
        if isinstance(v, list):
            return ["L", [self.tree(x) for x in v]]
        if isinstance(v, deque):
            return ["Q", [self.tree(x) for x in v], v.maxlen]
        if isinstance(v, (set, frozenset)):
            return ["S" if isinstance(v, set) else "F", sorted((self.tree(x) for x in v), key=_encoder.encode)]
        if isinstance(v, dict):
            return ["D", [[self.tree(k), self.tree(x)] for k, x in v.items()]]
        if isinstance(v, msgspec.Struct):
            return ["E", _path(type(v)), msgspec.msgpack.encode(v)]
        if isinstance(v, itertools.count):
            return ["C", int(repr(v)[6:-1])]  # count(n): its next value, without taking it
        if isinstance(v, random.Random):
            return ["X", self.tree(v.getstate())]
        ref = self.refs.get(id(v))
        if ref is not None:
            return ["R", ref]
        ref = self.refs[id(v)] = len(self.refs)
        self.keep.append(v)
        if dataclasses.is_dataclass(v):
            fields = [f.name for f in dataclasses.fields(v)]
        elif hasattr(v, "__dict__"):
            fields = list(vars(v))
        else:
            raise SnapshotError(f"cannot snapshot a {type(v).__name__}")
        return ["O", ref, _path(type(v)), [[name, self.tree(getattr(v, name))] for name in fields]]


class _Reader:
    def __init__(self) -> None:
        self.refs: dict[int, Any] = {}

    def value(self, t: Any) -> Any:
        if not isinstance(t, list):
            return t
        kind = t[0]
        if kind == "I":
            return int(t[1])
        if kind == "N":
            return _load_class(t[1])(t[2])
        if kind == "T":
            return tuple(self.value(x) for x in t[1])
        if kind == "L":
            return [self.value(x) for x in t[1]]
        if kind == "Q":
            return deque((self.value(x) for x in t[1]), t[2])
        if kind == "S":
            return {self.value(x) for x in t[1]}
        if kind == "F":
            return frozenset(self.value(x) for x in t[1])
        if kind == "D":
            return {self.value(k): self.value(x) for k, x in t[1]}
        if kind == "E":
            return msgspec.msgpack.decode(t[2], type=_load_class(t[1]))
        if kind == "C":
            return itertools.count(t[1])
        if kind == "X":
            rng = random.Random()
            rng.setstate(self.value(t[1]))
            return rng
        if kind == "R":
            return self.refs[t[1]]
        if kind == "O":
            cls = _load_class(t[2])
            obj = object.__new__(cls)
            self.refs[t[1]] = obj
            for name, field in t[3]:
                object.__setattr__(obj, name, self.value(field))  # frozen dataclasses too
            return obj
        raise SnapshotError(f"unknown snapshot node {kind!r}")


def fold_attributes(kernel: Kernel) -> dict[str, Any]:
    out = {name: value for name, value in vars(kernel).items() if name not in NOT_FOLD}
    out["accounts"] = {k: v for k, v in vars(kernel.accounts).items() if k != "rules"}
    out["policy"] = {"scores": kernel.policy.scores, "connected": kernel.policy.connected}
    out["tape_pins"] = kernel.tape.pins
    return out


def snapshot(kernel: Kernel, seq: int, extra: dict[str, Any] | None = None) -> bytes:
    """The fold of a kernel that has restored the LEDGER up to `seq` (nothing decided), with the
    runner's own fold of the same prefix (`extra`: plain data)."""
    writer = _Writer()
    return _encoder.encode([FORMAT, seq, writer.tree(fold_attributes(kernel)), writer.tree(extra or {})])


def load(kernel: Kernel, data: bytes) -> tuple[int, dict[str, Any]]:
    """Put a snapshot's fold into a new kernel (built with the same configuration); returns the
    sequence it covers (restore from the next one) and the runner's `extra`."""
    fmt, seq, tree, extra = msgspec.msgpack.decode(data)
    if fmt != FORMAT:
        raise SnapshotError(f"snapshot format {fmt}, expected {FORMAT}")
    reader = _Reader()
    state = reader.value(tree)
    for name, value in state.pop("accounts").items():
        setattr(kernel.accounts, name, value)
    policy = state.pop("policy")
    kernel.policy.scores, kernel.policy.connected = policy["scores"], policy["connected"]
    kernel.tape.pins = state.pop("tape_pins")
    for name, value in state.items():
        setattr(kernel, name, value)
    return int(seq), reader.value(extra)
