"""Dev credentials and certificates, generated into the data dir (never the repo).

- `<data_dir>/nats-creds/<user>.nk`: one nkey seed per NATS user (services/bus/permissions.py),
  mode 0600, made once and kept; the server only ever sees the public keys. In the three-region
  supercluster each region's account has its own users: `nats-creds/<region>/<user>.nk`.
- `<data_dir>/nats-tls/`: a local CA and one certificate for the servers (loopback names), used
  for client connections and between cluster nodes in cluster mode.
- `authorization_conf()`: the nats-server `authorization` block, regenerated from the writer
  table on every start so the permissions always follow `events/subjects.py`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.bus.permissions import IDENTITIES, permissions

CREDS_DIR = "nats-creds"
TLS_DIR = "nats-tls"
CERT_DAYS = 825  # dev certificates; regenerate by deleting the directory


def seed_path(data_dir: Path, user: str, region: str = "") -> Path:
    folder = data_dir / CREDS_DIR
    return (folder / region if region else folder) / f"{user}.nk"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_seeds(data_dir: Path, region: str = "") -> dict[str, str]:
    """Make a seed for every user (of `region`'s account) that has none; user -> public nkey."""
    folder = data_dir / CREDS_DIR
    for d in (folder, folder / region) if region else (folder,):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
    public: dict[str, str] = {}
    for user in IDENTITIES:
        path = seed_path(data_dir, user, region)
        if not path.exists():
            _write_private(path, nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER) + b"\n")
        pair = nkeys.from_seed(bytearray(path.read_bytes().strip()))
        public[user] = pair.public_key.decode()
        pair.wipe()
    return public


def authorization_conf(public_keys: dict[str, str]) -> str:
    """The server's `authorization` block: one nkey user per identity with its permissions."""
    users = [{"nkey": public_keys[name], "permissions": permissions(identity)} for name, identity in IDENTITIES.items()]
    # nats-server reads JSON; quoted strings are literal ("$JS.API..." is no variable).
    return "authorization: " + json.dumps({"users": users}, indent=1) + "\n"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def tls_files(data_dir: Path) -> TlsFiles:
    folder = data_dir / TLS_DIR
    return TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")


def ensure_tls(data_dir: Path) -> TlsFiles:
    """A local CA and a server certificate for 127.0.0.1/localhost (made once and kept); the
    certificate also serves as the client certificate of the cluster routes (mutual TLS)."""
    files = tls_files(data_dir)
    if files.ca.exists() and files.cert.exists() and files.key.exists():
        return files
    files.ca.parent.mkdir(parents=True, exist_ok=True)
    files.ca.parent.chmod(0o700)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Crossbook dev CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crossbook-nats")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(
        files.key,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return files
