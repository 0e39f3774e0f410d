"""Run one algo module: write inputs into guest memory, call a callback, read its actions back.

Interface (the algo service and the backtest use only this):

    engine = new_engine()                                  # one per process
    module = load_module(engine, wasm_bytes)               # AlgoRejected(reason) if it cannot run
    inst = AlgoInstance(module, ports=HostPorts(clock_ns=clock.now_ns), mesh=MeshConfig(...))
    r = inst.on_book(book, state, features)                # -> CallbackResult
    r.actions     # validated Actions (nothing if the callback faulted)
    r.logs        # LogLines from env.host_log_impl (bounded per callback)
    r.messages    # MeshSends queued by env.__seq_send (payload <= 256 bytes)
    r.refused     # sentences for refused sends / deliveries (the instance keeps running)
    r.paused      # a Pause if this callback paused the instance, else None
    inst.on_fill(fill, state); inst.on_reject(reject); inst.on_shutdown(state)
    inst.on_heartbeat(state, now_ns, features)             # the service calls it at 1 Hz
    inst.on_nbbo(nbbo, state, features); inst.on_message(from_label, payload, state)
    inst.paused / inst.resume() / inst.recent_logs / inst.stats()

Callbacks never raise: a trap, fuel exhaustion, reaching the memory cap, an out-of-bounds
pointer, more than 16 actions, a malformed action or more than 32 open orders pause the
instance with a `Pause` (kind + sentence) that the service turns into an event; a paused
instance answers every callback with an empty result until `resume()`.

Time and ids come from `HostPorts` (no wall clock here): `clock_ns` stamps log lines and pauses,
`timer_ns` (optional) measures callback latency, `next_id` names outgoing mesh messages. With a
virtual clock and no timer, the same module fed the same inputs gives identical results.

Speed: calls go through wasmtime's unchecked C entry point with a preallocated raw-value buffer
(the public `Func.__call__` costs 11-80 us here, this about 2-3 us), inputs are packed with
precompiled structs into one host buffer and copied with a single memmove, and the actions are
read with one `string_at`. Fuel is reset through the C API directly. wasmtime is pinned in
pyproject.toml because this uses its ctypes bindings (`wasmtime._bindings`).
"""

from __future__ import annotations

import ctypes
import itertools
from collections import deque
from collections.abc import Callable
from enum import StrEnum

import msgspec
import wasmtime
from wasmtime import _ffi as ffi

from services.algos import abi
from services.algos.errors import AlgoRejected
from services.algos.module import AlgoModule, load_module, new_engine

__all__ = [
    "AlgoInstance", "CallbackResult", "HostLimits", "HostPorts", "LogLine", "MeshConfig", "MeshSend",
    "Pause", "PauseKind", "HostStats", "load_module", "new_engine",
]

# Typed C entry points taking plain addresses (ints convert faster than ctypes pointer objects).
_c_void_p = ctypes.c_void_p
_call_unchecked = ctypes.CFUNCTYPE(_c_void_p, _c_void_p, _c_void_p, _c_void_p, ctypes.c_size_t, _c_void_p)(
    ("wasmtime_func_call_unchecked", ffi.dll)
)
_set_fuel = ctypes.CFUNCTYPE(_c_void_p, _c_void_p, ctypes.c_uint64)(("wasmtime_context_set_fuel", ffi.dll))
_get_fuel = ctypes.CFUNCTYPE(_c_void_p, _c_void_p, _c_void_p)(("wasmtime_context_get_fuel", ffi.dll))
_memory_data = ctypes.CFUNCTYPE(_c_void_p, _c_void_p, _c_void_p)(("wasmtime_memory_data", ffi.dll))
_memory_size = ctypes.CFUNCTYPE(ctypes.c_size_t, _c_void_p, _c_void_p)(("wasmtime_memory_data_size", ffi.dll))
_caller_context = ctypes.CFUNCTYPE(_c_void_p, _c_void_p)(("wasmtime_caller_context", ffi.dll))
_Raw3 = ffi.wasmtime_val_raw_t * 3
_HostCallback = ctypes.CFUNCTYPE(ctypes.c_size_t, _c_void_p, _c_void_p, _c_void_p, ctypes.c_size_t)
_Finalizer = ctypes.CFUNCTYPE(None, _c_void_p)
_func_new_unchecked = ctypes.CFUNCTYPE(None, _c_void_p, _c_void_p, _HostCallback, _c_void_p, _Finalizer, _c_void_p)(
    ("wasmtime_func_new_unchecked", ffi.dll)
)

_U32_FROM = abi.WASM_ACTIONS_HEAD.unpack_from
_FEATURES_OFFSET = abi.FEATURES_OFFSET
_MAX_ACTIONS = abi.MAX_ACTIONS
_ACTION_ITER = abi.ACTION.iter_unpack
_pack_book_into = abi.pack_book_into
_NO_FEATURES = abi.OnlineFeatures()
_NEW, _CANCEL, _AMEND = abi.ActionKind.NEW, abi.ActionKind.CANCEL, abi.ActionKind.AMEND
_LIMIT = abi.OrderType.LIMIT
_ORDER_TYPES = tuple(abi.OrderType)


def _finalize(_env: int | None) -> None:
    return None


# Module-level, so it outlives every store: wasmtime calls it when a store drops its functions.
_FINALIZER = _Finalizer(_finalize)

# Offsets inside the one guest buffer the host asks `algo_alloc` for.
_BOOK = 0
_STATE = _BOOK + abi.L2BOOK_SIZE
_FILL = _STATE + abi.ALGO_STATE_SIZE
_REJECT = _FILL + abi.FILL.size
_NBBO = _REJECT + abi.REJECT.size
_MESSAGE = _NBBO + abi.NBBO_SIZE
_INPUT_SIZE = _MESSAGE + abi.MESH_MESSAGE_SIZE
_BOOK_AND_STATE = _STATE + abi.ALGO_STATE_SIZE

_LEVEL_NAMES = {0: "trace", 1: "debug", 2: "info", 3: "warn", 4: "error"}

HOST_CALL_FUEL = 1_000  # charged per call to host_log_impl or __seq_send
SEND_OK = 0
SEND_TOO_LARGE = -1
SEND_UNKNOWN_PEER = -2
SEND_OUTBOX_FULL = -3


class PauseKind(StrEnum):
    TRAP = "trap"
    FUEL = "fuel_exhausted"
    MEMORY_CAP = "memory_cap"
    OUT_OF_BOUNDS = "out_of_bounds"
    TOO_MANY_ACTIONS = "too_many_actions"
    BAD_ACTION = "bad_action"
    OPEN_ORDERS = "open_orders"


class Pause(msgspec.Struct, frozen=True):
    kind: PauseKind
    callback: str
    detail: str
    ts_ns: int

    @property
    def reason(self) -> str:
        """One line for events, API and CLI."""
        return f"{self.kind.value} in {self.callback}: {self.detail}"


class LogLine(msgspec.Struct, frozen=True):
    ts_ns: int
    level: str  # trace, debug, info, warn, error
    message: str


class MeshSend(msgspec.Struct, frozen=True):
    message_id: str
    to_label: str
    to_mesh_id: int
    payload: bytes


class CallbackResult(msgspec.Struct, frozen=True):
    callback: str
    actions: tuple[abi.Action, ...] = ()
    logs: tuple[LogLine, ...] = ()
    logs_dropped: int = 0
    messages: tuple[MeshSend, ...] = ()
    refused: tuple[str, ...] = ()
    paused: Pause | None = None
    fuel_used: int = 0
    latency_ns: int = 0
    ran: bool = True  # False: skipped (paused instance, or the module lacks the callback)


class HostLimits(msgspec.Struct, frozen=True):
    fuel_per_callback: int = 1_000_000
    memory_cap_bytes: int = 32 * 1024 * 1024
    max_actions: int = abi.MAX_ACTIONS
    max_open_orders: int = abi.MAX_ORDERS
    max_log_lines: int = 32  # per callback; the rest are counted in logs_dropped
    max_log_line_bytes: int = 256
    recent_logs: int = 1000  # the instance's bounded log buffer
    max_sends: int = 16  # mesh messages per callback
    latency_window: int = 4096  # samples kept for p50/p99


def _no_timer() -> int:
    return 0


class HostPorts(msgspec.Struct, frozen=True):
    clock_ns: Callable[[], int]
    timer_ns: Callable[[], int] = _no_timer
    next_id: Callable[[], str] | None = None  # default: "<label>-<n>", deterministic


class MeshConfig(msgspec.Struct, frozen=True):
    label: str
    mesh_id: int
    peers: dict[str, int]  # label -> mesh_id


class HostStats(msgspec.Struct, frozen=True):
    callbacks: int
    book_updates: int
    fuel_used: int
    latency_p50_ns: int
    latency_p99_ns: int
    paused: Pause | None


class _Callable:
    """One export, ready for unchecked calls."""

    __slots__ = ("name", "func", "addr", "raw", "raw_addr", "n")

    def __init__(self, name: str, func: wasmtime.Func, n_params: int) -> None:
        self.name = name
        self.func = func  # keeps the wasmtime_func_t alive
        self.addr = ctypes.addressof(func._func)
        self.n = max(n_params, 1)
        self.raw = (ffi.wasmtime_val_raw_t * self.n)()
        self.raw_addr = ctypes.addressof(self.raw)


class AlgoInstance:
    """One running copy of a module (see the module docstring for the interface)."""

    def __init__(
        self,
        module: AlgoModule,
        *,
        ports: HostPorts | None = None,
        limits: HostLimits | None = None,
        mesh: MeshConfig | None = None,
    ) -> None:
        self.module = module
        self.ports = ports = ports or HostPorts(clock_ns=_no_timer)
        self.limits = limits = limits or HostLimits()
        self.mesh = mesh
        self.paused: Pause | None = None
        self.recent_logs: deque[LogLine] = deque(maxlen=limits.recent_logs)
        self._clock = ports.clock_ns
        self._timer = ports.timer_ns
        self._budget = limits.fuel_per_callback
        self._cap = limits.memory_cap_bytes
        self._max_actions = min(limits.max_actions, abi.MAX_ACTIONS)
        self._max_open = min(limits.max_open_orders, abi.MAX_ORDERS)
        self._max_log_lines = limits.max_log_lines
        self._max_log_bytes = limits.max_log_line_bytes
        self._latencies: deque[int] = deque(maxlen=limits.latency_window)
        self._callbacks = 0
        self._book_updates = 0
        self._fuel_total = 0
        self._fuel_used = 0
        self._ids = itertools.count(1)
        # Per-callback collections filled by the host imports.
        self._logs: list[LogLine] = []
        self._logs_dropped = 0
        self._sends: list[MeshSend] = []
        self._refused: list[str] = []
        self._fault: tuple[PauseKind, str] | None = None
        self._now_ns = 0
        self._last_state: abi.AlgoState | None = None
        self._open: set[int] = set()
        self._trap_slot = ctypes.c_void_p()
        self._trap_addr = ctypes.addressof(self._trap_slot)
        self._fuel_left = ctypes.c_uint64()
        self._fuel_addr = ctypes.addressof(self._fuel_left)

        self._store = wasmtime.Store(module.engine)
        self._store.set_limits(memory_size=limits.memory_cap_bytes)
        self._ctx = ctypes.cast(self._store._context(), _c_void_p).value
        self._keep: list[object] = []
        linker = wasmtime.Linker(module.engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        self._define(linker, "host_log_impl", [i32, i32, i32], [], self._host_log)
        self._define(linker, "__seq_send", [i64, i32, i32], [i32], self._host_send)
        self._store.set_fuel(_INIT_FUEL)
        try:
            instance = linker.instantiate(self._store, module.module)
        except wasmtime.Trap as e:
            raise AlgoRejected(f"traps while instantiating (its start function): {_trap_text(e.message)}") from None
        except wasmtime.WasmtimeError as e:
            raise AlgoRejected(f"cannot be instantiated: {str(e).splitlines()[0]}") from None
        exports = instance.exports(self._store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self._memory = memory
        self._mem_addr = ctypes.addressof(memory._memory)
        size = memory.data_len(self._store)
        if size < abi.HOST_REGION[1]:
            try:
                memory.grow(self._store, -(-(abi.HOST_REGION[1] - size) // 65536))
            except wasmtime.WasmtimeError as e:
                raise AlgoRejected(f"its memory cannot grow to hold the host region: {e}") from None
        # The engine never moves linear memory (new_engine: memory_may_move = False).
        self._mem: int = _memory_data(self._ctx, self._mem_addr) or 0
        self._view = self._refresh_view()
        self._fns: dict[str, _Callable] = {}
        for name in module.exports:
            fn = exports[name]
            assert isinstance(fn, wasmtime.Func)
            self._fns[name] = _Callable(name, fn, module.arity[name])
        self._book_fn = self._fns[module.book_callback]
        self._wants_features = bool(module.exports & {"algo_on_book_v3", "algo_on_heartbeat", "algo_on_nbbo"})

        # One input buffer in guest memory, laid out as _BOOK.._MESSAGE.
        alloc = self._fns["algo_alloc"]
        alloc.raw[0].i32 = _INPUT_SIZE
        if not self._invoke(alloc):
            assert self.paused is not None
            raise AlgoRejected(f"algo_alloc({_INPUT_SIZE}) failed: {self.paused.reason}")
        base = alloc.raw[0].i32 & 0xFFFFFFFF
        lo, hi = abi.HOST_REGION
        if base % 8 or base + _INPUT_SIZE > self._mem_len() or (base < hi and base + _INPUT_SIZE > lo):
            raise AlgoRejected(
                f"algo_alloc({_INPUT_SIZE}) returned {base:#x}: not 8-aligned, out of bounds or in the host region"
            )
        self._base = base
        self._refresh_view()  # algo_alloc may have grown memory
        self._state_at = base + _STATE
        self._state_end = base + _BOOK_AND_STATE
        self._state_bytes = abi.pack_state(abi.AlgoState())
        self._last_features: abi.OnlineFeatures | None = None
        self._features_bytes = abi.pack_features(_NO_FEATURES)
        self._peers_by_id: dict[int, str] = {}
        if mesh is not None:
            self._write(abi.MESH_TABLE_OFFSET, abi.pack_mesh_table(mesh.label, mesh.mesh_id, mesh.peers))
            self._peers_by_id = {mid: label for label, mid in mesh.peers.items()}
        self._write(abi.FEATURES_OFFSET, abi.pack_features(_NO_FEATURES))

    # --- public callbacks -------------------------------------------------------------------

    def on_book(
        self, book: abi.Book, state: abi.AlgoState, features: abi.OnlineFeatures | None = None
    ) -> CallbackResult:
        """A book update: `algo_on_book_v3` (features at 0x1A000) if exported, else `algo_on_book`."""
        # The hot path, written out: _begin, _invoke and _finish_actions in one frame.
        fn = self._book_fn
        if self.paused is not None:
            return CallbackResult(callback=fn.name, ran=False)
        t0 = self._timer()
        self._begin()
        self._book_updates += 1
        view = self._view
        base = self._base
        _pack_book_into(view, base, book)
        if state is not self._last_state:
            self._set_state(state)
        view[self._state_at : self._state_end] = self._state_bytes
        n = fn.n
        if n == 3 or self._wants_features:
            self._put_features(features)
        raw = fn.raw
        raw[0].i32 = base
        raw[1].i32 = self._state_at
        if n == 3:
            raw[2].i32 = _FEATURES_OFFSET
        ctx = self._ctx
        budget = self._budget
        _set_fuel(ctx, budget)
        trap = self._trap_slot
        trap.value = None
        err = _call_unchecked(ctx, fn.addr, fn.raw_addr, n, self._trap_addr)
        _get_fuel(ctx, self._fuel_addr)
        used = self._fuel_used = budget - self._fuel_left.value
        self._fuel_total += used
        if err or trap.value:
            size_before = len(view)
            self._refresh_view()
            self._fault_pause(fn.name, err, trap.value, size_before)
            return self._result(fn.name, t0)
        ptr = raw[0].i32 & 0xFFFFFFFF
        if ptr == 0 or ptr + 8 + 32 * _MAX_ACTIONS > len(view):
            return self._read_actions(fn, t0, ptr)  # null, or near the end of memory: the careful path
        count = _U32_FROM(view, ptr)[0]
        if count > self._max_actions:
            return self._read_actions(fn, t0, ptr)
        actions = self._check_actions(fn.name, view[ptr + 8 : ptr + 8 + 32 * count]) if count else ()
        if self._logs or self._sends or self._refused or self.paused is not None:
            return self._result(fn.name, t0, actions)
        latency = self._timer() - t0
        self._latencies.append(latency)
        return CallbackResult(fn.name, actions, (), self._logs_dropped, (), (), None, used, latency)

    def on_fill(self, fill: abi.Fill, state: abi.AlgoState) -> CallbackResult:
        """A fill of one of the algo's orders (no actions: v0.1's on_fill returns nothing)."""
        fn = self._fns.get("algo_on_fill")
        if fn is None or self.paused is not None:
            return CallbackResult(callback="algo_on_fill", ran=False)
        t0 = self._timer()
        self._begin()
        self._put(_FILL, abi.pack_fill(fill), state)
        fn.raw[0].i32 = self._base + _FILL
        fn.raw[1].i32 = self._base + _STATE
        self._invoke(fn)
        return self._result(fn.name, t0)

    def on_reject(self, reject: abi.Reject) -> CallbackResult:
        """A rejected action of the algo's (no actions, no state: v0.1)."""
        fn = self._fns.get("algo_on_reject")
        if fn is None or self.paused is not None:
            return CallbackResult(callback="algo_on_reject", ran=False)
        t0 = self._timer()
        self._begin()
        self._put(_REJECT, abi.pack_reject(reject), None)
        fn.raw[0].i32 = self._base + _REJECT
        self._invoke(fn)
        return self._result(fn.name, t0)

    def on_shutdown(self, state: abi.AlgoState) -> CallbackResult:
        """Stopping or undeploying: the algo may answer with cancels."""
        fn = self._fns.get("algo_on_shutdown")
        if fn is None or self.paused is not None:
            return CallbackResult(callback="algo_on_shutdown", ran=False)
        t0 = self._timer()
        self._begin()
        self._put(_STATE, b"", state)
        fn.raw[0].i32 = self._base + _STATE
        return self._finish_actions(fn, t0)

    def on_heartbeat(
        self, state: abi.AlgoState, now_ns: int, features: abi.OnlineFeatures | None = None
    ) -> CallbackResult:
        """The 1 Hz tick (if exported): `algo_on_heartbeat(state[, now_ns])`, features at 0x1A000."""
        fn = self._fns.get("algo_on_heartbeat")
        if fn is None or self.paused is not None:
            return CallbackResult(callback="algo_on_heartbeat", ran=False)
        t0 = self._timer()
        self._begin()
        self._put(_STATE, b"", state)
        self._put_features(features)
        fn.raw[0].i32 = self._base + _STATE
        if fn.n == 2:
            fn.raw[1].i64 = now_ns
        return self._finish_actions(fn, t0)

    def on_nbbo(
        self, nbbo: abi.NbboSnapshot, state: abi.AlgoState, features: abi.OnlineFeatures | None = None
    ) -> CallbackResult:
        """The cross-venue snapshot (if exported); VenueBooks at 0x10000 holds each venue's book."""
        fn = self._fns.get("algo_on_nbbo")
        if fn is None or self.paused is not None:
            return CallbackResult(callback="algo_on_nbbo", ran=False)
        t0 = self._timer()
        self._begin()
        self._put(_NBBO, abi.pack_nbbo(nbbo), state)
        self._write(abi.VENUE_BOOKS_OFFSET, abi.pack_venue_books(nbbo.books))
        # PoolBooks: the whole region with pools; else only pool_ct = 0 (the memcpy is skipped)
        self._write(abi.POOL_BOOKS_OFFSET, abi.pack_pool_books(nbbo.pools) if nbbo.pools else b"\x00")
        self._put_features(features)
        fn.raw[0].i32 = self._base + _NBBO
        fn.raw[1].i32 = self._base + _STATE
        return self._finish_actions(fn, t0)

    def on_message(self, from_label: str, payload: bytes, state: abi.AlgoState) -> CallbackResult:
        """A mesh message from a peer (if exported); over 256 bytes it is refused, not delivered."""
        fn = self._fns.get("algo_on_message")
        if fn is None or self.paused is not None:
            return CallbackResult(callback="algo_on_message", ran=False)
        if len(payload) > abi.MAX_MESSAGE_SIZE:
            return CallbackResult(
                callback=fn.name,
                ran=False,
                refused=(
                    f"message from {from_label!r} of {len(payload)} bytes not delivered: "
                    f"at most {abi.MAX_MESSAGE_SIZE} bytes",
                ),
            )
        from_id = self.mesh.peers.get(from_label, 0) if self.mesh else 0
        t0 = self._timer()
        self._begin()
        self._put(_MESSAGE, abi.pack_mesh_message(from_id, from_label, payload), state)
        fn.raw[0].i32 = self._base + _MESSAGE
        fn.raw[1].i32 = self._base + _STATE
        return self._finish_actions(fn, t0)

    def resume(self) -> None:
        """Clear a pause (the operator restarts the instance); guest memory is kept."""
        self.paused = None

    def stats(self) -> HostStats:
        lat = sorted(self._latencies)
        p50 = lat[len(lat) // 2] if lat else 0
        p99 = lat[min(len(lat) - 1, (len(lat) * 99) // 100)] if lat else 0
        return HostStats(
            callbacks=self._callbacks,
            book_updates=self._book_updates,
            fuel_used=self._fuel_total,
            latency_p50_ns=p50,
            latency_p99_ns=p99,
            paused=self.paused,
        )

    # --- host imports -----------------------------------------------------------------------

    def _define(
        self,
        linker: wasmtime.Linker,
        name: str,
        params: list[wasmtime.ValType],
        results: list[wasmtime.ValType],
        fn: Callable[[ctypes.Array[ffi.wasmtime_val_raw_t]], int],
    ) -> None:
        def callback(_env: int | None, caller: int | None, args: int | None, _n: int) -> int:
            try:
                # Host calls cost fuel too, so a guest cannot spend unmetered Python time in a loop.
                ctx = _caller_context(caller)
                left = ctypes.c_uint64()
                _get_fuel(ctx, ctypes.addressof(left))
                if left.value < HOST_CALL_FUEL:
                    return self._trap(
                        PauseKind.FUEL,
                        f"used its whole budget of {self._budget:,} fuel units (a host call costs {HOST_CALL_FUEL:,})",
                    )
                _set_fuel(ctx, left.value - HOST_CALL_FUEL)
                return fn(_Raw3.from_address(args or 0))
            except Exception as e:  # a host bug must not unwind through wasmtime's frames
                return self._trap(PauseKind.TRAP, f"host import {name} failed: {e!r}")

        cb = _HostCallback(callback)
        ty = wasmtime.FuncType(params, results)
        self._keep += [cb, ty]  # the store only calls `cb` during our own calls into the guest
        func = ffi.wasmtime_func_t()
        _func_new_unchecked(self._ctx, ctypes.cast(ty.ptr(), _c_void_p).value, cb, None, _FINALIZER, ctypes.addressof(func))
        linker.define(self._store, "env", name, wasmtime.Func._from_raw(func))

    def _trap(self, kind: PauseKind, detail: str) -> int:
        self._fault = (kind, detail)
        msg = detail.encode()
        trap = ffi.wasmtime_trap_new(ctypes.create_string_buffer(msg), len(msg))
        return ctypes.cast(trap, _c_void_p).value or 0

    def _guest_bytes(self, what: str, ptr: int, length: int, keep: int = abi.MAX_MESSAGE_SIZE) -> bytes | int:
        """The first `keep` bytes of [ptr, ptr+len) or, if any of it is out of bounds, a trap to
        return from the import."""
        ptr &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        view = self._view
        if ptr + length > len(view):
            view = self._refresh_view()
            if ptr + length > len(view):
                return self._trap(
                    PauseKind.OUT_OF_BOUNDS,
                    f"{what}: bytes {ptr:#x}..{ptr + length:#x} are past the memory's end {len(view):#x}",
                )
        return bytes(view[ptr : ptr + min(length, keep)])

    def _host_log(self, raw: ctypes.Array[ffi.wasmtime_val_raw_t]) -> int:
        level, ptr, length = raw[0].i32, raw[1].i32, raw[2].i32
        data = self._guest_bytes("host_log_impl", ptr, length, self._max_log_bytes)
        if isinstance(data, int):
            return data
        if len(self._logs) >= self._max_log_lines:
            self._logs_dropped += 1
            return 0
        text = data.decode("utf-8", "replace")
        line = LogLine(ts_ns=self._now_ns, level=_LEVEL_NAMES.get(level, "error" if level > 4 else "trace"), message=text)
        self._logs.append(line)
        self.recent_logs.append(line)
        return 0

    def _host_send(self, raw: ctypes.Array[ffi.wasmtime_val_raw_t]) -> int:
        mesh_id, ptr, length = raw[0].i64 & 0xFFFFFFFFFFFFFFFF, raw[1].i32, raw[2].i32 & 0xFFFFFFFF
        label = self._peers_by_id.get(mesh_id)
        who = repr(label) if label else f"mesh id {mesh_id}"
        if length > abi.MAX_MESSAGE_SIZE:
            self._refused.append(f"send to {who} of {length} bytes refused: at most {abi.MAX_MESSAGE_SIZE} bytes")
            raw[0].i32 = SEND_TOO_LARGE
            return 0
        data = self._guest_bytes("__seq_send", ptr, length)
        if isinstance(data, int):
            return data
        if label is None:
            self._refused.append(f"send to {who} refused: not a peer of this instance")
            raw[0].i32 = SEND_UNKNOWN_PEER
            return 0
        if len(self._sends) >= self.limits.max_sends:
            self._refused.append(f"send to {who} refused: at most {self.limits.max_sends} messages per callback")
            raw[0].i32 = SEND_OUTBOX_FULL
            return 0
        if self.ports.next_id is not None:
            msg_id = self.ports.next_id()
        else:
            msg_id = f"{self.mesh.label if self.mesh else 'algo'}-{next(self._ids)}"
        self._sends.append(MeshSend(message_id=msg_id, to_label=label, to_mesh_id=mesh_id, payload=data))
        raw[0].i32 = SEND_OK
        return 0

    # --- plumbing ---------------------------------------------------------------------------

    def _mem_len(self) -> int:
        return int(_memory_size(self._ctx, self._mem_addr))

    def _refresh_view(self) -> memoryview:
        """A view of guest memory as it is now (it only grows, and never moves: new_engine)."""
        size = self._mem_len()
        self._view = memoryview((ctypes.c_char * size).from_address(self._mem)).cast("B")
        return self._view

    def _write(self, offset: int, data: bytes) -> None:
        self._view[offset : offset + len(data)] = data

    def _set_state(self, state: abi.AlgoState) -> None:
        # AlgoState is immutable: the same object always packs to the same bytes.
        self._state_bytes = abi.pack_state(state)
        self._last_state = state
        self._open = state.open_order_ids()

    def _put_features(self, features: abi.OnlineFeatures | None) -> None:
        if features is not self._last_features:
            self._features_bytes = abi.pack_features(features or _NO_FEATURES)
            self._last_features = features
        self._view[abi.FEATURES_OFFSET : abi.FEATURES_OFFSET + abi.ONLINE_FEATURES_SIZE] = self._features_bytes

    def _put(self, offset: int, packed: bytes, state: abi.AlgoState | None) -> None:
        at = self._base + offset
        if packed:
            self._view[at : at + len(packed)] = packed
        if state is not None:
            if state is not self._last_state:
                self._set_state(state)
            self._view[self._state_at : self._state_end] = self._state_bytes

    def _begin(self) -> None:
        self._now_ns = self._clock()
        self._callbacks += 1
        if self._logs:
            self._logs = []
        self._logs_dropped = 0
        if self._sends:
            self._sends = []
        if self._refused:
            self._refused = []
        self._fault = None

    def _invoke(self, fn: _Callable) -> bool:
        """Call `fn` (its arguments already in fn.raw) under the fuel budget; False if it paused."""
        ctx = self._ctx
        budget = self._budget
        _set_fuel(ctx, budget)
        self._trap_slot.value = None
        err = _call_unchecked(ctx, fn.addr, fn.raw_addr, fn.n, self._trap_addr)
        _get_fuel(ctx, self._fuel_addr)
        used = budget - self._fuel_left.value
        self._fuel_used = used
        self._fuel_total += used
        if err or self._trap_slot.value:
            size_before = len(self._view)
            self._refresh_view()
            self._fault_pause(fn.name, err, self._trap_slot.value, size_before)
            return False
        return True

    def _fault_pause(self, name: str, err: int | None, trap_ptr: int | None, size_before: int) -> None:
        if err:
            error = wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))
            message, code = str(error), None
        else:
            trap = wasmtime.Trap._from_ptr(ctypes.cast(trap_ptr or 0, ctypes.POINTER(ffi.wasm_trap_t)))
            message, code = trap.message, trap.trap_code
        if self._fault is not None:  # raised by one of our imports
            kind, detail = self._fault
        elif code == wasmtime.TrapCode.OUT_OF_FUEL:
            kind, detail = PauseKind.FUEL, f"used its whole budget of {self._budget:,} fuel units"
        else:
            kind, detail = PauseKind.TRAP, _trap_text(message)
        # wasmtime answers a refused memory.grow with -1, not a trap, so a memory bomb shows up
        # as a fault after growing close to the cap during this callback.
        size = len(self._view)
        if kind is not PauseKind.OUT_OF_BOUNDS and size > size_before and 4 * size > 3 * self._cap:
            kind, detail = PauseKind.MEMORY_CAP, f"{self._cap_text()}; then {detail}"
        self._pause(kind, name, detail)

    def _cap_text(self) -> str:
        return f"memory grew to {len(self._view):,} bytes, the cap is {self._cap:,}"

    def _pause(self, kind: PauseKind, callback: str, detail: str) -> None:
        self.paused = Pause(kind=kind, callback=callback, detail=detail, ts_ns=self._now_ns)

    def _result(self, name: str, t0: int, actions: tuple[abi.Action, ...] = ()) -> CallbackResult:
        latency = self._timer() - t0
        self._latencies.append(latency)
        paused = self.paused
        return CallbackResult(
            name,
            actions,
            tuple(self._logs) if self._logs else (),
            self._logs_dropped,
            tuple(self._sends) if self._sends and paused is None else (),
            tuple(self._refused) if self._refused else (),
            paused,
            self._fuel_used,
            latency,
        )

    def _finish_actions(self, fn: _Callable, t0: int) -> CallbackResult:
        if not self._invoke(fn):
            return self._result(fn.name, t0)
        return self._read_actions(fn, t0, fn.raw[0].i32 & 0xFFFFFFFF)

    def _read_actions(self, fn: _Callable, t0: int, ptr: int) -> CallbackResult:
        name = fn.name
        if ptr == 0:  # documented: a null pointer means no actions
            return self._result(name, t0)
        view = self._view
        if ptr + 8 > len(view):
            view = self._refresh_view()
            if ptr + 8 > len(view):
                self._pause(
                    PauseKind.OUT_OF_BOUNDS, name, f"returned actions pointer {ptr:#x}, past the memory's end {len(view):#x}"
                )
                return self._result(name, t0)
        count = _U32_FROM(view, ptr)[0]
        if count == 0:
            return self._result(name, t0)
        if count > self._max_actions:
            self._pause(
                PauseKind.TOO_MANY_ACTIONS, name, f"returned {count:,} actions; at most {self._max_actions} per callback"
            )
            return self._result(name, t0)
        end = ptr + 8 + 32 * count
        if end > len(view):
            view = self._refresh_view()
            if end > len(view):
                self._pause(
                    PauseKind.OUT_OF_BOUNDS, name, f"actions at {ptr:#x}..{end:#x} run past the memory's end {len(view):#x}"
                )
                return self._result(name, t0)
        return self._result(name, t0, self._check_actions(name, view[ptr + 8 : end]))

    def _check_actions(self, name: str, data: memoryview) -> tuple[abi.Action, ...]:
        out: list[abi.Action] = []
        open_ids = set(self._open)
        max_open = self._max_open
        for i, (order_id, px, qty, side, kind, otype, venue) in enumerate(_ACTION_ITER(data)):
            if order_id == 0:  # a cleared slot: a no-op by the ABI
                continue
            problem = _action_problem(order_id, px, qty, side, kind, otype, venue, open_ids)
            if problem:
                self._pause(PauseKind.BAD_ACTION, name, f"action {i} (order_id {order_id}): {problem}")
                return ()
            if kind == 0:
                open_ids.add(order_id)
                if len(open_ids) > max_open:
                    self._pause(
                        PauseKind.OPEN_ORDERS, name,
                        f"action {i} (order_id {order_id}) would make {len(open_ids)} open orders; at most {max_open}",
                    )
                    return ()
                out.append(abi.Action(order_id, px, qty, side, _NEW, _ORDER_TYPES[otype], venue))
            elif kind == 1:
                open_ids.discard(order_id)
                out.append(abi.Action(order_id, 0, 0, 0, _CANCEL, _LIMIT, venue))
            else:
                out.append(abi.Action(order_id, px, qty, side, _AMEND, _LIMIT, venue))
        return tuple(out)


def _trap_text(message: str) -> str:
    """The cause of a wasmtime trap ("wasm trap: integer divide by zero") without the backtrace."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if "Caused by:" in lines:
        return "; ".join(lines[lines.index("Caused by:") + 1 :])
    return lines[-1] if lines else "trap"


def _action_problem(
    order_id: int, px: int, qty: int, side: int, kind: int, otype: int, venue: int, open_ids: set[int]
) -> str:
    if venue and venue not in abi.VENUE_NAMES:
        return f"unknown venue_id {venue}"
    if kind == abi.ActionKind.NEW:
        if side not in (1, -1):
            return f"side must be 1 (buy) or -1 (sell), was {side}"
        if otype > abi.OrderType.POST_ONLY:
            return f"unknown order_type {otype}"
        if qty <= 0:
            return f"qty_1e8 must be positive, was {qty}"
        if px == 0 and otype != abi.OrderType.MARKET:
            return "px_1e9 is 0 on a priced order"
        if order_id in open_ids:
            return "order_id is already in use by an open order"
        return ""
    if kind == abi.ActionKind.CANCEL:
        return ""
    if kind == abi.ActionKind.AMEND:
        if order_id not in open_ids:
            return "amends an order that is not open"
        if qty < 0 or (qty == 0 and px == 0):
            return f"an amend needs a new px_1e9 or a positive qty_1e8, was px {px} qty {qty}"
        return ""
    return f"is_cancel must be 0 (new), 1 (cancel) or 2 (amend), was {kind}"


_INIT_FUEL = 10_000_000


def abi_i32() -> wasmtime.ValType:
    return wasmtime.ValType.i32()


def abi_i64() -> wasmtime.ValType:
    return wasmtime.ValType.i64()
