"""The DEX executor: children the router allocates to a pool become signed swaps on its chain.

Follows the LEDGER stream as the sandbox and live executors do, and is the one writer of
`exec.<pool venue>.<tenant>` (role executor; those executors skip on-chain venues). A child at
an on-chain venue (`events.venues.ONCHAIN_VENUES`), of a sandbox graph or a live one, is:

1. `ChildSubmitted`, then the swap is quoted on the pool's state read now, bounded by the child's
   limit (the router's worst level plus the `max_slippage_bps` collar; without a limit, by
   `default_slippage_bps`), gas-estimated and signed; a swap the node says would revert is one
   `ChildRejected` and nothing is sent;
2. `ChildAcked` whose venue order id is the signed transaction's hash, published *before* the
   transaction is sent;
3. sent; its receipt, once `confirmations` blocks deep, is its one `FillRecorded` (amounts from
   the pool's own Swap log), or one `ChildRejected("reverted")`. Never retried.

After a restart the log is the memory: a child with an outcome is left alone; one with an ack
and no outcome is resumed from its hash (the node has it: wait for its receipt; it never left:
its nonce is unused, so nothing can execute, and it is rejected `not_sent`); one submitted but
not acked was never sent (the ack precedes the send) and is signed again. Event ids derive from
the child id, so an outcome published twice is dropped by the bus.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable

from events import AnyEvent
from events.execution import BalanceAdjusted, ChildAcked, ChildRejected, ChildSubmitted, FillRecorded
from events.ids import derive_id
from events.routing import ChildAllocated
from events.venues import ONCHAIN_VENUES, credential_venue
from projections.follower import SharedFollower, follow
from services.aio import cancel_and_wait
from services.bus import Bus
from eth_account import Account
from web3 import Web3

from services.edges.evm import chain
from services.edges.evm.executor import ExecEvent, Routers, SignedSwap, SwapExecutor
from services.edges.evm.balances import WALLET_VENUE, read_wallet, reconcile_events, wallet_tokens
from services.edges.evm.venues import Listing, instrument
from services.risk.account import AccountState, fold_into, new_account
from services.risk.config import rules_book
from services.edges.evm.wallet import rpc_url
from services.vault import Vault

log = logging.getLogger("crossbook.dex")

DEFAULT_SLIPPAGE_BPS = 50  # a child without a limit price (the router always gives one)


def submitted_of(alloc: ChildAllocated, ts_ns: int) -> ChildSubmitted:
    return ChildSubmitted(
        event_id=derive_id("evm.submitted", alloc.child_id), ts_ns=ts_ns, tenant=alloc.tenant,
        causation_id=alloc.event_id, correlation_id=alloc.graph_id, child_id=alloc.child_id,
        client_order_id=alloc.client_order_id, graph_id=alloc.graph_id, node_id=alloc.node_id,
        venue=alloc.venue, symbol=alloc.symbol, side=alloc.side, qty_1e8=alloc.qty_1e8,
        limit_px_1e9=alloc.limit_px_1e9,
    )


Signers = Callable[[str, str], SwapExecutor | None]  # (tenant, venue) -> its signer's executor


def rejected(child: ChildSubmitted, code: str, message: str, ts_ns: int) -> ChildRejected:
    return ChildRejected(
        event_id=derive_id("evm.reject", child.child_id), ts_ns=ts_ns, tenant=child.tenant,
        causation_id=child.event_id, correlation_id=child.correlation_id, child_id=child.child_id,
        venue=child.venue, client_order_id=child.client_order_id, code=code, message=message,
        graph_id=child.graph_id, node_id=child.node_id,
    )


class DexChildren:
    """The executor's decisions over the log, synchronous (web3 is): fold the ledger, then
    `execute` each pending child, publishing through `publish` in order as it goes. `signers`
    gives the tenant's wallet at a venue (its signer key from the vault), or one executor for
    every child."""

    def __init__(self, signers: SwapExecutor | Signers, listings: Iterable[Listing], *,
                 default_slippage_bps: int = DEFAULT_SLIPPAGE_BPS,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        if isinstance(signers, SwapExecutor):
            one = signers

            def every(tenant: str, venue: str) -> SwapExecutor | None:
                return one
            signers = every
        self.signers: Signers = signers
        self.listings = {(x.venue, x.canonical): x for x in listings}
        self.default_slippage_bps = default_slippage_bps
        self.clock_ns = clock_ns
        self.allocated: dict[str, ChildAllocated] = {}  # child id -> allocation, in arrival order
        self.submitted: set[str] = set()
        self.acked: dict[str, str] = {}  # child id -> tx hash (the swap may be on chain)
        self.done: set[str] = set()  # filled or rejected: final
        # Each tenant's wallet as the ledger has it (live graphs): the risk fold's own balances,
        # over the wallet's adjustments and the pools' fills, to reconcile against the chain.
        self.rules = rules_book(instrument(x) for x in self.listings.values())
        self.tokens = wallet_tokens(self.listings.values())
        self.wallets: dict[str, AccountState] = {}

    def fold(self, event: AnyEvent) -> None:
        match event:
            case BalanceAdjusted(venue=venue) if venue == WALLET_VENUE and not event.is_sandbox:
                self._wallet_fold(event)
            case ChildAllocated(venue=venue) | FillRecorded(venue=venue) if venue in ONCHAIN_VENUES and not event.is_sandbox:
                self._wallet_fold(event)
        match event:
            case ChildAllocated(venue=venue) if venue in ONCHAIN_VENUES:
                self.allocated.setdefault(event.child_id, event)
            case ChildSubmitted(venue=venue) if venue in ONCHAIN_VENUES:
                self.submitted.add(event.child_id)
            case ChildAcked(venue=venue) if venue in ONCHAIN_VENUES:
                self.acked[event.child_id] = event.venue_order_id
            case ChildRejected(venue=venue) | FillRecorded(venue=venue) if venue in ONCHAIN_VENUES:
                self.done.add(event.child_id)

    def _wallet_fold(self, event: BalanceAdjusted | ChildAllocated | FillRecorded) -> None:
        if isinstance(event, FillRecorded | ChildAllocated) and (event.venue, event.symbol) not in self.listings:
            return  # a pool no longer configured: its assets are not the wallet's here
        fold_into(self.wallets.setdefault(event.tenant, new_account(event.tenant)), event, self.rules)

    def wallet_ledger(self, tenant: str) -> dict[str, int]:
        state = self.wallets.get(tenant)
        return {a: state.balance(WALLET_VENUE, a) for a in self.tokens} if state is not None else {}

    def reconcile(self, tenant: str, tag: str) -> list[BalanceAdjusted]:
        """The adjustments that bring the ledger's wallet balances to the chain's (none for a
        tenant without a signer). Folded here as they are returned."""
        venues = sorted({x.venue for x in self.listings.values()})
        ex = self.signers(tenant, venues[0]) if venues else None
        if ex is None:
            return []
        wallet = read_wallet(ex.w3, ex.address, self.tokens)
        events = reconcile_events(tenant, self.wallet_ledger(tenant), wallet, ts_ns=self.clock_ns(), tag=tag)
        for event in events:
            self.fold(event)
        return events

    def pending(self) -> list[ChildAllocated]:
        return [a for cid, a in self.allocated.items() if cid not in self.done]

    def execute(self, alloc: ChildAllocated, publish: Callable[[list[AnyEvent]], None]) -> None:
        cid = alloc.child_id
        if cid in self.done:
            return
        child = submitted_of(alloc, self.clock_ns())
        listing = self.listings.get((alloc.venue, alloc.symbol))
        ex = self.signers(alloc.tenant, alloc.venue)
        if listing is None or ex is None:
            code, why = (("unknown_pool", f"no {alloc.venue} pool is configured for {alloc.symbol}") if listing is None
                         else ("no_credentials", f"no signer key for {alloc.venue} in this account's vault"))
            self._publish(publish, [*([] if cid in self.submitted else [child]), rejected(child, code, why,
                                                                                         self.clock_ns())])
            return
        spec = listing.spec
        if cid in self.acked:  # signed and acked before a restart: never signed again
            self._publish(publish, list(ex.resume(child, spec, self.acked[cid])))
            return
        if cid not in self.submitted:
            self._publish(publish, [child])
        built = ex.build(child, spec, chain.read_state(ex.w3, spec), self.default_slippage_bps)
        if isinstance(built, ChildRejected):
            self._publish(publish, [built])
            return
        self._publish(publish, [ex.acked(built)])  # on the log before the swap leaves
        self._publish(publish, self._settle(ex, built))

    def _settle(self, ex: SwapExecutor, swap: SignedSwap) -> list[AnyEvent]:
        outcome: list[ExecEvent] = ex.send_and_settle(swap)
        return list(outcome)

    def _publish(self, publish: Callable[[list[AnyEvent]], None], events: list[AnyEvent]) -> None:
        for event in events:
            self.fold(event)
        if events:
            publish(events)


class DexExecutor:
    """The service: the ledger read, and the swaps run one at a time off the event loop."""

    def __init__(self, bus: Bus, children: DexChildren, *, ledger: SharedFollower | None = None,
                 vault: Vault | None = None) -> None:
        """`vault`: closed on stop (the signers' vault, when this service opened it)."""
        self.bus = bus
        self.vault = vault
        self.children = children
        self.ledger = follow(bus, "LEDGER", ["route.>", "exec.>"], self.on_ledger, ledger)
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.tenants = [t for t in os.environ.get("CROSSBOOK_DEX_ETHEREUM_TENANTS", "").split(",") if t]

    async def start(self) -> None:
        await self.ledger.start()
        self._task = asyncio.create_task(self._run(), name="dex-executor")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self.ledger.stop()
        if self.vault is not None:
            self.vault.close()

    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        self.children.fold(event)
        if isinstance(event, ChildAllocated) and event.venue in ONCHAIN_VENUES:
            self.wake.set()

    async def _run(self) -> None:
        await self.ledger.caught_up.wait()  # the log says what was done before deciding anything
        loop = asyncio.get_running_loop()

        def publish(events: list[AnyEvent]) -> None:
            # Called from the worker thread: each event is on the log before the next step (the
            # ack must precede the send); a publish that fails raises, and nothing more is sent.
            asyncio.run_coroutine_threadsafe(self._publish(events), loop).result()

        # The wallets on the ledger before any leg is decided: every tenant the log or the
        # environment (CROSSBOOK_DEX_ETHEREUM_TENANTS) names.
        await self.reconcile_wallets({*self.children.wallets, *self.tenants})
        while True:
            self.wake.clear()
            for alloc in self.children.pending():
                try:
                    await asyncio.to_thread(self.children.execute, alloc, publish)
                except Exception:  # a node error: the child stays pending until the next wake
                    log.exception("dex: child %s could not be executed", alloc.child_id)
                await self.reconcile_wallets([alloc.tenant])  # gas and transfers the fills do not show
            await self.wake.wait()

    async def _publish(self, events: list[AnyEvent]) -> None:
        for event in events:
            await self.bus.publish(event)

    async def reconcile_wallets(self, tenants: Iterable[str]) -> list[BalanceAdjusted]:
        out: list[BalanceAdjusted] = []
        for tenant in sorted(tenants):
            try:
                events = await asyncio.to_thread(self.children.reconcile, tenant, str(self.children.clock_ns()))
            except Exception:  # the node is down: the ledger keeps its balances until the next try
                log.exception("dex: the wallet of %s could not be read", tenant)
                continue
            await self._publish(list(events))
            out.extend(events)
        return out


def vault_signers(vault: Vault, w3: Web3, routers: Routers, *, confirmations: int = 1) -> Signers:
    """Each tenant's wallet from its signer credential (`PUT /v1/credentials/dex_ethereum`): the
    key is revealed in this process only, to sign, once per tenant and venue."""
    cache: dict[tuple[str, str], SwapExecutor | None] = {}

    def signer(tenant: str, venue: str) -> SwapExecutor | None:
        if (tenant, venue) not in cache:
            creds = vault.reveal(tenant, credential_venue(venue))
            cache[(tenant, venue)] = None if creds is None or not creds.api_secret else SwapExecutor(
                w3, Account.from_key(creds.api_secret), routers, venue=venue, confirmations=confirmations)
        return cache[(tenant, venue)]

    return signer


def from_env(bus: Bus, vault: Vault, ledger: SharedFollower | None = None) -> DexExecutor:
    """The Ethereum pools' executor from the environment: CROSSBOOK_DEX_ETHEREUM_RPC_URL, the
    pools (CROSSBOOK_DEX_ETHEREUM_POOLS, `v2:0xPair:BASE:SYMBOL,v3:0xPool:BASE:SYMBOL`; SYMBOL
    optional), the routers (CROSSBOOK_DEX_ETHEREUM_V2_ROUTER, ..._V3_ROUTER) and
    CROSSBOOK_DEX_ETHEREUM_CONFIRMATIONS (default 1)."""
    url = rpc_url("dex_ethereum")
    if not url:
        raise ValueError("CROSSBOOK_DEX_ETHEREUM_RPC_URL is not set: the DEX executor has no chain")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    listings = []
    for item in filter(None, (x.strip() for x in os.environ.get("CROSSBOOK_DEX_ETHEREUM_POOLS", "").split(","))):
        kind, address, base, *symbol = item.split(":")
        if kind not in ("v2", "v3"):
            raise ValueError(f"pool kind must be v2 or v3, got {kind!r}")
        listings.append(Listing(chain.discover(w3, kind, address, base), symbol[0] if symbol else ""))  # type: ignore[arg-type]
    routers = Routers(v2=os.environ.get("CROSSBOOK_DEX_ETHEREUM_V2_ROUTER", ""),
                      v3=os.environ.get("CROSSBOOK_DEX_ETHEREUM_V3_ROUTER", ""))
    confirmations = int(os.environ.get("CROSSBOOK_DEX_ETHEREUM_CONFIRMATIONS", "1"))
    return DexExecutor(bus, DexChildren(vault_signers(vault, w3, routers, confirmations=confirmations), listings),
                       ledger=ledger, vault=vault)
