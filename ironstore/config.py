"""Turn a URL, the environment and connect() options into one validated configuration.

Resolution order (first match wins):
1. the `url` argument;
2. `IRONSTORE_DATABASE_URL`;
3. IronClaw's variables: `DATABASE_BACKEND` (`postgres` | `libsql`) with `DATABASE_URL` for
   PostgreSQL, or `LIBSQL_PATH` (local file), `LIBSQL_URL` + `LIBSQL_AUTH_TOKEN` (remote, or an
   embedded replica of it when `LIBSQL_PATH` is also set); without `DATABASE_BACKEND`,
   `DATABASE_URL` means PostgreSQL and `LIBSQL_PATH` / `LIBSQL_URL` mean libSQL;
4. a libSQL file at `~/.ironstore/ironstore.db`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigurationError, redact

Backend = Literal["libsql", "postgres"]

LIBSQL_DRIVER = "sqlite+ironstore_libsql"
PG_DRIVER = "postgresql+asyncpg"
DEFAULT_PATH = Path("~/.ironstore/ironstore.db")

_LIBSQL_SCHEMES = {"sqlite", "sqlite+libsql", "sqlite+aiolibsql", "sqlite+ironstore_libsql"}
_PG_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the database is and how to open it. `url` is what SQLAlchemy connects with."""

    backend: Backend
    url: URL
    embedding_dimension: int | None = None
    encryption_key: str | None = field(default=None, repr=False)
    path: Path | None = None  # the local libSQL file, if any

    @property
    def display_url(self) -> str:
        """The URL with passwords and tokens removed, for messages and logs."""
        return redact(self.url.render_as_string(hide_password=True))


def parse_dimension(value: object, source: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{source} must be a positive integer")
    try:
        dim = int(str(value))
    except ValueError:
        raise ConfigurationError(f"{source} must be a positive integer, got {value!r}") from None
    if not 1 <= dim <= 65536:
        raise ConfigurationError(f"{source} must be between 1 and 65536, got {dim}")
    return dim


def _libsql_file(path_text: str, query: Mapping[str, str] | None = None) -> tuple[URL, Path | None]:
    if path_text in ("", ":memory:"):
        return URL.create(LIBSQL_DRIVER, database=":memory:", query=query or {}), None
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if path.exists() and path.is_dir():
        raise ConfigurationError(f"libSQL path {path} is a directory, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the directory for {path}: {exc.strerror}") from None
    return URL.create(LIBSQL_DRIVER, database=str(path), query=query or {}), path


def _remote_libsql(url_text: str, token: str | None, replica_path: str | None) -> tuple[URL, Path | None]:
    """A remote libSQL server, or an embedded replica (local file synced from it)."""
    parsed = make_url(url_text)
    query = dict(parsed.query)
    found = query.pop("authToken", None) or query.pop("auth_token", None)
    token = (found if isinstance(found, str) else found[0] if found else None) or token
    remote = parsed.set(query=query).render_as_string(hide_password=False)
    if replica_path:
        q = {"sync_url": remote}
        if token:
            q["authToken"] = token
        return _libsql_file(replica_path, q)
    q = {"authToken": token} if token else {}
    return URL.create(LIBSQL_DRIVER, database=remote, query=q), None


def parse_url(url_text: str) -> tuple[Backend, URL, Path | None]:
    """Accept the URL forms of design.md §1 and return the driver URL SQLAlchemy connects with."""
    if not isinstance(url_text, str) or not url_text.strip():
        raise ConfigurationError("database URL must be a non-empty string")
    try:
        parsed = make_url(url_text.strip())
    except ArgumentError:
        raise ConfigurationError(f"malformed database URL: {redact(url_text)!r}") from None
    scheme = parsed.drivername.lower()
    if scheme in _PG_SCHEMES:
        if not parsed.database:
            raise ConfigurationError(f"PostgreSQL URL names no database: {redact(url_text)!r}")
        return "postgres", parsed.set(drivername=PG_DRIVER), None
    if scheme == "libsql":
        url, path = _remote_libsql(url_text.strip(), None, None)
        return "libsql", url, path
    if scheme in _LIBSQL_SCHEMES:
        query = {k: v for k, v in parsed.query.items() if isinstance(v, str)}
        url, path = _libsql_file(parsed.database or "", query)
        return "libsql", url, path
    raise ConfigurationError(
        f"unsupported database URL scheme {parsed.drivername!r}; use sqlite+libsql:///path.db, "
        "libsql://host or postgresql://user@host/db"
    )


def resolve(
    url: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    embedding_dimension: int | None = None,
    encryption_key: str | None = None,
) -> DatabaseConfig:
    env = os.environ if environ is None else environ
    dimension = parse_dimension(embedding_dimension, "embedding_dimension")
    if dimension is None:
        dimension = parse_dimension(env.get("EMBEDDING_DIMENSION"), "EMBEDDING_DIMENSION")
    key_from_env = encryption_key is None
    if key_from_env:
        encryption_key = env.get("IRONSTORE_ENCRYPTION_KEY") or None

    backend: Backend
    path: Path | None
    if url is None:
        url = env.get("IRONSTORE_DATABASE_URL") or None
    if url is not None:
        backend, driver_url, path = parse_url(url)
    else:
        declared = (env.get("DATABASE_BACKEND") or "").strip().lower()
        if declared not in ("", "postgres", "postgresql", "libsql"):
            raise ConfigurationError(f"DATABASE_BACKEND must be 'postgres' or 'libsql', got {declared!r}")
        libsql_path = env.get("LIBSQL_PATH") or None
        libsql_url = env.get("LIBSQL_URL") or None
        pg_url = env.get("DATABASE_URL") or None
        if declared in ("postgres", "postgresql") or (not declared and pg_url):
            if not pg_url:
                raise ConfigurationError("DATABASE_BACKEND=postgres needs DATABASE_URL")
            backend, driver_url, path = parse_url(pg_url)
            if backend != "postgres":
                raise ConfigurationError("DATABASE_URL must be a postgresql:// URL")
        elif libsql_url:
            backend = "libsql"
            driver_url, path = _remote_libsql(libsql_url, env.get("LIBSQL_AUTH_TOKEN"), libsql_path)
        else:
            backend = "libsql"
            driver_url, path = _libsql_file(libsql_path or str(DEFAULT_PATH))

    if encryption_key is not None and key_from_env and (backend != "libsql" or path is None):
        encryption_key = None  # the environment's key is for local libSQL files; others ignore it
    if encryption_key is not None:
        if backend != "libsql" or path is None:
            raise ConfigurationError("encryption_key applies to local libSQL files only")
        if not isinstance(encryption_key, str) or not encryption_key:
            raise ConfigurationError("encryption_key must be a non-empty string")
        driver_url = driver_url.update_query_dict({"encryption_key": encryption_key})
    return DatabaseConfig(backend, driver_url, dimension, encryption_key, path)
