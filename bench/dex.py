"""DEX edge figures: (1) µs to turn a Uniswap V3 pool's state into book levels for 10 sizes,
beside the baseline of asking the chain (QuoterV2 eth_calls on py-evm) for the same 10 sizes;
(2) swap latency on a local JSON-RPC node (ganache, published Uniswap contracts), signed with a
wallet key through the edge's executor, beside a raw signed ETH transfer in the same run.

Run: .venv/bin/python bench/dex.py [--books 2000] [--swaps 30]
Needs npm (the contracts and ganache are installed into the npm cache dir on first use).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3

from events.execution import ChildRejected, ChildSubmitted, FillRecorded
from services.edges.evm import chain
from services.edges.evm.devchain import Ganache, contract, deploy_uniswap
from services.edges.evm.executor import Routers, SwapExecutor
from services.edges.evm.pools import pool_book

SIZES = [10**k for k in range(3, 13)]  # 10 sizes, 0.00001 to 10,000 base (qty_1e8)


def bench_books(n: int) -> None:
    w3 = Web3(EthereumTesterProvider())
    d = deploy_uniswap(w3)
    spec = chain.discover(w3, "v3", d.v3_pool, base=d.token_a)
    state = chain.read_state(w3, spec)
    book = pool_book("dex_ethereum", spec, state, SIZES)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        pool_book("dex_ethereum", spec, state, SIZES)
        samples.append(time.perf_counter_ns() - t0)
    ours = statistics.median(samples) / 1000
    quoter = contract(w3, "QuoterV2", d.quoter)
    chain_samples = []
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for size in SIZES:  # one side only (sells): half the work our book does
            try:
                quoter.functions.quoteExactInputSingle((d.token_a, d.token_b, size * 10**10, d.v3_fee, 0)).call()
            except Exception:
                pass
        chain_samples.append(time.perf_counter_ns() - t0)
    base = statistics.median(chain_samples) / 1000
    print(f"V3 pool -> book, 10 sizes both sides ({len(book.bids)} bids, {len(book.asks)} asks, "
          f"{len(state.pool.liquidity_net)} initialized ticks): median {ours:,.0f} µs over {n}")
    print(f"baseline: QuoterV2 eth_call x10 on py-evm (one side): median {base:,.0f} µs; ratio {base / ours:,.0f}x")


def bench_swaps(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="crossbook-dex.") as tmp:
        node = Ganache(Path(tmp)).start()
        try:
            w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
            d = deploy_uniswap(w3)
            wallet = Account.from_key(keccak(b"crossbook bench wallet"))
            me = d.deployer
            w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": me, "to": wallet.address,
                                                                          "value": 10**20}))
            for tok in (d.token_a, d.token_b):
                w3.eth.wait_for_transaction_receipt(
                    contract(w3, "ERC20", tok).functions.transfer(wallet.address, 10**24).transact({"from": me}))
            ex = SwapExecutor(w3, wallet, Routers(v2=d.v2_router, v3=d.swap_router))
            results: dict[str, list[float]] = {"transfer": [], "v2": [], "v3": [], "v2 build": [], "v3 build": []}
            gas: dict[str, int] = {}
            specs = {k: chain.discover(w3, k, a, base=d.token_a)  # type: ignore[arg-type]
                     for k, a in (("v2", d.v2_pair), ("v3", d.v3_pool))}
            for kind, spec in specs.items():  # approvals once, outside the timing
                ex.ensure_approval(spec.base.address, ex._router(spec))
            for i in range(n):
                t0 = time.perf_counter()
                tx = {"to": me, "value": 1, "gas": 21_000, "chainId": 1337,
                      "nonce": w3.eth.get_transaction_count(wallet.address, "pending"),
                      "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
                h = w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
                w3.eth.wait_for_transaction_receipt(h)
                results["transfer"].append(time.perf_counter() - t0)
                for kind, spec in specs.items():
                    state = chain.read_v2(w3, spec) if kind == "v2" else chain.read_v3(w3, spec, word_radius=2)
                    child = ChildSubmitted(event_id=f"e{kind}{i}", ts_ns=0, child_id=f"c{kind}{i}",
                                           client_order_id=f"o{kind}{i}", graph_id="g", node_id="n",
                                           venue="dex_ethereum", symbol=spec.symbol, side="sell",
                                           qty_1e8=10**6, limit_px_1e9=None)
                    t0 = time.perf_counter()
                    built = ex.build(child, spec, state, max_slippage_bps=50)
                    t1 = time.perf_counter()
                    assert not isinstance(built, ChildRejected), built
                    events = ex.submit(built)
                    results[kind].append(time.perf_counter() - t0)
                    results[f"{kind} build"].append(t1 - t0)
                    assert isinstance(events[-1], FillRecorded), events[-1]
                    receipt = w3.eth.get_transaction_receipt(events[-1].venue_order_id)  # type: ignore[arg-type]
                    gas[kind] = int(receipt["gasUsed"])
            med = {k: statistics.median(v) * 1000 for k, v in results.items()}
            print(f"raw signed ETH transfer (send + receipt): median {med['transfer']:.1f} ms over {n}")
            for kind in ("v2", "v3"):
                print(f"{kind} swap via the edge (estimate + sign + send + receipt + fill): median "
                      f"{med[kind]:.1f} ms, ratio vs transfer {med[kind] / med['transfer']:.2f}, gasUsed {gas[kind]:,}; "
                      f"of which quote + eth_estimateGas + sign {med[kind + ' build']:.1f} ms, "
                      f"send + receipt + fill {med[kind] - med[kind + ' build']:.1f} ms")
        finally:
            node.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=2000)
    ap.add_argument("--swaps", type=int, default=30)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    bench_books(args.books)
    bench_swaps(args.swaps)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
