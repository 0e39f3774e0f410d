"""Algo host call overhead: µs per on_book, WASM (examples/algos/market_maker.c) vs plain Python.

Run: .venv/bin/python bench/algos.py [--books N] [--rounds R] [--state-every K]
Builds the market-maker example with zig cc, then times `AlgoInstance.on_book` per call,
including packing the 20-level book and the AlgoState into guest memory, the call under fuel,
and reading and checking the actions. The baseline, measured in the same run on the same books
and states, is the same quoting logic written as a plain Python function. Books come from the
venue simulator's market; a new AlgoState object every K books (default 10: fills and acks
change state far less often than books arrive), which makes the host repack it.
Prints p50/p99 per call (wall) and the mean by process CPU time, for both, and the ratios.
Goal: WASM on_book p50 <= 10 µs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.algos import abi  # noqa: E402
from services.algos.build import build  # noqa: E402
from services.algos.host import AlgoInstance, HostPorts  # noqa: E402
from services.algos.module import load_module, new_engine  # noqa: E402
from services.edges.sim.market import SimInstrument, SimMarket  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TICK = 100_000_000
QUOTE_QTY = 1_000_000
MAX_POSITION = 5_000_000


class PyMarketMaker:
    """market_maker.c's on_book, line for line, in Python."""

    def __init__(self) -> None:
        self.next_id = 1
        self.bid_id = 0
        self.ask_id = 0

    def _requote(self, out: list[abi.Action], s: abi.AlgoState, oid: int, side: int, px: int, allowed: bool) -> int:
        live = next((o for o in s.orders if o.order_id == oid and o.live), None) if oid else None
        if live is not None and live.px_1e9 == px and allowed:
            return oid
        if live is not None:
            out.append(abi.Action(oid, 0, 0, 0, abi.ActionKind.CANCEL, abi.OrderType.LIMIT, 0))
        if not allowed or not px:
            return 0
        fresh = self.next_id
        self.next_id += 1
        out.append(abi.Action(fresh, px, QUOTE_QTY, side, abi.ActionKind.NEW, abi.OrderType.POST_ONLY, 0))
        return fresh

    def on_book(self, b: abi.Book, s: abi.AlgoState, f: abi.OnlineFeatures | None) -> list[abi.Action]:
        out: list[abi.Action] = []
        if not b.bids or not b.asks:
            return out
        tick = s.symbol.tick_size_1e9 or 1
        best_bid, best_ask = b.bids[0][0], b.asks[0][0]
        if best_ask <= best_bid:
            return out
        bid, ask = best_bid, best_ask
        if best_ask - best_bid > 2 * tick:
            bid, ask = bid + tick, ask - tick
        if f is not None and best_bid < f.microprice_1e9 < best_ask:
            quarter = (best_ask - best_bid) // 4
            if f.microprice_1e9 > best_ask - quarter and bid - tick > 0:
                bid -= tick
            if f.microprice_1e9 < best_bid + quarter:
                ask += tick
        pos = s.position_1e8
        steps = pos // QUOTE_QTY if pos >= 0 else -(-pos // QUOTE_QTY)  # C's truncating division
        if steps > 0:
            bid -= steps * tick
            ask = ask - tick * steps if ask - tick * steps > best_bid else best_bid + tick
        if steps < 0:
            ask += -steps * tick
            bid = bid - tick * steps if bid - tick * steps < best_ask else best_ask - tick
        self.bid_id = self._requote(out, s, self.bid_id, 1, bid, s.position_1e8 < MAX_POSITION)
        self.ask_id = self._requote(out, s, self.ask_id, -1, ask, s.position_1e8 > -MAX_POSITION)
        return out


def inputs(n: int, state_every: int) -> list[tuple[abi.Book, abi.AlgoState]]:
    market = SimMarket(SimInstrument("BTC-USDT", mid_px_1e9=97_029_100_000_000, tick_1e9=TICK, lot_1e8=1_000), 42)
    meta = abi.SymbolMeta(tick_size_1e9=TICK, lot_size_1e8=1_000)
    out = []
    state = abi.AlgoState(symbol=meta)
    for i in range(n):
        market.step()
        bids, asks = tuple(market.book.bids(20)), tuple(market.book.asks(20))
        if i % state_every == 0:  # two resting orders (ids the algo never uses), position wandering
            state = abi.AlgoState(
                position_1e8=((i // state_every) % 7 - 3) * QUOTE_QTY,
                orders=(
                    abi.OpenOrder(order_id=10**9 + i, px_1e9=bids[0][0], qty_1e8=QUOTE_QTY, side=1),
                    abi.OpenOrder(order_id=2 * 10**9 + i, px_1e9=asks[0][0], qty_1e8=-QUOTE_QTY, side=-1),
                ),
                symbol=meta,
            )
        out.append((abi.Book(bids=bids, asks=asks, recv_ns=i * 100_000_000), state))
    return out


def time_calls(call: object, data: list[tuple[abi.Book, abi.AlgoState]]) -> tuple[list[int], float]:
    fn = call  # (book, state) -> anything
    per: list[int] = []
    clock = time.perf_counter_ns
    cpu0 = time.process_time()
    for book, state in data:
        t0 = clock()
        fn(book, state)  # type: ignore[operator]
        per.append(clock() - t0)
    return per, (time.process_time() - cpu0) / len(data) * 1e6


def pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--state-every", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wasm = build([ROOT / "examples" / "algos" / "market_maker.c"], Path(tmp) / "mm.wasm")
        module = load_module(new_engine(), wasm.read_bytes())
    data = inputs(args.books, args.state_every)
    features = abi.OnlineFeatures()
    rows = []
    for rnd in range(args.rounds):  # alternate, so machine noise hits both alike
        inst = AlgoInstance(module, ports=HostPorts(clock_ns=lambda: 0))
        py = PyMarketMaker()
        w, w_cpu = time_calls(lambda b, s: inst.on_book(b, s, features), data)
        p, p_cpu = time_calls(lambda b, s: py.on_book(b, s, features), data)
        assert inst.paused is None, inst.paused
        rows.append((pct(w, 0.5), pct(w, 0.99), w_cpu, pct(p, 0.5), pct(p, 0.99), p_cpu))
        print(
            f"round {rnd + 1}: wasm on_book p50 {rows[-1][0]:.2f} µs p99 {rows[-1][1]:.2f} µs cpu {w_cpu:.2f} µs | "
            f"python p50 {rows[-1][3]:.2f} µs p99 {rows[-1][4]:.2f} µs cpu {p_cpu:.2f} µs"
        )
    # Where the time goes (same run): packing the book alone, and the same guest call through
    # wasmtime-py's public Func.__call__ (what the host avoids) with the inputs already written.
    inst = AlgoInstance(module, ports=HostPorts(clock_ns=lambda: 0))
    scratch = bytearray(abi.L2BOOK_SIZE)
    pack, _ = time_calls(lambda b, s: abi.pack_book_into(scratch, 0, b), data)
    public = inst._book_fn.func
    store, base, state_at = inst._store, inst._base, inst._state_at
    slow, _ = time_calls(lambda b, s: public(store, base, state_at, abi.FEATURES_OFFSET), data[:2000])
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    print(f"books {args.books} x {args.rounds} rounds, new AlgoState every {args.state_every} books (medians of rounds)")
    print(f"WASM on_book (pack book+state, call under fuel, read+check actions): p50 {med[0]:.2f} µs, p99 {med[1]:.2f} µs, CPU mean {med[2]:.2f} µs")
    print(f"plain Python, same logic:                                          p50 {med[3]:.2f} µs, p99 {med[4]:.2f} µs, CPU mean {med[5]:.2f} µs")
    print(f"ratio WASM / Python: p50 {med[0] / med[3]:.2f}, CPU {med[2] / med[5]:.2f}; goal p50 <= 10 µs: {'met' if med[0] <= 10 else 'NOT met'}")
    print(f"parts: packing the 20-level book alone p50 {pct(pack, 0.5):.2f} µs; the guest call alone through "
          f"wasmtime-py's public Func.__call__ p50 {pct(slow, 0.5):.2f} µs (the host's unchecked path replaces it)")


if __name__ == "__main__":
    main()
