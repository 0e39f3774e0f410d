"""Reading pools over JSON-RPC: discovery (tokens, fee), V2 reserves, V3 slot0, liquidity and
initialized ticks, and the gas price. Everything goes through web3's provider, so it runs the
same against a chain's RPC URL, ganache or the in-process eth-tester."""

from __future__ import annotations

from typing import Any, Literal

from web3 import HTTPProvider, Web3

from services.edges.evm import abi
from services.edges.evm.pools import PoolSpec, Token, V2State, V3State
from services.edges.evm.v3math import MAX_TICK, MIN_TICK, V3PoolState


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)


def bind(w3: Web3, address: str, fragments: list[dict[str, Any]]) -> Any:
    eth: Any = w3.eth  # web3's overloads want its own ABI and address types
    return eth.contract(address=checksum(address), abi=fragments)


def erc20(w3: Web3, address: str) -> Any:
    return bind(w3, address, abi.ERC20)


def token(w3: Web3, address: str) -> Token:
    c = erc20(w3, address)
    return Token(checksum(address), str(c.functions.symbol().call()), int(c.functions.decimals().call()))


def discover(w3: Web3, kind: Literal["v2", "v3"], address: str, base: str) -> PoolSpec:
    """The pool's tokens (and fee for V3); `base` is the base token's address or symbol."""
    c = bind(w3, address, abi.V2_PAIR if kind == "v2" else abi.V3_POOL)
    t0 = token(w3, c.functions.token0().call())
    t1 = token(w3, c.functions.token1().call())
    fee = 3000 if kind == "v2" else int(c.functions.fee().call())
    if base.lower() in (t0.address.lower(), t0.symbol.lower()):
        base_is_token0 = True
    elif base.lower() in (t1.address.lower(), t1.symbol.lower()):
        base_is_token0 = False
    else:
        raise ValueError(f"{base!r} is neither token of pool {address}")
    return PoolSpec(kind=kind, address=checksum(address), token0=t0, token1=t1, base_is_token0=base_is_token0,
                    fee_pips=fee)


def read_v2(w3: Web3, spec: PoolSpec, block: int | str = "latest") -> V2State:
    c = bind(w3, spec.address, abi.V2_PAIR)
    r0, r1, _ = c.functions.getReserves().call(block_identifier=block)
    return V2State(int(r0), int(r1))


def read_v3(w3: Web3, spec: PoolSpec, block: int | str = "latest", word_radius: int | None = None) -> V3State:
    """slot0, active liquidity and every initialized tick's liquidityNet, read at one block so
    the parts agree. `word_radius` limits the bitmap scan to that many 256-tick words either side
    of the current tick (None = the whole range: about 116 calls for a 0.30 % pool)."""
    c = bind(w3, spec.address, abi.V3_POOL)
    slot0 = c.functions.slot0().call(block_identifier=block)
    liquidity = int(c.functions.liquidity().call(block_identifier=block))
    spacing = int(c.functions.tickSpacing().call(block_identifier=block))
    sqrt_p, tick = int(slot0[0]), int(slot0[1])
    lo, hi = (MIN_TICK // spacing) >> 8, (MAX_TICK // spacing) >> 8
    if word_radius is not None:
        here = (tick // spacing) >> 8
        lo, hi = max(lo, here - word_radius), min(hi, here + word_radius)
    words = list(range(lo, hi + 1))
    bitmaps = _call_many(w3, [c.functions.tickBitmap(word) for word in words], block)
    initialized: list[int] = []
    for word, bits in zip(words, bitmaps):
        bits = int(bits)
        while bits:
            low = bits & -bits
            bits ^= low
            initialized.append(((word << 8) + low.bit_length() - 1) * spacing)
    infos = _call_many(w3, [c.functions.ticks(t) for t in initialized], block)
    nets = {t: int(info[1]) for t, info in zip(initialized, infos)}
    pool = V3PoolState(sqrt_price_x96=sqrt_p, tick=tick, liquidity=liquidity, fee_pips=spec.fee_pips,
                       tick_spacing=spacing, liquidity_net=nets)
    return V3State(pool)


def _call_many(w3: Web3, calls: list[Any], block: int | str) -> list[Any]:
    """Many eth_calls in one JSON-RPC batch (one round trip) where the provider is HTTP; one by
    one otherwise (the in-process eth-tester). The batch is encoded here: web3's own batching
    asks the node for the chain id once per call."""
    if not calls:
        return []
    if not isinstance(w3.provider, HTTPProvider):
        return [fn.call(block_identifier=block) for fn in calls]
    tag = hex(block) if isinstance(block, int) else block
    requests = [("eth_call", [{"to": fn.address, "data": fn._encode_transaction_data()}, tag]) for fn in calls]
    replies = w3.provider.make_batch_request(requests)  # type: ignore[arg-type]
    if not isinstance(replies, list) or len(replies) != len(calls):
        raise RuntimeError(f"batch eth_call answered {replies!r:.200}")
    out = []
    for fn, reply in zip(calls, replies):
        if "error" in reply:
            raise RuntimeError(f"eth_call {fn.fn_name} failed: {reply['error']}")
        types = [o["type"] for o in fn.abi["outputs"]]
        values = w3.codec.decode(types, bytes.fromhex(str(reply["result"]).removeprefix("0x")))
        out.append(values[0] if len(values) == 1 else list(values))
    return out


def read_state(w3: Web3, spec: PoolSpec, block: int | str = "latest") -> V2State | V3State:
    return read_v2(w3, spec, block) if spec.kind == "v2" else read_v3(w3, spec, block)


def gas_price(w3: Web3) -> int:
    return int(w3.eth.gas_price)
