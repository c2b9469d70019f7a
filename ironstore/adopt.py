"""Adopt a database that IronClaw v0.22.0 created, so ironstore's migrations continue from it.

Adoption (schema.md §3.4) runs inside the caller's migration transaction and is all or nothing:

1. recognise the IronClaw state — PostgreSQL: `refinery_schema_history` holds exactly versions
   1-13 with IronClaw's names, extension `vector` is installed; libSQL: `_migrations` holds rows
   9, 12 and 13 (and optionally row 0, the recorded vector dimension) and nothing newer;
2. verify that the 24 application tables exist with at least the baseline's columns;
3. libSQL only: rewrite legacy timestamp text (naive `YYYY-MM-DD HH:MM:SS[.f]`, other offsets,
   other precisions) into the canonical `YYYY-MM-DDTHH:MM:SS.mmmZ`, with ironstore's own reader,
   so that text comparisons and orderings are chronological again;
4. create `alembic_version` holding the baseline revision.

Nothing is dropped or renamed: IronClaw's bookkeeping tables stay, so IronClaw can still open the
database. Older IronClaw databases (refinery < V13, `_migrations` rows missing) are refused with
a message saying to let IronClaw v0.22.0 upgrade them first; newer ones are refused as unknown.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    bindparam,
    column,
    create_engine,
    func,
    inspect,
    not_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.engine import Connection

from .baseline_sql import LS_MIGRATIONS, REFINERY_HISTORY, ls_upgrade_clauses
from .errors import AdoptionError, CorruptDataError
from .types import Timestamp, format_timestamp, parse_timestamp

__all__ = ["BASELINE_REVISIONS", "AdoptionReport", "adopt", "baseline_columns", "is_ironclaw"]

BASELINE_REVISIONS = {"postgres": "ironclaw_v13", "libsql": "ironclaw_ls_baseline"}
IRONCLAW_MARKERS = {"postgres": "refinery_schema_history", "libsql": "_migrations"}
VECTOR_DIMENSION_ROW = 0  # IronClaw's libSQL convention: `_migrations` row 0 names the dimension
CANONICAL_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"
_REWRITE_BATCH = 500


@dataclass(frozen=True)
class AdoptionReport:
    """What adoption found and changed (returned by `Database.adopt()`, shown by `ironstore adopt`)."""

    backend: str
    ironclaw_state: str
    tables: int
    rows: int
    stamped_revision: str
    timestamps_rewritten: dict[str, int] = field(default_factory=dict)
    vector_dimension: int | None = None
    legacy_default_tables: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "ironclaw_state": self.ironclaw_state,
            "tables": self.tables,
            "rows": self.rows,
            "stamped_revision": self.stamped_revision,
            "timestamps_rewritten": dict(self.timestamps_rewritten),
            "vector_dimension": self.vector_dimension,
            "legacy_default_tables": list(self.legacy_default_tables),
        }


def is_ironclaw(connection: Connection, backend: str) -> bool:
    """True for an IronClaw database that ironstore has not adopted yet."""
    tables = set(inspect(connection).get_table_names())
    return "alembic_version" not in tables and IRONCLAW_MARKERS[backend] in tables


LIBSQL_ONLY_COLUMNS = {"memory_chunks": frozenset({"_rowid"})}  # the FTS5 table's content rowid


@functools.lru_cache(maxsize=2)
def baseline_columns(backend: str = "libsql") -> dict[str, frozenset[str]]:
    """Table → column names of IronClaw v0.22.0's 24 application tables (from our baseline DDL).

    Built once by laying the libSQL baseline into a private in-memory SQLite database; the
    PostgreSQL baseline has the same tables and column names but for `LIBSQL_ONLY_COLUMNS`.
    """
    if backend == "postgres":
        return {
            name: columns - LIBSQL_ONLY_COLUMNS.get(name, frozenset())
            for name, columns in baseline_columns("libsql").items()
        }
    engine = create_engine("sqlite://", module=sqlite3)
    try:
        with engine.begin() as conn:
            for clause in ls_upgrade_clauses():
                conn.execute(clause)
            inspector = inspect(conn)
            names = [
                name for name in inspector.get_table_names()
                if name != IRONCLAW_MARKERS["libsql"] and not name.startswith("memory_chunks_fts")
            ]
            return {name: frozenset(c["name"] for c in inspector.get_columns(name)) for name in names}
    finally:
        engine.dispose()


def adopt(connection: Connection, backend: str) -> AdoptionReport:
    """Verify, normalise and stamp an IronClaw database on an open connection (caller commits)."""
    if backend == "postgres":
        from .migrations import ADVISORY_LOCK_KEY

        # the lock migrations hold: a concurrent run_migrations() waits instead of adopting twice
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    if "alembic_version" in present:
        raise AdoptionError("this database is already managed by ironstore (it has alembic_version)")
    if IRONCLAW_MARKERS[backend] not in present:
        raise AdoptionError(
            f"not an IronClaw database: no {IRONCLAW_MARKERS[backend]} table "
            "(ironstore adopts databases created by IronClaw v0.22.0)"
        )
    if backend == "postgres":
        state, dimension = _check_refinery(connection), None
    else:
        state, dimension = _check_libsql_migrations(connection)
    _check_tables(inspector, present, baseline_columns(backend))
    rewritten = _normalise_timestamps(connection, inspector) if backend == "libsql" else {}
    legacy = _legacy_default_tables(connection) if backend == "libsql" else []
    revision = BASELINE_REVISIONS[backend]
    _stamp(connection, revision)
    rows = sum(_count(connection, name) for name in baseline_columns())
    return AdoptionReport(
        backend, state, len(baseline_columns()), rows, revision, rewritten, dimension, legacy
    )


def _check_refinery(connection: Connection) -> str:
    rows = connection.execute(text("SELECT version, name FROM refinery_schema_history")).all()
    found = {int(version): name for version, name in rows}
    expected = {version: name for version, name, _checksum in REFINERY_HISTORY}
    newest = max(found, default=0)
    if newest > max(expected) or any(expected.get(v) != n for v, n in found.items()):
        raise AdoptionError(
            f"refinery_schema_history shows an IronClaw newer than v0.22.0 or a foreign schema "
            f"(versions {sorted(found)}); ironstore adopts IronClaw v0.22.0 (refinery V13) only"
        )
    if set(found) != set(expected):
        raise AdoptionError(
            f"this IronClaw database is at refinery V{newest}, older than v0.22.0 (V13): start "
            "IronClaw v0.22.0 on it once so it applies its own migrations, then adopt it"
        )
    has_vector = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first()
    if has_vector is None:
        raise AdoptionError("IronClaw database without the pgvector extension `vector`; install it first")
    return "IronClaw v0.22.0 (refinery V13)"


def _check_libsql_migrations(connection: Connection) -> tuple[str, int | None]:
    rows = connection.execute(text("SELECT version, name FROM _migrations")).all()
    found = {int(version): str(name) for version, name in rows}
    expected = dict(LS_MIGRATIONS)
    unknown = sorted(set(found) - set(expected) - {VECTOR_DIMENSION_ROW})
    if unknown or any(expected[v] != n for v, n in found.items() if v in expected):
        raise AdoptionError(
            f"_migrations holds rows ironstore does not know ({unknown or sorted(found)}): an "
            "IronClaw newer than v0.22.0 or a foreign schema; ironstore adopts IronClaw v0.22.0 only"
        )
    missing = sorted(set(expected) - set(found))
    if missing:
        raise AdoptionError(
            f"this IronClaw libSQL database lacks migrations {missing} (older than v0.22.0): start "
            "IronClaw v0.22.0 on it once so it applies them, then adopt it"
        )
    dimension = None
    if VECTOR_DIMENSION_ROW in found:
        try:
            dimension = int(found[VECTOR_DIMENSION_ROW])
        except ValueError:
            raise AdoptionError(
                f"_migrations row 0 should hold the vector dimension, found {found[0]!r:.40}"
            ) from None
    return "IronClaw v0.22.0 (libSQL _migrations 9, 12, 13)", dimension


def _check_tables(inspector: Any, present: set[str], baseline: dict[str, frozenset[str]]) -> None:
    missing_tables = sorted(set(baseline) - present)
    if missing_tables:
        raise AdoptionError(f"not a complete IronClaw v0.22.0 database: missing tables {missing_tables}")
    problems = []
    for name, expected in sorted(baseline.items()):
        columns = {c["name"] for c in inspector.get_columns(name)}
        if not expected <= columns:
            problems.append(f"{name} lacks {sorted(expected - columns)}")
    if problems:
        raise AdoptionError("not a complete IronClaw v0.22.0 database: " + "; ".join(problems))


def _timestamp_columns() -> dict[str, list[str]]:
    from .schema import metadata

    baseline = baseline_columns()
    return {
        t.name: [c.name for c in t.columns if isinstance(c.type, Timestamp) and c.name in baseline[t.name]]
        for t in metadata.sorted_tables
        if t.name in baseline
    }


def _normalise_timestamps(connection: Connection, inspector: Any) -> dict[str, int]:
    """Rewrite every non-canonical timestamp text in place; unreadable values abort adoption."""
    rewritten: dict[str, int] = {}
    for table_name, names in _timestamp_columns().items():
        for name in names:
            target = table(table_name, column("rowid"), column(name))
            value = target.c[name]
            stale = connection.execute(
                select(target.c.rowid, value).where(
                    value.is_not(None), value != "", not_(value.op("GLOB")(CANONICAL_GLOB))
                )
            ).all()
            if not stale:
                continue
            fixes = []
            for rowid, raw in stale:
                try:
                    fixes.append({"row": rowid, "value": format_timestamp(parse_timestamp(str(raw)))})
                except CorruptDataError:
                    raise AdoptionError(
                        f"{table_name}.{name} (rowid {rowid}) holds {raw!r:.40}, which is not a "
                        "timestamp; fix or clear that value, then adopt again"
                    ) from None
            statement = (
                update(target)
                .where(target.c.rowid == bindparam("row"))
                .values({name: bindparam("value")})
            )
            for start in range(0, len(fixes), _REWRITE_BATCH):
                connection.execute(statement, fixes[start : start + _REWRITE_BATCH])
            rewritten[f"{table_name}.{name}"] = len(fixes)
    return rewritten


def _legacy_default_tables(connection: Connection) -> list[str]:
    """Tables whose DDL still defaults timestamps to naive `datetime('now')` (older IronClaw).

    Changing a default on libSQL means rebuilding the table, so they are reported, not rebuilt;
    rows that relied on them are still read correctly (the reader accepts naive text as UTC).
    """
    rows = connection.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL")
    ).all()
    return sorted(name for name, sql in rows if "datetime('now')" in sql.replace('"', "'").lower())


def _count(connection: Connection, name: str) -> int:
    return int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())


def _stamp(connection: Connection, revision: str) -> None:
    """Create Alembic's version table as Alembic would and record the baseline revision."""
    connection.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:rev)"), {"rev": revision})
