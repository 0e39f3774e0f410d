"""The DEX executor as a service on a real nats-server and a ganache node: it picks up a child the
router allocated to a pool from the ledger, signs with the tenant's signer key from the vault,
and appends the child's facts as the `executor` writer; a tenant without a signer key gets one
rejection; a restarted executor replays the log and sends nothing again."""

from __future__ import annotations

import time

import pytest

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from events import AnyEvent, new_event_id
from events.execution import BalanceAdjusted, ChildAcked, ChildRejected, ChildSubmitted, FillRecorded
from events.routing import ChildAllocated
from events.subjects import WRITER_HEADER
from projections.follower import StreamFollower
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.evm import chain
from services.edges.evm.devchain import Deployment, Ganache, contract
from services.edges.evm.executor import Routers
from services.edges.evm.service import DexChildren, DexExecutor, vault_signers
from services.edges.evm.venues import Listing
from services.settings import Settings
from services.vault import Credentials, open_vault

SYMBOL = "ETH-USDT"


def allocation(tenant: str, n: int, venue: str, qty_1e8: int) -> ChildAllocated:
    return ChildAllocated(
        event_id=new_event_id(), ts_ns=time.time_ns(), tenant=tenant, plan_id="p", graph_id=f"g{n}", node_id="n",
        child_id=f"g{n}:n:1:{venue}", client_order_id=f"co{n}", venue=venue, symbol=SYMBOL, side="buy",
        qty_1e8=qty_1e8, order_type="limit", limit_px_1e9=3_000 * 10**9, tif="ioc", is_sandbox=True,
    )


async def test_the_service_swaps_a_pool_child_with_the_tenants_key(
    bus: Bus, settings: Settings, ganache_chain: tuple[Ganache, Deployment]
) -> None:
    node, d = ganache_chain
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    wallet = Account.from_key(keccak(b"crossbook dex service test wallet"))
    me = d.deployer
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": me, "to": wallet.address, "value": 10**20}))
    w3.eth.wait_for_transaction_receipt(contract(w3, "ERC20", d.token_b).functions.transfer(
        wallet.address, 1_000_000 * 10**18).transact({"from": me}))
    listing = Listing(chain.discover(w3, "v2", d.v2_pair, base=d.token_a), SYMBOL)
    vault = open_vault(settings)
    vault.store("acme", "dex_ethereum", Credentials(api_key=wallet.address, api_secret=wallet.key.hex()))
    routers = Routers(v2=d.v2_router, v3=d.swap_router)

    facts: list[tuple[AnyEvent, int]] = []
    reader = StreamFollower(bus, "LEDGER", ["exec.>"], lambda e, seq: facts.append((e, seq)))
    await reader.start()
    ours, stranger = allocation("acme", 1, listing.venue, 10**8), allocation("nokey", 2, listing.venue, 10**8)
    service = DexExecutor(as_writer(bus, "executor"), DexChildren(vault_signers(vault, w3, routers), [listing]))
    try:
        await service.start()
        router = as_writer(bus, "router")
        for alloc in (ours, stranger):
            await router.publish(alloc)
        await reader.wait_until(lambda: any(isinstance(e, FillRecorded) for e, _ in facts)
                                and any(isinstance(e, ChildRejected) for e, _ in facts), timeout=60)
    finally:
        await service.stop()
    by_child = {c: [type(e) for e, _ in facts if getattr(e, "child_id", "") == c] for c in (ours.child_id,
                                                                                          stranger.child_id)}
    assert by_child == {ours.child_id: [ChildSubmitted, ChildAcked, FillRecorded],
                        stranger.child_id: [ChildSubmitted, ChildRejected]}
    fill = next(e for e, _ in facts if isinstance(e, FillRecorded))
    assert fill.qty_1e8 == 10**8 and fill.venue == "uniswap_v2_ethereum" and fill.tenant == "acme"
    tx = w3.eth.get_transaction(fill.venue_order_id)  # type: ignore[arg-type]
    assert tx["from"] == wallet.address  # signed with the key the tenant stored
    rejection = next(e for e, _ in facts if isinstance(e, ChildRejected))
    assert rejection.code == "no_credentials" and wallet.key.hex() not in rejection.message
    for _, seq in facts:  # appended as the one writer of exec.*
        msg = await bus.js.get_msg("LEDGER", seq)
        assert (msg.headers or {}).get(WRITER_HEADER) == "executor"

    # A restarted executor replays the log: nothing is pending, nothing is sent again.
    nonce = w3.eth.get_transaction_count(wallet.address)
    again = DexExecutor(as_writer(bus, "executor"), DexChildren(vault_signers(vault, w3, routers), [listing]),
                        vault=vault)
    try:
        await again.start()
        await again.ledger.caught_up.wait()
        assert again.children.pending() == []
    finally:
        await again.stop()
    assert w3.eth.get_transaction_count(wallet.address) == nonce
    await reader.stop()
    # besides the two children's five facts, only the wallet's reconciliation (its tokens on the ledger)
    others = [e for e, _ in facts if not isinstance(e, BalanceAdjusted)]
    assert len(others) == 5
    assert all(e.venue == "dex_ethereum" and e.tenant == "acme" and e.reason == "wallet_reconcile"
               for e, _ in facts if isinstance(e, BalanceAdjusted))


async def test_the_trader_role_builds_the_executor_from_the_environment(
    bus: Bus, settings: Settings, ganache_chain: tuple[Ganache, Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.edges.evm.service import from_env

    node, d = ganache_chain
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_RPC_URL", node.url)
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_POOLS", f"v2:{d.v2_pair}:{d.token_a}:{SYMBOL}, v3:{d.v3_pool}:{d.token_a}")
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_V2_ROUTER", d.v2_router)
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_V3_ROUTER", d.swap_router)
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_CONFIRMATIONS", "2")
    service = from_env(as_writer(bus, "executor"), open_vault(settings))
    try:
        listings = service.children.listings
        assert set(listings) == {("uniswap_v2_ethereum", SYMBOL), ("uniswap_v3_ethereum", "TKA-TKB")} or \
            set(listings) == {("uniswap_v2_ethereum", SYMBOL), ("uniswap_v3_ethereum", "TKB-TKA")}
        assert service.children.signers("acme", "uniswap_v2_ethereum") is None  # no key in the vault
    finally:
        await service.stop()
