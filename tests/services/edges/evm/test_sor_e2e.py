"""The router's DEX legs executed on a local chain: a buy the router splits over a CEX (the
sandbox's matching engine) and a Uniswap V2 and a V3 pool (the published contracts on a ganache
node over JSON-RPC) executes every leg; the pools' reserves, the wallet and the fills agree; a
swap whose bound a front-runner breaks reverts on chain and is one rejected child, reported once;
a restart between sending a swap and its receipt ends with exactly one swap and its fill."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from events import AnyEvent
from events.execution import ChildAcked, ChildRejected, ChildSubmitted, FillRecorded
from events.graph import ExecutionSpec, GraphSubmitted, Instrument, NodeActivated, NodeSpec
from events.market import BookSnapshot
from events.routing import ChildAllocated
from projections.market import MarketBooks
from services.edges.evm import chain
from services.edges.evm.devchain import Deployment, Ganache, contract, deploy_uniswap
from services.edges.evm.executor import Routers, SignedSwap, SwapExecutor
from services.edges.evm.service import DexChildren
from services.edges.evm.venues import Listing, book_snapshot, feed_refdata
from services.edges.sandbox.config import SandboxConfig, build_venue
from services.edges.sandbox.mapping import ChildRef, to_event
from services.edges.sandbox.orders import SandboxOrder
from services.refdata import instrument_rules, reference_data
from services.risk import rules_book
from services.sor.policy import RoutingPolicy

U, P = 10**8, 10**9
SYMBOL = "ETH-USDT"  # the pools' token0 (about 2000 token1 each) listed as ETH, token1 as USDT
FUND = 5_000_000 * 10**18


@dataclass
class Env:
    w3: Web3
    d: Deployment
    v2: Listing
    v3: Listing
    executor: SwapExecutor


@pytest.fixture(scope="module")
def env(ganache_chain: tuple[Ganache, Deployment]) -> Iterator[Env]:
    node, _ = ganache_chain
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    d = deploy_uniswap(w3)  # pools of its own, at the price they were made with (other tests trade theirs)
    wallet = Account.from_key(keccak(b"crossbook dex sor e2e wallet"))
    me = d.deployer
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": me, "to": wallet.address, "value": 10**20}))
    for tok in (d.token_a, d.token_b):
        w3.eth.wait_for_transaction_receipt(contract(w3, "ERC20", tok).functions.transfer(wallet.address, FUND)
                                            .transact({"from": me}))
    v2 = Listing(chain.discover(w3, "v2", d.v2_pair, base=d.token_a), SYMBOL)
    v3 = Listing(chain.discover(w3, "v3", d.v3_pool, base=d.token_a), SYMBOL)
    data = reference_data()
    feed_refdata(data, [v2, v3], block_time_ns=0)  # ganache mines each transaction at once
    try:
        yield Env(w3, d, v2, v3, SwapExecutor(w3, wallet, Routers(v2=d.v2_router, v3=d.swap_router),
                                              venue=v2.venue))
    finally:
        for listing in (v2, v3):
            data.feed(listing.venue, [], None)


def executor_for(env: Env, venue: str) -> SwapExecutor:
    return SwapExecutor(env.w3, env.executor.account, env.executor.routers, venue=venue)


class Children:
    """One DexChildren per pool venue (each venue's executor names its own venue on events)."""

    def __init__(self, env: Env, cls: type[DexChildren] = DexChildren) -> None:
        self.by_venue = {x.venue: cls(executor_for(env, x.venue), [x]) for x in (env.v2, env.v3)}

    def fold(self, events: list[AnyEvent]) -> None:
        for event in events:
            for c in self.by_venue.values():
                c.fold(event)

    def execute(self, alloc: ChildAllocated, log: list[AnyEvent]) -> None:
        self.by_venue[alloc.venue].execute(alloc, log.extend)


def mid(book: BookSnapshot) -> int:
    return (book.bids[0][0] + book.asks[0][0]) // 2


def route(env: Env, qty_1e8: int, graph_id: str) -> tuple[list[AnyEvent], BookSnapshot]:
    """Books from the chain's state now and a CEX book priced around them; the router's plan."""
    gas = chain.gas_price(env.w3)
    pools = [book_snapshot(x, chain.read_state(env.w3, x.spec), gas_price_wei=gas, ts_ns=2) for x in (env.v2, env.v3)]
    m = min(mid(b) for b in pools)
    # One ETH a little under the pools' price, then a wall far above: the rest goes on chain.
    cex = BookSnapshot(event_id=f"cex-{graph_id}", ts_ns=3, venue="binance", symbol=SYMBOL,
                       bids=[(m * 99 // 100, 100 * U)], asks=[(m, U), (m * 108 // 100, 100 * U)])
    books = MarketBooks()
    for snap in (*pools, cex):
        books.apply(snap)
    policy = RoutingPolicy(market=books, rules=rules_book(instrument_rules()))
    node = NodeSpec(node_id="n1", instrument=Instrument(symbol=SYMBOL), side="buy", qty_1e8=qty_1e8,
                    execution=ExecutionSpec(policy="sweep", max_slippage_bps=30))
    graph = GraphSubmitted(event_id=f"gs-{graph_id}", ts_ns=1, tenant="t1", graph_id=graph_id, nodes=[node],
                           edges=[], is_sandbox=True, body_sha256="x")
    activation = NodeActivated(event_id=f"act-{graph_id}", ts_ns=4, tenant="t1", graph_id=graph_id, node_id="n1",
                               node_order_id="no-1")
    vbooks, plan, _ = policy.plan(node, qty_1e8, graph)
    assert plan is not None
    return policy.plan_events(activation, graph, node, vbooks, plan, tag=None, now_ns=5), cex


def raw_balances(env: Env, who: str) -> tuple[int, int]:
    return (chain.erc20(env.w3, env.d.token_a).functions.balanceOf(who).call(),
            chain.erc20(env.w3, env.d.token_b).functions.balanceOf(who).call())


def test_a_buy_split_over_a_cex_and_two_pools_executes_every_leg(env: Env) -> None:
    events, cex = route(env, 6 * U, "g-split")
    children = [e for e in events if isinstance(e, ChildAllocated)]
    legs = {c.venue: c.qty_1e8 for c in children}
    assert set(legs) == {"binance", "uniswap_v2_ethereum", "uniswap_v3_ethereum"} and sum(legs.values()) == 6 * U
    me = env.executor.address
    wallet_before = raw_balances(env, me)
    pools_before = {x.venue: raw_balances(env, x.spec.address) for x in (env.v2, env.v3)}

    log: list[AnyEvent] = []
    dex = Children(env)
    sandbox = build_venue("binance", SandboxConfig(), seed=7)
    sandbox.on_event(cex)
    for child in children:
        if child.venue == "binance":
            order = SandboxOrder(client_order_id=child.client_order_id, symbol=SYMBOL, side="buy",
                                 qty_1e8=child.qty_1e8, order_type=child.order_type, limit_px_1e9=child.limit_px_1e9,
                                 tif=child.tif)
            ref = ChildRef(child.child_id, child.graph_id, child.node_id, child.venue, child.tenant)
            log += [to_event(o, ref, event_id=f"sb-{i}", ts_ns=6) for i, o in enumerate(sandbox.submit(order, 6))]
        else:
            dex.execute(child, log)

    fills = [e for e in log if isinstance(e, FillRecorded)]
    assert {f.venue: f.qty_1e8 for f in fills} == legs  # every leg filled in full
    # each DEX leg: submitted, acked with its transaction hash, then filled from the receipt
    for venue in ("uniswap_v2_ethereum", "uniswap_v3_ethereum"):
        kinds = [type(e) for e in log if getattr(e, "venue", "") == venue]
        assert kinds == [ChildSubmitted, ChildAcked, FillRecorded]
        ack = next(e for e in log if isinstance(e, ChildAcked) and e.venue == venue)
        fill = next(f for f in fills if f.venue == venue)
        assert fill.venue_order_id == ack.venue_order_id
        assert env.w3.eth.get_transaction_receipt(ack.venue_order_id)["status"] == 1  # type: ignore[arg-type]
        # the child's limit (worst level + 30 bp collar) bounded the swap, and the fill is within it
        child = next(c for c in children if c.venue == venue)
        assert child.limit_px_1e9 is not None and fill.px_1e9 <= child.limit_px_1e9
    # the pools' reserves moved by exactly what the wallet received and paid, and that is the fills
    wallet_after = raw_balances(env, me)
    base_out = quote_in = 0
    for listing in (env.v2, env.v3):
        before, after = pools_before[listing.venue], raw_balances(env, listing.spec.address)
        fill = next(f for f in fills if f.venue == listing.venue)
        assert before[0] - after[0] == fill.qty_1e8 * 10**10  # base out of the pool = the fill's qty
        paid = after[1] - before[1]
        # the fill's price is the quote paid over the base received, rounded up (against us)
        assert fill.px_1e9 == -(-paid * P * U // (fill.qty_1e8 * 10**18))
        base_out, quote_in = base_out + before[0] - after[0], quote_in + paid
    assert wallet_after[0] - wallet_before[0] == base_out
    assert wallet_before[1] - wallet_after[1] == quote_in


class FrontRun(DexChildren):
    """Between signing and sending the swap (its ack on the log), someone buys a lot from the pool."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.env: Env | None = None

    def _settle(self, ex: SwapExecutor, swap: SignedSwap) -> list[AnyEvent]:
        assert self.env is not None
        env, me = self.env, self.env.d.deployer
        r2 = contract(env.w3, "UniswapV2Router02", env.d.v2_router)
        env.w3.eth.wait_for_transaction_receipt(r2.functions.swapExactTokensForTokens(
            200_000 * 10**18, 0, [env.d.token_b, env.d.token_a], me, 2**32).transact({"from": me, "gas": 500_000}))
        return super()._settle(ex, swap)


def test_a_swap_whose_bound_breaks_reverts_and_is_reported_once(env: Env) -> None:
    events, _ = route(env, 6 * U, "g-revert")
    child = next(e for e in events if isinstance(e, ChildAllocated) and e.venue == "uniswap_v2_ethereum")
    dex = FrontRun(executor_for(env, env.v2.venue), [env.v2])
    dex.env = env
    nonce = env.w3.eth.get_transaction_count(env.executor.account.address)
    log: list[AnyEvent] = []
    dex.fold(child)
    dex.execute(child, log.extend)
    assert [type(e) for e in log] == [ChildSubmitted, ChildAcked, ChildRejected]
    rejected = log[-1]
    assert isinstance(rejected, ChildRejected) and rejected.code == "reverted"
    assert env.w3.eth.get_transaction_receipt(log[1].venue_order_id)["status"] == 0  # type: ignore[arg-type,union-attr]
    assert env.w3.eth.get_transaction_count(env.executor.account.address) == nonce + 1  # sent once, on chain
    # reported once: the same child again (a replayed allocation, a restarted executor) does nothing
    dex.execute(child, log.extend)
    restarted = DexChildren(executor_for(env, env.v2.venue), [env.v2])
    for event in [child, *log]:
        restarted.fold(event)
    assert restarted.pending() == []
    restarted.execute(child, log.extend)
    assert len(log) == 3 and env.w3.eth.get_transaction_count(env.executor.account.address) == nonce + 1


class Crash(Exception):
    pass


class CrashAfterSend(DexChildren):
    """The process dies once the swap has left, before its receipt."""

    def _settle(self, ex: SwapExecutor, swap: SignedSwap) -> list[AnyEvent]:
        ex.w3.eth.send_raw_transaction(swap.raw_tx)
        raise Crash


def test_a_restart_between_sending_a_swap_and_its_receipt_ends_with_one_swap_and_its_fill(env: Env) -> None:
    events, _ = route(env, 6 * U, "g-restart")
    child = next(e for e in events if isinstance(e, ChildAllocated) and e.venue == "uniswap_v3_ethereum")
    me = env.executor.address
    before = raw_balances(env, me)
    log: list[AnyEvent] = []
    first = CrashAfterSend(executor_for(env, env.v3.venue), [env.v3])
    first.fold(child)
    with pytest.raises(Crash):
        first.execute(child, log.extend)
    assert [type(e) for e in log] == [ChildSubmitted, ChildAcked]  # the ack (tx hash) is on the log
    # a new process folds the log and resumes the child from its hash: never signed again
    second = DexChildren(executor_for(env, env.v3.venue), [env.v3])
    for event in [child, *log]:
        second.fold(event)
    assert second.pending() == [child]
    for alloc in second.pending():
        second.execute(alloc, log.extend)
    fills = [e for e in log if isinstance(e, FillRecorded)]
    assert len(fills) == 1 and fills[0].qty_1e8 == child.qty_1e8
    assert fills[0].venue_order_id == log[1].venue_order_id  # type: ignore[union-attr]
    assert raw_balances(env, me)[0] - before[0] == child.qty_1e8 * 10**10  # exactly one swap
    assert second.pending() == []
