"""Load and validate an algo module before anything runs it.

`load_module(engine, wasm)` compiles the module (binary or WAT text) and checks it against the
ABI: the exports it needs with the right signatures, only the ABI's imports (no WASI), a memory
the host can use, and no data placed in the host's fixed region. It then instantiates it once
under fuel, so a start function that loops or traps is refused at deploy, not at the first book.
Anything wrong raises `AlgoRejected` with one sentence saying what and why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import wasmtime

from services.algos import abi
from services.algos.errors import AlgoRejected

I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()

# The imports a module may have: module, name -> (params, results).
ABI_IMPORTS: dict[tuple[str, str], tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]]] = {
    ("env", "host_log_impl"): ((I32, I32, I32), ()),  # level, ptr, len
    ("env", "__seq_send"): ((I64, I32, I32), (I32,)),  # mesh_id, ptr, len -> status (Crossbook ABI 1)
}

# Callback exports: name -> the signatures accepted (params, results).
CALLBACKS: dict[str, tuple[tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]], ...]] = {
    "algo_alloc": (((I32,), (I32,)),),
    "algo_on_book": (((I32, I32), (I32,)),),
    "algo_on_book_v3": (((I32, I32, I32), (I32,)), ((I32, I32), (I32,))),  # (book, state[, features])
    "algo_on_fill": (((I32, I32), ()),),
    "algo_on_reject": (((I32,), ()),),
    "algo_on_shutdown": (((I32,), (I32,)),),
    "algo_on_heartbeat": (((I32, I64), (I32,)), ((I32,), (I32,))),  # (state[, now_ns])
    "algo_on_nbbo": (((I32, I32), (I32,)),),  # (nbbo, state)
    "algo_on_message": (((I32, I32), (I32,)),),  # (message, state)
}

WASI_MODULE_PREFIX = "wasi"
MIN_MEMORY_BYTES = abi.HOST_REGION[1]
INIT_FUEL = 10_000_000  # for the start function and globals' initialisation


@dataclass(frozen=True, slots=True)
class AlgoModule:
    """A compiled, validated module; instances of it are `services.algos.host.AlgoInstance`."""

    module: wasmtime.Module
    engine: wasmtime.Engine
    sha256: str
    size_bytes: int
    exports: frozenset[str]  # the callback exports present
    arity: dict[str, int]  # callback name -> its number of params (for the two-form callbacks)
    imports: frozenset[str]  # "env.host_log_impl", ...

    @property
    def book_callback(self) -> str:
        return "algo_on_book_v3" if "algo_on_book_v3" in self.exports else "algo_on_book"


def new_engine() -> wasmtime.Engine:
    """An engine with fuel metering and deterministic floating point (NaN canonicalisation)."""
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.memory_may_move = False  # the host caches the memory's base address
    cfg.cranelift_nan_canonicalization = True
    cfg.wasm_relaxed_simd_deterministic = True
    cfg.wasm_threads = False
    cfg.wasm_memory64 = False
    return wasmtime.Engine(cfg)


def _valtypes_equal(a: tuple[wasmtime.ValType, ...], b: tuple[wasmtime.ValType, ...]) -> bool:
    return len(a) == len(b) and all(str(x) == str(y) for x, y in zip(a, b))


def _sig(ty: wasmtime.FuncType) -> str:
    return f"({', '.join(str(p) for p in ty.params)}) -> ({', '.join(str(r) for r in ty.results)})"


def _want(options: tuple[tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]], ...]) -> str:
    return " or ".join(
        f"({', '.join(str(p) for p in ps)}) -> ({', '.join(str(r) for r in rs)})" for ps, rs in options
    )


def to_binary(wasm: bytes | str) -> bytes:
    """The module's binary form; WAT text (str, or bytes starting with '(') is assembled."""
    if isinstance(wasm, str):
        return bytes(wasmtime.wat2wasm(wasm))
    if wasm[:4] == b"\0asm":
        return wasm
    try:
        return bytes(wasmtime.wat2wasm(wasm.decode()))
    except (UnicodeDecodeError, wasmtime.WasmtimeError) as e:
        raise AlgoRejected(f"not a WebAssembly module (no \\0asm header, and not WAT text: {e})") from None


def load_module(engine: wasmtime.Engine, wasm: bytes | str) -> AlgoModule:
    """Compile and validate; raise `AlgoRejected` with the reason if the module cannot run here."""
    binary = to_binary(wasm)
    try:
        module = wasmtime.Module(engine, binary)
    except wasmtime.WasmtimeError as e:
        raise AlgoRejected(f"not a valid WebAssembly module: {str(e).splitlines()[0]}") from None

    imports: set[str] = set()
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module.startswith(WASI_MODULE_PREFIX):
            raise AlgoRejected(
                f"imports WASI ({where}): algos run without WASI (no files, clock, network or randomness); "
                "build for wasm32-freestanding / wasm32-unknown-unknown"
            )
        want = ABI_IMPORTS.get((imp.module, imp.name or ""))
        if want is None:
            allowed = ", ".join(f"{m}.{n}" for m, n in ABI_IMPORTS)
            raise AlgoRejected(f"imports unknown {_kind(imp.type)} {where}: the host provides only {allowed}")
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType) or not (
            _valtypes_equal(tuple(ty.params), want[0]) and _valtypes_equal(tuple(ty.results), want[1])
        ):
            got = _sig(ty) if isinstance(ty, wasmtime.FuncType) else _kind(ty)
            raise AlgoRejected(f"import {where} has type {got}, the ABI's is {_want((want,))}")
        imports.add(where)

    exported = {e.name: e.type for e in module.exports}
    mem = exported.get("memory")
    if not isinstance(mem, wasmtime.MemoryType):
        raise AlgoRejected("does not export its linear memory as 'memory'")
    if mem.is_64:
        raise AlgoRejected("exports a 64-bit memory; the ABI's pointers are 32-bit")
    if mem.limits.max is not None and mem.limits.max * 65536 < MIN_MEMORY_BYTES:
        raise AlgoRejected(
            f"memory maximum of {mem.limits.max} pages cannot hold the host region up to {MIN_MEMORY_BYTES:#x}"
        )

    present: set[str] = set()
    arity: dict[str, int] = {}
    for name, options in CALLBACKS.items():
        export_ty = exported.get(name)
        if export_ty is None:
            continue
        if not isinstance(export_ty, wasmtime.FuncType) or not any(
            _valtypes_equal(tuple(export_ty.params), ps) and _valtypes_equal(tuple(export_ty.results), rs)
            for ps, rs in options
        ):
            got = _sig(export_ty) if isinstance(export_ty, wasmtime.FuncType) else _kind(export_ty)
            raise AlgoRejected(f"export {name} has type {got}, the ABI's is {_want(options)}")
        present.add(name)
        arity[name] = len(export_ty.params)
    if "algo_alloc" not in present:
        raise AlgoRejected("does not export algo_alloc (the host gets its input buffers from it)")
    if not present & {"algo_on_book", "algo_on_book_v3"}:
        raise AlgoRejected("exports neither algo_on_book nor algo_on_book_v3")

    for start, end in data_segments(binary):
        lo, hi = abi.HOST_REGION
        if start < hi and end > lo:
            raise AlgoRejected(
                f"places data at {start:#x}..{end:#x}, inside the host region {lo:#x}..{hi:#x} "
                "(link C with the SDK's flags: stack first, data from 0x30000)"
            )

    loaded = AlgoModule(
        module=module,
        engine=engine,
        sha256=hashlib.sha256(binary).hexdigest(),
        size_bytes=len(binary),
        exports=frozenset(present),
        arity=arity,
        imports=frozenset(imports),
    )
    _trial_instantiate(loaded)
    return loaded


def _kind(ty: object) -> str:
    return {
        wasmtime.FuncType: "function",
        wasmtime.MemoryType: "memory",
        wasmtime.TableType: "table",
        wasmtime.GlobalType: "global",
    }.get(type(ty), type(ty).__name__)


def _trial_instantiate(loaded: AlgoModule) -> None:
    # Local import: host.py imports this module.
    from services.algos.host import AlgoInstance

    AlgoInstance(loaded)


# --- a minimal reader for the data section (active segments' placement) --------------------


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


def data_segments(binary: bytes) -> list[tuple[int, int]]:
    """[start, end) of each active data segment with a constant offset (memory 0)."""
    out: list[tuple[int, int]] = []
    pos = 8
    while pos < len(binary):
        section_id = binary[pos]
        size, pos = _uleb(binary, pos + 1)
        end = pos + size
        if section_id == 11:
            count, p = _uleb(binary, pos)
            for _ in range(count):
                flags, p = _uleb(binary, p)
                offset: int | None = None
                if flags in (0, 2):
                    if flags == 2:
                        _memidx, p = _uleb(binary, p)
                    opcode = binary[p]
                    if opcode == 0x41:  # i32.const
                        offset, p = _sleb(binary, p + 1)
                    else:  # global.get or an extended constant: skip to `end`
                        p += 1
                        while binary[p] != 0x0B:
                            p += 1
                    p += 1  # 0x0B end
                length, p = _uleb(binary, p)
                if offset is not None:
                    out.append((offset & 0xFFFFFFFF, (offset & 0xFFFFFFFF) + length))
                p += length
        pos = end
    return out
