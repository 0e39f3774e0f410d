"""Solana edge: µs per quote on a Whirlpool state for 10 sizes, and LiteSVM transaction latency.

Run: .venv/bin/python bench/solana.py [--rounds R] [--txs N]
Prints, medians over rounds:
- Whirlpool exact-input quotes (the program's swap loop) for 10 sizes from dust to a price move
  that crosses several initialized ticks, µs per quote; beside it, as the baseline measured in
  the same run, a Raydium CPMM quote of the same sizes, and the ratio; then the whole path book
  (10 ask + 10 bid quotes and the levels) per call.
- LiteSVM: build + sign + execute an SPL TransferChecked with compute budget and a Jito tip,
  beside a plain system transfer in the same run (interleaved), µs median and p90, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from math import isqrt
from pathlib import Path

# This file's name shadows the `solana` package (spl.token imports it) when bench/ leads sys.path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from solders.message import Message  # noqa: E402
from solders.system_program import TransferParams, transfer  # noqa: E402
from solders.transaction import VersionedTransaction  # noqa: E402

from services.edges.solana import raydium_cpmm as rc  # noqa: E402
from services.edges.solana import whirlpool_math as wm  # noqa: E402
from services.edges.solana.routing import Path as RoutePath  # noqa: E402
from services.edges.solana.routing import PoolRef, Token, path_book  # noqa: E402
from services.edges.solana.tx import Priority, build_transaction, jito_tip_account  # noqa: E402
from services.edges.solana.whirlpool import TICK_ARRAY_SIZE, Tick, TickArray, Whirlpool, WhirlpoolBook  # noqa: E402

SOL = Token("So11111111111111111111111111111111111111112", "SOL", 9)
USDC = Token("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "USDC", 6)
SIZES_RAW = [10**6, 10**7, 10**8, 10**9, 10**10, 5 * 10**10, 10**11, 5 * 10**11, 10**12, 3 * 10**12]  # lamports in
SIZES_1E8 = [s // 10 for s in SIZES_RAW]  # the same sizes as qty_1e8 SOL


def whirlpool_state() -> WhirlpoolBook:
    """SOL/USDC at 150 with 40 positions stacked around the price (an initialized tick every 128
    ticks on each side), so large sizes cross many ticks, as on a busy mainnet pool."""
    ts = 64
    sqrt_price = isqrt(15 * (1 << 128) // 100)
    tick = wm.tick_index_from_sqrt_price(sqrt_price)
    span = TICK_ARRAY_SIZE * ts
    nets: dict[int, int] = {}
    liquidity = 0
    for k in range(1, 41):
        lo, hi = (tick // ts - 2 * k) * ts, (tick // ts + 2 * k) * ts
        nets[lo] = nets.get(lo, 0) + 10**12
        nets[hi] = nets.get(hi, 0) - 10**12
        liquidity += 10**12
    arrays = {}
    for start in range((tick // span - 3) * span, (tick // span + 4) * span, span):
        ticks = [Tick()] * TICK_ARRAY_SIZE
        for t, net in nets.items():
            if start <= t < start + span:
                ticks[(t - start) // ts] = Tick(True, net, abs(net))
        arrays[start] = TickArray(start, tuple(ticks))
    pool = Whirlpool(ts, 400, 1300, liquidity, sqrt_price, tick)
    return WhirlpoolBook(pool, arrays)


def per_call_us(fn, args: list[int], reps: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter_ns()
    for _ in range(reps):
        for a in args:
            fn(a)
    return (time.perf_counter_ns() - t0) / 1000 / (reps * len(args))


def bench_quotes(rounds: int) -> None:
    book = whirlpool_state()
    cpmm = rc.Fees(2500, 120_000, 40_000)
    r0, r1 = 10**13, 15 * 10**11
    crossed = [book.pool.tick_current_index]
    for s in SIZES_RAW:
        out = book.exact_in(True, s)
        assert out > 0
    from services.edges.solana.whirlpool import swap

    last = swap(book.pool, book.sequence(True), SIZES_RAW[-1], 0, True, True)
    crossed.append(last.next_tick_index)

    def wp(a: int) -> int:
        return book.exact_in(True, a)

    def cp(a: int) -> int:
        return rc.swap_base_input(a, r0, r1, cpmm).output_amount

    ref = PoolRef("orca_whirlpool", "bench", SOL, USDC, book, 90_000)
    path = RoutePath.through(USDC, [ref])
    wps, cps, books = [], [], []
    for _ in range(rounds):
        wps.append(per_call_us(wp, SIZES_RAW, 20))
        cps.append(per_call_us(cp, SIZES_RAW, 20))
        t0 = time.perf_counter_ns()
        for _ in range(5):
            path_book(path, SIZES_1E8)
        books.append((time.perf_counter_ns() - t0) / 1000 / 5)
    w, c, b = statistics.median(wps), statistics.median(cps), statistics.median(books)
    print(f"whirlpool quote, 10 sizes (largest moves tick {crossed[0]} -> {crossed[1]}): {w:,.1f} µs/quote")
    print(f"baseline: raydium cpmm quote, same sizes: {c:,.2f} µs/quote; ratio whirlpool/cpmm {w / c:,.1f}")
    print(f"whirlpool path book, 10 sizes (20 quotes + levels): {b:,.0f} µs")


def bench_litesvm(rounds: int, txs: int) -> None:
    from solders.keypair import Keypair
    from solders.litesvm import LiteSVM
    from solders.system_program import CreateAccountParams, create_account
    from spl.token.constants import TOKEN_PROGRAM_ID
    from spl.token.instructions import create_associated_token_account, initialize_mint2, mint_to
    from spl.token.models import InitializeMint2Params, MintToParams

    from services.edges.solana.tx import ata, spl_transfer_ix

    svm = LiteSVM()
    payer, alice, mint = (Keypair.from_seed(bytes([n]) * 32) for n in (1, 2, 3))
    svm.airdrop(payer.pubkey(), 10**12)
    m = mint.pubkey()
    setup = [
        create_account(CreateAccountParams(from_pubkey=payer.pubkey(), to_pubkey=m,
                                           lamports=svm.minimum_balance_for_rent_exemption(82), space=82,
                                           owner=TOKEN_PROGRAM_ID)),
        initialize_mint2(InitializeMint2Params(program_id=TOKEN_PROGRAM_ID, mint=m, decimals=6,
                                               mint_authority=payer.pubkey())),
        create_associated_token_account(payer.pubkey(), payer.pubkey(), m),
        create_associated_token_account(payer.pubkey(), alice.pubkey(), m),
        mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=m, dest=ata(payer.pubkey(), m),
                             mint_authority=payer.pubkey(), amount=10**15)),
    ]
    assert type(svm.send_transaction(build_transaction(payer, setup, svm.latest_blockhash(), signers=[mint]))).__name__ == "TransactionMetadata"
    tip = jito_tip_account(b"bench")
    svm.airdrop(tip, svm.minimum_balance_for_rent_exemption(0))
    src, dst = ata(payer.pubkey(), m), ata(alice.pubkey(), m)
    priority = Priority(cu_limit=40_000, cu_price_micro_lamports=1_000)
    n = 0

    def spl() -> float:
        nonlocal n
        n += 1
        t0 = time.perf_counter_ns()
        ix = spl_transfer_ix(src, m, dst, payer.pubkey(), n, 6)
        tx = build_transaction(payer, [ix], svm.latest_blockhash(), priority=priority, tip_lamports=1_000, tip_account=tip)
        r = svm.send_transaction(tx)
        dt = (time.perf_counter_ns() - t0) / 1000
        assert type(r).__name__ == "TransactionMetadata", r
        return dt

    def plain() -> float:
        nonlocal n
        n += 1
        t0 = time.perf_counter_ns()
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=alice.pubkey(), lamports=10**6 + n))
        tx = VersionedTransaction(Message.new_with_blockhash([ix], payer.pubkey(), svm.latest_blockhash()), [payer])
        r = svm.send_transaction(tx)
        dt = (time.perf_counter_ns() - t0) / 1000
        assert type(r).__name__ == "TransactionMetadata", r
        return dt

    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        for _ in range(txs // rounds):
            a.append(spl())
            b.append(plain())
    ma, mb = statistics.median(a), statistics.median(b)
    pa, pb = statistics.quantiles(a, n=10)[-1], statistics.quantiles(b, n=10)[-1]
    print(f"litesvm SPL transfer + compute budget + tip (build, sign, execute): median {ma:,.0f} µs, p90 {pa:,.0f} µs (n={len(a)})")
    print(f"baseline: plain system transfer, same run: median {mb:,.0f} µs, p90 {pb:,.0f} µs; ratio {ma / mb:,.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--txs", type=int, default=500)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    bench_quotes(args.rounds)
    bench_litesvm(args.rounds, args.txs)


if __name__ == "__main__":
    main()
