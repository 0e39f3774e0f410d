"""Credential vault lifecycle. Never carries secrets: ciphertext stays in the vault's store."""

from __future__ import annotations

from events.base import Event


class CredentialStored(Event, frozen=True, kw_only=True, tag="vault.credential_stored.v1"):
    venue: str
    key_hint: str  # last 4 characters of the API key, for humans
    version: int
    has_passphrase: bool


class CredentialRevoked(Event, frozen=True, kw_only=True, tag="vault.credential_revoked.v1"):
    venue: str
    version: int


VAULT_EVENTS = (CredentialStored, CredentialRevoked)
