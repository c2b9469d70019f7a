"""pytest fixtures that hand each test a fresh, migrated ironstore database on both backends.

Enable with `pytest_plugins = ["ironstore.testing"]` in your conftest.py. Fixtures:

- `ironstore_db`: a connected `Database`, parametrised over `libsql` and `postgres` (test ids
  `[libsql]` / `[postgres]`); each test gets its own database, closed and dropped afterwards.
- `ironstore_connect`: an async factory `await ironstore_connect(**connect_kwargs)` opening more
  `Database` objects on the *same* per-test database (e.g. with a `clock=` or a dimension).
- `ironstore_backend`: `"libsql"` or `"postgres"` for the current parameter.
- `ironstore_url`: the per-test database URL.

Speed: migrations run once per session into a template: on libSQL a migrated file copied per
test; on PostgreSQL databases cloned with `CREATE DATABASE … TEMPLATE` and reused from test to
test, emptied by TRUNCATE unless the test changed the catalog (see `PostgresDatabasePool`).

PostgreSQL comes from `IRONSTORE_TEST_POSTGRES_URL` (any database on the server; the role must be
allowed to create databases), else an embedded server from the `pgserver` package, started once
per session. `IRONSTORE_TEST_BACKENDS=libsql` (or `postgres`) restricts the parametrisation.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from .database import Database, connect

BACKENDS = ("libsql", "postgres")
_counter = itertools.count()


def selected_backends() -> list[str]:
    raw = os.environ.get("IRONSTORE_TEST_BACKENDS", "")
    chosen = [b.strip() for b in raw.split(",") if b.strip()] or list(BACKENDS)
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"IRONSTORE_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}")
    return chosen


def _asyncpg_dsn(url: str) -> str:
    """An asyncpg DSN for a SQLAlchemy-style PostgreSQL URL (driver suffix removed)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def ironstore_postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL to a PostgreSQL server with pgvector (maintenance database)."""
    url = os.environ.get("IRONSTORE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import pgserver
    except ImportError:  # pragma: no cover - depends on the environment
        pytest.fail(
            "PostgreSQL tests need IRONSTORE_TEST_POSTGRES_URL or the 'pgserver' package "
            "(pip install 'ironstore[test]')"
        )
    # outside pytest's basetemp: pytest prunes old basetemps, which would delete a live server's
    # data directory when several pytest sessions run at once
    datadir = Path(tempfile.mkdtemp(prefix="ironstore-pgserver-"))
    server = pgserver.get_server(str(datadir), cleanup_mode="stop")  # type: ignore[attr-defined]  # re-exported without __all__
    try:
        yield f"postgresql://postgres@/postgres?host={datadir}"
    finally:
        server.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)


def _run_aside(coro: Awaitable[Any]) -> Any:
    """Run setup work on a private event loop in another thread (independent of the test's loop)."""
    result: list[Any] = []

    def target() -> None:
        result.append(asyncio.run(coro))  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(target).result()
    return result[0]


async def _pg_connect(url: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    return await asyncpg.connect(_asyncpg_dsn(url))


async def _pg_admin(server_url: str, *statements: str) -> None:
    conn = await _pg_connect(server_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    db = await connect(url)
    try:
        await db.run_migrations()
    finally:
        await db.close()


@pytest.fixture(scope="session")
def ironstore_postgres_template(ironstore_postgres_server: str) -> Iterator[str]:
    """Name of a migrated template database on the test server (dropped at session end)."""
    name = f"ironstore_tpl_{os.getpid()}"
    server = ironstore_postgres_server
    _run_aside(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    _run_aside(_migrate(_with_database(server, name)))
    yield name
    _run_aside(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def ironstore_libsql_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated libSQL file that each test copies."""
    path = tmp_path_factory.mktemp("libsql-template") / "template.db"
    _run_aside(_migrate(f"sqlite+libsql:///{path}"))
    return path


@pytest.fixture(params=selected_backends())
def ironstore_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ironstore_url(ironstore_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database for this test: its URL."""
    if ironstore_backend == "libsql":
        template: Path = request.getfixturevalue("ironstore_libsql_template")
        path = tmp_path / "ironstore.db"
        shutil.copyfile(template, path)
        yield f"sqlite+libsql:///{path}"
        return
    pool: PostgresDatabasePool = request.getfixturevalue("ironstore_postgres_pool")
    name = pool.take()
    try:
        yield _with_database(pool.server, name)
    finally:
        pool.give_back(name)


# The catalog a test could change: tables, indexes, columns, triggers, functions, extensions and
# the migration bookkeeping. Equal fingerprints mean emptying the tables restores the database.
_PG_FINGERPRINT = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(c.oid::text || ':' || c.relname || ':' || c.relkind::text, ',' ORDER BY c.oid)
     FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace),
  (SELECT count(*)::text || '/' || count(*) FILTER (WHERE NOT a.attisdropped)::text
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'public'::regnamespace),
  (SELECT string_agg(t.oid::text, ',' ORDER BY t.oid) FROM pg_trigger t),
  (SELECT string_agg(p.oid::text, ',' ORDER BY p.oid) FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace),
  (SELECT string_agg(e.extname || e.extversion, ',' ORDER BY e.extname) FROM pg_extension e),
  (SELECT string_agg(version_num, ',') FROM alembic_version),
  (SELECT count(*)::text FROM refinery_schema_history)))
"""
_PG_BOOKKEEPING = ("alembic_version", "refinery_schema_history")


def _checksum_sql(table: str) -> str:
    return f'SELECT md5(string_agg(t::text, \',\' ORDER BY t::text)) FROM "{table}" AS t'


class PostgresDatabasePool:
    """Migrated databases cloned from the template, reused from test to test.

    `CREATE DATABASE … TEMPLATE` costs most of a second with a durable server, so a database a
    test has finished with is reset instead: one query finds the tables that differ from the
    template (rows, changed seed rows, used sequences), only those are truncated (RESTART
    IDENTITY, CASCADE) and the migrations' seed rows are put back — unless the test changed its catalog (a new index, a migration step, a dropped
    column), in which case it is dropped and the next test gets a new clone. Other connections
    a test left open are terminated first, so one test never sees another's work.
    """

    def __init__(self, server: str, template: str) -> None:
        self.server = server
        self.template = template
        self._free: list[tuple[str, str]] = []
        self._fingerprints: dict[str, str] = {}
        self._all: set[str] = set()
        self._tables: list[str] = []
        self._seeds: dict[str, tuple[list[str], list[Any]]] = {}
        self._seed_checksums: dict[str, str] = {}
        self._sequence_owners: dict[str, str] = {}
        _run_aside(self._read_template())
        self._dirty_query = self._build_dirty_query()

    async def _read_template(self) -> None:
        """Tables, seed rows (and their checksums) and sequence owners, as migrations left them."""
        conn = await _pg_connect(_with_database(self.server, self.template))
        try:
            names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            self._tables = [r[0] for r in names if r[0] not in _PG_BOOKKEEPING]
            for table in self._tables:
                rows = await conn.fetch(f'SELECT * FROM "{table}"')
                if rows:
                    self._seeds[table] = (list(rows[0].keys()), [tuple(r) for r in rows])
                    self._seed_checksums[table] = str(await conn.fetchval(_checksum_sql(table)))
            owners = await conn.fetch(
                "SELECT s.relname, t.relname FROM pg_depend d "
                "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                "JOIN pg_class t ON t.oid = d.refobjid "
                "WHERE d.deptype IN ('a', 'i') AND s.relnamespace = 'public'::regnamespace"
            )
            self._sequence_owners = {r[0]: r[1] for r in owners}
        finally:
            await conn.close()

    def _build_dirty_query(self) -> str:
        """One query naming every table that differs from the template (rows, seeds, sequences)."""
        parts = [
            f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")"
            for t in self._tables if t not in self._seeds
        ]
        parts += [
            f"SELECT '{t}' WHERE ({_checksum_sql(t)}) IS DISTINCT FROM '{self._seed_checksums[t]}'"
            for t in self._seeds
        ]
        parts.append(
            "SELECT sequencename::text FROM pg_sequences "
            "WHERE schemaname = 'public' AND last_value IS NOT NULL"
        )
        return " UNION ALL ".join(parts)

    def take(self) -> str:
        if self._free:
            name, fingerprint = self._free.pop()
            self._fingerprints[name] = fingerprint
            return name
        name = f"ironstore_t_{os.getpid()}_{next(_counter)}"
        _run_aside(_pg_admin(self.server, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self._all.add(name)
        self._fingerprints[name] = _run_aside(self._fingerprint(name))
        return name

    async def _fingerprint(self, name: str) -> str:
        conn = await _pg_connect(_with_database(self.server, name))
        try:
            return str(await conn.fetchval(_PG_FINGERPRINT))
        finally:
            await conn.close()

    def give_back(self, name: str) -> None:
        fingerprint = self._fingerprints.pop(name)
        if _run_aside(self._reset(name, fingerprint)):
            self._free.append((name, fingerprint))
        else:
            self._all.discard(name)
            _run_aside(_pg_admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _reset(self, name: str, fingerprint: str) -> bool:
        conn = await _pg_connect(_with_database(self.server, name))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if await conn.fetchval(_PG_FINGERPRINT) != fingerprint:
                return False
            found = {r[0] for r in await conn.fetch(self._dirty_query)}
            dirty = sorted({self._sequence_owners.get(name, name) for name in found})
            if dirty:
                async with conn.transaction():
                    await conn.execute(
                        "TRUNCATE " + ", ".join(f'"{t}"' for t in dirty) + " RESTART IDENTITY CASCADE"
                    )
                    for table, (columns, rows) in self._seeds.items():
                        if not await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                            await conn.copy_records_to_table(table, records=rows, columns=columns)
            return True
        finally:
            await conn.close()

    def close(self) -> None:
        for name in sorted(self._all):
            _run_aside(_pg_admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._all.clear()
        self._free.clear()


@pytest.fixture(scope="session")
def ironstore_postgres_pool(
    ironstore_postgres_server: str, ironstore_postgres_template: str
) -> Iterator[PostgresDatabasePool]:
    """The session's reusable per-test PostgreSQL databases (see `PostgresDatabasePool`)."""
    pool = PostgresDatabasePool(ironstore_postgres_server, ironstore_postgres_template)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
async def ironstore_connect(ironstore_url: str) -> AsyncIterator[Callable[..., Awaitable[Database]]]:
    """Factory: open another `Database` on this test's database; all are closed afterwards."""
    opened: list[Database] = []

    async def factory(**kwargs: Any) -> Database:
        db = await connect(ironstore_url, **kwargs)
        opened.append(db)
        return db

    yield factory
    for db in opened:
        await db.close()


@pytest.fixture
async def ironstore_db(ironstore_connect: Callable[..., Awaitable[Database]]) -> Database:
    """A connected, migrated, empty database of the current backend."""
    return await ironstore_connect()
