"""Transactions built and signed with solders, executed by LiteSVM (the real runtime with the SPL
Token programs preloaded): balances move, the priority fee and the tip are charged exactly, a
duplicate is refused, and a transaction whose blockhash expired can no longer land."""

from __future__ import annotations

import hashlib

import pytest
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.token.state import TokenAccount
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import create_associated_token_account, initialize_mint2, mint_to
from spl.token.models import InitializeMint2Params, MintToParams

from services.edges.solana import raydium_cpmm as rc
from services.edges.solana.tx import (
    CPMM_AUTH_SEED,
    JITO_TIP_ACCOUNTS,
    Priority,
    ata,
    build_transaction,
    cpmm_swap_base_input_ix,
    jito_tip_account,
    min_out,
    spl_transfer_ix,
)
from tests.services.edges.solana.test_raydium_cpmm import constructed_pool_state

DECIMALS = 6


def _kp(n: int) -> Keypair:
    return Keypair.from_seed(bytes([n]) * 32)


class Chain:
    """A LiteSVM with a funded payer, a mint and token accounts for the payer and Alice."""

    def __init__(self) -> None:
        self.svm = LiteSVM()
        self.payer, self.alice, self.mint = _kp(1), _kp(2), _kp(3)
        self.svm.airdrop(self.payer.pubkey(), 10 * 10**9)
        rent = self.svm.minimum_balance_for_rent_exemption(82)
        mint = self.mint.pubkey()
        setup = [
            create_account(
                CreateAccountParams(
                    from_pubkey=self.payer.pubkey(), to_pubkey=mint, lamports=rent, space=82, owner=TOKEN_PROGRAM_ID
                )
            ),
            initialize_mint2(
                InitializeMint2Params(
                    program_id=TOKEN_PROGRAM_ID, mint=mint, decimals=DECIMALS, mint_authority=self.payer.pubkey()
                )
            ),
            create_associated_token_account(self.payer.pubkey(), self.payer.pubkey(), mint),
            create_associated_token_account(self.payer.pubkey(), self.alice.pubkey(), mint),
            mint_to(
                MintToParams(
                    program_id=TOKEN_PROGRAM_ID,
                    mint=mint,
                    dest=ata(self.payer.pubkey(), mint),
                    mint_authority=self.payer.pubkey(),
                    amount=1_000 * 10**DECIMALS,
                )
            ),
        ]
        tx = build_transaction(self.payer, setup, self.svm.latest_blockhash(), signers=[self.mint])
        result = self.svm.send_transaction(tx)
        assert type(result).__name__ == "TransactionMetadata", result

    def tokens(self, owner: Pubkey) -> int:
        acc = self.svm.get_account(ata(owner, self.mint.pubkey()))
        assert acc is not None
        return TokenAccount.from_bytes(bytes(acc.data)).amount

    def transfer_ix(self, amount: int, signer: Keypair | None = None) -> object:
        owner = (signer or self.payer).pubkey()
        mint = self.mint.pubkey()
        return spl_transfer_ix(ata(owner, mint), mint, ata(self.alice.pubkey(), mint), owner, amount, DECIMALS)


@pytest.fixture
def chain() -> Chain:
    return Chain()


def test_spl_transfer_with_priority_fee_and_tip(chain: Chain) -> None:
    svm, payer = chain.svm, chain.payer
    tip = jito_tip_account(b"child-7")
    svm.airdrop(tip, svm.minimum_balance_for_rent_exemption(0))  # tip accounts exist on mainnet
    tip_before = svm.get_balance(tip)
    lamports_before = svm.get_balance(payer.pubkey())
    priority = Priority(cu_limit=40_000, cu_price_micro_lamports=2_500_000)
    tx = build_transaction(
        payer,
        [chain.transfer_ix(250 * 10**DECIMALS)],
        svm.latest_blockhash(),
        priority=priority,
        tip_lamports=10_000,
        tip_account=tip,
    )
    result = svm.send_transaction(tx)
    assert type(result).__name__ == "TransactionMetadata", result
    assert chain.tokens(chain.alice.pubkey()) == 250 * 10**DECIMALS
    assert chain.tokens(payer.pubkey()) == 750 * 10**DECIMALS
    # one signature (5000) + ceil(40,000 CU * 2.5 lamports) + the tip, nothing else
    assert priority.fee_lamports() == 100_000
    assert lamports_before - svm.get_balance(payer.pubkey()) == 5_000 + 100_000 + 10_000
    assert svm.get_balance(tip) - tip_before == 10_000
    assert result.compute_units_consumed() <= priority.cu_limit


def test_duplicate_is_refused_and_moves_nothing(chain: Chain) -> None:
    svm, payer = chain.svm, chain.payer
    tx = build_transaction(payer, [chain.transfer_ix(10**DECIMALS)], svm.latest_blockhash(), priority=Priority())
    first = svm.send_transaction(tx)
    assert type(first).__name__ == "TransactionMetadata", first
    lamports = svm.get_balance(payer.pubkey())
    again = svm.send_transaction(tx)
    assert type(again).__name__ == "FailedTransactionMetadata"
    assert "AlreadyProcessed" in str(again.err())
    assert chain.tokens(chain.alice.pubkey()) == 10**DECIMALS
    assert svm.get_balance(payer.pubkey()) == lamports


def test_expired_blockhash_cannot_land(chain: Chain) -> None:
    """A signed transaction held past its blockhash is refused, so a rebuild after that is safe."""
    svm, payer = chain.svm, chain.payer
    tx = build_transaction(payer, [chain.transfer_ix(10**DECIMALS)], svm.latest_blockhash())
    svm.expire_blockhash()
    result = svm.send_transaction(tx)
    assert type(result).__name__ == "FailedTransactionMetadata"
    assert "BlockhashNotFound" in str(result.err())
    assert chain.tokens(chain.alice.pubkey()) == 0


def test_transfer_needs_the_owner_signature(chain: Chain) -> None:
    svm = chain.svm
    mallory = _kp(9)
    svm.airdrop(mallory.pubkey(), 10**9)
    mint = chain.mint.pubkey()
    # Mallory signs a transfer out of the payer's account: the token program refuses it
    ix = spl_transfer_ix(
        ata(chain.payer.pubkey(), mint), mint, ata(chain.alice.pubkey(), mint), mallory.pubkey(), 1, DECIMALS
    )
    result = svm.send_transaction(build_transaction(mallory, [ix], svm.latest_blockhash()))
    assert type(result).__name__ == "FailedTransactionMetadata"
    assert chain.tokens(chain.alice.pubkey()) == 0


def test_tip_needs_an_account_and_tip_choice_is_stable() -> None:
    assert jito_tip_account(b"x") == jito_tip_account(b"x")
    assert {jito_tip_account(str(i).encode()) for i in range(64)} == set(JITO_TIP_ACCOUNTS)
    with pytest.raises(ValueError):
        build_transaction(_kp(1), [], LiteSVM().latest_blockhash(), tip_lamports=1)


def test_cpmm_swap_instruction_layout() -> None:
    pool = rc.decode_pool_state(constructed_pool_state())
    payer = _kp(4).pubkey()
    ix = cpmm_swap_base_input_ix(Pubkey.from_bytes(bytes([77]) * 32), pool, payer, True, 10**9, min_out(10**9, 50))
    assert ix.program_id == rc.CPMM_PROGRAM_ID
    assert ix.data[:8] == hashlib.sha256(b"global:swap_base_input").digest()[:8]
    assert int.from_bytes(ix.data[8:16], "little") == 10**9
    assert int.from_bytes(ix.data[16:24], "little") == 995_000_000
    keys = [m.pubkey for m in ix.accounts]
    assert keys[0] == payer and ix.accounts[0].is_signer
    assert keys[1] == Pubkey.find_program_address([CPMM_AUTH_SEED], rc.CPMM_PROGRAM_ID)[0]
    assert keys[2:4] == [pool.amm_config, Pubkey.from_bytes(bytes([77]) * 32)]
    assert keys[4:6] == [ata(payer, pool.token_0_mint), ata(payer, pool.token_1_mint)]
    assert keys[6:8] == [pool.token_0_vault, pool.token_1_vault]
    assert keys[10:13] == [pool.token_0_mint, pool.token_1_mint, pool.observation_key]
    assert [m.is_writable for m in ix.accounts] == [False, False, False, True, True, True, True, True,
                                                    False, False, False, False, True]


def test_whirlpool_addresses_match_the_recorded_accounts() -> None:
    """The PDAs we derive are the addresses the recorded pool and tick arrays live at."""
    import base64
    import json
    from pathlib import Path

    from services.edges.solana.tx import oracle_address, tick_array_address, whirlpool_address, whirlpool_swap_ix
    from services.edges.solana.whirlpool import WHIRLPOOL_PROGRAM_ID, decode_fixed_tick_array, decode_whirlpool

    data = Path(__file__).parent / "data"

    def doc(name: str) -> dict:
        return json.loads((data / f"orca_{name}.json").read_text())

    pool_doc = doc("whirlpool")
    pool = decode_whirlpool(base64.b64decode(pool_doc["account"]["data"][0]))
    key = whirlpool_address(pool.whirlpools_config, pool.token_mint_a, pool.token_mint_b, pool.fee_tier_index_seed)
    assert str(key) == pool_doc["pubkey"]
    starts = []
    for name in ("fixed_tick_array_lower", "fixed_tick_array_upper"):
        arr, owner = decode_fixed_tick_array(base64.b64decode(doc(name)["account"]["data"][0]))
        assert owner == key
        assert str(tick_array_address(key, arr.start_tick_index)) == doc(name)["pubkey"]
        starts.append(arr.start_tick_index)

    payer = _kp(5).pubkey()
    ix = whirlpool_swap_ix(key, pool, payer, starts[:1], 10**6, 990, a_to_b=True)
    assert ix.program_id == WHIRLPOOL_PROGRAM_ID
    assert ix.data[:8] == hashlib.sha256(b"global:swap").digest()[:8]
    assert len(ix.data) == 8 + 8 + 8 + 16 + 2
    assert (int.from_bytes(ix.data[8:16], "little"), int.from_bytes(ix.data[16:24], "little")) == (10**6, 990)
    assert int.from_bytes(ix.data[24:40], "little") == 0 and ix.data[40:] == b"\x01\x01"
    keys = [m.pubkey for m in ix.accounts]
    assert keys[1] == payer and ix.accounts[1].is_signer
    assert keys[2] == key and keys[4] == pool.token_vault_a and keys[6] == pool.token_vault_b
    assert keys[3] == ata(payer, pool.token_mint_a) and keys[5] == ata(payer, pool.token_mint_b)
    assert keys[7] == keys[8] == keys[9] == tick_array_address(key, starts[0])  # one array, repeated
    assert keys[10] == oracle_address(key)
    with pytest.raises(ValueError):
        whirlpool_swap_ix(key, pool, payer, [], 1, 0, a_to_b=True)
