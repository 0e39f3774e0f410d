"""The DEX signer credential and wallet reads.

`PUT /v1/credentials/dex_ethereum` takes the signer's private key (`api_secret`, or
`extra_json.signer_private_key` as Polymarket's shape has it); the stored `api_key` is the key's
address, so the vault's hint for this venue is the public address and listing wallets never
decrypts a key. Balances are read over the chain's RPC URL (CROSSBOOK_DEX_ETHEREUM_RPC_URL), for
the native asset and the tokens in CROSSBOOK_DEX_ETHEREUM_TOKENS (comma-separated addresses).
"""

from __future__ import annotations

import os
import re
from typing import Any

from eth_account import Account

from services.vault import Credentials

ONCHAIN_VENUES = {"dex_ethereum": ("ethereum", "ETH")}  # venue -> (chain, native asset)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class BadSigner(ValueError):
    """The body does not carry a usable signer key (messages never echo the value)."""


def is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text))


def signer_credentials(creds: Credentials) -> Credentials:
    extra = creds.extra_json if isinstance(creds.extra_json, dict) else {}
    key = creds.api_secret or str(extra.get("signer_private_key") or "")
    try:
        account = Account.from_key(key)
    except Exception:  # eth-account raises several types for a malformed key
        raise BadSigner("api_secret must be the signer's private key (32 bytes, hex)") from None
    if creds.api_key and creds.api_key.lower() != account.address.lower():
        raise BadSigner("api_key must be empty or the signer key's address")
    return Credentials(api_key=account.address, api_secret=account.key.hex(), passphrase=None, extra_json=None)


def rpc_url(venue: str) -> str:
    return os.environ.get(f"CROSSBOOK_{venue.upper()}_RPC_URL", "")


def balances(venue: str, address: str) -> dict[str, Any]:
    """The native balance and configured token balances of `address` (qty_1e8 and raw units)."""
    from web3 import Web3

    from services.edges.evm import chain

    url = rpc_url(venue)
    chain_name, native = ONCHAIN_VENUES[venue]
    row: dict[str, Any] = {"venue": venue, "chain": chain_name, "address": address, "chain_id": None,
                           "balances": []}
    if not url:
        row["error"] = f"no RPC URL configured (CROSSBOOK_{venue.upper()}_RPC_URL)"
        return row
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    row["chain_id"] = int(w3.eth.chain_id)
    wei = int(w3.eth.get_balance(Web3.to_checksum_address(address)))
    row["balances"].append({"asset": native, "qty_1e8": wei // 10**10, "raw": str(wei), "decimals": 18})
    for token_address in filter(None, (t.strip() for t in os.environ.get(f"CROSSBOOK_{venue.upper()}_TOKENS",
                                                                           "").split(","))):
        token = chain.token(w3, token_address)
        raw = int(chain.erc20(w3, token.address).functions.balanceOf(Web3.to_checksum_address(address)).call())
        row["balances"].append({"asset": token.symbol, "token": token.address, "decimals": token.decimals,
                                "raw": str(raw), "qty_1e8": raw * 10**8 // 10**token.decimals})
    return row
