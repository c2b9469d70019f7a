"""`ironstore doctor`: is this database ready for ironstore, and if not, what to do about it.

Each check returns one `Check`: `ok`, `warn` (works, but something is worth knowing) or `fail`
(something ironstore needs is missing), with the fix to apply. Only catalog queries and a few
function probes are run; nothing is written (the FTS5 probe uses a TEMP table).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from . import migrations
from .database import SQLITE_HEADER, Database

__all__ = ["HNSW_SINCE", "ITERATIVE_SCAN_SINCE", "MIN_POSTGRES", "Check", "diagnose"]

MIN_POSTGRES = 150000  # server_version_num of PostgreSQL 15
HNSW_SINCE = (0, 5, 0)
HALFVEC_SINCE = (0, 7, 0)
ITERATIVE_SCAN_SINCE = (0, 8, 0)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


async def diagnose(db: Database) -> list[Check]:
    """Every check for the database's backend, in a stable order."""
    checks = [Check("backend", "ok", f"{db.backend} at {db.config.display_url}")]
    async with db.engine.connect() as conn:
        if db.backend == "postgres":
            checks += await _postgres_checks(conn)
        else:
            checks += await _libsql_checks(conn)
        checks.append(_encryption_check(db))
        schema = await _schema_check(conn, db.backend)
        checks.append(schema)
        checks.append(await _dimension_check(conn, db, schema_ready=schema.status == "ok"))
    return checks


def _version_tuple(text_version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text_version.split(".") if part.isdigit())


async def _postgres_checks(conn: AsyncConnection) -> list[Check]:
    number = int((await conn.execute(text("SHOW server_version_num"))).scalar_one())
    version = (await conn.execute(text("SHOW server_version"))).scalar_one()
    checks = [
        Check("server", "ok", f"PostgreSQL {version}")
        if number >= MIN_POSTGRES
        else Check("server", "fail", f"PostgreSQL {version}", "upgrade the server to PostgreSQL 15 or newer")
    ]
    row = (
        await conn.execute(
            text("SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'")
        )
    ).first()
    if row is None:
        checks.append(
            Check(
                "pgvector", "fail", "the server has no pgvector extension",
                "install pgvector on the server (postgresql-<version>-pgvector, or build it from source)",
            )
        )
        return checks
    default_version, installed = row
    if installed is None:
        checks.append(
            Check(
                "pgvector", "warn", f"available ({default_version}) but not created in this database",
                "run `ironstore migrate` (it creates the extension)",
            )
        )
        return checks
    have = _version_tuple(installed)
    checks.append(Check("pgvector", "ok", f"version {installed}"))
    checks.append(
        Check("pgvector hnsw", "ok", "HNSW indexes available")
        if have >= HNSW_SINCE
        else Check("pgvector hnsw", "fail", f"pgvector {installed} has no HNSW", "upgrade pgvector to 0.5 or newer")
    )
    checks.append(
        Check("pgvector halfvec", "ok", "halfvec indexes for more than 2,000 dimensions")
        if have >= HALFVEC_SINCE
        else Check(
            "pgvector halfvec", "warn", f"pgvector {installed}: embeddings above 2,000 dimensions are not indexed",
            "upgrade pgvector to 0.7 or newer",
        )
    )
    checks.append(
        Check("pgvector iterative scans", "ok", "hnsw.iterative_scan available")
        if have >= ITERATIVE_SCAN_SINCE
        else Check(
            "pgvector iterative scans", "warn",
            f"pgvector {installed}: filtered vector searches rely on over-fetching instead",
            "upgrade pgvector to 0.8 or newer for iterative index scans",
        )
    )
    return checks


async def _libsql_checks(conn: AsyncConnection) -> list[Check]:
    version = (await conn.execute(text("SELECT sqlite_version()"))).scalar_one()
    checks = [Check("engine", "ok", f"libSQL (SQLite {version})")]
    try:
        await conn.execute(text("CREATE VIRTUAL TABLE temp.ironstore_doctor_fts USING fts5(body)"))
        await conn.execute(text("DROP TABLE temp.ironstore_doctor_fts"))
        checks.append(Check("fts5", "ok", "FTS5 full-text search available"))
    except Exception as exc:  # noqa: BLE001 - any failure means the module is missing
        checks.append(Check("fts5", "fail", f"FTS5 unavailable ({type(exc).__name__})", "use a libSQL build with FTS5"))
    try:
        await conn.execute(text("SELECT vector_distance_cos(vector32('[1,0]'), vector32('[0,1]'))"))
        checks.append(Check("vector functions", "ok", "vector32 / vector_distance_cos available"))
    except Exception as exc:  # noqa: BLE001
        checks.append(
            Check(
                "vector functions", "warn", f"libSQL vector functions unavailable ({type(exc).__name__})",
                "vector search still works (ironstore scans embeddings in Python); use libSQL for F32_BLOB functions",
            )
        )
    await conn.rollback()
    return checks


def _encryption_check(db: Database) -> Check:
    config = db.config
    if db.backend == "postgres":
        return Check("encryption", "ok", "at rest: the server's concern (disk encryption, TLS to the server)")
    if config.path is None:
        return Check("encryption", "ok", "remote libSQL: encryption is the server's concern")
    try:
        with open(config.path, "rb") as file:
            plaintext = file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError as exc:
        return Check("encryption", "warn", f"cannot read {config.path}: {exc.strerror}")
    if config.encryption_key and not plaintext:
        return Check("encryption", "ok", "encrypted at rest (key given)")
    return Check(
        "encryption", "ok", "not encrypted",
        "optional: copy it into a new file opened with IRONSTORE_ENCRYPTION_KEY to encrypt at rest",
    )


async def _schema_check(conn: AsyncConnection, backend: str) -> Check:
    head = migrations.head_revision(backend)
    tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    if "alembic_version" not in tables:
        from .adopt import IRONCLAW_MARKERS

        if IRONCLAW_MARKERS[backend] in tables:
            return Check("schema", "fail", "an IronClaw database, not adopted yet", "run `ironstore adopt` (or `ironstore migrate`)")
        if tables:
            return Check("schema", "fail", "tables that ironstore did not create", "point ironstore at an empty or an ironstore database")
        return Check("schema", "fail", "empty database", "run `ironstore migrate`")
    current = await conn.run_sync(migrations.current_revision)
    if current == head:
        return Check("schema", "ok", f"at head ({head})")
    if current is not None and not migrations.knows_revision(backend, current):
        return Check(
            "schema", "fail", f"at {current}, a revision this version of ironstore does not know",
            "upgrade ironstore (the database was migrated by a newer version)",
        )
    return Check("schema", "fail", f"at {current}, head is {head}", "run `ironstore migrate`")


async def _dimension_check(conn: AsyncConnection, db: Database, *, schema_ready: bool) -> Check:
    configured = db.embedding_dimension
    stored = await _stored_dimension(conn, db.backend) if schema_ready else None
    if configured is None:
        if stored is not None:
            return Check(
                "embedding dimension", "fail", f"not configured; stored embeddings have {stored}",
                f"set EMBEDDING_DIMENSION={stored} (or connect(embedding_dimension={stored}))",
            )
        return Check(
            "embedding dimension", "warn", "not configured: chunks can be stored without embeddings only",
            "set EMBEDDING_DIMENSION (or connect(embedding_dimension=N)) to store embeddings",
        )
    if stored is not None and stored != configured:
        return Check(
            "embedding dimension", "fail", f"configured {configured}, stored embeddings have {stored}",
            f"set EMBEDDING_DIMENSION={stored}, or re-embed the workspace at {configured}",
        )
    detail = f"{configured}" + (" (matches the stored embeddings)" if stored is not None else "")
    return Check("embedding dimension", "ok", detail)


async def _stored_dimension(conn: AsyncConnection, backend: str) -> int | None:
    """The dimension of one stored embedding (a sample; every write is checked against the setting)."""
    from sqlalchemy import select

    from .schema import memory_chunks
    from .sql import embedding_dims

    column = memory_chunks.c.embedding
    query = select(embedding_dims(column)).where(column.is_not(None)).limit(1)
    found: Any = (await conn.execute(query)).scalar()
    return None if found is None else int(found)
