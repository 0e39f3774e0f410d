"""PUT /v1/credentials/dex_ethereum stores a signer key (its address is the public hint);
GET /v1/wallets lists the caller's addresses with balances read from the chain's node."""

from __future__ import annotations

import logging

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from services.api.keys import create_key
from services.bus import Bus
from services.edges.evm import chain
from services.edges.evm.devchain import Deployment, Ganache, contract
from services.settings import Settings
from tests.services.api.test_credentials import Api, api  # noqa: F401  (the API fixture)
from tests.services.vault.helpers import stream_bytes

PRIV = "0x" + keccak(b"crossbook wallet api test").hex().removeprefix("0x")
ADDRESS = Account.from_key(PRIV).address


async def test_signer_credential_and_wallet_balances(
    api: Api, bus: Bus, settings: Settings, ganache_chain: tuple[Ganache, Deployment],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    node, d = ganache_chain
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": d.deployer, "to": ADDRESS, "value": 3 * 10**18}))
    w3.eth.wait_for_transaction_receipt(
        contract(w3, "ERC20", d.token_a).functions.transfer(ADDRESS, 7 * 10**18).transact({"from": d.deployer}))
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_RPC_URL", node.url)
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_TOKENS", d.token_a)
    key = create_key(settings, "acme", sandbox=True, now_ns=1)
    other = create_key(settings, "zeta", sandbox=True, now_ns=1)

    r = await api.call("PUT", "/v1/credentials/dex_ethereum", key, json={"api_key": "", "api_secret": "0x1234"})
    assert r.status_code == 400 and "private key" in r.json()["error"]["message"]
    r = await api.call("PUT", "/v1/credentials/dex_ethereum", key,
                       json={"api_key": "0x" + "11" * 20, "api_secret": PRIV})
    assert r.status_code == 400 and "address" in r.json()["error"]["message"]
    r = await api.call("PUT", "/v1/credentials/dex_ethereum", key, json={"api_key": "", "api_secret": PRIV})
    assert (r.status_code, r.json()) == (200, {"venue": "dex_ethereum", "connected": True})

    r = await api.call("GET", "/v1/credentials", key)
    assert [(v["venue"], v["key_hint"]) for v in r.json()["venues"]] == [("dex_ethereum", ADDRESS)]
    r = await api.call("GET", "/v1/wallets", key)
    assert r.status_code == 200
    (wallet,) = r.json()["wallets"]
    assert (wallet["venue"], wallet["address"], wallet["chain"], wallet["chain_id"]) == (
        "dex_ethereum", ADDRESS, "ethereum", 1337)
    eth, tok = wallet["balances"]
    assert (eth["asset"], eth["qty_1e8"]) == ("ETH", 3 * 10**8)
    symbol = chain.token(w3, d.token_a).symbol
    assert (tok["asset"], tok["token"], tok["qty_1e8"], tok["raw"]) == (symbol, d.token_a, 7 * 10**8, str(7 * 10**18))
    assert (await api.call("GET", "/v1/wallets", other)).json() == {"wallets": []}  # tenants see their own

    vault = api.app.state.vault.get(api.app.state.api)
    revealed = vault.reveal("acme", "dex_ethereum")
    assert revealed is not None and Account.from_key(revealed.api_secret).address == ADDRESS  # the signer gets it
    secret = PRIV.removeprefix("0x").lower()
    for what, blob in (("API responses", "\n".join(api.seen)), ("the log", caplog.text)):
        assert secret not in blob.lower(), f"{what} contain the signer key"
    _, raw = await stream_bytes(bus, "vault.acme.dex_ethereum")
    assert secret.encode() not in raw.lower()
