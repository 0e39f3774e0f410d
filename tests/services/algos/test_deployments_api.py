"""/v1/deployments and /v1/algos through the published `sequence-markets` client, unmodified.

The module is checked and compiled before the answer (real wasmtime): bad modules get a 422
saying why, in the error envelope. No algo runner here: the instances stay `pending`, and the
lifecycle (deploy, stop, start, undeploy) is read back from the events the API appended."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import wasmtime
from sequence_markets import Sequence, SequenceError

from services.api.keys import create_key
from tests.services.conftest import Stack

MINIMAL_WAT = """
(module
  (import "env" "host_log_impl" (func $log (param i32 i32 i32)))
  (memory (export "memory") 4)
  (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
  (func (export "algo_on_book") (param i32 i32) (result i32) (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000))
  (func (export "algo_on_fill") (param i32 i32))
  (func (export "algo_on_reject") (param i32))
  (func (export "algo_on_shutdown") (param i32) (result i32) (i32.const 0x2F000)))
"""
WASI_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "algo_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "algo_on_book") (param i32 i32) (result i32) (i32.const 0)))
"""
UNKNOWN_IMPORT_WAT = MINIMAL_WAT.replace('"env" "host_log_impl"', '"env" "open_socket"')
NO_BOOK_WAT = """(module (memory (export "memory") 1) (func (export "algo_alloc") (param i32) (result i32) (i32.const 0)))"""


def wasm_file(tmp_path: Path, wat: str, name: str = "algo.wasm") -> str:
    path = tmp_path / name
    path.write_bytes(wasmtime.wat2wasm(wat))
    return str(path)


async def test_deploy_status_stop_start_undeploy_through_the_sdk(stack: Stack, tmp_path: Path) -> None:
    seq = stack.seq
    path = wasm_file(tmp_path, MINIMAL_WAT)

    deployed = await stack.call(seq.deploy_algo, "mm", path, ["BTC-USDT", "hedge=BTC-USDT@okx"])

    assert deployed["deployment_id"].startswith("dep_") and deployed["name"] == "mm"
    assert deployed["size_bytes"] == Path(path).stat().st_size and len(deployed["wasm_sha256"]) == 64
    assert deployed["capable_edges"] == ["binance", "okx"] and deployed["pushed_to"] == ["binance", "okx"]
    assert [(e["instance_id"], e["label"], e["status"]) for e in deployed["edges"]] == [
        ("BTC-USDT@binance", "BTC-USDT@binance", "pending"), ("BTC-USDT@okx", "hedge", "pending"),
    ]
    assert "algo_on_book" in deployed["exports"]
    dep_id = deployed["deployment_id"]
    assert (await stack.call(seq.algo_status, dep_id))["status"] == "pending"

    listed = await stack.call(seq.algos, "edge")
    assert [a["symbol"] for a in listed["algos"]] == ["BTC-USDT"] and listed["algos"][0]["status"] == "pending"
    assert {e["edge_id"] for e in listed["edges"]} == {"binance", "okx"}
    assert {e["deploy_id"] for e in listed["edges"]} == {dep_id}
    assert "edges" not in await stack.call(seq.algos)
    one = await stack.call(seq.algo, "BTC-USDT")
    assert one["symbol"] == "BTC-USDT" and len(one["edges"]) == 2

    await stack.call(seq.algo_stop, dep_id)
    assert (await stack.call(seq.algo_status, dep_id))["status"] == "stopped"
    await stack.call(seq.algo_start_by_symbol, "BTC-USDT")
    assert (await stack.call(seq.algo_status, dep_id))["status"] == "pending"
    await stack.call(seq.algo_stop_by_symbol, "BTC-USDT")
    stats = await stack.call(seq.algo_stats, "BTC-USDT")
    assert stats["status"] == "stopped" and stats["update_count"] == 0 and stats["position_1e8"] == 0
    assert (await stack.call(seq.algo_logs, dep_id))["logs"] == []
    mesh = await stack.call(seq.algo_mesh, dep_id)
    assert [i["label"] for i in mesh["instances"]] == ["BTC-USDT@binance", "hedge"] and mesh["links"] == []

    await stack.call(seq.algo_undeploy, dep_id)
    with pytest.raises(SequenceError) as missing:
        await stack.call(seq.algo_status, dep_id)
    assert missing.value.status == 404
    assert (await stack.call(seq.algos))["algos"] == []


@pytest.mark.parametrize(
    ("wat", "symbols", "message"),
    [
        (WASI_WAT, ["BTC-USDT"], "the module imports WASI (wasi_snapshot_preview1.fd_write)"),
        (UNKNOWN_IMPORT_WAT, ["BTC-USDT"], "the module imports unknown function env.open_socket"),
        (NO_BOOK_WAT, ["BTC-USDT"], "exports neither algo_on_book nor algo_on_book_v3"),
        (MINIMAL_WAT, ["DOGE-XYZ"], "no venue edge quotes 'DOGE-XYZ'"),
        (MINIMAL_WAT, ["BTC-USDT@kraken"], "venue 'kraken' does not quote 'BTC-USDT'"),
        (MINIMAL_WAT, ["BTC-USDT", "BTC-USDT@binance"], "same instance"),
    ],
)
async def test_bad_modules_and_symbols_are_refused_with_the_reason(
    stack: Stack, tmp_path: Path, wat: str, symbols: list[str], message: str
) -> None:
    with pytest.raises(SequenceError) as refused:
        await stack.call(stack.seq.deploy_algo, "bad", wasm_file(tmp_path, wat), symbols)
    assert refused.value.status == 422 and message in str(refused.value)
    assert (await stack.call(stack.seq.algos))["algos"] == []


async def test_not_wasm_is_refused_and_deployments_are_tenant_scoped(stack: Stack, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"#!/bin/sh\necho hi\n")
    with pytest.raises(SequenceError) as refused:
        await stack.call(stack.seq.deploy_algo, "junk", str(junk), ["BTC-USDT"])
    assert refused.value.status == 422 and "not a WebAssembly binary" in str(refused.value)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        raw = await client.post("/v1/deployments", json={"name": "x", "wasm_base64": "%%%", "symbols": ["BTC-USDT"]},
                                headers={"Authorization": f"Bearer {stack.key}"})
    assert raw.status_code == 422 and raw.json()["error"]["details"][0]["field"] == "wasm_base64"

    mine = await stack.call(stack.seq.deploy_algo, "mine", wasm_file(tmp_path, MINIMAL_WAT), ["BTC-USDT"])
    other_key = create_key(stack.settings, "other", sandbox=True, now_ns=time.time_ns()).secret
    other = Sequence(other_key, base_url=stack.base_url, max_retries=0)
    with pytest.raises(SequenceError) as hidden:
        await stack.call(other.algo_status, mine["deployment_id"])
    assert hidden.value.status == 404
    with pytest.raises(SequenceError):
        await stack.call(other.algo_stop, mine["deployment_id"])
    assert (await stack.call(other.algos))["algos"] == []
    assert (await stack.call(stack.seq.algo_status, mine["deployment_id"]))["status"] == "pending"
