"""GET /v1/wallets: the caller's on-chain signer addresses and their balances per chain.

Addresses come from the vault's public hint (a wallet credential's key is its address), so no
key is decrypted here; balances are read from the chain's RPC node. Non-custodial: there is no
withdrawal path."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from services.api.auth import Auth
from services.api.routers.credentials import VaultDep
from services.edges.evm.wallet import ONCHAIN_VENUES, balances, is_address

router = APIRouter(prefix="/v1", tags=["wallets"])


@router.get("/wallets")
async def list_wallets(auth: Auth, vault: VaultDep) -> dict[str, Any]:
    infos = await asyncio.to_thread(vault.list, auth.tenant, sorted(ONCHAIN_VENUES))
    rows = []
    for info in infos:
        if not info.connected or not is_address(info.key_hint):
            continue
        try:
            rows.append(await asyncio.to_thread(balances, info.venue, info.key_hint))
        except Exception as exc:  # the node is down or slow: list the address, say why no balances
            chain_name = ONCHAIN_VENUES[info.venue][0]
            rows.append({"venue": info.venue, "chain": chain_name, "address": info.key_hint, "chain_id": None,
                         "balances": [], "error": f"balance read failed: {type(exc).__name__}"})
    return {"wallets": rows}
