"""Hostile modules are contained: each pauses its own instance with a clear reason (or is refused
at load), never raises into the caller, and another instance beside it keeps trading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from services.algos import abi
from services.algos.build import build
from services.algos.errors import AlgoRejected
from services.algos.host import AlgoInstance, HostLimits, PauseKind
from services.algos.module import AlgoModule, load_module
from tests.services.algos.conftest import HERE, ladder_book

HOSTILE = HERE / "hostile"
Built = Callable[[Path], Path]


def module(engine: wasmtime.Engine, built: Built, name: str) -> AlgoModule:
    return load_module(engine, built(HOSTILE / name).read_bytes())


def test_an_infinite_loop_runs_out_of_fuel_and_the_neighbour_keeps_trading(
    engine: wasmtime.Engine, built: Built, wat_module: Callable[[str], AlgoModule]
) -> None:
    # Arrange: the hostile instance and a well-behaved one fed the same books
    bad = AlgoInstance(module(engine, built, "infinite_loop.c"))
    good = AlgoInstance(wat_module("doc_example.wat"))
    # Act
    r = bad.on_book(ladder_book(), abi.AlgoState())
    later = [good.on_book(ladder_book(recv_ns=i), abi.AlgoState()) for i in range(3)]
    # Assert
    assert r.paused is not None and r.paused.kind is PauseKind.FUEL
    assert r.paused.reason == "fuel_exhausted in algo_on_book_v3: used its whole budget of 1,000,000 fuel units"
    assert r.fuel_used == 1_000_000 and r.actions == ()
    assert all(x.paused is None and len(x.actions) == 1 for x in later)
    assert not bad.on_book(ladder_book(), abi.AlgoState()).ran


def test_a_memory_bomb_hits_the_cap(engine: wasmtime.Engine, built: Built) -> None:
    cap = 4 * 1024 * 1024
    inst = AlgoInstance(module(engine, built, "memory_bomb.c"), limits=HostLimits(memory_cap_bytes=cap))
    r = inst.on_book(ladder_book(), abi.AlgoState())
    assert r.paused is not None and r.paused.kind is PauseKind.MEMORY_CAP
    assert r.paused.detail.startswith("memory grew to ") and ", the cap is 4,194,304; then " in r.paused.detail
    assert inst._mem_len() <= cap


def test_1000_actions_in_one_callback_pause(engine: wasmtime.Engine, built: Built) -> None:
    inst = AlgoInstance(module(engine, built, "thousand_actions.c"))
    r = inst.on_book(ladder_book(), abi.AlgoState())
    assert r.actions == ()
    assert r.paused is not None and r.paused.kind is PauseKind.TOO_MANY_ACTIONS
    assert r.paused.reason == "too_many_actions in algo_on_book_v3: returned 1,000 actions; at most 16 per callback"


def test_out_of_bounds_pointers_pause(engine: wasmtime.Engine, built: Built) -> None:
    m = module(engine, built, "oob_pointers.c")
    returned = AlgoInstance(m).on_book(ladder_book(recv_ns=1), abi.AlgoState())
    assert returned.paused is not None and returned.paused.kind is PauseKind.OUT_OF_BOUNDS
    assert returned.paused.detail.startswith("returned actions pointer 0xffffff00, past the memory's end ")
    logged = AlgoInstance(m).on_book(ladder_book(recv_ns=2), abi.AlgoState())
    assert logged.paused is not None and logged.paused.kind is PauseKind.OUT_OF_BOUNDS
    assert logged.paused.detail.startswith("host_log_impl: bytes 0xfffffff0..0x100000030 are past the memory's end")


def test_a_trap_in_on_fill_pauses_after_normal_books(engine: wasmtime.Engine, built: Built) -> None:
    inst = AlgoInstance(module(engine, built, "trap_on_fill.c"))
    first = inst.on_book(ladder_book(), abi.AlgoState())
    assert first.paused is None and [a.order_id for a in first.actions] == [1]
    state = abi.AlgoState(orders=(abi.OpenOrder(order_id=1, px_1e9=100_000_000_000, qty_1e8=1_000_000),))
    r = inst.on_fill(abi.Fill(order_id=1, px_1e9=100_000_000_000, qty_1e8=1_000_000, recv_ns=5, side=1), state)
    assert r.paused is not None and r.paused.kind is PauseKind.TRAP and r.paused.callback == "algo_on_fill"
    assert "divide by zero" in r.paused.detail
    assert not inst.on_book(ladder_book(), state).ran


@pytest.mark.parametrize(
    ("wat", "reason"),
    [
        ("wasi.wat", "imports WASI (wasi_snapshot_preview1.fd_write): algos run without WASI"),
        ("unknown_import.wat", "imports unknown function env.now_ns: the host provides only env.host_log_impl, env.__seq_send"),
    ],
)
def test_wasi_and_unknown_imports_are_rejected_at_load(engine: wasmtime.Engine, wat: str, reason: str) -> None:
    with pytest.raises(AlgoRejected) as e:
        load_module(engine, (HERE / "wat" / wat).read_text())
    assert e.value.reason.startswith(reason)


def test_a_c_module_importing_an_unknown_function_fails_its_build(tmp_path: Path) -> None:
    src = tmp_path / "clock.c"
    src.write_text(
        '#include "crossbook_algo.h"\n'
        'CB_IMPORT("wall_clock_ns") uint64_t wall_clock_ns(void);\n'
        "static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *o) {\n"
        "    (void)s; (void)f; if (wall_clock_ns() & 1) cb_buy(o, 1, b->bids[0].px_1e9, 1); }\n"
        "CB_ON_BOOK(on_book)\n"
    )
    with pytest.raises(AlgoRejected, match="imports unknown function env.wall_clock_ns"):
        build([src], tmp_path / "clock.wasm")


@pytest.mark.parametrize(
    ("wat", "reason"),
    [
        ('(module (func (export "algo_alloc") (param i32) (result i32) (i32.const 0)))', "does not export its linear memory"),
        ('(module (memory (export "memory") 4) (func (export "algo_on_book") (param i32 i32) (result i32) (i32.const 0)))',
         "does not export algo_alloc"),
        ('(module (memory (export "memory") 4) (func (export "algo_alloc") (param i32) (result i32) (i32.const 0)))',
         "exports neither algo_on_book nor algo_on_book_v3"),
        ('(module (memory (export "memory") 4) (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))'
         ' (func (export "algo_on_book") (param i32) (result i32) (i32.const 0)))',
         "export algo_on_book has type (i32) -> (i32), the ABI's is (i32, i32) -> (i32)"),
        ('(module (memory (export "memory") 4) (data (i32.const 0x1A010) "x")'
         ' (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))'
         ' (func (export "algo_on_book") (param i32 i32) (result i32) (i32.const 0)))',
         "places data at 0x1a010..0x1a011, inside the host region 0x10000..0x25000"),
        ('(module (memory (export "memory") 4) (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x14000))'
         ' (func (export "algo_on_book") (param i32 i32) (result i32) (i32.const 0)))',
         "algo_alloc(3328) returned 0x14000: not 8-aligned, out of bounds or in the host region"),
        (b"\x00asm\x01\x00\x00\x00\xff", "not a valid WebAssembly module"),
    ],
)
def test_modules_the_host_cannot_run_are_refused_with_a_reason(engine: wasmtime.Engine, wat: str | bytes, reason: str) -> None:
    with pytest.raises(AlgoRejected) as e:
        load_module(engine, wat)
    assert e.value.reason.startswith(reason), e.value.reason


def test_unbounded_recursion_traps_and_pauses(engine: wasmtime.Engine) -> None:
    wat = """(module (memory (export "memory") 4)
      (func $deep (param i64) (result i64) (i64.add (call $deep (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
      (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
      (func (export "algo_on_book") (param i32 i32) (result i32) (drop (call $deep (i64.const 0))) (i32.const 0)))"""
    inst = AlgoInstance(load_module(engine, wat), limits=HostLimits(fuel_per_callback=50_000_000))
    r = inst.on_book(ladder_book(), abi.AlgoState())
    assert r.paused is not None and r.paused.kind is PauseKind.TRAP
    assert "call stack exhausted" in r.paused.detail


def test_a_log_flood_pays_fuel_for_each_host_call(engine: wasmtime.Engine) -> None:
    wat = """(module (import "env" "host_log_impl" (func $log (param i32 i32 i32)))
      (memory (export "memory") 4) (data (i32.const 0x2E000) "spam")
      (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
      (func (export "algo_on_book") (param i32 i32) (result i32)
        (loop $l (call $log (i32.const 2) (i32.const 0x2E000) (i32.const 4)) (br $l)) (i32.const 0)))"""
    inst = AlgoInstance(load_module(engine, wat))
    r = inst.on_book(ladder_book(), abi.AlgoState())
    assert r.paused is not None and r.paused.kind is PauseKind.FUEL
    assert r.paused.detail == "used its whole budget of 1,000,000 fuel units (a host call costs 1,000)"
    assert len(r.logs) == 32 and r.logs_dropped < 1_000  # at most ~1,000 host calls per callback
