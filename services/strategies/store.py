"""Hosted strategies' definitions: unpacked projects on disk, sealed secrets, one record each.

A strategy's project is unpacked once, at creation, into
`data_dir/strategies/<tenant hash>/<id>/project` (the run's working directory), next to its record
`strategy.json`, which the store reads back when it opens. Its secrets and the raw key it trades
with are sealed with the tenant's vault data key (`Vault.seal`, AES-256-GCM) before they reach the
record, and opened only to launch a run. The lifecycle is on the bus as `events.strategies`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import shutil
import tarfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from services.strategies.supervisor import Limits

MAX_ARTIFACT_BYTES = 8 * 2**20
MAX_UNPACKED_BYTES = 64 * 2**20
MAX_FILES = 2000
SECRETS_PURPOSE = "strategy-secrets"


class ArtifactError(ValueError):
    """The uploaded project cannot be used (not base64, not a tar/zip, unsafe or too large)."""


@dataclass
class StrategyRecord:
    strategy_id: str
    tenant: str
    name: str
    runtime: str
    entrypoint: str
    created_ns: int
    artifact_sha256: str
    workdir: Path
    limits: Limits
    key_id: str
    owns_key: bool  # minted for this strategy: revoked when it is deleted
    sealed: str = field(repr=False)  # {"api_key", "secrets"} sealed with the tenant's data key
    secret_names: list[str]
    env: dict[str, str]
    manifest: Any = None
    placement: Any = None
    risk: Any = None
    resources: Any = None
    desired_state: str = "stopped"


def decode_artifact(artifact_base64: str) -> bytes:
    try:
        raw = base64.b64decode(artifact_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ArtifactError("artifact_base64 is not valid base64") from exc
    if not raw:
        raise ArtifactError("artifact_base64 is empty")
    if len(raw) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"artifact is {len(raw)} bytes; at most {MAX_ARTIFACT_BYTES}")
    return raw


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ArtifactError(f"artifact member {name!r} leaves the project directory")
    return path


def unpack_artifact(raw: bytes, dest: Path) -> list[str]:
    """Unpack a zip or a (compressed) tar into `dest`; returns the regular files' relative paths.
    Links, devices and paths outside `dest` are refused, as are archives that unpack too large."""
    dest.mkdir(parents=True)
    files: list[str] = []
    total = 0
    if zipfile.is_zipfile(io.BytesIO(raw)):
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            for info in infos:
                _safe_name(info.filename)
                total += info.file_size
            if len(infos) > MAX_FILES or total > MAX_UNPACKED_BYTES:
                raise ArtifactError("artifact unpacks to too many files or bytes")
            for info in infos:
                target = dest / _safe_name(info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                files.append(str(PurePosixPath(info.filename)))
        return files
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tf:
            members = tf.getmembers()
            for m in members:
                _safe_name(m.name)
                if not (m.isfile() or m.isdir()):
                    raise ArtifactError(f"artifact member {m.name!r} is not a regular file or directory")
                total += m.size
            regular = [m for m in members if m.isfile()]
            if len(regular) > MAX_FILES or total > MAX_UNPACKED_BYTES:
                raise ArtifactError("artifact unpacks to too many files or bytes")
            tf.extractall(dest, members=members, filter="data")
            files = [str(PurePosixPath(m.name)) for m in regular]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArtifactError(f"artifact is neither a zip nor a tar archive: {exc}") from exc
    return files


def artifact_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def normalise_entrypoint(entrypoint: str, files: list[str]) -> str:
    """The entrypoint as a path inside the project; it must be one of the unpacked `.py` files."""
    path = str(_safe_name(entrypoint.removeprefix("./")))
    if not path.endswith(".py"):
        raise ArtifactError("entrypoint must be a .py file of the project")
    if path not in {str(PurePosixPath(f.removeprefix("./"))) for f in files}:
        raise ArtifactError(f"entrypoint {entrypoint!r} is not in the artifact")
    return path


def seal_payload(api_key: str, secrets: dict[str, str]) -> bytes:
    return json.dumps({"api_key": api_key, "secrets": secrets}).encode()


def open_payload(plaintext: bytes) -> tuple[str, dict[str, str]]:
    doc = json.loads(plaintext)
    return doc["api_key"], doc["secrets"]


RECORD_FILE = "strategy.json"


def _record_doc(record: StrategyRecord) -> dict[str, Any]:
    doc = asdict(record)
    doc["workdir"] = str(record.workdir)
    return doc


def _record_of(doc: dict[str, Any]) -> StrategyRecord:
    return StrategyRecord(**{**doc, "workdir": Path(doc["workdir"]), "limits": Limits(**doc["limits"])})


class StrategyStore:
    """The strategies of every tenant; ids are unique across tenants, reads are per tenant."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._records: dict[str, StrategyRecord] = {}
        for path in sorted(root.glob(f"*/*/{RECORD_FILE}")):
            record = _record_of(json.loads(path.read_text()))
            self._records[record.strategy_id] = record

    def save(self, record: StrategyRecord) -> None:
        """Write the record next to its project (atomically: a crash leaves the old or the new)."""
        path = record.workdir.parent / RECORD_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_record_doc(record)))
        os.replace(tmp, path)

    def project_dir(self, tenant: str, strategy_id: str) -> Path:
        return self.root / hashlib.sha256(tenant.encode()).hexdigest()[:16] / strategy_id / "project"

    def add(self, record: StrategyRecord) -> None:
        self.save(record)
        self._records[record.strategy_id] = record

    def get(self, tenant: str, strategy_id: str) -> StrategyRecord | None:
        record = self._records.get(strategy_id)
        return record if record is not None and record.tenant == tenant else None

    def get_any(self, strategy_id: str) -> StrategyRecord | None:
        """Whichever tenant's it is: for the supervisor's own bookkeeping, never for a request."""
        return self._records.get(strategy_id)

    def list(self, tenant: str) -> list[StrategyRecord]:
        return sorted((r for r in self._records.values() if r.tenant == tenant), key=lambda r: r.created_ns)

    def count(self, tenant: str) -> int:
        return sum(1 for r in self._records.values() if r.tenant == tenant)

    def remove(self, record: StrategyRecord) -> None:
        self._records.pop(record.strategy_id, None)
        shutil.rmtree(record.workdir.parent, ignore_errors=True)
