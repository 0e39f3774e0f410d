"""Credential vault: venue API credentials per tenant per venue, encrypted at rest.

Design (envelope encryption on an `eventsourcing` Application):

* The vault is its own event store (`VaultApplication`): SQLite at `data_dir/vault.sqlite` in the
  embedded default, PostgreSQL when `database_url` is `postgresql://...` (tables
  `vault_events`). Its mapper cipher is on (`eventsourcing.cryptography:AESCipher`, AES-256-GCM)
  keyed by the **master key**, so every stored event body is ciphertext.
* The master key comes from `CROSSBOOK_MASTER_KEY` (base64 of 32 bytes). When it is empty and the
  vault is on SQLite (the embedded default), one is generated once into `data_dir/master.key`
  (mode 600) and a log line says so, never the key. PostgreSQL requires an explicit key: a shared
  database must not depend on one host's disk.
* One **data key per tenant** (aggregate `TenantKey`, event `DataKeyCreated`): 32 random bytes,
  stored wrapped (AES-GCM) by the master key. Rotating the master key means re-wrapping these
  small records, not re-encrypting every credential.
* One aggregate per tenant+venue (`VenueCredential`, events `CredentialsStored` /
  `CredentialsRotated` / `CredentialsRevoked`). The credential payload is sealed with the
  tenant's data key before it enters the event, and the sealed plaintext names its tenant and
  venue, which `reveal` checks (a ciphertext copied to another aggregate is refused).
* A sentinel aggregate (`KeyCheck`) is written on first open: reading it back with another master
  key fails the GCM tag check, which `open_vault` turns into `VaultKeyError` (no garbage).
* Plaintext leaves only through `Vault.reveal`, for an edge that signs requests. `Credentials`
  repr masks secrets; `CredentialInfo` (what lists and the bus see) carries only `key_hint`
  (last 4 characters of the API key). Lifecycle events on the bus (`events.vault`) carry no secret.

Limits: the event store is append-only, so a revoked credential's sealed payload stays in the
earlier events (still encrypted with the tenant's data key); crypto-shredding would drop the
tenant data key, which is not done here.
"""

from services.vault.vault import (
    CredentialInfo,
    Credentials,
    Vault,
    VaultError,
    VaultKeyError,
    lifecycle_event,
    open_vault,
    resolve_master_key,
)

__all__ = [
    "CredentialInfo",
    "Credentials",
    "Vault",
    "VaultError",
    "VaultKeyError",
    "lifecycle_event",
    "open_vault",
    "resolve_master_key",
]
