"""The `Database` facade: composes the repository mixins; owns the engine and migrations.

Every store method of the specs is a coroutine directly on `Database` (a drop-in for IronClaw's
flat `Database` trait). Each store lands as a mixin in `ironstore/stores/` and is added to the
bases below.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from . import migrations
from .config import Backend, DatabaseConfig, resolve
from .engine import create_engine, translate
from .errors import DatabaseError, EncryptionKeyError, MigrationError
from .stores._base import Clock, StoreBase, _writer_lock
from .stores.conversations import ConversationRepository
from .stores.jobs import JobRepository
from .stores.routines import RoutineRepository
from .stores.sandbox import SandboxRepository
from .stores.secrets import SecretsRepository
from .stores.sessions import SessionRepository
from .stores.settings import SettingsRepository
from .stores.tool_failures import ToolFailureRepository
from .stores.wasm_channels import WasmChannelRepository
from .stores.wasm_tools import WasmToolRepository

if TYPE_CHECKING:
    from .adopt import AdoptionReport

T = TypeVar("T")
from .stores.workspace import WorkspaceRepository


@dataclass(frozen=True)
class StoreOptions:
    """Store-specific keyword options of `connect()`, documented in one place.

    - `secrets_master_key`: master key of the secrets store (else `SECRETS_MASTER_KEY`);
      never logged or shown in `repr()`.
    - `lenient_session_decoding`: the session store reads a checkpoint whose stored state cannot
      be decoded as an empty `CheckpointState` and logs a WARNING naming it on the
      `ironstore.sessions` logger, instead of raising `CorruptDataError` (the default).
    """

    secrets_master_key: str | None = field(default=None, repr=False)
    lenient_session_decoding: bool = False


class Database(
    ConversationRepository,
    JobRepository,
    SandboxRepository,
    RoutineRepository,
    ToolFailureRepository,
    SettingsRepository,
    WorkspaceRepository,
    SessionRepository,
    StoreBase,
):
    """An open ironstore database (libSQL or PostgreSQL). Create it with `ironstore.connect()`.

    Store methods live on the repository mixins (one file each in `ironstore/stores/`); the
    satellite stores with generic method names are attributes: `db.secrets`, `db.wasm_tools`,
    `db.wasm_channels`.
    """

    def __init__(
        self,
        config: DatabaseConfig,
        engine: AsyncEngine,
        clock: Clock | None = None,
        options: StoreOptions | None = None,
    ) -> None:
        self._init_store_base(config, engine, clock)
        self._options = options or StoreOptions()
        self._closed = False
        self._in_memory = False  # `:memory:` libSQL: a private temporary file, see connect()
        self._memory_cleanup: weakref.finalize[..., Database] | None = None
        self.secrets = SecretsRepository(self)
        self.wasm_tools = WasmToolRepository(self)
        self.wasm_channels = WasmChannelRepository(self)

    def __repr__(self) -> str:
        return f"<ironstore.Database {self._config.backend} {self._config.display_url}>"

    # ------------------------------------------------------------------ properties

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy AsyncEngine underneath (escape hatch; not part of the stable API)."""
        return self._engine

    @property
    def backend(self) -> Backend:
        """`"libsql"` or `"postgres"`."""
        return self._config.backend

    @property
    def config(self) -> DatabaseConfig:
        return self._config

    @property
    def embedding_dimension(self) -> int | None:
        return self._config.embedding_dimension

    # ------------------------------------------------------------------ lifecycle

    async def _check_connection(self) -> None:
        """Open one connection now, so a bad URL or a non-database file fails at connect()."""
        probe = (
            "SELECT 1"
            if self._config.backend == "postgres"
            else "SELECT count(*) FROM sqlite_master"
        )
        try:
            async with self._engine.connect() as conn:
                await conn.exec_driver_sql(probe)
        except Exception as exc:
            await self._engine.dispose()
            error = translate(exc, url=self._config.display_url, connecting=True)
            raise (_encryption_problem(self._config, error) or error) from exc

    async def run_migrations(self, revision: str = "head") -> None:
        """Upgrade the schema with this backend's Alembic tree. Idempotent; safe concurrently.

        An IronClaw v0.22.0 database is adopted first (see `adopt()`), in the same transaction.
        PostgreSQL: holds an advisory lock for the duration; libSQL: one BEGIN IMMEDIATE
        transaction (and the in-process writer lock). Raises `MigrationError` if the database
        cannot be upgraded (e.g. pgvector is not installed on the server, or the database is at
        a revision this version of ironstore does not know: `SchemaOutOfDateError`).
        """
        backend = self._config.backend
        await self._in_migration_transaction(lambda conn: migrations.upgrade(conn, backend, revision))

    async def adopt(self) -> AdoptionReport:
        """Adopt a database IronClaw v0.22.0 created, without upgrading past the baseline.

        Verifies IronClaw's bookkeeping and tables, rewrites legacy libSQL timestamp text into the
        canonical form and stamps the baseline revision, all in one transaction; `run_migrations`
        continues from there. Not idempotent: raises `MigrationError` for a database ironstore
        already manages, and for IronClaw databases older or newer than v0.22.0 (nothing changed).
        """
        from .adopt import adopt

        backend = self._config.backend
        return await self._in_migration_transaction(lambda conn: adopt(conn, backend))

    async def _in_migration_transaction(self, work: Callable[[Any], T]) -> T:
        """Run schema work on one write connection, serialised like migrations, and commit it."""
        backend = self._config.backend
        lock = _writer_lock(self._lock_key) if self._lock_key else None
        try:
            # Alembic's `context` is process-global: one migration at a time per process
            async with migrations.in_process_lock():
                if lock is not None:
                    await lock.acquire()
                try:
                    async with self._write_engine.connect() as conn:
                        if backend == "postgres":
                            await conn.run_sync(_require_pgvector)
                        result = await conn.run_sync(work)
                        await conn.commit()
                        return result
                finally:
                    if lock is not None:
                        lock.release()
        except DatabaseError:
            raise
        except Exception as exc:
            raise migrations.as_migration_error(exc, self._config.display_url) from exc

    async def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""
        async with self._read() as conn:
            return await conn.run_sync(migrations.current_revision)

    async def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._engine.dispose()
            if self._memory_cleanup is not None:
                self._memory_cleanup()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


SQLITE_HEADER = b"SQLite format 3\x00"


def _encryption_problem(config: DatabaseConfig, error: DatabaseError) -> EncryptionKeyError | None:
    """Explain a libSQL file that would not open because of its encryption key, if that is why."""
    path = config.path
    if config.backend != "libsql" or path is None or "not a database" not in str(error):
        return None
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError:
        return None
    if len(header) < len(SQLITE_HEADER):
        return None
    plaintext = header == SQLITE_HEADER
    if plaintext and config.encryption_key:
        return EncryptionKeyError(
            f"{path} is not encrypted but an encryption key was given; "
            "open it without encryption_key / IRONSTORE_ENCRYPTION_KEY"
        )
    if not plaintext and not config.encryption_key:
        return EncryptionKeyError(
            f"{path} is encrypted (or is not a database); pass encryption_key= or set "
            "IRONSTORE_ENCRYPTION_KEY"
        )
    if not plaintext:
        return EncryptionKeyError(f"{path} could not be decrypted: wrong encryption key (or not a database)")
    return None


PGVECTOR_EXTENSION = "vector"


def _require_pgvector(connection: Any, extension: str | None = None) -> None:
    """Fail before anything is created when the server cannot provide pgvector."""
    name = extension or PGVECTOR_EXTENSION
    available = connection.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = :name"), {"name": name}
    ).first()
    connection.rollback()
    if available is None:
        raise MigrationError(
            f"the PostgreSQL server has no '{name}' extension (pgvector). Install pgvector on the "
            "server (e.g. `apt-get install postgresql-<version>-pgvector`, or build it from source), "
            "then run the migrations again."
        )


async def connect(
    url: str | None = None,
    *,
    embedding_dimension: int | None = None,
    encryption_key: str | None = None,
    clock: Clock | None = None,
    secrets_master_key: str | None = None,
    lenient_session_decoding: bool = False,
    **engine_options: Any,
) -> Database:
    """Open an ironstore database; see `ironstore.config` for how the URL is resolved.

    Raises `ConfigurationError` (an `InvalidInputError`) for unusable URLs or options and
    `BackendUnavailableError` when the database cannot be reached or is not a database.
    """
    config = resolve(url, embedding_dimension=embedding_dimension, encryption_key=encryption_key)
    if clock is not None and not callable(clock):
        from .errors import ConfigurationError

        raise ConfigurationError("clock must be a callable returning an aware datetime")
    memory_dir = _memory_dir(config)
    if memory_dir is not None:
        config = dataclasses.replace(
            config, url=config.url.set(database=str(memory_dir / "memory.db")), path=memory_dir / "memory.db"
        )
    try:
        engine = create_engine(config, **engine_options)
    except BaseException:
        if memory_dir is not None:
            shutil.rmtree(memory_dir, ignore_errors=True)
        raise
    options = StoreOptions(secrets_master_key, bool(lenient_session_decoding))
    db = Database(config, engine, clock, options)
    if memory_dir is not None:
        db._in_memory = True
        db._memory_cleanup = weakref.finalize(db, shutil.rmtree, str(memory_dir), True)
    try:
        await db._check_connection()
    except BaseException:
        if db._memory_cleanup is not None:
            db._memory_cleanup()
        raise
    return db


def _memory_dir(config: DatabaseConfig) -> Path | None:
    """`sqlite+libsql:///:memory:` becomes a file in a fresh temporary directory (None otherwise).

    An in-memory SQLite database is private to one connection, so a pool would see several empty
    databases, and one shared connection would mix concurrent transactions (a reader's rollback
    undoing a writer's work). A private file gives every pooled connection the same database
    with real transactions; `close()` (or garbage collection) deletes the directory.
    """
    if config.backend != "libsql" or config.url.database != ":memory:":
        return None
    return Path(tempfile.mkdtemp(prefix="ironstore-memory-"))
