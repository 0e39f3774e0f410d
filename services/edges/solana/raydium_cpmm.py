"""Raydium CPMM (raydium-io/raydium-cp-swap): constant-product quoting and the pool account layout.

Ported from programs/cp-swap/src/curve/{calculator,constant_product,fees}.rs so amounts round as
the program does: the trade fee is a ceiling on the input (parts per million), the protocol and
fund fees are floor shares of the trade fee, the creator fee is charged on the input or on the
output depending on the pool's mode, and exact-output inputs are ceilings. The curve runs on the
vault balances net of the fees the pool owes (`vault_amount_without_fee`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

CPMM_PROGRAM_ID = Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C")
FEE_RATE_DENOMINATOR = 1_000_000
# Anchor discriminators: sha256("account:<Name>")[:8].
POOL_STATE_DISCRIMINATOR = bytes.fromhex("f7ede3f5d7c3de46")
AMM_CONFIG_DISCRIMINATOR = bytes.fromhex("daf42168cbcb2b6f")
POOL_STATE_LEN = 8 + 10 * 32 + 5 + 8 * 7 + 2 + 6 + 2 * 8 + 8 * 28  # 637, PoolState::LEN
AMM_CONFIG_LEN = 8 + 1 + 1 + 2 + 4 * 8 + 32 * 2 + 8 + 8 * 15  # 236, AmmConfig::LEN

U64_MAX = (1 << 64) - 1


class CpmmError(ArithmeticError):
    """The program would refuse this swap (`code` names its ErrorCode or the failing check)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _ceil_div(amount: int, num: int, den: int) -> int:
    return (amount * num + den - 1) // den


def trading_fee(amount: int, rate: int) -> int:
    return _ceil_div(amount, rate, FEE_RATE_DENOMINATOR)


def protocol_fee(trade_fee: int, rate: int) -> int:
    return trade_fee * rate // FEE_RATE_DENOMINATOR


fund_fee = protocol_fee  # same floor share of the trade fee


def creator_fee(amount: int, rate: int) -> int:
    return _ceil_div(amount, rate, FEE_RATE_DENOMINATOR)


def split_creator_fee(total_fee: int, trade_fee_rate: int, creator_fee_rate: int) -> int:
    return total_fee * creator_fee_rate // (trade_fee_rate + creator_fee_rate)


def pre_fee_amount(post_fee_amount: int, rate: int) -> int:
    if rate == 0:
        return post_fee_amount
    den = FEE_RATE_DENOMINATOR - rate
    return (post_fee_amount * FEE_RATE_DENOMINATOR + den - 1) // den


def swap_base_input_without_fees(amount_in: int, input_vault: int, output_vault: int) -> int:
    return amount_in * output_vault // (input_vault + amount_in)


def swap_base_output_without_fees(amount_out: int, input_vault: int, output_vault: int) -> int:
    if amount_out >= output_vault:
        raise CpmmError("InsufficientVault")
    q, r = divmod(input_vault * amount_out, output_vault - amount_out)
    return q + 1 if r else q


def lp_tokens_to_trading_tokens(
    lp_amount: int, lp_supply: int, vault_0: int, vault_1: int, round_up: bool
) -> tuple[int, int]:
    """Deposit (ceiling) / withdraw (floor) amounts for `lp_amount` pool tokens."""
    out = []
    for vault in (vault_0, vault_1):
        q, r = divmod(lp_amount * vault, lp_supply)
        # A ceiling on a zero amount stays zero (the program rejects it later).
        out.append(q + 1 if round_up and r and q else q)
    return out[0], out[1]


def _split(total_fee: int, fees: Fees) -> int:
    if fees.trade_fee_rate + fees.creator_fee_rate == 0:
        raise CpmmError("ZeroTradingTokens")  # the program's floor_div by zero returns None
    return split_creator_fee(total_fee, fees.trade_fee_rate, fees.creator_fee_rate)


@dataclass(frozen=True, slots=True)
class SwapResult:
    new_input_vault: int
    new_output_vault: int
    input_amount: int
    output_amount: int
    trade_fee: int
    protocol_fee: int
    fund_fee: int
    creator_fee: int


@dataclass(frozen=True, slots=True)
class Fees:
    """An AmmConfig's rates (parts per million; protocol and fund are shares of the trade fee)."""

    trade_fee_rate: int
    protocol_fee_rate: int = 0
    fund_fee_rate: int = 0
    creator_fee_rate: int = 0


def swap_base_input(
    amount_in: int, input_vault: int, output_vault: int, fees: Fees, creator_fee_on_input: bool = True
) -> SwapResult:
    """CurveCalculator::swap_base_input (vaults already net of owed fees)."""
    c_fee = 0
    if creator_fee_on_input:
        total = trading_fee(amount_in, fees.trade_fee_rate + fees.creator_fee_rate)
        c_fee = _split(total, fees)
        t_fee = total - c_fee
        less_fees = amount_in - total
    else:
        t_fee = trading_fee(amount_in, fees.trade_fee_rate)
        less_fees = amount_in - t_fee
    if less_fees < 0:
        raise CpmmError("CalculationFailure")
    swapped = swap_base_input_without_fees(less_fees, input_vault, output_vault)
    out = swapped
    if not creator_fee_on_input:
        c_fee = creator_fee(swapped, fees.creator_fee_rate)
        out = swapped - c_fee
    return SwapResult(
        input_vault + less_fees,
        output_vault - swapped,
        amount_in,
        out,
        t_fee,
        protocol_fee(t_fee, fees.protocol_fee_rate),
        fund_fee(t_fee, fees.fund_fee_rate),
        c_fee,
    )


def swap_base_output(
    amount_out: int, input_vault: int, output_vault: int, fees: Fees, creator_fee_on_input: bool = True
) -> SwapResult:
    """CurveCalculator::swap_base_output: the input (with fees) that buys exactly `amount_out`."""
    c_fee = 0
    actual_out = amount_out
    if not creator_fee_on_input:
        actual_out = pre_fee_amount(amount_out, fees.creator_fee_rate)
        c_fee = actual_out - amount_out
    swapped_in = swap_base_output_without_fees(actual_out, input_vault, output_vault)
    if creator_fee_on_input:
        with_fee = pre_fee_amount(swapped_in, fees.trade_fee_rate + fees.creator_fee_rate)
        total = with_fee - swapped_in
        c_fee = _split(total, fees)
        t_fee = total - c_fee
    else:
        with_fee = pre_fee_amount(swapped_in, fees.trade_fee_rate)
        t_fee = with_fee - swapped_in
    return SwapResult(
        input_vault + swapped_in,
        output_vault - actual_out,
        with_fee,
        amount_out,
        t_fee,
        protocol_fee(t_fee, fees.protocol_fee_rate),
        fund_fee(t_fee, fees.fund_fee_rate),
        c_fee,
    )


# --- accounts -----------------------------------------------------------------------------------

_POOL_FMT = "<" + "32s" * 10 + "BBBBB" + "Q" * 7 + "B?6x" + "QQ" + "224x"


@dataclass(frozen=True, slots=True)
class CpmmPool:
    """The PoolState fields a quote needs, plus what a swap instruction names."""

    amm_config: Pubkey
    token_0_vault: Pubkey
    token_1_vault: Pubkey
    token_0_mint: Pubkey
    token_1_mint: Pubkey
    token_0_program: Pubkey
    token_1_program: Pubkey
    observation_key: Pubkey
    status: int
    mint_0_decimals: int
    mint_1_decimals: int
    protocol_fees_token_0: int
    protocol_fees_token_1: int
    fund_fees_token_0: int
    fund_fees_token_1: int
    open_time: int
    creator_fee_on: int  # 0 both tokens (input side), 1 only token0, 2 only token1
    enable_creator_fee: bool
    creator_fees_token_0: int
    creator_fees_token_1: int

    @property
    def swap_enabled(self) -> bool:
        return not self.status & 4  # bit 2 disables swaps

    def vaults_without_fees(self, vault_0: int, vault_1: int) -> tuple[int, int]:
        """The curve's reserves: vault balances less the fees owed to protocol, fund and creator."""
        v0 = vault_0 - self.protocol_fees_token_0 - self.fund_fees_token_0 - self.creator_fees_token_0
        v1 = vault_1 - self.protocol_fees_token_1 - self.fund_fees_token_1 - self.creator_fees_token_1
        if v0 < 0 or v1 < 0:
            raise CpmmError("InsufficientVault")
        return v0, v1

    def creator_fee_on_input(self, zero_for_one: bool) -> bool:
        if self.creator_fee_on == 0:
            return True
        return (self.creator_fee_on == 1 and zero_for_one) or (self.creator_fee_on == 2 and not zero_for_one)


def decode_pool_state(data: bytes) -> CpmmPool:
    if len(data) != POOL_STATE_LEN or data[:8] != POOL_STATE_DISCRIMINATOR:
        raise ValueError("not a CPMM PoolState account")
    f = struct.unpack_from(_POOL_FMT, data, 8)
    pk = [Pubkey.from_bytes(b) for b in f[:10]]
    (_, status, _, dec0, dec1) = f[10:15]
    (_, pf0, pf1, ff0, ff1, open_time, _) = f[15:22]
    creator_fee_on, enable_creator_fee, cf0, cf1 = f[22:26]
    return CpmmPool(
        amm_config=pk[0],
        token_0_vault=pk[2],
        token_1_vault=pk[3],
        token_0_mint=pk[5],
        token_1_mint=pk[6],
        token_0_program=pk[7],
        token_1_program=pk[8],
        observation_key=pk[9],
        status=status,
        mint_0_decimals=dec0,
        mint_1_decimals=dec1,
        protocol_fees_token_0=pf0,
        protocol_fees_token_1=pf1,
        fund_fees_token_0=ff0,
        fund_fees_token_1=ff1,
        open_time=open_time,
        creator_fee_on=creator_fee_on,
        enable_creator_fee=enable_creator_fee,
        creator_fees_token_0=cf0,
        creator_fees_token_1=cf1,
    )


def decode_amm_config(data: bytes) -> Fees:
    if len(data) != AMM_CONFIG_LEN or data[:8] != AMM_CONFIG_DISCRIMINATOR:
        raise ValueError("not a CPMM AmmConfig account")
    trade, protocol, fund = struct.unpack_from("<QQQ", data, 12)
    (creator,) = struct.unpack_from("<Q", data, 12 + 32 + 64)
    return Fees(trade, protocol, fund, creator)


@dataclass(slots=True)
class CpmmBook:
    """A CPMM pool with its vault balances and config: the two quote directions the router uses."""

    pool: CpmmPool
    fees: Fees
    vault_0: int
    vault_1: int

    def _reserves(self, zero_for_one: bool) -> tuple[int, int]:
        r0, r1 = self.pool.vaults_without_fees(self.vault_0, self.vault_1)
        return (r0, r1) if zero_for_one else (r1, r0)

    def _fees(self) -> Fees:
        if self.pool.enable_creator_fee:
            return self.fees
        return Fees(self.fees.trade_fee_rate, self.fees.protocol_fee_rate, self.fees.fund_fee_rate, 0)

    def exact_in(self, zero_for_one: bool, amount_in: int) -> int:
        if not self.pool.swap_enabled:
            raise CpmmError("NotApproved")
        r_in, r_out = self._reserves(zero_for_one)
        res = swap_base_input(amount_in, r_in, r_out, self._fees(), self.pool.creator_fee_on_input(zero_for_one))
        return res.output_amount

    def exact_out(self, zero_for_one: bool, amount_out: int) -> int:
        if not self.pool.swap_enabled:
            raise CpmmError("NotApproved")
        r_in, r_out = self._reserves(zero_for_one)
        res = swap_base_output(amount_out, r_in, r_out, self._fees(), self.pool.creator_fee_on_input(zero_for_one))
        return res.input_amount
