"""Encrypted secrets (spec: schema.md §4.2–§4.5), `db.secrets`.

Encryption is exactly IronClaw v0.22.0's scheme, so secrets written by either decrypt with the
same master key:

* per secret a fresh 32-byte random salt (`key_salt`) and 12-byte random nonce;
* key = HKDF-SHA256(ikm = the master key *string's UTF-8 bytes*, salt = key_salt,
  info = b"near-agent-secrets-v1", length 32);
* AES-256-GCM without associated data; `encrypted_value` = nonce(12) ‖ ciphertext ‖ tag(16).

Master key: `connect(secrets_master_key=...)`, else the environment variable
`SECRETS_MASTER_KEY`. There is no default and no keychain lookup; a missing key, or one shorter
than 32 bytes (UTF-8), raises `InvalidMasterKeyError` when an operation needs it (create,
get_decrypted, rotate_master_key). Metadata operations (get, list, exists, delete,
record_usage, is_accessible) work without a key.

Key rotation: `rotate_master_key(new_key)` re-encrypts every secret of every user in ONE write
transaction (fresh salt and nonce each); if any secret cannot be decrypted with the current key
nothing is changed. Afterwards this `Database` uses the new key; every other process must be
restarted with the new key (`SECRETS_MASTER_KEY` / `secrets_master_key=`).

Audit log: every `get_decrypted` call for an existing secret writes one `secret_usage_log` row
in the same transaction: `success=True`, or `success=False` with `error_message` "secret
expired" / "decryption failed" (the row is committed, then the typed error is raised).
`target_host` defaults to "" (meaning: not injected into a request), `target_path` and
`wasm_tool_id` to NULL. `record_usage` only maintains `usage_count` / `last_used_at` (as in
IronClaw), so a caller doing both gets one audit row and one count per use.

Note: on PostgreSQL IronClaw's `update_secrets_updated_at` trigger sets `updated_at` to the
server's `now()` on every UPDATE (∆D21), overriding the injected clock for updated rows.
"""

from __future__ import annotations

import builtins
import os
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import InvalidInputError
from ..records.secrets import CreateSecretParams, DecryptedSecret, Secret, SecretRef, SecretUsage
from ..schema import secret_usage_log, secrets
from ..sql import byte_order
from ..types import check_text, coerce_uuid, to_utc_ms
from .secrets_errors import (
    DecryptionFailedError,
    EncryptionFailedError,
    InvalidMasterKeyError,
    SecretExpiredError,
    SecretNotFoundError,
)

if TYPE_CHECKING:
    from ..database import Database

__all__ = ["MASTER_KEY_ENV", "SecretsRepository", "SecretsStore"]

MASTER_KEY_ENV = "SECRETS_MASTER_KEY"
HKDF_INFO = b"near-agent-secrets-v1"
SALT_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
MIN_MASTER_KEY_BYTES = 32


# ---------------------------------------------------------------------------------------------
# Dialect-compiled construct (candidate for ironstore/sql.py): byte-wise text ordering.
# PostgreSQL: `expr COLLATE "C"`; SQLite/libSQL already compares text byte-wise (BINARY).
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Crypto (IronClaw's scheme, §4.2)
# ---------------------------------------------------------------------------------------------


def check_master_key(key: object) -> bytes:
    """The master key's UTF-8 bytes; `InvalidMasterKeyError` if missing, not text or < 32 bytes."""
    if key is None:
        raise InvalidMasterKeyError(
            "no secrets master key configured: pass connect(secrets_master_key=...) "
            f"or set {MASTER_KEY_ENV}"
        )
    if not isinstance(key, str):
        raise InvalidMasterKeyError(
            f"the secrets master key must be a str, got {type(key).__name__}"
        )
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMasterKeyError("the secrets master key is not valid UTF-8 text") from None
    if len(raw) < MIN_MASTER_KEY_BYTES:
        raise InvalidMasterKeyError(
            f"the secrets master key is too short: at least {MIN_MASTER_KEY_BYTES} bytes required"
        )
    return raw


def _derive(master: bytes, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=HKDF_INFO)
    return AESGCM(hkdf.derive(master))


def encrypt_value(master: bytes, plaintext: str) -> tuple[bytes, bytes]:
    """(encrypted_value, key_salt) for `plaintext` under `master` with a fresh salt and nonce."""
    try:
        data = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("secret value is not valid UTF-8 text") from None
    salt = os.urandom(SALT_LEN)
    nonce = os.urandom(NONCE_LEN)
    try:
        sealed = _derive(master, salt).encrypt(nonce, data, None)
    except (ValueError, OverflowError):
        raise EncryptionFailedError("encryption of the secret value failed") from None
    return nonce + sealed, salt


def decrypt_value(master: bytes, encrypted_value: bytes, key_salt: bytes) -> str:
    """Decrypt a stored value; `DecryptionFailedError` on any failure (message without data)."""
    if len(encrypted_value) < NONCE_LEN + TAG_LEN:
        raise DecryptionFailedError("stored ciphertext is too short")
    nonce, sealed = encrypted_value[:NONCE_LEN], encrypted_value[NONCE_LEN:]
    try:
        data = _derive(master, key_salt).decrypt(nonce, sealed, None)
    except InvalidTag:
        raise DecryptionFailedError(
            "decryption failed: wrong master key or tampered ciphertext"
        ) from None
    except (ValueError, OverflowError):
        raise DecryptionFailedError("decryption failed") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionFailedError("decrypted value is not valid UTF-8") from None


# ---------------------------------------------------------------------------------------------
# Protocol
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class SecretsStore(Protocol):
    """Encrypted secrets (spec: schema.md §4)."""

    async def create(self, user_id: str, params: CreateSecretParams) -> Secret:
        """Encrypt and insert, or overwrite the value of an existing (user, name)."""
        ...

    async def get(self, user_id: str, name: str) -> Secret:
        """Metadata of a secret; SecretNotFoundError / SecretExpiredError."""
        ...

    async def get_decrypted(
        self,
        user_id: str,
        name: str,
        *,
        target_host: str = "",
        target_path: str | None = None,
        wasm_tool_id: uuid.UUID | str | None = None,
    ) -> DecryptedSecret:
        """Decrypt a secret and write an audit row to secret_usage_log."""
        ...

    async def exists(self, user_id: str, name: str) -> bool:
        """Whether the secret exists (ignores expiry)."""
        ...

    async def list(self, user_id: str) -> builtins.list[SecretRef]:
        """(name, provider) of every secret of the user, ordered by name; never values."""
        ...

    async def delete(self, user_id: str, name: str) -> bool:
        """Delete a secret; returns whether a row was removed."""
        ...

    async def record_usage(self, secret_id: uuid.UUID | str) -> None:
        """Bump usage_count and last_used_at; SecretNotFoundError for an unknown id."""
        ...

    async def is_accessible(self, user_id: str, name: str, allowed: Sequence[str]) -> bool:
        """Whether the secret exists and matches an allowed name or `prefix*` glob."""
        ...

    async def list_usage(
        self, user_id: str, name: str | None = None, *, limit: int = 100
    ) -> builtins.list[SecretUsage]:
        """Audit rows of the user's secrets, newest first."""
        ...

    async def rotate_master_key(self, new_master_key: str) -> int:
        """Re-encrypt every secret under a new master key in one transaction."""
        ...


# ---------------------------------------------------------------------------------------------
# Repository
# ---------------------------------------------------------------------------------------------


def _name(value: object) -> str:
    name = check_text(value, "secret name")
    if not name:
        raise InvalidInputError("secret name must not be empty")
    return name.lower()


def _secret(row: Row[Any]) -> Secret:
    m = row._mapping
    return Secret(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        encrypted_value=m["encrypted_value"],
        key_salt=m["key_salt"],
        provider=m["provider"],
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
        usage_count=m["usage_count"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


class SecretsRepository:
    """`db.secrets`: the secrets store bound to one database (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._rotated_key: str | None = None

    def __repr__(self) -> str:
        return "<ironstore SecretsRepository>"

    # ------------------------------------------------------------------ helpers

    def _master_key(self) -> bytes:
        key: object = self._rotated_key
        if key is None:
            key = self._db._options.secrets_master_key
        if key is None:
            key = os.environ.get(MASTER_KEY_ENV) or None
        return check_master_key(key)

    async def _fetch(self, conn: AsyncConnection, user_id: str, name: str) -> Secret:
        row = (
            await conn.execute(
                select(secrets).where(secrets.c.user_id == user_id, secrets.c.name == name)
            )
        ).first()
        if row is None:
            raise SecretNotFoundError(f"secret {name!r} not found")
        return _secret(row)

    def _expired(self, secret: Secret) -> bool:
        return secret.expires_at is not None and secret.expires_at < self._db._now()

    # ------------------------------------------------------------------ methods

    async def create(self, user_id: str, params: CreateSecretParams) -> Secret:
        """Encrypt `params.value` (new salt and nonce) and insert it; an existing (user, name)
        is overwritten (value, salt, provider, expires_at cleared if absent, updated_at),
        keeping id, created_at, usage_count and last_used_at. Returns the stored row.

        Raises InvalidInputError (bad arguments), InvalidMasterKeyError. Idempotent in effect
        (a repeat stores the same value under a fresh salt/nonce).
        """
        check_text(user_id, "user_id")
        if not isinstance(params, CreateSecretParams):
            raise InvalidInputError("params must be a CreateSecretParams")
        name = _name(params.name)
        if not isinstance(params.value, str):
            raise InvalidInputError("secret value must be a str")
        provider = None if params.provider is None else check_text(params.provider, "provider")
        expires_at = (
            None if params.expires_at is None else to_utc_ms(params.expires_at, "expires_at")
        )
        master = self._master_key()
        encrypted, salt = encrypt_value(master, params.value)
        now = self._db._now()
        stmt = self._db._insert(secrets).values(
            id=uuid.uuid4(),
            user_id=user_id,
            name=name,
            encrypted_value=encrypted,
            key_salt=salt,
            provider=provider,
            expires_at=expires_at,
            last_used_at=None,
            usage_count=0,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[secrets.c.user_id, secrets.c.name],
            set_={
                "encrypted_value": stmt.excluded.encrypted_value,
                "key_salt": stmt.excluded.key_salt,
                "provider": stmt.excluded.provider,
                "expires_at": stmt.excluded.expires_at,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        async with self._db._write() as conn:
            await conn.execute(stmt)
            return await self._fetch(conn, user_id, name)

    async def get(self, user_id: str, name: str) -> Secret:
        """Metadata (with ciphertext) of a secret. Raises SecretNotFoundError, SecretExpiredError
        (expires_at < now). Read-only."""
        check_text(user_id, "user_id")
        key = _name(name)
        async with self._db._read() as conn:
            secret = await self._fetch(conn, user_id, key)
        if self._expired(secret):
            raise SecretExpiredError(f"secret {key!r} has expired")
        return secret

    async def get_decrypted(
        self,
        user_id: str,
        name: str,
        *,
        target_host: str = "",
        target_path: str | None = None,
        wasm_tool_id: uuid.UUID | str | None = None,
    ) -> DecryptedSecret:
        """Decrypt a secret and write one `secret_usage_log` row (success or failure) in the
        same transaction. Raises SecretNotFoundError (nothing logged), SecretExpiredError /
        DecryptionFailedError (failure row committed first), InvalidMasterKeyError,
        IntegrityError for an unknown `wasm_tool_id`. Not idempotent (appends an audit row).
        """
        check_text(user_id, "user_id")
        key = _name(name)
        host = check_text(target_host, "target_host")
        path = None if target_path is None else check_text(target_path, "target_path")
        tool_id = None if wasm_tool_id is None else coerce_uuid(wasm_tool_id, "wasm_tool_id")
        master = self._master_key()
        failure: Exception | None = None
        value = ""
        async with self._db._write() as conn:
            secret = await self._fetch(conn, user_id, key)
            message: str | None = None
            if self._expired(secret):
                failure = SecretExpiredError(f"secret {key!r} has expired")
                message = "secret expired"
            else:
                try:
                    value = decrypt_value(master, secret.encrypted_value, secret.key_salt)
                except DecryptionFailedError as exc:
                    failure = exc
                    message = "decryption failed"
            await conn.execute(
                secret_usage_log.insert().values(
                    id=uuid.uuid4(),
                    secret_id=secret.id,
                    wasm_tool_id=tool_id,
                    user_id=user_id,
                    target_host=host,
                    target_path=path,
                    success=failure is None,
                    error_message=message,
                    created_at=self._db._now(),
                )
            )
        if failure is not None:
            raise failure
        return DecryptedSecret(value)

    async def exists(self, user_id: str, name: str) -> bool:
        """Whether (user, lower-cased name) exists, expired or not. Read-only.

        Same on both backends; needs no master key. Raises InvalidInputError for a non-str /
        NUL-containing user_id or an empty / non-str name.
        """
        check_text(user_id, "user_id")
        key = _name(name)
        async with self._db._read() as conn:
            found = await conn.scalar(
                select(secrets.c.id).where(secrets.c.user_id == user_id, secrets.c.name == key)
            )
        return found is not None

    async def list(self, user_id: str) -> builtins.list[SecretRef]:
        """(name, provider) of the user's secrets in byte-wise name order; never values.

        Read-only. Same order on both backends; needs no master key. Raises InvalidInputError
        for a non-str / NUL-containing user_id.
        """
        check_text(user_id, "user_id")
        async with self._db._read() as conn:
            rows = (
                await conn.execute(
                    select(secrets.c.name, secrets.c.provider)
                    .where(secrets.c.user_id == user_id)
                    .order_by(byte_order(secrets.c.name))
                )
            ).all()
        return [SecretRef(name=r.name, provider=r.provider) for r in rows]

    async def delete(self, user_id: str, name: str) -> bool:
        """Delete (user, lower-cased name); its audit rows go by ON DELETE CASCADE. Returns
        whether it existed. Same on both backends; needs no master key. Raises
        InvalidInputError for a bad user_id or name. Idempotent (a repeat returns False)."""
        check_text(user_id, "user_id")
        key = _name(name)
        async with self._db._write() as conn:
            found = await conn.scalar(
                select(secrets.c.id).where(secrets.c.user_id == user_id, secrets.c.name == key)
            )
            if found is None:
                return False
            await conn.execute(delete(secrets).where(secrets.c.id == found))
        return True

    async def record_usage(self, secret_id: uuid.UUID | str) -> None:
        """`usage_count += 1`, `last_used_at = now`. Raises SecretNotFoundError for an unknown
        id. Not idempotent."""
        sid = coerce_uuid(secret_id, "secret_id")
        now = self._db._now()
        async with self._db._write() as conn:
            found = await conn.scalar(select(secrets.c.id).where(secrets.c.id == sid))
            if found is None:
                raise SecretNotFoundError(f"secret {sid} not found")
            await conn.execute(
                update(secrets)
                .where(secrets.c.id == sid)
                .values(usage_count=secrets.c.usage_count + 1, last_used_at=now, updated_at=now)
            )

    async def is_accessible(self, user_id: str, name: str, allowed: Sequence[str]) -> bool:
        """False if the secret does not exist; else whether some allowed entry equals the name
        or ends with `*` and its prefix starts the name (case-insensitive). Read-only.
        Same on both backends; needs no master key. Raises InvalidInputError for a bad user_id
        or name, or `allowed` not a sequence of str (checked even if the secret is missing)."""
        check_text(user_id, "user_id")
        key = _name(name)
        patterns = _patterns(allowed)
        if not await self.exists(user_id, key):
            return False
        for pattern in patterns:
            if pattern == key or (pattern.endswith("*") and key.startswith(pattern[:-1])):
                return True
        return False

    async def list_usage(
        self, user_id: str, name: str | None = None, *, limit: int = 100
    ) -> builtins.list[SecretUsage]:
        """Audit rows (`secret_usage_log`) of the user's secrets (or of one secret), newest
        first, ties by id. Raises InvalidInputError for limit < 1. Read-only."""
        check_text(user_id, "user_id")
        key = None if name is None else _name(name)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError("limit must be an int >= 1")
        log = secret_usage_log
        stmt = select(log).where(log.c.user_id == user_id)
        if key is not None:
            stmt = stmt.join(secrets, secrets.c.id == log.c.secret_id).where(
                secrets.c.user_id == user_id, secrets.c.name == key
            )
        stmt = stmt.order_by(log.c.created_at.desc(), log.c.id.desc()).limit(limit)
        async with self._db._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            SecretUsage(
                id=r.id,
                secret_id=r.secret_id,
                wasm_tool_id=r.wasm_tool_id,
                user_id=r.user_id,
                target_host=r.target_host,
                target_path=r.target_path,
                success=r.success,
                error_message=r.error_message,
                created_at=r.created_at,
            )
            for r in rows
        ]

    async def rotate_master_key(self, new_master_key: str) -> int:
        """Re-encrypt every secret (all users) from the current master key to `new_master_key`
        in ONE transaction, each with a fresh salt and nonce; returns how many were
        re-encrypted. If any secret fails to decrypt (DecryptionFailedError) nothing changes.
        Afterwards this Database uses the new key; restart other processes with it.
        Raises InvalidMasterKeyError for a missing/short old or new key. On PostgreSQL the
        trigger sets updated_at to the server's now(). Idempotent in effect when repeated with
        the same key in this process (re-encrypts again, fresh salts).
        """
        new_raw = check_master_key(new_master_key)
        old_raw = self._master_key()
        now = self._db._now()
        count = 0
        async with self._db._write() as conn:
            rows = (
                await conn.execute(
                    select(secrets.c.id, secrets.c.encrypted_value, secrets.c.key_salt).order_by(
                        secrets.c.created_at, secrets.c.id
                    )
                )
            ).all()
            for row in rows:
                try:
                    plain = decrypt_value(old_raw, row.encrypted_value, row.key_salt)
                except DecryptionFailedError:
                    raise DecryptionFailedError(
                        f"secret {row.id} cannot be decrypted with the current master key; "
                        "rotation aborted, nothing changed"
                    ) from None
                encrypted, salt = encrypt_value(new_raw, plain)
                await conn.execute(
                    update(secrets)
                    .where(secrets.c.id == row.id)
                    .values(encrypted_value=encrypted, key_salt=salt, updated_at=now)
                )
                count += 1
        self._rotated_key = new_master_key
        return count


def _patterns(allowed: object) -> list[str]:
    if isinstance(allowed, (str, bytes)) or not isinstance(allowed, Iterable):
        raise InvalidInputError("allowed must be a sequence of str")
    out: list[str] = []
    for item in allowed:
        out.append(check_text(item, "allowed entry").lower())
    return out
