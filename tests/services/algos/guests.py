"""Small algo modules in WAT for the service tests (wasmtime compiles the text; ABI offsets from
docs/algo_abi.md: L2Book asks @320, bid_ct @640, ask_ct @641; AlgoState position @0, order_ct
@1312; WasmActions count @0 then 32-byte actions from +8)."""

from __future__ import annotations

from pathlib import Path

import wasmtime

# Buys 0.02 at once (IOC 1% through the best ask), then sells half of what it holds (IOC 1%
# through the best bid): two orders that fill, then it only counts books. Logs orders and fills.
ROUND_TRIP = """
(module
  (import "env" "host_log_impl" (func $log (param i32 i32 i32)))
  (memory (export "memory") 4)
  (global $sent (mut i32) (i32.const 0))
  (data (i32.const 0x2E000) "buy sent")
  (data (i32.const 0x2E010) "sell sent")
  (data (i32.const 0x2E020) "fill")
  (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
  (func $order (param $id i64) (param $px i64) (param $qty i64) (param $side i32)
    (i32.store (i32.const 0x2F000) (i32.const 1))
    (i64.store (i32.const 0x2F008) (local.get $id))
    (i64.store (i32.const 0x2F010) (local.get $px))
    (i64.store (i32.const 0x2F018) (local.get $qty))
    (i32.store8 (i32.const 0x2F020) (local.get $side))
    (i32.store8 (i32.const 0x2F021) (i32.const 0))
    (i32.store8 (i32.const 0x2F022) (i32.const 2))   ;; IOC
    (i32.store8 (i32.const 0x2F023) (i32.const 0)))
  (func (export "algo_on_book") (param $book i32) (param $state i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0))
    (if (i32.and (i32.eqz (global.get $sent)) (i32.ne (i32.load8_u offset=641 (local.get $book)) (i32.const 0)))
      (then
        (call $order (i64.const 1) (i64.div_u (i64.mul (i64.load offset=320 (local.get $book)) (i64.const 101)) (i64.const 100))
                     (i64.const 2000000) (i32.const 1))
        (global.set $sent (i32.const 1))
        (call $log (i32.const 2) (i32.const 0x2E000) (i32.const 8))
        (return (i32.const 0x2F000))))
    (if (i32.and (i32.eq (global.get $sent) (i32.const 1))
                 (i32.and (i64.gt_s (i64.load (local.get $state)) (i64.const 0))
                          (i32.ne (i32.load8_u offset=640 (local.get $book)) (i32.const 0))))
      (then
        (call $order (i64.const 2) (i64.div_u (i64.mul (i64.load (local.get $book)) (i64.const 99)) (i64.const 100))
                     (i64.div_s (i64.load (local.get $state)) (i64.const 2)) (i32.const -1))
        (global.set $sent (i32.const 2))
        (call $log (i32.const 2) (i32.const 0x2E010) (i32.const 9))))
    (i32.const 0x2F000))
  (func (export "algo_on_fill") (param i32 i32) (call $log (i32.const 2) (i32.const 0x2E020) (i32.const 4)))
  (func (export "algo_on_reject") (param i32))
  (func (export "algo_on_shutdown") (param i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000)))
"""

# Counts books and does nothing else (a well-behaved neighbour).
IDLE = """
(module
  (import "env" "host_log_impl" (func $log (param i32 i32 i32)))
  (memory (export "memory") 4)
  (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
  (func (export "algo_on_book") (param i32 i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000))
  (func (export "algo_on_fill") (param i32 i32))
  (func (export "algo_on_reject") (param i32))
  (func (export "algo_on_shutdown") (param i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000)))
"""

# Spins forever on its first book: fuel runs out.
INFINITE_LOOP = IDLE.replace(
    "(func (export \"algo_on_book\") (param i32 i32) (result i32)\n",
    "(func (export \"algo_on_book\") (param i32 i32) (result i32)\n    (loop $spin (br $spin))\n",
)


def wasm_file(directory: Path, wat: str, name: str) -> str:
    path = directory / f"{name}.wasm"
    path.write_bytes(wasmtime.wat2wasm(wat))
    return str(path)

# A mesh pair (the same module on both instances): the instance with mesh id 1 sends "hello
# hedger" to its first peer on its first book (and once more 300 bytes, which the host refuses);
# a receiver logs each message and answers the first one with "ack".
MESH_PAIR = """
(module
  (import "env" "host_log_impl" (func $log (param i32 i32 i32)))
  (import "env" "__seq_send" (func $send (param i64 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (global $sent (mut i32) (i32.const 0))
  (global $acked (mut i32) (i32.const 0))
  (data (i32.const 0x2E000) "hello hedger")
  (data (i32.const 0x2E010) "ack")
  (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
  (func (export "algo_on_book") (param i32 i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0))
    (if (i32.and (i32.eqz (global.get $sent)) (i64.eq (i64.load (i32.const 0x24220)) (i64.const 1)))
      (then
        (global.set $sent (i32.const 1))
        (drop (call $send (i64.load (i32.const 0x24250)) (i32.const 0x2E000) (i32.const 12)))
        (drop (call $send (i64.load (i32.const 0x24250)) (i32.const 0x2E000) (i32.const 300)))))
    (i32.const 0x2F000))
  (func (export "algo_on_message") (param $msg i32) (param $state i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0))
    (call $log (i32.const 2) (i32.add (local.get $msg) (i32.const 48)) (i32.load offset=40 (local.get $msg)))
    (if (i32.eqz (global.get $acked))
      (then
        (global.set $acked (i32.const 1))
        (drop (call $send (i64.load (local.get $msg)) (i32.const 0x2E010) (i32.const 3)))))
    (i32.const 0x2F000))
  (func (export "algo_on_fill") (param i32 i32))
  (func (export "algo_on_reject") (param i32))
  (func (export "algo_on_shutdown") (param i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000)))
"""

# On each NBBO: logs "nbbo <best bid px> <best ask px> <venues in the snapshot> <venue books>"
# (NbboSnapshot: bid px @0, ask px @16, venue_ct @42; VenueBooks' venue_ct @0x10000), in
# decimal, written backwards from 0x2E200. Otherwise idle.
NBBO_LOGGER = IDLE.replace(
    "  (func (export \"algo_on_fill\")",
    """  (func $digits (param $v i64) (param $end i32) (result i32)
    (local $p i32)
    (local.set $p (local.get $end))
    (loop $next
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $next (i64.ne (local.get $v) (i64.const 0))))
    (local.get $p))
  (func $space (param $p i32) (result i32)
    (local.set $p (i32.sub (local.get $p) (i32.const 1)))
    (i32.store8 (local.get $p) (i32.const 32))
    (local.get $p))
  (func (export "algo_on_nbbo") (param $nbbo i32) (param $state i32) (result i32)
    (local $p i32)
    (local.set $p (call $digits (i64.extend_i32_u (i32.load8_u (i32.const 0x10000))) (i32.const 0x2E200)))
    (local.set $p (call $digits (i64.extend_i32_u (i32.load8_u offset=42 (local.get $nbbo))) (call $space (local.get $p))))
    (local.set $p (call $digits (i64.load offset=16 (local.get $nbbo)) (call $space (local.get $p))))
    (local.set $p (call $digits (i64.load (local.get $nbbo)) (call $space (local.get $p))))
    (local.set $p (i32.sub (local.get $p) (i32.const 5)))
    (i32.store (local.get $p) (i32.const 0x6f62626e))  ;; "nbbo"
    (i32.store8 offset=4 (local.get $p) (i32.const 32))
    (call $log (i32.const 2) (local.get $p) (i32.sub (i32.const 0x2E200) (local.get $p)))
    (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000))
  (func (export "algo_on_fill")""",
)
