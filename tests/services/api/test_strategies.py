"""Hosted strategies over HTTP with the published client: a strategy trades in sandbox with its
own key, logs, stops; limits stop a run with a reason; secrets never come back."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import textwrap
import time
from typing import Any

import pytest
from sequence_markets import Sequence, SequenceError

from events import AnyEvent
from events.strategies import StrategyCreated, StrategyDeleted, StrategyStarted, StrategyStopped
from projections.follower import StreamFollower
from services.api.keys import create_key, key_id_of
from tests.services.conftest import Stack

SECRET = "hunter2-strategy-secret"
TIMEOUT_S = 60.0

TRADE = """
    import hashlib, os, time
    from sequence_markets import Sequence
    key = os.environ["SEQUENCE_API_KEY"]
    print("KEY", "key_" + hashlib.sha256(key.encode()).hexdigest()[:16])
    print("SECRET", os.environ["TOKEN"], "MODE", os.environ["MODE"])
    seq = Sequence(key, base_url=os.environ["SEQUENCE_BASE_URL"], max_retries=0)
    order = seq.buy("BTC-USDT", 0.01)
    print("ORDER", order["graph_id"], flush=True)
    while True:  # the strategy's own loop, unbounded: the test's wait on the bus bounds it
        status = seq.graph_status(order["graph_id"])
        if status["status"] not in ("PENDING", "RUNNING", "ACTIVE", "WORKING", "OPEN"):
            break
        time.sleep(0.05)
    nodes = status["nodes"]
    node = next(iter(nodes.values())) if isinstance(nodes, dict) else nodes[0]
    print("FILLED", status["status"], node["filled_qty_1e8"])
"""
IDLE = """
    import time
    print("idling", flush=True)
    while True:
        time.sleep(60)
"""
HOG = """
    hog = bytearray(1024 * 1024 * 1024)
"""
SPIN = """
    while True:
        pass
"""


def artifact(files: dict[str, str]) -> str:
    """A project as `sequence strategy push` sends it: a tar.gz, base64."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, source in files.items():
            data = textwrap.dedent(source).encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


PROJECT = artifact({"trade.py": TRADE, "idle.py": IDLE, "hog.py": HOG, "spin.py": SPIN})


class Lifecycle:
    """The strategy events on the bus, as a follower of the LEDGER stream sees them."""

    def __init__(self, stack: Stack) -> None:
        self.events: list[AnyEvent] = []
        self.follower = StreamFollower(stack.api.bus, "LEDGER", ["strat.>"], lambda e, _seq: self.events.append(e))

    def stopped(self, strategy_id: str) -> list[StrategyStopped]:
        return [e for e in self.events if isinstance(e, StrategyStopped) and e.strategy_id == strategy_id]

    async def until_stopped(self, strategy_id: str) -> StrategyStopped:
        await self.follower.wait_until(lambda: bool(self.stopped(strategy_id)), timeout=TIMEOUT_S)
        return self.stopped(strategy_id)[-1]


@pytest.fixture
async def lifecycle(stack: Stack) -> Any:
    watch = Lifecycle(stack)
    await watch.follower.start()
    try:
        yield watch
    finally:
        await watch.follower.stop()


async def test_a_hosted_strategy_trades_in_sandbox_with_its_own_key_logs_and_stops(
    stack: Stack, lifecycle: Lifecycle
) -> None:
    seq = stack.seq
    created = await stack.call(
        seq.create_strategy, "btc dip buyer", "python", "trade.py", PROJECT, start_immediately=True,
        env={"MODE": "paper"}, secrets={"TOKEN": SECRET}, resources={"memory": "512Mi", "cpu_seconds": 60},
    )
    strategy_id = created["strategy_id"]
    assert created["desired_state"] == "running" and created["secret_names"] == ["TOKEN"]
    assert created["env"] == {"MODE": "paper"} and created["limits"]["memory_bytes"] == 512 * 2**20
    assert created["key_id"] != key_id_of(stack.key)  # a key minted for the strategy, not the caller's
    minted = stack.api.keys.get(created["key_id"])
    assert minted is not None and minted.tenant == "acme" and minted.is_sandbox and not minted.is_admin

    stopped = await lifecycle.until_stopped(strategy_id)
    assert (stopped.reason, stopped.exit_code, stopped.tenant) == ("exited", 0, "acme")
    logs = await stack.call(seq.strategy_logs, strategy_id)
    lines = {x["line"].split(" ", 1)[0]: x["line"] for x in logs["lines"] if x["stream"] == "stdout"}
    assert lines["KEY"] == f"KEY {created['key_id']}"  # it traded with its own key
    assert lines["SECRET"] == "SECRET *** MODE paper"  # the secret reached it, and never its logs
    graph_id = lines["ORDER"].split()[1]
    assert lines["FILLED"].split()[1] == "COMPLETED" and int(lines["FILLED"].split()[2]) == 1_000_000
    # The caller's account sees the strategy's order filled in sandbox.
    status = await stack.call(seq.graph_status, graph_id)
    assert status["status"] == "COMPLETED"

    got = await stack.call(seq.strategy, strategy_id)
    assert got["status"] == "stopped" and got["last_run"]["reason"] == "exited"
    assert got["last_run"]["run_id"] == logs["run_id"]
    listed = await stack.call(seq.strategies)
    assert [s["strategy_id"] for s in listed["strategies"]] == [strategy_id]
    for body in (created, got, listed, logs):
        assert SECRET not in json.dumps(body)

    # Start and stop over the API: a long-running strategy, stopped with SIGTERM.
    idle = await stack.call(seq.create_strategy, "idler", "python", "./idle.py", PROJECT)
    assert idle["status"] == "created" and idle["desired_state"] == "stopped"
    running = await stack.call(seq.strategy_start, idle["strategy_id"])
    assert running["status"] == "running" and running["desired_state"] == "running"
    halted = await stack.call(seq.strategy_stop, idle["strategy_id"])
    assert halted["status"] == "stopped" and halted["last_run"]["reason"] == "stopped"
    assert (await lifecycle.until_stopped(idle["strategy_id"])).reason == "stopped"

    # Deleting revokes the strategy's key; it is gone from the API.
    await stack.call(seq.strategy_delete, strategy_id)
    revoked = stack.api.keys.get(created["key_id"])
    assert revoked is not None and revoked.revoked
    with pytest.raises(SequenceError) as missing:
        await stack.call(seq.strategy, strategy_id)
    assert missing.value.status == 404
    kinds = [type(e) for e in lifecycle.events if getattr(e, "strategy_id", None) == strategy_id]
    assert kinds == [StrategyCreated, StrategyStarted, StrategyStopped, StrategyDeleted]


@pytest.mark.parametrize(
    ("entrypoint", "resources", "reason"),
    [("hog.py", {"memory": "256Mi"}, "memory_limit"), ("spin.py", {"cpu_seconds": 1}, "cpu_limit")],
)
async def test_a_strategy_over_its_limit_is_stopped_with_the_reason_visible_over_the_api(
    stack: Stack, lifecycle: Lifecycle, entrypoint: str, resources: dict[str, Any], reason: str
) -> None:
    created = await stack.call(
        stack.seq.create_strategy, "greedy", "python", entrypoint, PROJECT, resources=resources, start_immediately=True
    )
    assert (await lifecycle.until_stopped(created["strategy_id"])).reason == reason
    got = await stack.call(stack.seq.strategy, created["strategy_id"])
    assert got["status"] == "failed" and got["last_run"]["reason"] == reason
    logs = await stack.call(stack.seq.strategy_logs, created["strategy_id"])
    assert logs["reason"] == reason and logs["lines"][-1]["stream"] == "supervisor"


async def test_bad_requests_answer_in_the_error_envelope_and_other_tenants_see_nothing(stack: Stack) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({}, 400),
        ({"name": "x", "runtime": "node", "entrypoint": "a.js", "artifact_base64": PROJECT}, 422),
        ({"name": "x", "runtime": "python", "entrypoint": "nope.py", "artifact_base64": PROJECT}, 422),
        ({"name": "x", "runtime": "python", "entrypoint": "trade.py", "artifact_base64": "%%%"}, 422),
        ({"name": "x", "runtime": "python", "entrypoint": "trade.py", "artifact_base64": PROJECT,
          "env": {"SEQUENCE_API_KEY": "mine"}}, 422),
        ({"name": "x", "runtime": "python", "entrypoint": "trade.py", "artifact_base64": PROJECT,
          "resources": {"memory": "1Ti"}}, 422),
        ({"name": "x", "runtime": "python", "entrypoint": "trade.py", "artifact_base64": PROJECT,
          "sequence_api_key": "seq_test_" + "0" * 64}, 403),
    ]
    for body, status in cases:
        with pytest.raises(SequenceError) as refused:
            await stack.call(stack.seq._post, "/v1/strategies", body)
        assert refused.value.status == status, (body.keys(), refused.value)
    mine = await stack.call(stack.seq.create_strategy, "mine", "python", "idle.py", PROJECT)
    other_key = create_key(stack.settings, "other", sandbox=True, now_ns=time.time_ns()).secret
    other = Sequence(other_key, base_url=stack.base_url, max_retries=0)
    assert (await stack.call(other.strategies)) == {"strategies": []}
    for client, strategy_id in ((stack.seq, "strat_unknown"), (other, mine["strategy_id"])):
        for call in (client.strategy, client.strategy_start, client.strategy_stop, client.strategy_logs,
                     client.strategy_delete):
            with pytest.raises(SequenceError) as unknown:
                await stack.call(call, strategy_id)
            assert unknown.value.status == 404
    assert (await stack.call(stack.seq.strategy, mine["strategy_id"]))["status"] == "created"
