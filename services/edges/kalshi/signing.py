"""Kalshi API auth: RSA-PSS (SHA-256, MGF1-SHA-256, salt = digest length) over
`timestamp_ms + METHOD + path`, base64, where `path` starts with /trade-api/v2 and carries no
query string. PSS is randomised, so tests verify with the public key instead of a vector."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def message(timestamp_ms: str, method: str, path: str) -> bytes:
    return f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}".encode()


def sign(private_key_pem: str, timestamp_ms: str, method: str, path: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a Kalshi API key is an RSA private key")
    return base64.b64encode(key.sign(message(timestamp_ms, method, path), _PSS, hashes.SHA256())).decode()


def verify(public_key_pem: str, signature_b64: str, timestamp_ms: str, method: str, path: str) -> bool:
    """What Kalshi checks (used by the loopback server and tests)."""
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature_b64), message(timestamp_ms, method, path), _PSS, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def headers(key_id: str, private_key_pem: str, timestamp_ms: str, method: str, path: str) -> dict[str, str]:
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": timestamp_ms,
        "KALSHI-ACCESS-SIGNATURE": sign(private_key_pem, timestamp_ms, method, path),
    }
