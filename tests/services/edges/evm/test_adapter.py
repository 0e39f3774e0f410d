"""The DEX edge behind the common venue interface: the edge runtime subscribes to the pools' logs
on ganache's WebSocket, publishes each pool's book at subscribe under its protocol's venue with
one swap's gas, and after a swap by someone else its book equals the book computed from the
pool state read fresh over RPC."""

from __future__ import annotations

import asyncio

from web3 import Web3

from events.market import BookSnapshot
from projections.market import MarketBooks
from services.edges import registry
from services.edges.evm import chain
from services.edges.evm.adapter import DEFAULT_SIZES, DexEthereumAdapter, PoolFeed
from services.edges.evm.devchain import Deployment, Ganache, contract
from services.edges.evm.pools import pool_book
from services.edges.evm.stream import PoolEdgeRunner
from services.edges.evm.venues import VENUE_OF_KIND, Listing, gas_quote_1e9
from services.edges.runtime import EdgeRunner, EdgeTiming, MemorySink
from services.edges.venue import VenueEndpoints


def test_registered_as_a_venue() -> None:
    assert registry.adapters()["dex_ethereum"] is DexEthereumAdapter
    assert "dex_ethereum" in registry.venue_ids()


async def test_pool_books_follow_swaps_over_the_websocket(ganache_chain: tuple[Ganache, Deployment]) -> None:
    node, d = ganache_chain
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    me = d.deployer
    for kind, address in (("v2", d.v2_pair), ("v3", d.v3_pool)):
        spec = chain.discover(w3, kind, address, base=d.token_a)  # type: ignore[arg-type]
        venue = VENUE_OF_KIND[kind]
        gas_price = chain.gas_price(w3)
        adapter = DexEthereumAdapter(VenueEndpoints(node.ws_url, node.url),
                                     feeds=[PoolFeed(spec, chain.read_state(w3, spec))], gas_price_wei=gas_price)
        sink = MemorySink()
        runner = PoolEdgeRunner(adapter, [spec.address], sink,
                                timing=EdgeTiming(reconnect_base_s=0.05, reconnect_max_s=0.5, silence_timeout_s=30.0))

        def expected() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
            book = pool_book("dex_ethereum", spec, chain.read_state(w3, spec), DEFAULT_SIZES)
            return book.bids, book.asks

        def shows(want: tuple[list[tuple[int, int]], list[tuple[int, int]]]) -> object:
            def check(r: EdgeRunner) -> bool:
                sync = r.books[spec.address.lower()]
                return (not sync.stale and sync.book.bids() == want[0] and sync.book.asks() == want[1])
            return check

        await runner.start()
        try:
            before = expected()
            await runner.wait_until(shows(before), timeout=30)  # live from the subscribe ack
            # someone else sells 5 token0 into the pool; the log moves the edge's book
            if kind == "v2":
                fn = contract(w3, "UniswapV2Router02", d.v2_router).functions.swapExactTokensForTokens(
                    5 * 10**18, 0, [d.token_a, d.token_b], me, 2**32)
            else:
                await asyncio.to_thread(lambda: w3.eth.wait_for_transaction_receipt(
                    contract(w3, "ERC20", d.token_a).functions.approve(d.swap_router, 2**255).transact({"from": me})))
                fn = contract(w3, "SwapRouter", d.swap_router).functions.exactInputSingle(
                    (d.token_a, d.token_b, d.v3_fee, me, 2**32, 5 * 10**18, 0, 0))
            await asyncio.to_thread(
                lambda: w3.eth.wait_for_transaction_receipt(fn.transact({"from": me, "gas": 1_000_000})))
            after = await asyncio.to_thread(expected)
            assert after != before
            await runner.wait_until(shows(after), timeout=30)
            assert runner.counters["bad_frames"] == 0
            snaps = [e for e in sink.events if isinstance(e, BookSnapshot)]
            assert snaps and all(e.venue == venue and e.symbol == spec.symbol for e in snaps)
            # each carries one swap's gas at the node's gas price, priced at the pool's own mid
            # (its base is the chain's native asset here: no WETH pool of that quote is configured)
            last = snaps[-1]
            mid = (last.bids[0][0] + last.asks[0][0]) // 2
            assert last.order_cost_quote_1e9 == gas_quote_1e9(spec.swap_gas, adapter.gas_price_wei, mid) > 0
            assert Listing(spec).venue == venue
            # the same md events give the NBBO and the consolidated book pool levels, by venue
            books = MarketBooks()
            for event in sink.events:
                books.apply(event)
            nbbo = books.nbbo(spec.symbol)
            assert nbbo is not None
            assert (nbbo.bid_venue, nbbo.bid_px_1e9, nbbo.ask_venue, nbbo.ask_px_1e9) == (
                venue, after[0][0][0], venue, after[1][0][0])
            bids, asks = books.consolidated(spec.symbol, 5)
            assert [(px, q) for px, q, _ in asks] == after[1][:5] and {v for *_, v in bids + asks} == {venue}
        finally:
            await runner.stop()
