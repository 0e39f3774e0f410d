"""`crossbook keys`: create prints the key last, list never shows keys, revoke takes effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.api.keys import open_key_store, well_formed
from services.cli.main import app
from services.settings import Settings


def test_create_prints_the_key_last_then_list_and_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    monkeypatch.setenv("CROSSBOOK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CROSSBOOK_DATABASE_URL", "")
    runner = CliRunner()
    settings = Settings(data_dir=tmp_path / "data", database_url="", _env_file=None)
    # Act
    owner = runner.invoke(app, ["keys", "create", "--tenant", "acme"])
    trader = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--sandbox"])
    # Assert
    assert owner.exit_code == 0, owner.output
    owner_key = owner.output.strip().splitlines()[-1]
    trader_key = trader.output.strip().splitlines()[-1]
    assert well_formed(owner_key) and owner_key.startswith("seq_live_")
    assert well_formed(trader_key) and trader_key.startswith("seq_test_")
    store = open_key_store(settings)
    try:
        o, t = store.lookup(owner_key), store.lookup(trader_key)
        assert o is not None and t is not None
        assert (o.tenant, o.is_admin, o.is_sandbox) == ("acme", True, False)  # the first key is the owner
        assert (t.tenant, t.is_admin, t.is_sandbox) == ("acme", False, True)
        listed = runner.invoke(app, ["keys", "list"])
        assert listed.exit_code == 0 and o.key_id in listed.output and t.key_id in listed.output
        assert owner_key not in listed.output and trader_key not in listed.output
        revoked = runner.invoke(app, ["keys", "revoke", t.key_id])
        assert revoked.exit_code == 0 and revoked.output.strip() == f"revoked {t.key_id} (tenant acme)"
        after = store.lookup(trader_key)
        assert after is not None and after.revoked
        missing = runner.invoke(app, ["keys", "revoke", "key_nope"])
        assert missing.exit_code == 1
    finally:
        store.close()
