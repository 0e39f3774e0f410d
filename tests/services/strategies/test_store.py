"""Strategy definitions: secrets sealed with the tenant's vault data key, safe artifact unpacking."""

from __future__ import annotations

import base64
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from services.settings import Settings
from services.strategies.supervisor import Limits
from services.strategies.store import (
    SECRETS_PURPOSE,
    ArtifactError,
    StrategyRecord,
    StrategyStore,
    decode_artifact,
    normalise_entrypoint,
    open_payload,
    seal_payload,
    unpack_artifact,
)
from services.vault import VaultError, open_vault

SECRET = "sk-STRATEGY-SECRET-31337"


def test_secrets_are_sealed_with_the_tenant_data_key_and_bound_to_tenant_and_purpose(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    vault = open_vault(settings)
    try:
        sealed = vault.seal("acme", SECRETS_PURPOSE, seal_payload("seq_test_k", {"TOKEN": SECRET}))
        assert SECRET not in sealed and SECRET.encode() not in base64.b64decode(sealed)
        assert open_payload(vault.unseal("acme", SECRETS_PURPOSE, sealed)) == ("seq_test_k", {"TOKEN": SECRET})
        vault.seal("other", SECRETS_PURPOSE, b"x")  # gives tenant `other` its own data key
        with pytest.raises(VaultError):
            vault.unseal("other", SECRETS_PURPOSE, sealed)  # another tenant's key fails the GCM tag
        with pytest.raises(VaultError):
            vault.unseal("acme", "venue-credentials", sealed)  # sealed for another purpose
        tampered = base64.b64encode(base64.b64decode(sealed)[:-1] + b"\0").decode()
        with pytest.raises(VaultError):
            vault.unseal("acme", SECRETS_PURPOSE, tampered)
    finally:
        vault.close()
    assert SECRET.encode() not in (settings.data_dir / "vault.sqlite").read_bytes()


def _tar(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink is not None:
            link = tarfile.TarInfo("link")
            link.type, link.linkname = tarfile.SYMTYPE, symlink
            tf.addfile(link)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("pack", [_tar, _zip])
def test_a_tar_or_zip_project_unpacks_and_names_its_entrypoint(tmp_path: Path, pack: object) -> None:
    raw = pack({"./bot/main.py": b"print(1)\n", "bot/util.py": b"X = 1\n"})  # type: ignore[operator]
    files = unpack_artifact(raw, tmp_path / "p")
    assert (tmp_path / "p" / "bot" / "main.py").read_text() == "print(1)\n"
    assert normalise_entrypoint("bot/main.py", files) == "bot/main.py"
    with pytest.raises(ArtifactError, match="not in the artifact"):
        normalise_entrypoint("bot/other.py", files)
    with pytest.raises(ArtifactError, match=r"\.py"):
        normalise_entrypoint("bot/util.txt", files)


@pytest.mark.parametrize(
    "raw",
    [_tar({"../escape.py": b"x"}), _zip({"/abs.py": b"x"}), _zip({"a/../../escape.py": b"x"}),
     _tar({"main.py": b"x"}, symlink="/etc/passwd"), b"not an archive at all"],
)
def test_unsafe_or_unreadable_artifacts_are_refused(tmp_path: Path, raw: bytes) -> None:
    with pytest.raises(ArtifactError):
        unpack_artifact(raw, tmp_path / "p")
    assert not (tmp_path / "escape.py").exists()


def test_artifact_base64_is_checked() -> None:
    with pytest.raises(ArtifactError):
        decode_artifact("***")
    with pytest.raises(ArtifactError):
        decode_artifact("")
    assert decode_artifact(base64.b64encode(b"abc").decode()) == b"abc"


def test_records_survive_reopening_the_store_and_hold_only_sealed_secrets(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    vault = open_vault(settings)
    try:
        store = StrategyStore(tmp_path / "strategies")
        workdir = store.project_dir("acme", "strat_1")
        unpack_artifact(_zip({"main.py": b"print(1)\n"}), workdir)
        record = StrategyRecord(
            strategy_id="strat_1", tenant="acme", name="n", runtime="python", entrypoint="main.py", created_ns=5,
            artifact_sha256="ab", workdir=workdir, limits=Limits(memory_bytes=64 * 2**20, wall_clock_s=9.5),
            key_id="key_1", owns_key=True, sealed=vault.seal("acme", SECRETS_PURPOSE, seal_payload("k", {"T": SECRET})),
            secret_names=["T"], env={"MODE": "x"}, resources={"memory": "64Mi"}, desired_state="running",
        )
        store.add(record)
        record.desired_state = "stopped"
        store.save(record)
        reopened = StrategyStore(tmp_path / "strategies")
        assert reopened.get("acme", "strat_1") == record and reopened.get("other", "strat_1") is None
        assert reopened.list("acme") == [record]
        assert SECRET not in (workdir.parent / "strategy.json").read_text()
        reopened.remove(record)
        assert not workdir.parent.exists() and StrategyStore(tmp_path / "strategies").list("acme") == []
    finally:
        vault.close()
