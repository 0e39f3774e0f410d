"""Hyperliquid action signing (EIP-712 over secp256k1, eth-account).

L1 actions (orders, cancels, ...): connectionId = keccak256(msgpack(action) || nonce u64 BE ||
(0x00 | 0x01 + vault address) [|| 0x00 || expiresAfter u64 BE]), signed as the phantom agent
`Agent{source: "a" mainnet | "b" testnet, connectionId}` in the `Exchange` domain (chain 1337).
Key order inside `action` is part of the hash: build it in the venue's wire order.
User-signed actions (usdSend, withdraw3) sign their message fields in the
`HyperliquidSignTransaction` domain on `signatureChainId`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
# Field lists of the user-signed actions, in their signed order.
USER_ACTION_FIELDS = {
    "usdSend": ("HyperliquidTransaction:UsdSend",
                [("hyperliquidChain", "string"), ("destination", "string"), ("amount", "string"), ("time", "uint64")]),
    "withdraw3": ("HyperliquidTransaction:Withdraw",
                  [("hyperliquidChain", "string"), ("destination", "string"), ("amount", "string"), ("time", "uint64")]),
}


def action_hash(action: dict[str, Any], vault_address: str | None, nonce: int, expires_after: int | None = None) -> bytes:
    data = msgspec.msgpack.encode(action) + nonce.to_bytes(8, "big")
    data += b"\x00" if vault_address is None else b"\x01" + bytes.fromhex(vault_address.removeprefix("0x"))
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak(data)


def _signature(private_key: str, typed: dict[str, Any]) -> dict[str, Any]:
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key)
    return {"r": hex(signed.r), "s": hex(signed.s), "v": signed.v}


def l1_typed_data(action: dict[str, Any], vault_address: str | None, nonce: int, expires_after: int | None,
                  is_mainnet: bool) -> dict[str, Any]:
    """The EIP-712 message an L1 action is signed as (the phantom agent)."""
    return {
        "domain": {"chainId": 1337, "name": "Exchange", "verifyingContract": _ZERO_ADDRESS, "version": "1"},
        "types": {
            "EIP712Domain": _DOMAIN_TYPE,
            "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}],
        },
        "primaryType": "Agent",
        "message": {"source": "a" if is_mainnet else "b",
                    "connectionId": action_hash(action, vault_address, nonce, expires_after)},
    }


def sign_l1_action(private_key: str, action: dict[str, Any], vault_address: str | None, nonce: int,
                   expires_after: int | None, is_mainnet: bool) -> dict[str, Any]:
    """`{"r", "s", "v"}` as the exchange endpoint takes it (r/s without leading zeros)."""
    return _signature(private_key, l1_typed_data(action, vault_address, nonce, expires_after, is_mainnet))


def recover_l1_signer(action: dict[str, Any], vault_address: str | None, nonce: int, expires_after: int | None,
                      is_mainnet: bool, signature: dict[str, Any]) -> str:
    """The address that signed an L1 action (what the exchange checks against its users)."""
    typed = encode_typed_data(full_message=l1_typed_data(action, vault_address, nonce, expires_after, is_mainnet))
    vrs = (int(signature["v"]), int(str(signature["r"]), 16), int(str(signature["s"]), 16))
    return str(Account.recover_message(typed, vrs=vrs))


def sign_user_action(private_key: str, action_type: str, message: dict[str, Any]) -> dict[str, Any]:
    primary, fields = USER_ACTION_FIELDS[action_type]
    typed = {
        "domain": {"name": "HyperliquidSignTransaction", "version": "1",
                   "chainId": int(message["signatureChainId"], 16), "verifyingContract": _ZERO_ADDRESS},
        "types": {"EIP712Domain": _DOMAIN_TYPE, primary: [{"name": n, "type": t} for n, t in fields]},
        "primaryType": primary,
        "message": {name: message[name] for name, _ in fields},
    }
    return _signature(private_key, typed)
