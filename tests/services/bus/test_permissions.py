"""Least-privilege NATS users against a real nats-server running the users `crossbook natsd`
generates: each process's user publishes exactly the subjects of its writer roles
(events/subjects.py), a connection without credentials is refused, and every refusal is a
clear permission error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from events import new_event_id
from events.commands import EngageKillSwitch, FundSandbox
from events.execution import BalanceAdjusted, FillRecorded, PositionRedeemed
from events.graph import GraphPaused
from events.market import TradePrinted
from events.risk import FactRefused, KillSwitchEngaged
from events.sandbox import BalanceDelta, SandboxReset
from events.subjects import ALSO_WRITTEN_BY, WRITERS
from services.bus import Bus
from services.bus.credentials import ensure_seeds, seed_path
from services.bus.permissions import IDENTITIES, NotAuthorized, NotPermitted, event_subjects, inbox_prefix
from services.natsd import DEV_CONF, NatsServer, server_conf
from services.settings import Settings

DENIAL_TIMEOUT_S = 5.0  # far below the 10 s a publish waits for an ack that never comes
# The API's seed probing the trader's subjects with a raw nats-py client.
PROBED = ("risk.probe-a.acct", "exec.binance.probe-a", "exec._.probe-a", "route.probe-a.g_forged", "tca.probe-a.g_forged")


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Settings]:
    """A nats-server with the generated users, and settings whose data dir holds their seeds."""
    data = tmp_path / "data"
    conf = server_conf(DEV_CONF, tmp_path / "nats" / "server.conf", data_dir=data)
    server = NatsServer(tmp_path / "nats", config=conf)
    url = server.start()
    yield Settings(data_dir=data, nats_url=url, _env_file=None)
    server.stop()


@pytest.fixture
async def streams(secured: Settings) -> AsyncIterator[None]:
    admin = await Bus.connect(secured, name="admin", user="admin")
    await admin.ensure_streams()
    await admin.close()
    yield


def forged_fill() -> FillRecorded:
    # The issue's probe: a fill for a child and graph that never existed.
    return FillRecorded(
        event_id=new_event_id(), ts_ns=1, tenant="probe-a", fill_id="f-forged", child_id="c-forged",
        client_order_id="c-forged", graph_id="g_forged", node_id="order", venue="binance", symbol="BTC-USDT",
        side="buy", qty_1e8=100 * 10**8, px_1e9=10**9, fee_usd_1e9=0, liquidity="taker", is_sandbox=True,
    )


async def stored(bus: Bus, stream: str) -> int:
    return (await bus.js.stream_info(stream)).state.messages


async def test_the_api_user_cannot_append_risk_or_graph_facts_and_is_told_so(secured: Settings, streams: None) -> None:
    # Arrange
    api = await Bus.connect(secured, name="api", user="api")
    kill = KillSwitchEngaged(event_id=new_event_id(), ts_ns=1, tenant="probe-a", reason="forged")
    pause = GraphPaused(event_id=new_event_id(), ts_ns=1, tenant="probe-a", graph_id="g_forged", reason="forged")
    try:
        before = await stored(api, "LEDGER")
        # Act / Assert: each refusal comes at once and names the user and the subject.
        for event, subject in ((kill, "risk.probe-a.kill"), (pause, "ord.probe-a.g_forged")):
            with pytest.raises(NotPermitted) as denied:
                await asyncio.wait_for(api.publish(event), DENIAL_TIMEOUT_S)
            assert denied.value.subject == subject and denied.value.user == "api"
            assert str(denied.value) == f"NATS permission denied: user 'api' may not publish to '{subject}'"
        # ... while its own facts, the commands, go through.
        command = EngageKillSwitch(event_id=new_event_id(), ts_ns=2, tenant="probe-a", reason="r")
        ack = await api.publish(command)
        assert ack.stream == "LEDGER"
        assert await stored(api, "LEDGER") == before + 1
    finally:
        await api.close()


async def test_the_api_user_cannot_append_any_exec_or_risk_fact_only_the_commands_for_them(
    secured: Settings, streams: None
) -> None:
    # The sandbox book's facts are the executor's (the API appends SANDBOX_COMMANDS for them), so
    # the API's user holds no exec.> subject at all, nor any risk.> one.
    assert "exec.*.*" not in ALSO_WRITTEN_BY
    assert not any(p.startswith(("exec.", "risk.")) for p in event_subjects(IDENTITIES["api"].roles)[0])
    tenant = "probe-a"
    grant = BalanceAdjusted(event_id=new_event_id(), ts_ns=1, tenant=tenant, venue="binance", asset="USDT",
                            delta_qty_1e8=10**16, reason="paper_funding", is_sandbox=True)
    reset = SandboxReset(event_id=new_event_id(), ts_ns=1, tenant=tenant, request_id="r", cancelled=0, adjusted=[],
                         flattened=[])
    redeemed = PositionRedeemed(event_id=new_event_id(), ts_ns=1, tenant=tenant, venue="kalshi", symbol="KX-YES",
                                slug="kx", qty_1e8=10**8, settle_px_1e9=10**9, mode="auto_settled", is_sandbox=True)
    refused = FactRefused(event_id=new_event_id(), ts_ns=1, tenant=tenant, fact_event_id="x", fact_type="FillRecorded",
                          reason="unknown_child", child_id="c-forged", graph_id="g_forged", venue="binance")
    kill = KillSwitchEngaged(event_id=new_event_id(), ts_ns=1, tenant=tenant, reason="forged")
    api = await Bus.connect(secured, name="api", user="api")
    try:
        before = await stored(api, "LEDGER")
        for event, subject in (
            (forged_fill(), f"exec.binance.{tenant}"), (grant, f"exec.binance.{tenant}"), (reset, f"exec._.{tenant}"),
            (redeemed, f"exec.kalshi.{tenant}"), (refused, f"risk.{tenant}.anomaly"), (kill, f"risk.{tenant}.kill"),
        ):
            with pytest.raises(NotPermitted) as denied:
                await asyncio.wait_for(api.publish(event), DENIAL_TIMEOUT_S)
            assert str(denied.value) == f"NATS permission denied: user 'api' may not publish to '{subject}'"
        assert await stored(api, "LEDGER") == before
        # Its command for the same change goes through (the executor appends the facts).
        fund = FundSandbox(event_id=new_event_id(), ts_ns=1, tenant=tenant,
                           grants=[BalanceDelta(venue="binance", asset="USDT", delta_qty_1e8=10**8)])
        assert (await api.publish(fund)).stream == "LEDGER"
        assert await stored(api, "LEDGER") == before + 1
    finally:
        await api.close()


async def test_an_edge_cannot_append_to_ord_or_exec(secured: Settings, streams: None) -> None:
    edge = await Bus.connect(secured, name="edge-binance", user="edge")
    try:
        pause = GraphPaused(event_id=new_event_id(), ts_ns=1, tenant="t", graph_id="g1", reason="forged")
        for event in (pause, forged_fill()):
            with pytest.raises(NotPermitted, match="user 'edge' may not publish to '(ord|exec)\\."):
                await asyncio.wait_for(edge.publish(event), DENIAL_TIMEOUT_S)
        # Its market data goes through.
        trade = TradePrinted(event_id=new_event_id(), ts_ns=1, venue="binance", symbol="BTC-USDT",
                             px_1e9=10**9, qty_1e8=1, aggressor="buy")
        assert (await edge.publish(trade)).stream == "MD"
    finally:
        await edge.close()


async def test_a_refused_pipelined_publish_fails_at_once(secured: Settings, streams: None) -> None:
    # Arrange: an edge's batch of market data with one forged fill in it.
    edge = await Bus.connect(secured, name="edge-binance", user="edge")
    try:
        trade = TradePrinted(event_id=new_event_id(), ts_ns=1, venue="binance", symbol="BTC-USDT",
                             px_1e9=10**9, qty_1e8=1, aggressor="buy")
        # Act / Assert: the server's refusal ends the wait, long before the batch's ack timeout.
        with pytest.raises(NotPermitted, match="user 'edge' may not publish to 'exec\\."):
            await asyncio.wait_for(edge.publish_many([trade, forged_fill()], timeout_s=60), DENIAL_TIMEOUT_S)
        assert edge.denials is not None and not edge.denials.waiting  # nothing left registered
    finally:
        await edge.close()


async def test_the_issue_probe_script_with_api_credentials_stores_nothing(secured: Settings, streams: None) -> None:
    # The issue's ten-line nats-py script, now holding the API's seed, on the trader's subjects
    # (the exec.* ones: a forged fill, and the sandbox book's facts the API once appended).
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        secured.nats_url, nkeys_seed=str(seed_path(secured.data_dir, "api")),
        inbox_prefix=inbox_prefix("api"), error_cb=on_error, allow_reconnect=False,
    )
    try:
        js = nc.jetstream()
        for subject in PROBED:
            with pytest.raises(nats.errors.TimeoutError):
                await js.publish(subject, b"forged", timeout=1.0)
        assert [str(e) for e in errors] == [
            f'nats: permissions violation for publish to "{s}"'
            for s in PROBED
        ]
        # Nor can it read another user's replies, or change a stream.
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request("$JS.API.STREAM.PURGE.LEDGER", b"", timeout=1.0)
        assert str(errors[-1]) == 'nats: permissions violation for publish to "$js.api.stream.purge.ledger"'  # nats-py lowercases
    finally:
        await nc.close()


async def test_a_client_without_credentials_cannot_connect(secured: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotAuthorized, match="refused a connection without credentials: authorization violation"):
        await Bus.connect(secured, name="anonymous", wait_s=10)
    # Nor with a seed the server does not know (a fresh data dir's).
    stranger = secured.model_copy(update={"data_dir": tmp_path / "elsewhere"})
    ensure_seeds(stranger.data_dir)
    with pytest.raises(NotAuthorized, match="refused user 'trader'"):
        await Bus.connect(stranger, name="stranger", user="trader", wait_s=10)


async def test_only_admin_changes_a_stream(secured: Settings, streams: None) -> None:
    # A service's user may run ensure_streams (nothing to change), but not change a stream.
    trader = await Bus.connect(secured, name="trader", user="trader")
    try:
        await trader.ensure_streams()
        shorter = await Bus.connect(secured.model_copy(update={"md_max_age_s": 60}), name="trader", user="trader")
        try:
            with pytest.raises(NotPermitted, match="user 'trader' may not publish to '\\$JS.API.STREAM.UPDATE.MD'"):
                await asyncio.wait_for(shorter.ensure_streams(), DENIAL_TIMEOUT_S)
        finally:
            await shorter.close()
        assert (await trader.js.stream_info("MD")).config.max_age == secured.md_max_age_s
    finally:
        await trader.close()


def sample(pattern: str) -> str:
    return ".".join("x" if t == "*" else t for t in pattern.split("."))


async def test_every_user_publishes_exactly_its_roles_subjects(secured: Settings, streams: None) -> None:
    # Arrange: one subject per WRITERS pattern, and what the table says each user may write.
    # Act: every user publishes on every subject (core publish: the server checks the same
    # permission); the violations come back on each connection's error callback.
    refused: dict[str, set[str]] = {}
    for user, identity in IDENTITIES.items():
        allowed, _ = event_subjects(identity.roles)
        expected = len(WRITERS) - len(allowed)
        denied: set[str] = set()
        all_in = asyncio.Event()

        async def on_error(
            exc: Exception, denied: set[str] = denied, all_in: asyncio.Event = all_in, expected: int = expected
        ) -> None:
            denied.add(str(exc).rsplit(" ", 1)[-1].strip('"'))  # lowercased by nats-py: samples are lowercase
            if len(denied) >= expected:
                all_in.set()

        nc = await nats.connect(secured.nats_url, nkeys_seed=str(seed_path(secured.data_dir, user)),
                                inbox_prefix=inbox_prefix(user), error_cb=on_error, allow_reconnect=False)
        for pattern, _ in WRITERS:
            await nc.publish(sample(pattern), b"probe")
        await asyncio.wait_for(all_in.wait(), 10)
        await nc.flush()  # a refusal beyond the expected ones would have come before this answer
        await nc.close()
        refused[user] = denied
    # Assert: allowed exactly where the role (or ALSO_WRITTEN_BY) writes.
    for user, identity in IDENTITIES.items():
        allowed, _ = event_subjects(identity.roles)
        expected = {sample(p) for p, _ in WRITERS if p not in allowed}
        assert refused[user] == expected, user
    assert refused["reader"] == refused["admin"] == {sample(p) for p, _ in WRITERS}
    assert "exec.x.x" in refused["edge"] and "ord.x.x" in refused["edge"] and "md.x.x.x" not in refused["edge"]
    assert {"exec.x.x", "risk.x.acct", "risk.x.kill", "risk.x.anomaly"} <= refused["api"] and "cmd.x" not in refused["api"]
