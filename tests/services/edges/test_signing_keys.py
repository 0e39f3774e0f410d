"""Randomised signatures (Kalshi RSA-PSS, Coinbase ES256/EdDSA JWT): verified with the public
key, and refused when the signed input or the key differs."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from services.edges.coinbase import signing as coinbase
from services.edges.kalshi import signing as kalshi


def pem_pair(key) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    return pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_kalshi_signature_verifies_with_pss_digest_length_salt(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    signature = kalshi.sign(private, "1703123456789", "get", "/trade-api/v2/portfolio/balance?limit=5")
    # Independent check with the documented parameters, over the documented message (no query).
    key = serialization.load_pem_public_key(public.encode())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    key.verify(base64.b64decode(signature), b"1703123456789GET/trade-api/v2/portfolio/balance", pss, hashes.SHA256())
    assert kalshi.verify(public, signature, "1703123456789", "GET", "/trade-api/v2/portfolio/balance")
    assert not kalshi.verify(public, signature, "1703123456790", "GET", "/trade-api/v2/portfolio/balance")
    assert not kalshi.verify(public, signature, "1703123456789", "POST", "/trade-api/v2/portfolio/balance")
    other_private, other_public = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert not kalshi.verify(other_public, signature, "1703123456789", "GET", "/trade-api/v2/portfolio/balance")
    with pytest.raises(InvalidSignature):  # salt length is part of the scheme
        key.verify(base64.b64decode(signature), b"1703123456789GET/trade-api/v2/portfolio/balance",
                   padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=64), hashes.SHA256())


def test_kalshi_headers(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    h = kalshi.headers("key-id-1", private, "1703123456789", "POST", "/trade-api/v2/portfolio/orders")
    assert (h["KALSHI-ACCESS-KEY"], h["KALSHI-ACCESS-TIMESTAMP"]) == ("key-id-1", "1703123456789")
    assert kalshi.verify(public, h["KALSHI-ACCESS-SIGNATURE"], "1703123456789", "POST", "/trade-api/v2/portfolio/orders")


def _parts(token: str) -> tuple[dict, dict, bytes]:
    def unb64(t: str) -> bytes:
        return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))

    h, p, s = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p)), unb64(s)


@pytest.mark.parametrize("make_key", [lambda: ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate],
                         ids=["es256", "eddsa"])
def test_coinbase_jwt_verifies_with_the_public_key(make_key) -> None:  # type: ignore[no-untyped-def]
    private, public = pem_pair(make_key())
    name = "organizations/org-1/apiKeys/key-1"
    uri = coinbase.request_uri("post", "api.coinbase.com", "/api/v3/brokerage/orders?x=1")
    token = coinbase.build_jwt(name, private, now_s=1_700_000_000, uri=uri, nonce="ab" * 16)
    header, payload, signature = _parts(token)
    assert header == {"alg": header["alg"], "kid": name, "nonce": "ab" * 16, "typ": "JWT"}
    assert header["alg"] in ("ES256", "EdDSA") and len(signature) == 64  # raw r||s, or the Ed25519 signature
    assert payload == {"iss": "cdp", "sub": name, "nbf": 1_700_000_000, "exp": 1_700_000_120,
                       "uri": "POST api.coinbase.com/api/v3/brokerage/orders"}
    assert coinbase.verify_jwt(token, public) == payload
    tampered = token.split(".")
    tampered[1] = base64.urlsafe_b64encode(json.dumps({**payload, "exp": 1_800_000_000}).encode()).rstrip(b"=").decode()
    assert coinbase.verify_jwt(".".join(tampered), public) is None
    _, other_public = pem_pair(make_key())
    assert coinbase.verify_jwt(token, other_public) is None


def test_coinbase_es256_matches_an_independent_jwt_library() -> None:
    jwt = pytest.importorskip("jwt")
    private, public = pem_pair(ec.generate_private_key(ec.SECP256R1()))
    token = coinbase.build_jwt("k", private, now_s=1_700_000_000)  # a WebSocket JWT: no uri
    decoded = jwt.decode(token, public, algorithms=["ES256"], options={"verify_exp": False, "verify_nbf": False})
    assert decoded == {"iss": "cdp", "sub": "k", "nbf": 1_700_000_000, "exp": 1_700_000_120}
