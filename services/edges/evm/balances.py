"""The chain wallet's token balances on the ledger, for risk.

Risk reserves per (venue, asset) from the ledger's balances; a pool leg spends its chain
wallet's (`events.venues.account_venue`: both Uniswap venues on Ethereum draw on
`dex_ethereum`). Nothing else puts the wallet on the ledger, so the DEX executor (the one writer
of `exec.<venue>.<tenant>` for on-chain venues) reconciles it as the live executor reconciles a
CEX account: it reads the wallet's balance of every configured pool's tokens (under the assets
the pools trade them as: WETH listed as ETH is ETH) and appends one `BalanceAdjusted`
(reason `wallet_reconcile`) per asset whose ledger balance differs, by the difference. The
native coin is gas, not a traded asset: it is not put on the ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from web3 import Web3

from events.execution import BalanceAdjusted
from events.ids import derive_id
from services.edges.evm import chain
from services.edges.evm.pools import Token
from services.edges.evm.venues import Listing

WALLET_VENUE = "dex_ethereum"


def wallet_tokens(listings: Iterable[Listing]) -> dict[str, Token]:
    """Asset -> token, over the listings' base and quote tokens (one token per asset name)."""
    out: dict[str, Token] = {}
    for listing in listings:
        base, quote = listing.canonical.split("-")[:2]
        for asset, token in ((base, listing.spec.base), (quote, listing.spec.quote)):
            known = out.setdefault(asset, token)
            if known.address.lower() != token.address.lower():
                raise ValueError(f"asset {asset} is two tokens ({known.address}, {token.address})")
    return out


def read_wallet(w3: Web3, address: str, tokens: Mapping[str, Token]) -> dict[str, int]:
    """The wallet's balance of each asset's token, qty_1e8 (floor)."""
    return {asset: chain.erc20(w3, t.address).functions.balanceOf(chain.checksum(address)).call() * 10**8
            // 10**t.decimals for asset, t in tokens.items()}


def reconcile_events(tenant: str, ledger: Mapping[str, int], wallet: Mapping[str, int], *, ts_ns: int,
                     tag: str, venue: str = WALLET_VENUE) -> list[BalanceAdjusted]:
    """One adjustment per asset whose ledger balance is not the wallet's. `tag` names the
    reconciliation (its ids derive from it, the asset and the amounts: a replay is one event)."""
    return [
        BalanceAdjusted(event_id=derive_id("evm.wallet", tenant, venue, asset, tag, str(have), str(qty)),
                        ts_ns=ts_ns, tenant=tenant, venue=venue, asset=asset, delta_qty_1e8=qty - have,
                        reason="wallet_reconcile", is_sandbox=False)
        for asset, qty in sorted(wallet.items())
        if qty != (have := ledger.get(asset, 0))
    ]
