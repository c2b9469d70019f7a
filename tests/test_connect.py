"""connect(): URL forms, environment resolution, and clear errors for bad configurations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

import ironstore
from ironstore import Database
from ironstore.config import DEFAULT_PATH, parse_url, resolve
from ironstore.errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
    MigrationError,
)

# ----------------------------------------------------------------------------- URL forms


def test_libsql_relative_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    backend, url, path = parse_url("sqlite+libsql:///rel/app.db")
    assert backend == "libsql" and path == tmp_path / "rel" / "app.db"
    assert url.drivername == "sqlite+ironstore_libsql"
    assert (tmp_path / "rel").is_dir()  # the missing directory is created
    backend, url, path = parse_url(f"sqlite+libsql:///{tmp_path}/abs.db")
    assert path == tmp_path / "abs.db"


@pytest.mark.parametrize(
    "raw",
    ["postgresql://u:pw@h:5432/db", "postgres://u@h/db", "postgresql+asyncpg://u@h/db"],
)
def test_postgres_url_forms(raw: str) -> None:
    backend, url, path = parse_url(raw)
    assert backend == "postgres" and url.drivername == "postgresql+asyncpg" and path is None


def test_remote_libsql_takes_the_token_from_the_url() -> None:
    backend, url, path = parse_url("libsql://example.turso.io?authToken=SECRET")
    assert backend == "libsql" and path is None
    assert url.database == "libsql://example.turso.io"
    assert url.query["authToken"] == "SECRET"
    assert "SECRET" not in resolve("libsql://example.turso.io?authToken=SECRET").display_url


@pytest.mark.parametrize(
    "raw", ["mysql://root@localhost/db", "http://x", "redis://localhost", "", "   ", "::::"]
)
def test_unknown_or_malformed_urls_are_configuration_errors(raw: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_url(raw)
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


def test_postgres_url_without_database_is_rejected() -> None:
    with pytest.raises(ConfigurationError):
        parse_url("postgresql://user@host")


# ----------------------------------------------------------------------------- environment


def test_environment_order(tmp_path: Path) -> None:
    env = {
        "IRONSTORE_DATABASE_URL": f"sqlite+libsql:///{tmp_path}/a.db",
        "DATABASE_BACKEND": "postgres",
        "DATABASE_URL": "postgresql://u@h/db",
    }
    assert resolve(environ=env).path == tmp_path / "a.db"
    del env["IRONSTORE_DATABASE_URL"]
    assert resolve(environ=env).backend == "postgres"
    env = {"DATABASE_BACKEND": "libsql", "LIBSQL_PATH": str(tmp_path / "b.db"), "DATABASE_URL": "postgresql://u@h/db"}
    assert resolve(environ=env).path == tmp_path / "b.db"
    env = {"DATABASE_URL": "postgresql://u@h/db"}
    assert resolve(environ=env).backend == "postgres"
    replica = resolve(environ={
        "LIBSQL_URL": "libsql://db.example.io", "LIBSQL_AUTH_TOKEN": "tok", "LIBSQL_PATH": str(tmp_path / "r.db"),
    })
    assert replica.path == tmp_path / "r.db"
    assert replica.url.query["sync_url"] == "libsql://db.example.io"
    assert replica.url.query["authToken"] == "tok"
    remote = resolve(environ={"LIBSQL_URL": "libsql://db.example.io", "LIBSQL_AUTH_TOKEN": "tok"})
    assert remote.path is None and remote.url.database == "libsql://db.example.io"


def test_default_file_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = resolve(environ={})
    assert cfg.path == Path(str(DEFAULT_PATH).replace("~", str(tmp_path)))
    assert cfg.path is not None and cfg.path.parent.is_dir()


@pytest.mark.parametrize("value", ["0", "-3", "abc", "70000", "1.5"])
def test_bad_embedding_dimension(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        resolve(f"sqlite+libsql:///{tmp_path}/x.db", environ={"EMBEDDING_DIMENSION": value})


def test_embedding_dimension_argument_wins(tmp_path: Path) -> None:
    cfg = resolve(f"sqlite+libsql:///{tmp_path}/x.db", environ={"EMBEDDING_DIMENSION": "768"}, embedding_dimension=384)
    assert cfg.embedding_dimension == 384
    assert resolve(f"sqlite+libsql:///{tmp_path}/x.db", environ={"EMBEDDING_DIMENSION": "768"}).embedding_dimension == 768


def test_bad_database_backend_variable() -> None:
    with pytest.raises(ConfigurationError):
        resolve(environ={"DATABASE_BACKEND": "oracle"})
    with pytest.raises(ConfigurationError):
        resolve(environ={"DATABASE_BACKEND": "postgres"})  # no DATABASE_URL


# ----------------------------------------------------------------------------- opening


async def test_connect_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRONSTORE_DATABASE_URL", f"sqlite+libsql:///{tmp_path}/env.db")
    async with await ironstore.connect() as db:
        assert db.backend == "libsql"
        assert db.config.path == tmp_path / "env.db"
    assert (tmp_path / "env.db").exists()


async def test_unreachable_postgres_message_has_no_password() -> None:
    with pytest.raises(BackendUnavailableError) as info:
        await ironstore.connect("postgresql://alice:hunter2@127.0.0.1:1/nope", connect_args={"timeout": 5})
    assert "hunter2" not in str(info.value)
    assert "127.0.0.1" in str(info.value)


async def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    payload = b"this is definitely not a database file " * 200
    path.write_bytes(payload)
    with pytest.raises(BackendUnavailableError):
        await ironstore.connect(f"sqlite+libsql:///{path}")
    assert path.read_bytes() == payload  # untouched


async def test_a_directory_in_place_of_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        await ironstore.connect(f"sqlite+libsql:///{tmp_path}")


async def test_bad_clock_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        await ironstore.connect(f"sqlite+libsql:///{tmp_path}/c.db", clock="now")  # type: ignore[arg-type]


async def test_close_is_idempotent_and_repr_hides_secrets(db: Database) -> None:
    assert "postgres" in repr(db) or "libsql" in repr(db)
    await db.close()
    await db.close()


async def test_engine_escape_hatch_and_revision(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    from ironstore.migrations import head_revision

    assert await db.current_revision() == head_revision(db.backend)


async def test_postgres_without_pgvector_fails_before_creating_anything(
    ironstore_postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only (libSQL has no extensions). No server here lacks pgvector, so the check
    is pointed at an extension name that cannot exist."""
    import ironstore.database as database_module
    from ironstore.testing import _pg_admin, _with_database

    name = f"ironstore_novector_{os.getpid()}"
    await _pg_admin(ironstore_postgres_server, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    monkeypatch.setattr(database_module, "PGVECTOR_EXTENSION", "vector_not_installed_here")
    db = await ironstore.connect(_with_database(ironstore_postgres_server, name))
    try:
        with pytest.raises(MigrationError) as info:
            await db.run_migrations()
        assert "pgvector" in str(info.value)
        async with db.engine.connect() as conn:
            tables = (await conn.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ))).scalar()
        assert tables == 0
    finally:
        await db.close()
        await _pg_admin(ironstore_postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
