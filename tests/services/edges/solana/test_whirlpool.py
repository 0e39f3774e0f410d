"""Orca Whirlpool math against the program's and the SDK's own published vectors, and decoding of
recorded accounts. Sources: data/SOURCE.md."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from services.edges.solana import whirlpool_math as wm
from services.edges.solana.whirlpool import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    Whirlpool,
    WhirlpoolBook,
    decode_fixed_tick_array,
    decode_whirlpool,
    swap,
    tick_array_start_index,
)

DATA = Path(__file__).parent / "data"
Q64 = 1 << 64
TWO_PCT = 20_000

# programs/whirlpool/src/math/tick_math.rs test_exact_bit_values: (tick, sqrt(+tick), sqrt(-tick))
EXACT_BITS = [
    (0, 18446744073709551616, 18446744073709551616),
    (1, 18447666387855959850, 18445821805675392311),
    (2, 18448588748116922571, 18444899583751176498),
    (4, 18450433606991734263, 18443055278223354162),
    (8, 18454123878217468680, 18439367220385604838),
    (16, 18461506635090006701, 18431993317065449817),
    (32, 18476281010653910144, 18417254355718160513),
    (64, 18505865242158250041, 18387811781193591352),
    (128, 18565175891880433522, 18329067761203520168),
    (256, 18684368066214940582, 18212142134806087854),
    (512, 18925053041275764671, 17980523815641551639),
    (1024, 19415764168677886926, 17526086738831147013),
    (2048, 20435687552633177494, 16651378430235024244),
    (4096, 22639080592224303007, 15030750278693429944),
    (8192, 27784196929998399742, 12247334978882834399),
    (16384, 41848122137994986128, 8131365268884726200),
    (32768, 94936283578220370716, 3584323654723342297),
    (65536, 488590176327622479860, 696457651847595233),
    (131072, 12941056668319229769860, 26294789957452057),
    (262144, 9078618265828848800676189, 37481735321082),
]


@pytest.mark.parametrize(("tick", "pos", "neg"), EXACT_BITS)
def test_sqrt_price_exact_bit_values(tick: int, pos: int, neg: int) -> None:
    assert wm.sqrt_price_from_tick_index(tick) == pos
    assert wm.sqrt_price_from_tick_index(-tick) == neg


def test_tick_bounds_and_inverse() -> None:
    # tick_math.rs: the bounds map to each other; one is tick 0; one below one is tick -1
    assert wm.sqrt_price_from_tick_index(wm.MAX_TICK_INDEX) == wm.MAX_SQRT_PRICE_X64
    assert wm.sqrt_price_from_tick_index(wm.MIN_TICK_INDEX) == wm.MIN_SQRT_PRICE_X64
    assert wm.tick_index_from_sqrt_price(wm.MAX_SQRT_PRICE_X64) == wm.MAX_TICK_INDEX
    assert wm.tick_index_from_sqrt_price(wm.MIN_SQRT_PRICE_X64) == wm.MIN_TICK_INDEX
    assert wm.tick_index_from_sqrt_price(wm.MIN_SQRT_PRICE_X64 + 1) == wm.MIN_TICK_INDEX
    assert wm.tick_index_from_sqrt_price(wm.MAX_SQRT_PRICE_X64 - 1) == wm.MAX_TICK_INDEX - 1
    assert wm.tick_index_from_sqrt_price(Q64) == 0
    assert wm.tick_index_from_sqrt_price(Q64 + 1) == 0
    assert wm.tick_index_from_sqrt_price(Q64 - 1) == -1
    # symmetry over a spread of ticks (the program's proptest, deterministic here)
    for tick in range(wm.MIN_TICK_INDEX, wm.MAX_TICK_INDEX, 997):
        sp = wm.sqrt_price_from_tick_index(tick)
        assert wm.tick_index_from_sqrt_price(sp) == tick
        assert wm.tick_index_from_sqrt_price(sp - 1) == tick - 1


def test_amount_deltas() -> None:
    # token_math.rs test_get_amount_delta_*
    assert wm.get_amount_delta_a(4 << 64, 2 << 64, 4, True) == 1
    assert wm.get_amount_delta_a(4 << 64, 2 << 64, 4, False) == 1
    assert wm.get_amount_delta_b(4 << 64, 2 << 64, 4, True) == 8
    assert wm.get_amount_delta_b(4 << 64, 2 << 64, 4, False) == 8
    for f in (wm.get_amount_delta_a, wm.get_amount_delta_b):
        assert f(4 << 64, 4 << 64, 4, True) == 0
    with pytest.raises(wm.WhirlpoolMathError):
        wm.get_amount_delta_a(1 << 64, 2 << 64, wm.U128_MAX, True)
    with pytest.raises(wm.WhirlpoolMathError):
        wm.get_amount_delta_a(1 << 64, 2 << 64, wm.U64_MAX << 2, True)
    assert wm.get_amount_delta_a(1 << 64, 2 << 64, wm.U64_MAX << 1, True) > 0
    assert wm.get_amount_delta_a(1 << 64, 2 << 64, wm.U64_MAX, True) > 0


# swap_math.rs test_compute_swap: (amount, fee, L, price, target, is_input, a_to_b) -> step
COMPUTE_SWAP = [
    # a_to_b input: 98 A in after the 2 % fee; price = ceil(L << 64 / (144 + 98)); out = 11664 - ceil(L*L/242)
    ((100, TWO_PCT, 1296, 9 << 64, 4 << 64, True, True), (98, 4723, -(-(1296 << 64) // 242), 2)),
    ((0, TWO_PCT, 1296, 9 << 64, 4 << 64, True, False), (0, 0, 9 << 64, 0)),
    ((100, TWO_PCT, 0, 9 << 64, 4 << 64, True, False), (0, 0, 4 << 64, 0)),
    ((1000, TWO_PCT, 1296, 9 << 64, 4 << 64, True, True), (180, 6480, 4 << 64, 4)),
    ((1000, TWO_PCT // 2, 1296, 9 << 64, 4 << 64, True, True), (180, 6480, 4 << 64, 2)),
    ((4723, TWO_PCT, 1296, 9 << 64, 4 << 64, False, True), (98, 4723, 98795409425631171116, 2)),
    ((10000, TWO_PCT, 1296, 9 << 64, 4 << 64, False, True), (180, 6480, 4 << 64, 4)),
    ((0, TWO_PCT, 1296, 9 << 64, 4 << 64, False, True), (0, 0, 9 << 64, 0)),
    ((100, TWO_PCT, 0, 9 << 64, 4 << 64, False, True), (0, 0, 4 << 64, 0)),
    ((2000, TWO_PCT, 1296, 9 << 64, 16 << 64, True, False), (1960, 20, 193918550355107200012, 40)),
    ((20000, TWO_PCT, 1296, 9 << 64, 16 << 64, True, False), (9072, 63, 16 << 64, 186)),
    ((0, TWO_PCT, 1296, 9 << 64, 16 << 64, True, False), (0, 0, 9 << 64, 0)),
    ((100, TWO_PCT, 0, 9 << 64, 16 << 64, True, False), (0, 0, 16 << 64, 0)),
    ((20, TWO_PCT, 1296, 9 << 64, 16 << 64, False, False), (1882, 20, 192798228383286926568, 39)),
    ((80, TWO_PCT, 1296, 9 << 64, 16 << 64, False, False), (9072, 63, 16 << 64, 186)),
    ((0, TWO_PCT, 1296, 9 << 64, 16 << 64, False, False), (0, 0, 9 << 64, 0)),
    ((100, TWO_PCT, 0, 9 << 64, 16 << 64, False, False), (0, 0, 16 << 64, 0)),
]


@pytest.mark.parametrize(("args", "expected"), COMPUTE_SWAP)
def test_compute_swap_vectors(args: tuple, expected: tuple) -> None:
    step = wm.compute_swap(*args)
    assert (step.amount_in, step.amount_out, step.next_price, step.fee_amount) == expected


def _derive_start(tick: int, ts: int) -> int:
    # swap_integration_tests.rs derive_start_tick (Rust truncating division)
    n = TICK_ARRAY_SIZE * ts
    q = abs(tick) // n * (1 if tick >= 0 else -1)
    return (q - 1) * n if tick < 0 and tick - q * n != 0 else q * n


def _last_tick(start: int, ts: int, a_to_b: bool) -> int:
    n = TICK_ARRAY_SIZE * ts
    last = start - 2 * n if a_to_b else start + 3 * n - 1
    return max(wm.MIN_TICK_INDEX, min(wm.MAX_TICK_INDEX, last))


def test_program_swap_integration_vectors() -> None:
    """All 6720 of the program's swap vectors (concentrated and splash pools): amounts, next
    price, tick, liquidity, fee growth and protocol fee, or the same error."""
    rows = json.loads(gzip.decompress((DATA / "whirlpool_swap_cases.json.gz").read_bytes()))
    assert len(rows) == 6720
    failures = []
    errors = 0
    for ts, fee, pfee, liq, tick, amount, is_input, a_to_b, exp in rows:
        start = _derive_start(tick, ts)
        d = -1 if a_to_b else 1
        arrays = [TickArray(start + ts * TICK_ARRAY_SIZE * i * d) for i in range(3)]
        pool = Whirlpool(
            tick_spacing=ts,
            fee_rate=fee,
            protocol_fee_rate=pfee,
            liquidity=int(liq),
            sqrt_price=wm.sqrt_price_from_tick_index(tick),
            tick_current_index=tick,
        )
        limit = wm.sqrt_price_from_tick_index(_last_tick(start, ts, a_to_b))
        try:
            r = swap(pool, arrays, int(amount), limit, is_input, a_to_b)
            got: list = [
                "",
                str(r.amount_a),
                str(r.amount_b),
                str(r.next_liquidity),
                r.next_tick_index,
                str(r.next_sqrt_price),
                str(r.next_fee_growth_global),
                str(r.next_protocol_fee),
            ]
        except wm.WhirlpoolMathError as exc:
            got = [exc.code]
            errors += 1
        if got != exp:
            failures.append((ts, fee, liq, tick, amount, is_input, a_to_b, got, exp))
    assert failures == []
    assert 0 < errors < len(rows)  # the set exercises both outcomes


# rust-sdk/core/src/quote/swap.rs tests: tick spacing 2, every tick initialised with +-1000 net.
def _sdk_book(liquidity: int) -> WhirlpoolBook:
    pool = Whirlpool(
        tick_spacing=2,
        fee_rate=3000,
        protocol_fee_rate=0,
        liquidity=liquidity,
        sqrt_price=Q64,
        tick_current_index=wm.tick_index_from_sqrt_price(Q64),
        fee_tier_index_seed=2,
    )
    arrays = {}
    for start in (0, 176, 352, -176, -352):
        tick = Tick(True, 1000 if start < 0 else -1000)
        arrays[start] = TickArray(start, (tick,) * TICK_ARRAY_SIZE)
    return WhirlpoolBook(pool, arrays, max_arrays=5)


@pytest.mark.parametrize(
    ("liquidity", "a_to_b", "est_out", "min_out", "fee"),
    [
        (100_000_000, True, 996, 896, 3),
        (265_000, True, 920, 828, 38),
        (100_000_000, False, 996, 896, 3),
        (265_000, False, 918, 826, 39),
    ],
)
def test_sdk_exact_in_quotes(liquidity: int, a_to_b: bool, est_out: int, min_out: int, fee: int) -> None:
    from services.edges.solana.tx import min_out as min_out_of

    book = _sdk_book(liquidity)
    r = swap(book.pool, book.sequence(a_to_b), 1000, 0, True, a_to_b)
    out = r.amount_b if a_to_b else r.amount_a
    assert (r.amount_a if a_to_b else r.amount_b) == 1000
    assert (out, r.fee_sum) == (est_out, fee)
    assert book.exact_in(a_to_b, 1000) == est_out
    assert min_out_of(out, 1000) == min_out  # 10 % slippage tolerance


@pytest.mark.parametrize(
    ("liquidity", "a_to_b", "est_in", "fee"),
    [(100_000_000, True, 1005, 4), (265_000, True, 1088, 42), (100_000_000, False, 1005, 4), (265_000, False, 1088, 42)],
)
def test_sdk_exact_out_quotes(liquidity: int, a_to_b: bool, est_in: int, fee: int) -> None:
    book = _sdk_book(liquidity)
    r = swap(book.pool, book.sequence(a_to_b), 1000, 0, False, a_to_b)
    assert ((r.amount_a if a_to_b else r.amount_b), r.fee_sum) == (est_in, fee)
    assert book.exact_out(a_to_b, 1000) == est_in


def test_sdk_quote_runs_out_of_tick_arrays() -> None:
    # 3428 fits in the arrays the quote holds, 3429 does not (the SDK refuses it too)
    book = _sdk_book(265_000)
    assert book.exact_in(True, 3428) > 0
    with pytest.raises(wm.WhirlpoolMathError):
        book.exact_in(True, 3429)


def _account(name: str) -> bytes:
    doc = json.loads((DATA / f"orca_{name}.json").read_text())
    return base64.b64decode(doc["account"]["data"][0])


def test_recorded_whirlpool_accounts_decode() -> None:
    pool = decode_whirlpool(_account("whirlpool"))
    assert (pool.tick_spacing, pool.fee_rate, pool.protocol_fee_rate) == (64, 2000, 300)
    assert pool.liquidity == 462271585695307
    assert pool.sqrt_price == 58410682143245572
    # the recorded tick is the one the program derives from the recorded price
    assert pool.tick_current_index == wm.tick_index_from_sqrt_price(pool.sqrt_price) == -115109
    assert str(pool.token_vault_a) == json.loads((DATA / "orca_vault_a.json").read_text())["pubkey"]
    assert str(pool.token_vault_b) == json.loads((DATA / "orca_vault_b.json").read_text())["pubkey"]
    lower, owner_l = decode_fixed_tick_array(_account("fixed_tick_array_lower"))
    upper, owner_u = decode_fixed_tick_array(_account("fixed_tick_array_upper"))
    pool_key = json.loads((DATA / "orca_whirlpool.json").read_text())["pubkey"]
    assert str(owner_l) == str(owner_u) == pool_key
    # a full-range position: +L at the lowest initializable tick, -L at the highest
    init_l = [(lower.start_tick_index + i * 64, t.liquidity_net) for i, t in enumerate(lower.ticks) if t.initialized]
    init_u = [(upper.start_tick_index + i * 64, t.liquidity_net) for i, t in enumerate(upper.ticks) if t.initialized]
    assert init_l == [(-443584, 5118139)] and init_u == [(443584, -5118139)]
    assert lower.start_tick_index == tick_array_start_index(-443584, 64)


def test_recorded_whirlpool_quotes_within_the_current_tick_slot() -> None:
    """Quotes on the recorded state for sizes whose price stays inside the current tick spacing:
    no initialized tick can lie there, so the arrays we were not given cannot change them."""
    pool = decode_whirlpool(_account("whirlpool"))
    vault_a = int.from_bytes(_account("vault_a")[64:72], "little")
    vault_b = int.from_bytes(_account("vault_b")[64:72], "little")
    assert (vault_a, vault_b) == (31359230554211177, 267069478542)
    start = tick_array_start_index(pool.tick_current_index, 64)
    book = WhirlpoolBook(pool, {start: TickArray(start)}, max_arrays=1)
    slot_low = wm.sqrt_price_from_tick_index(pool.tick_current_index // 64 * 64)
    prev_out = 0
    for amount_in in (1, 10**6, 10**9, 10**11):
        r = swap(pool, book.sequence(True), amount_in, 0, True, True)
        assert r.next_sqrt_price > slot_low and r.next_liquidity == pool.liquidity
        assert r.amount_a == amount_in and r.amount_b >= prev_out
        # the step is a single constant-liquidity move: its output is the B released
        after_fee = amount_in * (10**6 - pool.fee_rate) // 10**6
        price = wm.get_next_sqrt_price_from_a_round_up(pool.sqrt_price, pool.liquidity, after_fee, True)
        assert r.amount_b == wm.get_amount_delta_b(pool.sqrt_price, price, pool.liquidity, False)
        assert r.amount_b < vault_b
        prev_out = r.amount_b


def test_adaptive_fee_pools_are_refused() -> None:
    pool = Whirlpool(tick_spacing=64, fee_rate=1000, protocol_fee_rate=0, liquidity=10**9,
                     sqrt_price=Q64, tick_current_index=0, fee_tier_index_seed=64 + 128 * 256)
    with pytest.raises(wm.WhirlpoolMathError, match="AdaptiveFee"):
        swap(pool, [TickArray(0)], 1000, 0, True, True)
