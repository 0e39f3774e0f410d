"""The few contract functions and events the edge calls, as ABI fragments.

Hand-written from the published interfaces (IUniswapV2Pair, IUniswapV3Pool, IUniswapV2Router02,
ISwapRouter, IERC20) so the running edge does not need the npm artifacts."""

from __future__ import annotations

from typing import Any


def _fn(name: str, inputs: list[str], outputs: list[str], mutability: str = "view") -> dict[str, Any]:
    def params(types: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, t in enumerate(types):
            if t.startswith("("):  # one tuple argument: "(address,address,...)"
                comps = [{"name": f"f{j}", "type": c} for j, c in enumerate(t[1:-1].split(","))]
                out.append({"name": f"a{i}", "type": "tuple", "components": comps})
            else:
                out.append({"name": f"a{i}", "type": t})
        return out

    return {"type": "function", "name": name, "inputs": params(inputs), "outputs": params(outputs),
            "stateMutability": mutability}


ERC20 = [
    _fn("decimals", [], ["uint8"]),
    _fn("symbol", [], ["string"]),
    _fn("balanceOf", ["address"], ["uint256"]),
    _fn("allowance", ["address", "address"], ["uint256"]),
    _fn("approve", ["address", "uint256"], ["bool"], "nonpayable"),
    _fn("transfer", ["address", "uint256"], ["bool"], "nonpayable"),
]
V2_PAIR = [
    _fn("token0", [], ["address"]),
    _fn("token1", [], ["address"]),
    _fn("getReserves", [], ["uint112", "uint112", "uint32"]),
]
V3_POOL = [
    _fn("token0", [], ["address"]),
    _fn("token1", [], ["address"]),
    _fn("fee", [], ["uint24"]),
    _fn("tickSpacing", [], ["int24"]),
    _fn("liquidity", [], ["uint128"]),
    _fn("slot0", [], ["uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool"]),
    _fn("tickBitmap", ["int16"], ["uint256"]),
    _fn("ticks", ["int24"], ["uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool"]),
]
V2_ROUTER = [
    _fn("swapExactTokensForTokens", ["uint256", "uint256", "address[]", "address", "uint256"], ["uint256[]"],
        "nonpayable"),
    _fn("swapTokensForExactTokens", ["uint256", "uint256", "address[]", "address", "uint256"], ["uint256[]"],
        "nonpayable"),
]
# ISwapRouter.ExactInputSingleParams / ExactOutputSingleParams
V3_ROUTER = [
    _fn("exactInputSingle", ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], ["uint256"],
        "payable"),
    _fn("exactOutputSingle", ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], ["uint256"],
        "payable"),
]

# event topics (keccak of the signatures): reserves and swaps as the pools log them
TOPIC_V2_SYNC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
TOPIC_V2_SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
TOPIC_V3_SWAP = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
TOPIC_ERC20_TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
