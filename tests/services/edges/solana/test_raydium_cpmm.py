"""Raydium CPMM math against the program's own test vectors (raydium-io/raydium-cp-swap
609780f, curve/constant_product.rs), its fee rounding rules, and the PoolState layout."""

from __future__ import annotations

import struct

import pytest
from solders.pubkey import Pubkey

from services.edges.solana import raydium_cpmm as rc

# constant_product.rs constant_product_swap_rounding: (in, input vault, output vault, out)
ROUNDING = [
    (10, 4_000_000, 70_000_000_000, 174_999),
    (20, 30_000 - 20, 10_000, 6),
    (19, 30_000 - 20, 10_000, 6),
    (18, 30_000 - 20, 10_000, 6),
    (10, 20_000, 30_000, 14),
    (10, 20_000 - 9, 30_000, 14),
    (10, 20_000 - 10, 30_000, 15),
    (100, 60_000, 30_000, 49),
    (99, 60_000, 30_000, 49),
    (98, 60_000, 30_000, 48),
]


@pytest.mark.parametrize(("amount", "vin", "vout", "expected"), ROUNDING)
def test_constant_product_rounding_vectors(amount: int, vin: int, vout: int, expected: int) -> None:
    out = rc.swap_base_input_without_fees(amount, vin, vout)
    assert out == expected
    assert (vin + amount) * (vout - out) >= vin * vout  # the invariant never drops


@pytest.mark.parametrize(
    ("a", "b", "deposit", "supply", "ea", "eb"),
    [(2, 49, 5, 10, 1, 25), (100, 202, 5, 101, 5, 10), (5, 501, 2, 10, 1, 101)],
)
def test_lp_conversion_vectors(a: int, b: int, deposit: int, supply: int, ea: int, eb: int) -> None:
    # constant_product.rs trading_token_conversion (deposits round up)
    assert rc.lp_tokens_to_trading_tokens(deposit, supply, a, b, round_up=True) == (ea, eb)


def test_fee_rounding_follows_the_program() -> None:
    # trade fee: ceiling of ppm of the input; protocol and fund: floor shares of the trade fee
    fees = rc.Fees(trade_fee_rate=2500, protocol_fee_rate=120_000, fund_fee_rate=40_000)
    r = rc.swap_base_input(1_000_000, 10**12, 5 * 10**12, fees, creator_fee_on_input=True)
    assert (r.trade_fee, r.protocol_fee, r.fund_fee, r.creator_fee) == (2500, 300, 100, 0)
    assert r.output_amount == 997_500 * 5 * 10**12 // (10**12 + 997_500)
    assert r.new_input_vault == 10**12 + 997_500
    # one unit in pays a whole unit of fee: nothing reaches the curve
    dust = rc.swap_base_input(1, 10**12, 10**12, fees)
    assert (dust.trade_fee, dust.output_amount) == (1, 0)
    # exact output: input is the ceiling, then grossed up by the fee (ceiling)
    out = rc.swap_base_output(1_000_000, 10**12, 5 * 10**12, fees)
    swapped = -(-(10**12 * 1_000_000) // (5 * 10**12 - 1_000_000))
    assert out.input_amount == -(-(swapped * 10**6) // (10**6 - 2500))
    assert out.trade_fee == out.input_amount - swapped


def test_creator_fee_on_input_and_output() -> None:
    fees = rc.Fees(trade_fee_rate=2500, creator_fee_rate=1000)
    on_in = rc.swap_base_input(1_000_000, 10**12, 10**12, fees, creator_fee_on_input=True)
    total = -(-1_000_000 * 3500 // 10**6)
    assert on_in.creator_fee == total * 1000 // 3500 and on_in.trade_fee == total - on_in.creator_fee
    on_out = rc.swap_base_input(1_000_000, 10**12, 10**12, fees, creator_fee_on_input=False)
    swapped = rc.swap_base_input_without_fees(1_000_000 - 2500, 10**12, 10**12)
    assert on_out.creator_fee == -(-swapped * 1000 // 10**6)
    assert on_out.output_amount == swapped - on_out.creator_fee


def test_exact_out_buys_at_least_what_it_asks() -> None:
    fees = rc.Fees(trade_fee_rate=2500, protocol_fee_rate=120_000, fund_fee_rate=40_000, creator_fee_rate=500)
    for vin, vout in ((10**9, 3 * 10**12), (7 * 10**15, 10**6), (123_456_789, 987_654_321)):
        for want in (1, 17, vout // 1000, vout // 3, vout * 9 // 10):
            for on_input in (True, False):
                r = rc.swap_base_output(want, vin, vout, fees, on_input)
                back = rc.swap_base_input(r.input_amount, vin, vout, fees, on_input)
                assert back.output_amount >= want
                # and one unit less input would not be enough unless rounding is flat there
                if r.input_amount > 1:
                    less = rc.swap_base_input(r.input_amount - 1, vin, vout, fees, on_input)
                    assert less.output_amount <= back.output_amount
    with pytest.raises(rc.CpmmError):
        rc.swap_base_output(10**6, 10**9, 10**6, fees)  # the whole vault
    with pytest.raises(rc.CpmmError):  # the creator's cut on top of the output empties the vault
        rc.swap_base_output(10**6 - 1, 10**9, 10**6, fees, creator_fee_on_input=False)


def _pk(n: int) -> bytes:
    return bytes([n]) * 32


def constructed_pool_state() -> bytes:
    """A PoolState built field by field from states/pool.rs (not recorded from a cluster)."""
    body = struct.pack(
        "<" + "32s" * 10 + "BBBBB" + "Q" * 7 + "B?6x" + "QQ" + "224x",
        *(_pk(i + 1) for i in range(10)),
        254,  # auth_bump
        0,  # status: all enabled
        9,  # lp decimals
        9,  # mint 0 decimals (SOL)
        6,  # mint 1 decimals (USDC)
        1_000_000_000,  # lp_supply
        11,  # protocol fees token 0
        22,  # protocol fees token 1
        33,  # fund fees token 0
        44,  # fund fees token 1
        1_700_000_000,  # open_time
        600,  # recent_epoch
        0,  # creator_fee_on: both tokens
        True,  # enable_creator_fee
        5,  # creator fees token 0
        6,  # creator fees token 1
    )
    return rc.POOL_STATE_DISCRIMINATOR + body


def constructed_amm_config() -> bytes:
    body = struct.pack("<B?HQQQQ32s32sQ120x", 1, False, 0, 2500, 120_000, 40_000, 150_000_000, _pk(50), _pk(51), 0)
    return rc.AMM_CONFIG_DISCRIMINATOR + body


def test_decode_constructed_accounts_and_quote() -> None:
    data = constructed_pool_state()
    assert len(data) == rc.POOL_STATE_LEN == 637
    pool = rc.decode_pool_state(data)
    assert pool.amm_config == Pubkey.from_bytes(_pk(1))
    assert (pool.token_0_vault, pool.token_1_vault) == (Pubkey.from_bytes(_pk(3)), Pubkey.from_bytes(_pk(4)))
    assert (pool.token_0_mint, pool.token_1_mint) == (Pubkey.from_bytes(_pk(6)), Pubkey.from_bytes(_pk(7)))
    assert pool.observation_key == Pubkey.from_bytes(_pk(10))
    assert (pool.mint_0_decimals, pool.mint_1_decimals, pool.open_time) == (9, 6, 1_700_000_000)
    assert (pool.creator_fee_on, pool.enable_creator_fee) == (0, True)
    assert pool.vaults_without_fees(1000, 2000) == (1000 - 11 - 33 - 5, 2000 - 22 - 44 - 6)
    cfg_data = constructed_amm_config()
    assert len(cfg_data) == rc.AMM_CONFIG_LEN
    fees = rc.decode_amm_config(cfg_data)
    assert fees == rc.Fees(2500, 120_000, 40_000, 0)
    book = rc.CpmmBook(pool, fees, vault_0=10**13, vault_1=2 * 10**12)
    r0, r1 = pool.vaults_without_fees(10**13, 2 * 10**12)
    assert book.exact_in(True, 10**9) == rc.swap_base_input(10**9, r0, r1, fees).output_amount
    assert book.exact_out(False, 10**9) == rc.swap_base_output(10**9, r1, r0, fees).input_amount
    with pytest.raises(ValueError):
        rc.decode_pool_state(data[:-1])
    with pytest.raises(ValueError):
        rc.decode_pool_state(b"\0" * 8 + data[8:])


def test_swap_disabled_pool_is_not_quoted() -> None:
    data = bytearray(constructed_pool_state())
    data[8 + 320 + 1] = 4  # status bit 2: swaps disabled
    pool = rc.decode_pool_state(bytes(data))
    book = rc.CpmmBook(pool, rc.Fees(2500), 10**12, 10**12)
    with pytest.raises(rc.CpmmError, match="NotApproved"):
        book.exact_in(True, 1000)
