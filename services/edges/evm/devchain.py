"""A local chain with Uniswap V2 and V3 deployed from the published npm artifacts.

For tests and benchmarks: `deploy_uniswap(w3)` works on any node with an unlocked funded account
(eth-tester in-process, or ganache over JSON-RPC, started by `Ganache`). Two test tokens (18
decimals), a V2 pair and a V3 pool (0.30 %) with several overlapping positions, so swaps cross
initialized ticks. Nothing here is used by the edge in production.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from services.edges.evm import artifacts
from services.edges.evm.v3math import TICK_SPACING, sqrt_ratio_at_tick

SUPPLY = 10**9 * 10**18
DEADLINE = 2**32  # far future: the fixture's own liquidity adds


@dataclass
class Deployment:
    deployer: str
    token_a: str  # token0 (lower address)
    token_b: str  # token1
    weth: str
    v2_factory: str
    v2_router: str
    v2_pair: str
    v3_factory: str
    swap_router: str
    position_manager: str
    quoter: str
    v3_pool: str
    v3_fee: int


def _deploy(w3: Web3, name: str, *args: Any, sender: str) -> str:
    art = artifacts.load(name)
    contract = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    tx = contract.constructor(*args).transact({"from": sender, "gas": 8_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1, f"deploying {name} failed"
    return str(receipt["contractAddress"])


def _send(w3: Web3, fn: Any, sender: str, gas: int = 6_000_000) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": gas}))
    assert receipt["status"] == 1, f"{fn.fn_name} reverted"
    return receipt


def contract(w3: Web3, name: str, address: str) -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.abi(name))


def deploy_uniswap(
    w3: Web3, *, v2_reserves: tuple[int, int] = (1_000 * 10**18, 2_000_000 * 10**18), v3_price_tick: int = 76012,
    v3_positions: tuple[tuple[int, int, int], ...] = ((-887220, 887220, 10**18), (75000, 77040, 10**20),
                                                      (75960, 76200, 5 * 10**20)),
) -> Deployment:
    """Deploy both protocols. v3 positions are (tickLower, tickUpper, token0 amount desired);
    the default price tick 76012 is about 2000 token1 per token0."""
    me = w3.eth.accounts[0]
    a = _deploy(w3, "ERC20", "Token A", "TKA", SUPPLY, me, sender=me)
    b = _deploy(w3, "ERC20", "Token B", "TKB", SUPPLY, me, sender=me)
    token0, token1 = sorted([a, b], key=lambda x: int(x, 16))
    weth = _deploy(w3, "WETH9", sender=me)
    v2f = _deploy(w3, "UniswapV2Factory", me, sender=me)
    v2r = _deploy(w3, "UniswapV2Router02", v2f, weth, sender=me)
    v3f = _deploy(w3, "UniswapV3Factory", sender=me)
    srouter = _deploy(w3, "SwapRouter", v3f, weth, sender=me)
    npm = _deploy(w3, "NonfungiblePositionManager", v3f, weth, me, sender=me)  # any descriptor address
    quoter = _deploy(w3, "QuoterV2", v3f, weth, sender=me)
    for tok in (token0, token1):
        erc = contract(w3, "ERC20", tok)
        for spender in (v2r, npm):
            _send(w3, erc.functions.approve(spender, 2**256 - 1), me)
    router = contract(w3, "UniswapV2Router02", v2r)
    _send(w3, router.functions.addLiquidity(token0, token1, v2_reserves[0], v2_reserves[1], 0, 0, me, DEADLINE), me)
    pair = contract(w3, "UniswapV2Factory", v2f).functions.getPair(token0, token1).call()
    fee = 3000
    pm = contract(w3, "NonfungiblePositionManager", npm)
    _send(w3, pm.functions.createAndInitializePoolIfNecessary(token0, token1, fee, sqrt_ratio_at_tick(v3_price_tick)), me)
    pool = contract(w3, "UniswapV3Factory", v3f).functions.getPool(token0, token1, fee).call()
    spacing = TICK_SPACING[fee]
    for lower, upper, amount0 in v3_positions:
        lower, upper = lower // spacing * spacing, upper // spacing * spacing
        # amounts desired: generous on both sides; the manager takes what the range needs
        params = (token0, token1, fee, lower, upper, amount0, amount0 * 10_000, 0, 0, me, DEADLINE)
        _send(w3, pm.functions.mint(params), me)
    return Deployment(me, token0, token1, weth, v2f, v2r, str(pair), v3f, srouter, npm, quoter, str(pool), fee)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Ganache:
    """A ganache JSON-RPC node process on a loopback port (deterministic funded accounts)."""

    def __init__(self, log_dir: Path, chain_id: int = 1337) -> None:
        self.port = free_port()
        self.chain_id = chain_id
        self.log_path = log_dir / "ganache.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> Ganache:
        exe = artifacts.ensure_ganache()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(exe), "--server.host", "127.0.0.1", "--server.port", str(self.port),
             "--chain.chainId", str(self.chain_id), "--wallet.deterministic", "--logging.quiet",
             "--miner.blockGasLimit", "30000000"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 5}))
        deadline = time.monotonic() + timeout_s
        while True:  # poll the port until the node answers (startup is a few seconds)
            if self.proc.poll() is not None:
                raise RuntimeError(f"ganache exited: {self.log_path.read_text()[-500:]}")
            try:
                if w3.eth.chain_id == self.chain_id:
                    return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("ganache did not answer in time") from None
                time.sleep(0.1)  # waiting for an external process to bind its port

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
