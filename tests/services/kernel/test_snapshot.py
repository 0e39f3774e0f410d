"""Kernel snapshots (services/kernel/snapshot.py): a snapshot at any point of the log, loaded into
a new kernel and restored on from the next event, gives the same state as restoring the whole
log from its first event, byte for byte (the snapshot encoding and the canonical fold), and the
same work picked up afterwards."""

from __future__ import annotations

import random

import msgspec
import pytest

from events import AnyEvent, encode
from services.kernel.jetstream import LEDGER_INPUTS
from services.kernel.kernel import MARKET_EVENTS, Kernel
from services.kernel.ports import VirtualClock
from services.kernel.snapshot import SnapshotError, load, snapshot
from services.kernel.state import fold_state
from events.subjects import subject_for
from projections.follower import covers
from services.graph import parse_order_body
from services.graph.commands import submit_command
from services.kernel.runner import InProcessKernel
from tests.services.kernel.test_determinism import LIMITS, MS, T0, TENANT, inputs, order
from tests.services.trading.test_policies import U


def ledger() -> list[AnyEvent]:
    """A session's LEDGER (what the JetStream kernel restores): the determinism test's session
    and a TWAP still running at its end (its slices are scheduled by a restore), market data left out."""
    session = inputs()
    twap = submit_command(parse_order_body(order("g_twap", U // 10, execution={
        "policy": "twap", "horizon_ms": 60_000, "pacing": {"uniform": {"num_slices": 6, "interval_ms": 10_000}},
    }), lambda: "unused", force_sandbox=True), TENANT, session[-1].ts_ns + MS)[0]
    kernel = InProcessKernel(limits=LIMITS)
    kernel.feed([*session, twap])
    kernel.finish(twap.ts_ns + 15_000 * MS)  # two slices out, four to come
    return [e.event for e in kernel.log.entries
            if not isinstance(e.event, MARKET_EVENTS) and any(covers(p, subject_for(e.event)) for p in LEDGER_INPUTS)]


def new_kernel() -> Kernel:
    return Kernel(clock=VirtualClock(T0), rng=random.Random(7), limits=LIMITS)


def restored(events: list[AnyEvent], kernel: Kernel | None = None) -> Kernel:
    kernel = kernel or new_kernel()
    for event in events:
        kernel.restore(event)
    return kernel


def test_snapshot_then_the_rest_equals_the_fold_from_the_first_event_byte_for_byte() -> None:
    log = ledger()
    assert len(log) > 50  # a session with graphs open, ended and evicted along the way
    whole = restored(log)
    assert "g_twap" in whole.graphs and whole._timers  # open work a restore schedules
    expected_snapshot, expected_fold = snapshot(whole, len(log)), fold_state(whole)
    for cut in (0, 1, len(log) // 3, len(log) // 2, len(log) - 7, len(log)):
        data = snapshot(restored(log[:cut]), cut)
        kernel = new_kernel()
        assert load(kernel, data) == (cut, {})
        restored(log[cut:], kernel)
        assert fold_state(kernel) == expected_fold, cut
        assert snapshot(kernel, len(log)) == expected_snapshot, cut
        # The work picked up after the restore is the same too, up to the TWAP's last slice.
        assert picked_up(kernel, log) == picked_up(restored(log), log), cut


def picked_up(kernel: Kernel, log: list[AnyEvent]) -> list[bytes]:
    out = kernel.finish_restore()
    out += kernel.advance_to(log[-1].ts_ns + 120_000 * MS)
    return [encode(e) for e in out]


def test_a_snapshot_names_only_the_projects_classes() -> None:
    data = snapshot(restored(ledger()[:20]), 20)
    assert b"services.graph.state:GraphState" in data
    forged = msgspec.msgpack.encode([1, 20, ["D", [["graphs", ["O", 0, "os:system", []]]]], ["D", []]])
    with pytest.raises(SnapshotError, match="may not name 'os:system'"):
        load(new_kernel(), forged)
