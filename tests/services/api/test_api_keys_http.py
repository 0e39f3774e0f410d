"""API keys over HTTP: create, list, use, rotate, revoke; tenant isolation; sandbox keys stay sandbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from services.api.app import create_app
from services.api.keys import IssuedKey, create_key, key_hash, well_formed
from services.bus import Bus
from services.settings import Settings


@pytest.fixture
async def http(bus: Bus, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.api.ledger_follower.wait_caught_up()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client


def auth(key: IssuedKey | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key if isinstance(key, str) else key.secret}"}


async def test_create_list_use_rotate_and_delete(
    http: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = create_key(settings, "acme", sandbox=False, now_ns=1)  # the tenant's first key: a live admin
    # Act: create
    created = await http.post("/v1/api_keys", json={"label": "bot", "sandbox": True}, headers=auth(owner))
    # Assert: the raw key once, with its record
    assert created.status_code == 201, created.text
    new = created.json()
    raw = new["api_key"]
    assert well_formed(raw) and raw.startswith("seq_test_")
    assert (new["label"], new["sandbox"], new["admin"], new["revoked_ns"]) == ("bot", True, False, None)
    assert new["created_ns"] > 0 and new["key_id"].startswith("key_")
    # List: both keys, never a secret or a hash
    listed = await http.get("/v1/api_keys", headers=auth(owner))
    assert listed.status_code == 200
    rows = listed.json()["api_keys"]
    assert [r["key_id"] for r in rows] == [owner.record.key_id, new["key_id"]]
    assert set(rows[0]) == {"key_id", "label", "sandbox", "admin", "created_ns", "revoked_ns"}
    for secret in (raw, owner.secret, key_hash(raw), key_hash(owner.secret)):
        assert secret not in listed.text
    # Use the new key
    account = await http.get("/v1/account", headers=auth(raw))
    assert account.status_code == 200 and account.json()["client_id"] == "acme" and account.json()["mode"] == "sandbox"
    # Rotate: the old key stops at once, the new one works, label and mode are kept
    rotated = await http.post(f"/v1/api_keys/{new['key_id']}/rotate", headers=auth(owner))
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["api_key"] != raw and second["key_id"] != new["key_id"]
    assert (second["label"], second["sandbox"], second["revoked_ns"]) == ("bot", True, None)
    assert (await http.get("/v1/account", headers=auth(raw))).status_code == 401
    assert (await http.get("/v1/account", headers=auth(second["api_key"]))).status_code == 200
    again = await http.post(f"/v1/api_keys/{new['key_id']}/rotate", headers=auth(owner))
    assert again.status_code == 409
    # Delete: revoked, idempotent (the first revocation time stays)
    deleted = await http.delete(f"/v1/api_keys/{second['key_id']}", headers=auth(owner))
    assert deleted.status_code == 200 and deleted.json()["revoked_ns"] is not None
    repeat = await http.delete(f"/v1/api_keys/{second['key_id']}", headers=auth(owner))
    assert repeat.status_code == 200 and repeat.json()["revoked_ns"] == deleted.json()["revoked_ns"]
    assert (await http.get("/v1/account", headers=auth(second["api_key"]))).status_code == 401
    revoked = {r["key_id"]: r["revoked_ns"] for r in (await http.get("/v1/api_keys", headers=auth(owner))).json()["api_keys"]}
    assert revoked[new["key_id"]] is not None and revoked[second["key_id"]] is not None
    assert revoked[owner.record.key_id] is None
    # Secrets never reach a log line
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert new["key_id"] in logged
    assert raw not in logged and second["api_key"] not in logged


async def test_a_tenant_never_sees_or_touches_another_tenants_keys(http: httpx.AsyncClient, settings: Settings) -> None:
    a = create_key(settings, "tenant-a", sandbox=False, now_ns=1)
    b = create_key(settings, "tenant-b", sandbox=False, now_ns=2)
    a_bot = create_key(settings, "tenant-a", sandbox=True, now_ns=3, label="a-bot")
    # Act
    b_list = (await http.get("/v1/api_keys", headers=auth(b))).json()["api_keys"]
    rotate = await http.post(f"/v1/api_keys/{a_bot.record.key_id}/rotate", headers=auth(b))
    delete = await http.delete(f"/v1/api_keys/{a_bot.record.key_id}", headers=auth(b))
    unknown = await http.delete("/v1/api_keys/key_0000000000000000", headers=auth(b))
    # Assert: 404 exactly like an unknown key, and A's key still works
    assert [r["key_id"] for r in b_list] == [b.record.key_id]
    assert rotate.status_code == delete.status_code == unknown.status_code == 404
    assert delete.json()["error"]["code"] == unknown.json()["error"]["code"] == "NOT_FOUND"
    assert (await http.get("/v1/account", headers=auth(a_bot))).status_code == 200
    assert a_bot.record.key_id in (await http.get("/v1/api_keys", headers=auth(a))).text


async def test_a_sandbox_key_only_mints_sandbox_keys(http: httpx.AsyncClient, settings: Settings) -> None:
    owner = create_key(settings, "acme", sandbox=False, now_ns=1)
    test_key = create_key(settings, "acme", sandbox=True, now_ns=2)
    # Act
    live = await http.post("/v1/api_keys", json={"label": "x", "sandbox": False}, headers=auth(test_key))
    rotate_live = await http.post(f"/v1/api_keys/{owner.record.key_id}/rotate", headers=auth(test_key))
    bare = await http.post("/v1/api_keys", headers={**auth(test_key), "Content-Type": "application/json"})
    # Assert
    assert live.status_code == 403 and live.json()["error"]["code"] == "FORBIDDEN"
    assert "sandbox (seq_test_) key can only create sandbox keys" in live.json()["error"]["message"]
    assert rotate_live.status_code == 403
    assert (await http.get("/v1/account", headers=auth(owner))).status_code == 200  # untouched
    # No body (the SDK sends none for {}): a key of the caller's own mode.
    assert bare.status_code == 201, bare.text
    assert bare.json()["sandbox"] is True and bare.json()["api_key"].startswith("seq_test_")
    assert len((await http.get("/v1/api_keys", headers=auth(owner))).json()["api_keys"]) == 3


async def test_admin_keys_are_guarded_and_revoking_yourself_applies_to_the_next_request(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = create_key(settings, "acme", sandbox=True, now_ns=1)  # admin (first key)
    trader = create_key(settings, "acme", sandbox=True, now_ns=2)
    # A non-admin key cannot rotate the admin key into one of its own.
    denied = await http.post(f"/v1/api_keys/{owner.record.key_id}/rotate", headers=auth(trader))
    assert denied.status_code == 403 and "admin" in denied.json()["error"]["message"]
    # Revoking the key you call with answers 200, then that key is 401.
    own = await http.delete(f"/v1/api_keys/{trader.record.key_id}", headers=auth(trader))
    assert own.status_code == 200 and own.json()["key_id"] == trader.record.key_id
    after = await http.get("/v1/api_keys", headers=auth(trader))
    assert after.status_code == 401 and after.json()["error"]["message"] == f"API key {trader.record.key_id} was revoked"
    # Label limits are the client's 400, not a 500.
    long = await http.post("/v1/api_keys", json={"label": "x" * 201}, headers=auth(owner))
    assert long.status_code == 400 and long.json()["error"]["code"] == "INVALID_PARAMS"


async def test_concurrent_rotations_of_one_key_leave_exactly_one_successor(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = create_key(settings, "acme", sandbox=False, now_ns=1)
    target = (await http.post("/v1/api_keys", json={"label": "bot", "sandbox": True}, headers=auth(owner))).json()
    # Act: ten rotations of the same key at once
    answers = await asyncio.gather(*(
        http.post(f"/v1/api_keys/{target['key_id']}/rotate", headers=auth(owner)) for _ in range(10)
    ))
    # Assert: one wins, the others are told so; only the winner's key works
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * 9, statuses
    [winner] = [r.json() for r in answers if r.status_code == 200]
    active = [r for r in (await http.get("/v1/api_keys", headers=auth(owner))).json()["api_keys"]
              if r["label"] == "bot" and r["revoked_ns"] is None]
    assert [r["key_id"] for r in active] == [winner["key_id"]]
    assert (await http.get("/v1/account", headers=auth(winner["api_key"]))).status_code == 200
