"""User algorithms in WebAssembly: the host that runs one module (issue #14, part A).

- abi.py: the ABI's structs, fixed regions, codes and limits (docs/algo_abi.md).
- module.py: load and validate a module (exports, ABI-only imports, no WASI, host region).
- host.py: AlgoInstance, one running module: callbacks in, CallbackResult out, faults as pauses.
- features.py: OnlineFeatures from our books and trades.
- build.py and sdk/: the C SDK (header, runtime) and the zig cc build behind `crossbook algo build`.
- harness.py: a local deterministic runner with a simple fill model (tests, examples, bench).
"""
