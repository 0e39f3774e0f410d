"""Coinbase Advanced Trade (CDP key) auth: a short-lived JWT in `Authorization: Bearer`.

Header `{"alg": "ES256", "kid": key name, "nonce": random hex, "typ": "JWT"}` (Ed25519 keys:
"EdDSA"); payload `{"iss": "cdp", "sub": key name, "nbf": now, "exp": now + 120, "uri":
"METHOD host/path"}` (no query; WebSocket JWTs omit `uri`). ES256 signatures are the raw 64-byte
r||s, base64url. ECDSA is randomised, so tests verify with the public key.
"""

from __future__ import annotations

import base64
import json
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

LIFETIME_S = 120


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def request_uri(method: str, host: str, path: str) -> str:
    return f"{method.upper()} {host}{path.split('?', 1)[0]}"


def build_jwt(key_name: str, private_key_pem: str, now_s: int, uri: str | None = None,
              nonce: str | None = None) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = "ES256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "EdDSA"
    else:
        raise ValueError("a CDP API key is an EC P-256 or Ed25519 private key")
    header = {"alg": alg, "kid": key_name, "nonce": nonce or secrets.token_hex(16), "typ": "JWT"}
    payload: dict[str, object] = {"iss": "cdp", "sub": key_name, "nbf": now_s, "exp": now_s + LIFETIME_S}
    if uri is not None:
        payload["uri"] = uri
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}".encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = key.sign(signing_input)
    return f"{signing_input.decode()}.{_b64url(signature)}"


def verify_jwt(token: str, public_key_pem: str) -> dict[str, object] | None:
    """The payload when the signature verifies with `public_key_pem`, else None (expiry is the
    caller's check)."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64url(header_b64))
        signature = _unb64url(signature_b64)
        key = serialization.load_pem_public_key(public_key_pem.encode())
        signed = f"{header_b64}.{payload_b64}".encode()
        if header.get("alg") == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        elif header.get("alg") == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed)
        else:
            return None
        return json.loads(_unb64url(payload_b64))
    except (InvalidSignature, ValueError):
        return None
