"""Solana transaction building and signing (solders): priority fee, optional Jito tip, SPL transfers,
and the Raydium CPMM and Orca Whirlpool swap instructions.

A transaction is compiled once and signed; its signature is its id, so sending the same bytes
again is refused by the runtime (AlreadyProcessed) rather than executed twice: a retry after a
crash resends the signed bytes, never rebuilds them with a fresh blockhash.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address, transfer_checked
from spl.token.models import TransferCheckedParams

from services.edges.solana.raydium_cpmm import CPMM_PROGRAM_ID, CpmmPool
from services.edges.solana.whirlpool import WHIRLPOOL_PROGRAM_ID, Whirlpool

# Jito's published mainnet tip accounts (docs.jito.wtf, "Tip accounts"); a bundle's tip is a
# plain system transfer to any of them.
JITO_TIP_ACCOUNTS = tuple(
    Pubkey.from_string(s)
    for s in (
        "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",
        "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
        "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY",
        "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
        "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh",
        "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
        "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL",
        "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
    )
)
CPMM_AUTH_SEED = b"vault_and_lp_mint_auth_seed"


@dataclass(frozen=True, slots=True)
class Priority:
    """Compute budget for one transaction: the runtime charges ceil(limit * price / 1e6)."""

    cu_limit: int = 200_000
    cu_price_micro_lamports: int = 0

    def fee_lamports(self) -> int:
        return -(-self.cu_limit * self.cu_price_micro_lamports // 1_000_000)


def jito_tip_account(key: bytes) -> Pubkey:
    """A tip account chosen from `key` (e.g. the child order id): spreads tips over the eight
    accounts without a random draw, so a rebuilt transaction names the same one."""
    return JITO_TIP_ACCOUNTS[hashlib.sha256(key).digest()[0] % len(JITO_TIP_ACCOUNTS)]


def compute_budget_ixs(priority: Priority) -> list[Instruction]:
    ixs = [set_compute_unit_limit(priority.cu_limit)]
    if priority.cu_price_micro_lamports:
        ixs.append(set_compute_unit_price(priority.cu_price_micro_lamports))
    return ixs


def tip_ix(payer: Pubkey, lamports: int, tip_account: Pubkey) -> Instruction:
    return transfer(TransferParams(from_pubkey=payer, to_pubkey=tip_account, lamports=lamports))


def spl_transfer_ix(
    source: Pubkey,
    mint: Pubkey,
    dest: Pubkey,
    owner: Pubkey,
    amount: int,
    decimals: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """TransferChecked: the program checks the mint and decimals, so a wrong mint cannot move funds."""
    return transfer_checked(
        TransferCheckedParams(
            program_id=token_program,
            source=source,
            mint=mint,
            dest=dest,
            owner=owner,
            amount=amount,
            decimals=decimals,
        )
    )


def build_transaction(
    payer: Keypair,
    instructions: Sequence[Instruction],
    recent_blockhash: Hash,
    *,
    priority: Priority | None = None,
    tip_lamports: int = 0,
    tip_account: Pubkey | None = None,
    signers: Sequence[Keypair] = (),
) -> VersionedTransaction:
    """Compile a v0 transaction: compute budget first, the instructions, the tip last (a tip only
    lands if everything before it succeeded, as Jito recommends), then sign."""
    ixs: list[Instruction] = compute_budget_ixs(priority) if priority else []
    ixs.extend(instructions)
    if tip_lamports:
        if tip_account is None:
            raise ValueError("a tip needs a tip account")
        ixs.append(tip_ix(payer.pubkey(), tip_lamports, tip_account))
    msg = MessageV0.try_compile(payer.pubkey(), ixs, [], recent_blockhash)
    return VersionedTransaction(msg, [payer, *signers])


def ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint)


def _anchor_ix(name: str) -> bytes:
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


def cpmm_swap_base_input_ix(
    pool_address: Pubkey,
    pool: CpmmPool,
    payer: Pubkey,
    zero_for_one: bool,
    amount_in: int,
    minimum_amount_out: int,
) -> Instruction:
    """Raydium CPMM `swap_base_input` with the accounts in the program's `Swap` order."""
    authority, _ = Pubkey.find_program_address([CPMM_AUTH_SEED], CPMM_PROGRAM_ID)
    if zero_for_one:
        in_mint, out_mint = pool.token_0_mint, pool.token_1_mint
        in_vault, out_vault = pool.token_0_vault, pool.token_1_vault
        in_prog, out_prog = pool.token_0_program, pool.token_1_program
    else:
        in_mint, out_mint = pool.token_1_mint, pool.token_0_mint
        in_vault, out_vault = pool.token_1_vault, pool.token_0_vault
        in_prog, out_prog = pool.token_1_program, pool.token_0_program
    metas = [
        AccountMeta(payer, is_signer=True, is_writable=False),
        AccountMeta(authority, is_signer=False, is_writable=False),
        AccountMeta(pool.amm_config, is_signer=False, is_writable=False),
        AccountMeta(pool_address, is_signer=False, is_writable=True),
        AccountMeta(ata(payer, in_mint), is_signer=False, is_writable=True),
        AccountMeta(ata(payer, out_mint), is_signer=False, is_writable=True),
        AccountMeta(in_vault, is_signer=False, is_writable=True),
        AccountMeta(out_vault, is_signer=False, is_writable=True),
        AccountMeta(in_prog, is_signer=False, is_writable=False),
        AccountMeta(out_prog, is_signer=False, is_writable=False),
        AccountMeta(in_mint, is_signer=False, is_writable=False),
        AccountMeta(out_mint, is_signer=False, is_writable=False),
        AccountMeta(pool.observation_key, is_signer=False, is_writable=True),
    ]
    data = _anchor_ix("swap_base_input") + struct.pack("<QQ", amount_in, minimum_amount_out)
    return Instruction(CPMM_PROGRAM_ID, data, metas)


def min_out(expected_out: int, max_slippage_bps: int) -> int:
    """The least output accepted: floor(expected * (1 - slippage))."""
    return expected_out * (10_000 - max_slippage_bps) // 10_000


# --- Orca Whirlpool ------------------------------------------------------------------------------


def whirlpool_address(config: Pubkey, mint_a: Pubkey, mint_b: Pubkey, fee_tier_index_seed: int) -> Pubkey:
    seeds = [b"whirlpool", bytes(config), bytes(mint_a), bytes(mint_b), fee_tier_index_seed.to_bytes(2, "little")]
    return Pubkey.find_program_address(seeds, WHIRLPOOL_PROGRAM_ID)[0]


def tick_array_address(whirlpool: Pubkey, start_tick_index: int) -> Pubkey:
    # the start index is a seed as decimal text, sign included (initialize_tick_array.rs)
    seeds = [b"tick_array", bytes(whirlpool), str(start_tick_index).encode()]
    return Pubkey.find_program_address(seeds, WHIRLPOOL_PROGRAM_ID)[0]


def oracle_address(whirlpool: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"oracle", bytes(whirlpool)], WHIRLPOOL_PROGRAM_ID)[0]


def whirlpool_swap_ix(
    whirlpool_key: Pubkey,
    pool: Whirlpool,
    owner: Pubkey,
    tick_array_starts: Sequence[int],
    amount: int,
    other_amount_threshold: int,
    *,
    a_to_b: bool,
    amount_specified_is_input: bool = True,
    sqrt_price_limit: int = 0,
) -> Instruction:
    """Whirlpool `swap` (SPL Token mints), accounts in the program's `Swap` order. The three tick
    arrays are the ones the quote walked (`WhirlpoolBook.sequence`); fewer repeat the last, as
    the SDK does. `other_amount_threshold` is the min out (exact input) or max in (exact output)."""
    if not 1 <= len(tick_array_starts) <= 3:
        raise ValueError("a swap names one to three tick arrays")
    starts = list(tick_array_starts) + [tick_array_starts[-1]] * (3 - len(tick_array_starts))
    arrays = [tick_array_address(whirlpool_key, s) for s in starts]
    metas = [
        AccountMeta(TOKEN_PROGRAM_ID, is_signer=False, is_writable=False),
        AccountMeta(owner, is_signer=True, is_writable=False),
        AccountMeta(whirlpool_key, is_signer=False, is_writable=True),
        AccountMeta(ata(owner, pool.token_mint_a), is_signer=False, is_writable=True),
        AccountMeta(pool.token_vault_a, is_signer=False, is_writable=True),
        AccountMeta(ata(owner, pool.token_mint_b), is_signer=False, is_writable=True),
        AccountMeta(pool.token_vault_b, is_signer=False, is_writable=True),
        *(AccountMeta(a, is_signer=False, is_writable=True) for a in arrays),
        AccountMeta(oracle_address(whirlpool_key), is_signer=False, is_writable=False),
    ]
    data = (
        _anchor_ix("swap")
        + struct.pack("<QQ", amount, other_amount_threshold)
        + sqrt_price_limit.to_bytes(16, "little")
        + bytes([amount_specified_is_input, a_to_b])
    )
    return Instruction(WHIRLPOOL_PROGRAM_ID, data, metas)
