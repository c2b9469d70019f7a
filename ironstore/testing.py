"""pytest fixtures that hand each test a fresh, migrated ironstore database on both backends.

Enable with `pytest_plugins = ["ironstore.testing"]` in your conftest.py. Fixtures:

- `ironstore_db`: a connected `Database`, parametrised over `libsql` and `postgres` (test ids
  `[libsql]` / `[postgres]`); each test gets its own database, closed and dropped afterwards.
- `ironstore_connect`: an async factory `await ironstore_connect(**connect_kwargs)` opening more
  `Database` objects on the *same* per-test database (e.g. with a `clock=` or a dimension).
- `ironstore_backend`: `"libsql"` or `"postgres"` for the current parameter.
- `ironstore_url`: the per-test database URL.

Speed: migrations run once per session into a template (a migrated file copied per test on
libSQL; `CREATE DATABASE … TEMPLATE` on PostgreSQL).

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
    server = pgserver.get_server(str(datadir), cleanup_mode="stop")
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


async def _pg_admin(server_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
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
    server: str = request.getfixturevalue("ironstore_postgres_server")
    template_name: str = request.getfixturevalue("ironstore_postgres_template")
    name = f"ironstore_t_{os.getpid()}_{next(_counter)}"
    _run_aside(_pg_admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    try:
        yield _with_database(server, name)
    finally:
        _run_aside(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
