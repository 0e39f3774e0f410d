"""Swap execution: one child order = one signed router swap, its receipt = its fill.

A sell is an exact-input swap with `amountOutMinimum` from the quote and `max_slippage_bps`; a
buy is an exact-output swap with `amountInMaximum` likewise. The wallet key signs locally
(eth-account); nonces, gas estimation and receipts go to the node over JSON-RPC. The router is
approved once per token (unlimited allowance, checked before each swap). A swap that would revert
at estimation is not sent; one that reverts on chain (the pool moved past the bound) is reported
as one rejected child, never retried: event ids derive from the child id, so publishing an
outcome twice is deduplicated by the bus.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from events.execution import ChildAcked, ChildRejected, ChildSubmitted, FillRecorded
from events.ids import derive_id
from services.edges.evm import abi
from services.edges.evm.chain import bind, checksum
from services.edges.evm.pools import PX_SCALE, QTY_SCALE, PoolSpec, PoolState

WEI_PER_ETH_1E8 = 10**10  # wei -> ETH qty_1e8
MAX_UINT = 2**256 - 1
RECEIPT_POLL_S = 0.02  # how often to ask the node for a receipt (web3 polls; 0.1 s by default)


@dataclass(frozen=True, slots=True)
class Routers:
    v2: str = ""  # UniswapV2Router02
    v3: str = ""  # SwapRouter


def limit_bound(spec: PoolSpec, buy: bool, qty_1e8: int, limit_px_1e9: int) -> int:
    """A limit price as the swap's bound in raw quote units: the most a buy pays (floor) or
    the least a sell takes (ceil) for `qty_1e8` at `limit_px_1e9`."""
    num = qty_1e8 * limit_px_1e9 * 10**spec.quote.decimals
    den = QTY_SCALE * PX_SCALE
    return num // den if buy else -(-num // den)


@dataclass(slots=True)
class SignedSwap:
    child: ChildSubmitted
    spec: PoolSpec
    raw_tx: bytes
    tx_hash: str
    bound: int  # amountOutMinimum (sell) or amountInMaximum (buy), raw units


ExecEvent = ChildAcked | ChildRejected | FillRecorded


class SwapExecutor:
    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        routers: Routers,
        *,
        venue: str = "dex_ethereum",
        deadline_s: int = 120,
        confirmations: int = 1,
        clock_ns: Callable[[], int] = time.time_ns,
        native_asset: str = "ETH",
    ) -> None:
        self.w3 = w3
        self.account = account
        self.routers = routers
        self.venue = venue
        self.deadline_s = deadline_s
        self.confirmations = confirmations
        self.clock_ns = clock_ns
        self.native_asset = native_asset
        self._approved: set[tuple[str, str]] = set()
        self.reported: set[str] = set()  # child ids with a final outcome

    @functools.cached_property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def address(self) -> str:
        return str(self.account.address)

    # --- transactions ---------------------------------------------------------------------
    def _sign_send(self, tx: dict[str, Any], gas: int | None = None) -> str:
        """Sign with the wallet key and send raw; returns the tx hash. `gas` None = estimate."""
        tx = dict(tx)
        tx.setdefault("from", self.address)
        tx["nonce"] = self.w3.eth.get_transaction_count(self.account.address, "pending")
        tx["chainId"] = self.chain_id
        if "maxFeePerGas" not in tx:  # build_transaction prices EIP-1559 chains itself
            tx["gasPrice"] = self.w3.eth.gas_price
        tx["gas"] = gas if gas is not None else self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        signed = self.account.sign_transaction(tx)
        return "0x" + self.w3.eth.send_raw_transaction(signed.raw_transaction).hex().removeprefix("0x")

    def _router(self, spec: PoolSpec) -> str:
        router = self.routers.v2 if spec.kind == "v2" else self.routers.v3
        if not router:
            raise ValueError(f"no {spec.kind} router configured")
        return checksum(router)

    def ensure_approval(self, token: str, spender: str) -> str | None:
        """Approve `spender` once for `token` (unlimited); returns the approval's tx hash if sent."""
        key = (token.lower(), spender.lower())
        if key in self._approved:
            return None
        erc = bind(self.w3, token, abi.ERC20)
        if int(erc.functions.allowance(self.account.address, spender).call()) >= MAX_UINT // 2:
            self._approved.add(key)
            return None
        tx = erc.functions.approve(spender, MAX_UINT).build_transaction({"from": self.address, "gas": 100_000})
        tx_hash = self._sign_send(tx, gas=100_000)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_S)  # type: ignore[arg-type]
        if receipt["status"] != 1:
            raise RuntimeError(f"approval of {token} for {spender} reverted")
        self._approved.add(key)
        return tx_hash

    # --- one child ------------------------------------------------------------------------
    def build(self, child: ChildSubmitted, spec: PoolSpec, state: PoolState, max_slippage_bps: int,
              now_s: int | None = None) -> SignedSwap | ChildRejected:
        """Quote on `state`, bound by the slippage (or, when the child has a limit price, by
        that limit: the router's worst level plus its `max_slippage_bps` collar), estimate gas
        and sign. A swap the node says would revert is rejected here, before anything is sent."""
        router = self._router(spec)
        sell = child.side == "sell"
        token_in = spec.base if sell else spec.quote
        token_out = spec.quote if sell else spec.base
        self.ensure_approval(token_in.address, router)
        zero_for_one = (token_in.address.lower() == spec.token0.address.lower())
        deadline = (now_s if now_s is not None else self.clock_ns() // 1_000_000_000) + self.deadline_s
        me = self.account.address
        if sell:
            amount_in = spec.base_raw(child.qty_1e8)
            bound = state.exact_in(zero_for_one, amount_in) * (10_000 - max_slippage_bps) // 10_000
        else:
            amount_out = spec.base_raw(child.qty_1e8)
            bound = -(-state.exact_out(zero_for_one, amount_out) * (10_000 + max_slippage_bps) // 10_000)
        if child.limit_px_1e9 is not None:
            bound = limit_bound(spec, child.side == "buy", child.qty_1e8, child.limit_px_1e9)
        r = bind(self.w3, router, abi.V2_ROUTER if spec.kind == "v2" else abi.V3_ROUTER)
        path = [checksum(token_in.address), checksum(token_out.address)]
        if spec.kind == "v2":
            fn = (r.functions.swapExactTokensForTokens(amount_in, bound, path, me, deadline) if sell
                  else r.functions.swapTokensForExactTokens(amount_out, bound, path, me, deadline))
        else:
            params = (path[0], path[1], spec.fee_pips, me, deadline, amount_in if sell else amount_out, bound, 0)
            fn = r.functions.exactInputSingle(params) if sell else r.functions.exactOutputSingle(params)
        # Every field given, so building costs no RPC: one gas-price, one nonce, one estimate call.
        tx = fn.build_transaction({"from": self.address, "gas": 1, "gasPrice": self.w3.eth.gas_price,
                                   "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                                   "chainId": self.chain_id})
        try:
            gas = self.w3.eth.estimate_gas({k: v for k, v in tx.items() if k != "gas"})  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            return self._rejected(child, "would_revert", str(exc))
        tx["gas"] = gas * 12 // 10
        signed = self.account.sign_transaction(tx)
        return SignedSwap(child, spec, bytes(signed.raw_transaction), "0x" + signed.hash.hex().removeprefix("0x"),
                          bound)

    def acked(self, swap: SignedSwap) -> ChildAcked:
        """The ack of a signed swap: its hash is the venue order id, on the log before it is sent."""
        return self._acked(swap.child, swap.tx_hash)

    def send_and_settle(self, swap: SignedSwap) -> list[ExecEvent]:
        """Send an acked swap and turn its confirmed receipt into its one outcome."""
        if swap.child.child_id in self.reported:
            return []
        self.w3.eth.send_raw_transaction(swap.raw_tx)
        return self.resume(swap.child, swap.spec, swap.tx_hash, swap.bound)

    def submit(self, swap: SignedSwap) -> list[ExecEvent]:
        """Send, wait for the receipt (and confirmations), turn it into events."""
        child = swap.child
        if child.child_id in self.reported:
            return []
        tx_hash = self.w3.eth.send_raw_transaction(swap.raw_tx)
        out: list[ExecEvent] = [self._acked(child, swap.tx_hash)]
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_S)
        self._wait_confirmations(int(receipt["blockNumber"]))
        if receipt["status"] != 1:
            out.append(self._rejected(child, "reverted", f"swap {swap.tx_hash} reverted on chain (bound {swap.bound})"))
            return out
        out.append(self._fill(child, swap, receipt))
        return out

    def resume(self, child: ChildSubmitted, spec: PoolSpec, tx_hash: str, bound: int = 0) -> list[ExecEvent]:
        """After a restart: the child's swap was signed and acked (its hash is the ack's venue
        order id) but no outcome was recorded. Never re-sign: the node either knows the
        transaction (wait for its receipt: one fill or one rejection) or it never left, and since
        its nonce is then unused nothing can execute, so the child is rejected `not_sent`."""
        if child.child_id in self.reported:
            return []
        if self._tx_known(tx_hash) is False:
            return [self._rejected(child, "not_sent", f"swap {tx_hash} never reached the node")]
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_S)  # type: ignore[arg-type]
        self._wait_confirmations(int(receipt["blockNumber"]))
        if receipt["status"] != 1:
            return [self._rejected(child, "reverted", f"swap {tx_hash} reverted on chain")]
        return [self._fill(child, SignedSwap(child, spec, b"", tx_hash, bound), receipt)]

    def _tx_known(self, tx_hash: str) -> bool:
        try:
            return self.w3.eth.get_transaction(tx_hash) is not None  # type: ignore[arg-type]
        except TransactionNotFound:
            return False

    def execute(self, child: ChildSubmitted, spec: PoolSpec, state: PoolState,
                max_slippage_bps: int) -> list[ExecEvent]:
        built = self.build(child, spec, state, max_slippage_bps)
        if isinstance(built, ChildRejected):
            return [built]
        return self.submit(built)

    def _wait_confirmations(self, block: int) -> None:
        # A DEX child is filled only once its block has `confirmations` blocks on top (itself = 1).
        while self.w3.eth.block_number < block + self.confirmations - 1:
            time.sleep(0.2)  # polling the node for new blocks, as a light client does

    # --- receipt -> events ----------------------------------------------------------------
    def swap_amounts(self, spec: PoolSpec, receipt: Any) -> tuple[int, int]:
        """(base raw, quote raw) that moved, from the pool's own Swap log."""
        for log in receipt["logs"]:
            if log["address"].lower() != spec.address.lower() or not log["topics"]:
                continue
            topic = "0x" + bytes(log["topics"][0]).hex().removeprefix("0x")
            data = bytes(log["data"])
            words = [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]
            if spec.kind == "v2" and topic == abi.TOPIC_V2_SWAP:
                a0in, a1in, a0out, a1out = words[:4]
                d0, d1 = a0in + a0out, a1in + a1out
            elif spec.kind == "v3" and topic == abi.TOPIC_V3_SWAP:
                def signed(w: int) -> int:
                    return w - (1 << 256) if w >> 255 else w
                d0, d1 = abs(signed(words[0])), abs(signed(words[1]))
            else:
                continue
            return (d0, d1) if spec.base_is_token0 else (d1, d0)
        raise ValueError(f"no Swap log of pool {spec.address} in the receipt")

    def _fill(self, child: ChildSubmitted, swap: SignedSwap, receipt: Any) -> FillRecorded:
        spec = swap.spec
        base_raw, quote_raw = self.swap_amounts(spec, receipt)
        qty_1e8 = spec.base_qty_1e8(base_raw)
        # px = (quote / 10^qd) / (base / 10^bd), x 1e9; rounded against us (buy up, sell down)
        num = quote_raw * PX_SCALE * 10**spec.base.decimals
        den = base_raw * 10**spec.quote.decimals
        px = -(-num // den) if child.side == "buy" else num // den
        gas_wei = int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice") or 0)
        tx_hash = swap.tx_hash
        self.reported.add(child.child_id)
        return FillRecorded(
            event_id=derive_id("evm.fill", child.child_id), ts_ns=self.clock_ns(), tenant=child.tenant,
            causation_id=child.event_id, correlation_id=child.correlation_id,
            fill_id=f"{tx_hash}:{spec.address.lower()}", child_id=child.child_id,
            client_order_id=child.client_order_id, graph_id=child.graph_id, node_id=child.node_id,
            venue=self.venue, symbol=child.symbol, side=child.side, qty_1e8=qty_1e8, px_1e9=px,
            fee_usd_1e9=0,  # the pool fee is inside the price; gas is in the native asset below
            liquidity="taker", is_sandbox=False, ts_event_ns=self.clock_ns(), venue_order_id=tx_hash,
            fee_asset=self.native_asset, fee_qty_1e8=-(-gas_wei // WEI_PER_ETH_1E8),
        )

    def _acked(self, child: ChildSubmitted, tx_hash: str) -> ChildAcked:
        return ChildAcked(
            event_id=derive_id("evm.ack", child.child_id), ts_ns=self.clock_ns(), tenant=child.tenant,
            causation_id=child.event_id, correlation_id=child.correlation_id, child_id=child.child_id,
            venue=self.venue, client_order_id=child.client_order_id, venue_order_id=tx_hash,
            ts_event_ns=self.clock_ns(), graph_id=child.graph_id, node_id=child.node_id,
        )

    def _rejected(self, child: ChildSubmitted, code: str, message: str) -> ChildRejected:
        self.reported.add(child.child_id)
        return ChildRejected(
            event_id=derive_id("evm.reject", child.child_id), ts_ns=self.clock_ns(), tenant=child.tenant,
            causation_id=child.event_id, correlation_id=child.correlation_id, child_id=child.child_id,
            venue=self.venue, client_order_id=child.client_order_id, code=code, message=message[:300],
            graph_id=child.graph_id, node_id=child.node_id,
        )
