"""Secrets store (schema.md §4.2–§4.5) on both backends."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import ironstore
from ironstore import Database
from ironstore.errors import ConfigurationError, InvalidInputError, NotFoundError
from ironstore.records.secrets import CreateSecretParams, DecryptedSecret, SecretRef
from ironstore.schema import secret_usage_log, secrets
from ironstore.stores.secrets import SecretsStore
from ironstore.stores.secrets_errors import (
    DecryptionFailedError,
    InvalidMasterKeyError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretsError,
)

KEY = "a" * 64
OTHER_KEY = "0123456789abcdef" * 4
PLAIN = "sk-super-secret-value-Zq81xw"

Connect = Callable[..., Awaitable[Database]]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 7, 12, 0, 0, 123000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _open(connect: Connect, key: str | None = KEY, **kw: Any) -> Database:
    return await connect(secrets_master_key=key, **kw)


async def _count(db: Database, table: sa.Table) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def _rows(db: Database, table: sa.Table) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.select(table))).all())


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 written out with hmac, independent of the store's implementation."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


# ------------------------------------------------------------------------------ crypto vector


async def test_known_vector_written_by_ironclaw_decrypts(
    db: Database, ironstore_connect: Connect
) -> None:
    sdb = await _open(ironstore_connect)
    salt = bytes(range(32))
    nonce = bytes(range(100, 112))
    key = _hkdf_sha256(KEY.encode(), salt, b"near-agent-secrets-v1")
    ct_and_tag = AESGCM(key).encrypt(nonce, b"hunter2", None)
    blob = nonce + ct_and_tag
    assert len(blob) == len(b"hunter2") + 28
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            secrets.insert().values(
                id=uuid.uuid4(),
                user_id="u",
                name="ic_secret",
                encrypted_value=blob,
                key_salt=salt,
                provider="openai",
                usage_count=0,
                created_at=now,
                updated_at=now,
            )
        )
    got = await sdb.secrets.get_decrypted("u", "IC_Secret")
    assert got.expose() == "hunter2"


async def test_value_we_write_decrypts_with_ironclaw_scheme(
    db: Database, ironstore_connect: Connect
) -> None:
    sdb = await _open(ironstore_connect)
    stored = await sdb.secrets.create("u", CreateSecretParams("tok", PLAIN, provider="openai"))
    assert len(stored.key_salt) == 32
    assert len(stored.encrypted_value) == len(PLAIN.encode()) + 28
    (row,) = await _rows(db, secrets)
    key = _hkdf_sha256(KEY.encode(), row.key_salt, b"near-agent-secrets-v1")
    plain = AESGCM(key).decrypt(row.encrypted_value[:12], row.encrypted_value[12:], None)
    assert plain.decode() == PLAIN


# ------------------------------------------------------------------------------ round trips


async def test_create_get_round_trip(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    sdb = await _open(ironstore_connect, clock=clock)
    assert isinstance(sdb.secrets, SecretsStore)
    created = await sdb.secrets.create("alice", CreateSecretParams("OpenAI_Key", PLAIN, "openai"))
    assert created.name == "openai_key"
    assert created.created_at == created.updated_at == clock.now
    assert created.usage_count == 0 and created.last_used_at is None
    got = await sdb.secrets.get("alice", "OPENAI_KEY")
    assert got == created
    assert (await sdb.secrets.get_decrypted("alice", "openai_key")).expose() == PLAIN
    assert await sdb.secrets.exists("alice", "OpenAI_KEY")
    assert not await sdb.secrets.exists("bob", "openai_key")
    with pytest.raises(SecretNotFoundError):
        await sdb.secrets.get("bob", "openai_key")
    with pytest.raises(NotFoundError):
        await sdb.secrets.get_decrypted("alice", "missing")


async def test_unicode_and_empty_values(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    for name, value in [("uni", "päss—wörd 🔑\x00tail"), ("empty", "")]:
        await sdb.secrets.create("u", CreateSecretParams(name, value))
        assert (await sdb.secrets.get_decrypted("u", name)).expose() == value


async def test_overwrite_keeps_identity_and_counters(
    db: Database, ironstore_connect: Connect
) -> None:
    clock = FakeClock()
    sdb = await _open(ironstore_connect, clock=clock)
    first = await sdb.secrets.create(
        "u", CreateSecretParams("k", "v1", "p1", clock.now + timedelta(days=1))
    )
    await sdb.secrets.record_usage(first.id)
    clock.now += timedelta(minutes=5)
    second = await sdb.secrets.create("u", CreateSecretParams("K", "v2"))
    assert second.id == first.id
    assert second.created_at == first.created_at
    assert second.usage_count == 1
    assert second.last_used_at == first.created_at
    assert second.provider is None and second.expires_at is None  # cleared
    assert second.key_salt != first.key_salt
    assert (await sdb.secrets.get_decrypted("u", "k")).expose() == "v2"
    assert await _count(db, secrets) == 1


async def test_list_ordering_and_no_values(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    for name in ["b", "a_2", "a", "Z", "a-1"]:
        await sdb.secrets.create("u", CreateSecretParams(name, PLAIN + name, "prov"))
    await sdb.secrets.create("other", CreateSecretParams("x", PLAIN))
    listed = await sdb.secrets.list("u")
    assert [r.name for r in listed] == ["a", "a-1", "a_2", "b", "z"]  # byte order
    assert all(isinstance(r, SecretRef) and r.provider == "prov" for r in listed)
    assert PLAIN not in repr(listed)
    assert await sdb.secrets.list("nobody") == []


async def test_delete(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    await sdb.secrets.create("u", CreateSecretParams("k", PLAIN))
    await sdb.secrets.get_decrypted("u", "k", target_host="api.example.com")
    assert await _count(db, secret_usage_log) == 1
    assert await sdb.secrets.delete("u", "K") is True
    assert await sdb.secrets.delete("u", "k") is False
    assert not await sdb.secrets.exists("u", "k")
    assert await _count(db, secret_usage_log) == 0  # cascades


async def test_record_usage(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    sdb = await _open(ironstore_connect, clock=clock)
    s = await sdb.secrets.create("u", CreateSecretParams("k", PLAIN))
    clock.now += timedelta(seconds=3)
    await asyncio.gather(*(sdb.secrets.record_usage(s.id) for _ in range(5)))
    got = await sdb.secrets.get("u", "k")
    assert got.usage_count == 5
    assert got.last_used_at == clock.now
    with pytest.raises(SecretNotFoundError):
        await sdb.secrets.record_usage(uuid.uuid4())
    with pytest.raises(InvalidInputError):
        await sdb.secrets.record_usage("not-a-uuid")


async def test_is_accessible(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    await sdb.secrets.create("u", CreateSecretParams("openai_key", PLAIN))
    s = sdb.secrets
    assert await s.is_accessible("u", "openai_key", ["openai_key"])
    assert await s.is_accessible("u", "OPENAI_KEY", ["OpenAI_*"])
    assert await s.is_accessible("u", "openai_key", ["*"])
    assert not await s.is_accessible("u", "openai_key", ["openai"])
    assert not await s.is_accessible("u", "openai_key", [])
    assert not await s.is_accessible("u", "missing", ["*"])
    with pytest.raises(InvalidInputError):
        await s.is_accessible("u", "openai_key", "openai_key")


# ------------------------------------------------------------------------------ expiry


async def test_expiry(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    sdb = await _open(ironstore_connect, clock=clock)
    await sdb.secrets.create(
        "u", CreateSecretParams("k", PLAIN, expires_at=clock.now + timedelta(hours=1))
    )
    assert (await sdb.secrets.get_decrypted("u", "k")).expose() == PLAIN
    clock.now += timedelta(hours=1)  # expires_at == now: not yet expired (strictly before now)
    await sdb.secrets.get("u", "k")
    clock.now += timedelta(milliseconds=1)
    with pytest.raises(SecretExpiredError):
        await sdb.secrets.get("u", "k")
    with pytest.raises(SecretExpiredError) as info:
        await sdb.secrets.get_decrypted("u", "k", target_host="h")
    assert PLAIN not in str(info.value)
    assert await sdb.secrets.exists("u", "k")  # exists ignores expiry
    usage = await sdb.secrets.list_usage("u", "k")
    assert [(u.success, u.error_message) for u in usage] == [
        (False, "secret expired"),
        (True, None),
    ]


# ------------------------------------------------------------------------------ audit log


async def test_audit_log_on_every_decrypt(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    sdb = await _open(ironstore_connect, clock=clock)
    s = await sdb.secrets.create("u", CreateSecretParams("k", PLAIN))
    await sdb.secrets.get_decrypted("u", "k")
    clock.now += timedelta(seconds=1)
    await sdb.secrets.get_decrypted("u", "k", target_host="api.openai.com", target_path="/v1/chat")
    usage = await sdb.secrets.list_usage("u")
    assert len(usage) == 2
    newest, oldest = usage
    assert (newest.target_host, newest.target_path, newest.success) == (
        "api.openai.com",
        "/v1/chat",
        True,
    )
    assert newest.created_at == clock.now
    assert (oldest.target_host, oldest.target_path, oldest.wasm_tool_id) == ("", None, None)
    assert newest.secret_id == s.id and newest.user_id == "u"
    assert len(await sdb.secrets.list_usage("u", limit=1)) == 1
    assert await sdb.secrets.list_usage("u", "other") == []
    with pytest.raises(InvalidInputError):
        await sdb.secrets.list_usage("u", limit=0)
    # unknown secret: nothing logged
    with pytest.raises(SecretNotFoundError):
        await sdb.secrets.get_decrypted("u", "nope")
    assert await _count(db, secret_usage_log) == 2
    # bad audit input: rejected before writing
    with pytest.raises(InvalidInputError):
        await sdb.secrets.get_decrypted("u", "k", target_host="a\x00b")
    with pytest.raises(InvalidInputError):
        await sdb.secrets.get_decrypted("u", "k", wasm_tool_id="zzz")
    assert await _count(db, secret_usage_log) == 2


# ------------------------------------------------------------------------------ keys / tamper


async def test_wrong_key_is_typed_error(db: Database, ironstore_connect: Connect) -> None:
    a = await _open(ironstore_connect)
    b = await _open(ironstore_connect, key=OTHER_KEY)
    await a.secrets.create("u", CreateSecretParams("k", PLAIN))
    with pytest.raises(DecryptionFailedError) as info:
        await b.secrets.get_decrypted("u", "k", target_host="h")
    assert isinstance(info.value, SecretsError)
    for text in (str(info.value), repr(info.value)):
        assert PLAIN not in text and KEY not in text and OTHER_KEY not in text
    assert info.value.__cause__ is None
    usage = await a.secrets.list_usage("u")
    assert [(u.success, u.error_message) for u in usage] == [(False, "decryption failed")]
    assert (await a.secrets.get_decrypted("u", "k")).expose() == PLAIN


async def test_tampered_ciphertext(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    await sdb.secrets.create("u", CreateSecretParams("k", PLAIN))
    (row,) = await _rows(db, secrets)
    for where in ["nonce", "ciphertext", "tag", "salt", "truncate"]:
        await _tamper(db, sdb, row, where)
    await _tamper(db, sdb, row, "none")  # the untouched original decrypts again


async def _tamper(db: Database, sdb: Database, row: Any, where: str) -> None:
    blob, salt = bytearray(row.encrypted_value), bytearray(row.key_salt)
    if where == "nonce":
        blob[0] ^= 1
    elif where == "ciphertext":
        blob[13] ^= 1
    elif where == "tag":
        blob[-1] ^= 1
    elif where == "salt":
        salt[5] ^= 1
    elif where == "truncate":
        blob = blob[:20]
    async with db.engine.begin() as conn:
        await conn.execute(
            secrets.update().values(encrypted_value=bytes(blob), key_salt=bytes(salt))
        )
    if where == "none":
        assert (await sdb.secrets.get_decrypted("u", "k")).expose() == PLAIN
        return
    with pytest.raises(DecryptionFailedError):
        await sdb.secrets.get_decrypted("u", "k")


async def test_master_key_required_and_validated(
    db: Database, ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRETS_MASTER_KEY", raising=False)
    nokey = await _open(ironstore_connect, key=None)
    with pytest.raises(InvalidMasterKeyError) as info:
        await nokey.secrets.create("u", CreateSecretParams("k", PLAIN))
    assert isinstance(info.value, ConfigurationError) and isinstance(info.value, ValueError)
    short = await _open(ironstore_connect, key="short-key-" * 3)  # 30 bytes
    with pytest.raises(InvalidMasterKeyError) as info2:
        await short.secrets.create("u", CreateSecretParams("k", PLAIN))
    assert "short-key" not in str(info2.value)
    assert await _count(db, secrets) == 0
    # metadata operations need no key
    assert await nokey.secrets.list("u") == []
    # the environment variable is the fallback
    monkeypatch.setenv("SECRETS_MASTER_KEY", OTHER_KEY)
    await nokey.secrets.create("u", CreateSecretParams("k", PLAIN))
    envdb = await _open(ironstore_connect, key=OTHER_KEY)
    assert (await envdb.secrets.get_decrypted("u", "k")).expose() == PLAIN
    with pytest.raises(InvalidMasterKeyError):
        await short.secrets.get_decrypted("u", "k")  # explicit option wins over env


# ------------------------------------------------------------------------------ rotation


async def test_rotate_master_key(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    for user, name in [("u1", "a"), ("u1", "b"), ("u2", "a")]:
        await sdb.secrets.create(user, CreateSecretParams(name, f"{PLAIN}-{user}-{name}"))
    before = {r.id: r.encrypted_value for r in await _rows(db, secrets)}
    assert await sdb.secrets.rotate_master_key(OTHER_KEY) == 3
    after = {r.id: r.encrypted_value for r in await _rows(db, secrets)}
    assert before.keys() == after.keys() and all(before[i] != after[i] for i in before)
    # this instance switched keys; a fresh one needs the new key
    assert (await sdb.secrets.get_decrypted("u1", "b")).expose() == f"{PLAIN}-u1-b"
    new = await _open(ironstore_connect, key=OTHER_KEY)
    assert (await new.secrets.get_decrypted("u2", "a")).expose() == f"{PLAIN}-u2-a"
    old = await _open(ironstore_connect)
    with pytest.raises(DecryptionFailedError):
        await old.secrets.get_decrypted("u1", "a")
    with pytest.raises(InvalidMasterKeyError):
        await new.secrets.rotate_master_key("too-short")


async def test_rotation_is_all_or_nothing(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    sdb = await _open(ironstore_connect, clock=clock)
    for name in ["a", "b", "c"]:
        await sdb.secrets.create("u", CreateSecretParams(name, PLAIN + name))
        clock.now += timedelta(seconds=1)
    # the last secret (in rotation order) was written under another key
    stranger = await _open(ironstore_connect, key=OTHER_KEY, clock=clock)
    await stranger.secrets.create("u", CreateSecretParams("zz", "foreign"))
    before = sorted((r.id, r.encrypted_value, r.key_salt) for r in await _rows(db, secrets))
    with pytest.raises(DecryptionFailedError):
        await sdb.secrets.rotate_master_key("n" * 40)
    after = sorted((r.id, r.encrypted_value, r.key_salt) for r in await _rows(db, secrets))
    assert before == after
    for name in ["a", "b", "c"]:
        assert (await sdb.secrets.get_decrypted("u", name)).expose() == PLAIN + name


# ------------------------------------------------------------------------------ no plaintext leaks


async def test_no_plaintext_anywhere(
    db: Database,
    ironstore_connect: Connect,
    ironstore_backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        sdb = await _open(ironstore_connect)
        created = await sdb.secrets.create("u", CreateSecretParams("k", PLAIN, "openai"))
        dec = await sdb.secrets.get_decrypted("u", "k", target_host="h")
        await sdb.secrets.rotate_master_key(OTHER_KEY)
        await sdb.secrets.get_decrypted("u", "k")
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert dec.expose() == PLAIN
    for text in (
        repr(created),
        str(created),
        repr(dec),
        str(dec),
        repr(sdb.secrets),
        repr(CreateSecretParams("k", PLAIN)),
        caplog.text,
    ):
        assert PLAIN not in text
        assert KEY not in text and OTHER_KEY not in text
    assert dec == DecryptedSecret(PLAIN)
    needle = PLAIN.encode()
    for table in (secrets, secret_usage_log):
        for row in await _rows(db, table):
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                assert needle not in raw
    if ironstore_backend == "libsql":
        path = db.config.path
        assert path is not None
        await db.close()
        await sdb.close()
        data = b""
        for suffix in ("", "-wal", "-shm"):
            try:
                data += path.with_name(path.name + suffix).read_bytes()
            except FileNotFoundError:
                pass
        assert b"sk-super-secret" not in data


# ------------------------------------------------------------------------------ bad input


BAD_CREATE: list[tuple[Any, Any]] = [
    (1, CreateSecretParams("k", "v")),
    ("u\x00", CreateSecretParams("k", "v")),
    ("u", CreateSecretParams("", "v")),
    ("u", CreateSecretParams("k\x00", "v")),
    ("u", CreateSecretParams("k", 5)),  # type: ignore[arg-type]
    ("u", CreateSecretParams("k", "\ud800")),
    ("u", CreateSecretParams("k", "v", provider=3)),  # type: ignore[arg-type]
    ("u", CreateSecretParams("k", "v", expires_at=datetime(2030, 1, 1))),
    ("u", CreateSecretParams("k", "v", expires_at="2030-01-01")),  # type: ignore[arg-type]
    ("u", {"name": "k", "value": "v"}),
]


async def test_create_bad_input(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    for user, params in BAD_CREATE:
        with pytest.raises(InvalidInputError):
            await sdb.secrets.create(user, params)
    assert await _count(db, secrets) == 0


async def test_other_bad_input(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    await sdb.secrets.create("u", CreateSecretParams("k", PLAIN))
    s = sdb.secrets
    for call in (
        lambda: s.get("u", None),  # type: ignore[arg-type]
        lambda: s.get(None, "k"),  # type: ignore[arg-type]
        lambda: s.exists("u", "k\x00"),
        lambda: s.delete("u", 5),  # type: ignore[arg-type]
        lambda: s.list(b"u"),  # type: ignore[arg-type]
        lambda: s.get_decrypted("u", "k", target_path=7),  # type: ignore[arg-type]
        lambda: s.rotate_master_key(b"x" * 40),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInputError):
            await call()
    assert await _count(db, secrets) == 1
    assert await _count(db, secret_usage_log) == 0


async def test_public_exports(db: Database) -> None:
    for name in ("CreateSecretParams", "Secret", "SecretRef", "DecryptedSecret", "SecretUsage"):
        assert hasattr(ironstore, name)


async def test_concurrent_creates_of_one_name(db: Database, ironstore_connect: Connect) -> None:
    sdb = await _open(ironstore_connect)
    values = [f"{PLAIN}-{i}" for i in range(6)]
    results = await asyncio.gather(
        *(sdb.secrets.create("u", CreateSecretParams("k", v)) for v in values)
    )
    assert len({r.id for r in results}) == 1
    assert await _count(db, secrets) == 1
    assert (await sdb.secrets.get_decrypted("u", "k")).expose() in values
