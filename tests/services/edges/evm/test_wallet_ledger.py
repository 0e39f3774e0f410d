"""The chain wallet on the ledger: the DEX executor's reconciliation reads the wallet's token
balances on a ganache node and appends what the ledger lacks, once; the risk fold over those
events lets a buy split over the V2 and the V3 pool pass, and refuses it for an empty wallet."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from events.risk import RiskCheckPassed
from services.edges.evm import chain
from services.edges.evm.devchain import Deployment, Ganache, contract, deploy_uniswap
from services.edges.evm.executor import Routers, SwapExecutor
from services.edges.evm.service import DexChildren
from services.edges.evm.venues import Listing, instrument
from services.risk.account import replay
from services.risk.config import RiskLimits, rules_book
from services.risk.reservations import decide_and_reserve
from services.risk.rules import OrderIntent, RiskRejected

U, P = 10**8, 10**9
SYMBOL = "ETH-USDT"


def test_the_wallet_reaches_the_ledger_once_and_funds_both_pool_legs(ganache_chain: tuple[Ganache, Deployment]) -> None:
    node, _ = ganache_chain
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    d = deploy_uniswap(w3)
    v2 = Listing(chain.discover(w3, "v2", d.v2_pair, base=d.token_a), SYMBOL)
    v3 = Listing(chain.discover(w3, "v3", d.v3_pool, base=d.token_a), SYMBOL)
    rich, poor = (Account.from_key(keccak(b"crossbook wallet ledger " + tag)) for tag in (b"rich", b"poor"))
    usdt = contract(w3, "ERC20", d.token_b)
    w3.eth.wait_for_transaction_receipt(usdt.functions.transfer(rich.address, 30_000 * 10**18).transact({"from": d.deployer}))
    routers = Routers(v2=d.v2_router, v3=d.swap_router)
    wallets = {"rich": SwapExecutor(w3, rich, routers, venue=v2.venue),
               "poor": SwapExecutor(w3, poor, routers, venue=v2.venue)}
    children = DexChildren(lambda tenant, venue: wallets.get(tenant), [v2, v3])

    events = children.reconcile("rich", "start")
    assert [(e.venue, e.asset, e.delta_qty_1e8, e.reason) for e in events] == [
        ("dex_ethereum", "USDT", 30_000 * U, "wallet_reconcile")]
    assert children.reconcile("rich", "again") == []  # the ledger has it now
    w3.eth.wait_for_transaction_receipt(usdt.functions.transfer(rich.address, 5 * 10**18).transact({"from": d.deployer}))
    (more,) = children.reconcile("rich", "after a deposit")
    assert more.delta_qty_1e8 == 5 * U
    assert children.reconcile("poor", "start") == []  # an empty wallet: nothing to put there
    assert children.reconcile("nobody", "start") == []  # no signer, no wallet

    rules = rules_book([instrument(v2), instrument(v3)])
    legs = {v2.venue: 2 * U, v3.venue: 3 * U}
    for tenant, ledger, ok in (("rich", [*events, more], True), ("poor", [], False)):
        intent = OrderIntent(tenant=tenant, graph_id="g1", node_id="n1", symbol=SYMBOL, side="buy", qty_1e8=5 * U,
                             limit_px_1e9=3_000 * P, venue=None)
        outcome = decide_and_reserve(replay(tenant, ledger, rules), intent, limits=RiskLimits(), rules=rules,
                                     mark_px_1e9=2_000 * P, now_ns=1, new_id=lambda: "r", venue_amounts=legs)
        if ok:
            (passed,) = outcome.events
            assert isinstance(passed, RiskCheckPassed)
            assert {r.venue for r in passed.reservations} == {"dex_ethereum"}
        else:
            assert isinstance(outcome.decision, RiskRejected) and outcome.decision.code == "INSUFFICIENT_BALANCE"
