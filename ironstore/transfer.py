"""Copy a whole ironstore database to another backend (`ironstore copy --from URL --to URL`).

The move a user makes when a libSQL file outgrows one machine (libSQL -> PostgreSQL), and back.
Everything is driven by the table definitions in `ironstore.schema`, so a table added by a later
migration is copied without touching this module.

How it stays exact and restartable:
- values are read and written through the same column types the stores use, so UUIDs,
  timestamps, JSON, decimals, booleans, arrays, bytes and embeddings are decoded with the
  source's dialect and re-encoded with the target's;
- tables go in foreign-key order; rows in primary-key order by keyset pagination, one target
  transaction per batch, inserted with ON CONFLICT DO NOTHING: a rerun after an interruption
  skips what already arrived and never duplicates a row;
- a self-referencing column (a checkpoint's parent) is written NULL first and filled in a second
  pass, so rows need no particular order;
- at the end every table's row count and an order-independent checksum of its decoded rows are
  compared. A target that already held *different* rows under the same keys keeps them (nothing
  is overwritten) and the report says the table does not match (`CopyReport.ok` is False).

Not copied: bookkeeping outside the schema (`alembic_version`, IronClaw's `_migrations` /
`refinery_schema_history`), which the target gets from its own migrations, and derived search
structures (libSQL's FTS5 index, PostgreSQL's generated `tsvector`), which the target's triggers
and generated columns rebuild from the copied rows. The one exception to "nothing is
overwritten" is `SEEDED_TABLES`: rows every migrated database starts with.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from blake3 import blake3
from sqlalchemy import Column, Table, and_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import migrations
from .database import Database, connect
from .errors import MigrationError
from .schema import metadata
from .sql import LIBSQL, PG, exists_on, insert_for

__all__ = ["CopyReport", "TableCopy", "copy_database"]

Progress = Callable[[str, int, int], None]
"""Called as `progress(table, rows_done, rows_total)` after each batch (and once per table at 0)."""

_CHECKSUM_MODULUS = 1 << 256

SEEDED_TABLES = frozenset({"leak_detection_patterns"})
"""Tables whose rows the migrations insert on every new database (same ids, the migration's
own `created_at`). The target's seeded rows take the source's values instead of being kept."""


@dataclass(frozen=True)
class TableCopy:
    """What happened to one table."""

    name: str
    source_rows: int
    target_rows: int
    copied_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


@dataclass(frozen=True)
class CopyReport:
    """Per-table results of `copy_database`, in copy (foreign-key) order."""

    source_backend: str
    target_backend: str
    tables: tuple[TableCopy, ...]

    @property
    def ok(self) -> bool:
        return all(t.matches for t in self.tables)

    @property
    def copied_rows(self) -> int:
        return sum(t.copied_rows for t in self.tables)

    def mismatched(self) -> list[str]:
        return [t.name for t in self.tables if not t.matches]


async def copy_database(
    source_url: str,
    target_url: str,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
    source_encryption_key: str | None = None,
    target_encryption_key: str | None = None,
) -> CopyReport:
    """Copy every ironstore table from `source_url` into `target_url` and verify the result.

    The source must be at its schema head (else `MigrationError`); the target is migrated to its
    head first (an empty database is fine). Idempotent: rerunning copies only missing rows.
    Raises `InvalidInputError` for a bad `batch_size`, and the usual connection errors
    (`BackendUnavailableError`, `ConfigurationError`) for unusable URLs or keys.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        from .errors import InvalidInputError

        raise InvalidInputError("batch_size must be a positive integer")
    source = await connect(source_url, encryption_key=source_encryption_key)
    try:
        target = await connect(
            target_url,
            encryption_key=target_encryption_key,
            embedding_dimension=source.embedding_dimension,
        )
        try:
            await _require_head(source, "source")
            await target.run_migrations()
            results = [
                await _copy_table(source, target, table, batch_size, progress)
                for table in copy_order()
            ]
            if target.backend == "postgres":
                await _advance_sequences(target)
            return CopyReport(source.backend, target.backend, tuple(results))
        finally:
            await target.close()
    finally:
        await source.close()


def copy_order() -> list[Table]:
    """Every schema table, parents before children."""
    return list(metadata.sorted_tables)


def portable_columns(table: Table) -> list[Column[Any]]:
    """The columns both backends have (not libSQL's FTS rowid, not PostgreSQL's tsvector)."""
    return [c for c in table.columns if exists_on(c, PG) and exists_on(c, LIBSQL)]


def _self_references(table: Table) -> list[Column[Any]]:
    return [fk.parent for fk in table.foreign_keys if fk.column.table is table]


async def _require_head(db: Database, role: str) -> None:
    async with db.engine.connect() as conn:
        current = await conn.run_sync(migrations.current_revision)
    head = migrations.head_revision(db.backend)
    if current != head:
        raise MigrationError(
            f"the {role} database is at revision {current or 'none'}, not at head {head}: "
            f"run `ironstore migrate` on the {role} first"
        )


async def _copy_table(
    source: Database, target: Database, table: Table, batch_size: int, progress: Progress | None
) -> TableCopy:
    columns = portable_columns(table)
    key = list(table.primary_key.columns)
    deferred = _self_references(table)
    source_rows = await _count(source, table)
    target_before = await _count(target, table)
    if progress is not None:
        progress(table.name, 0, source_rows)

    insert = insert_for(_dialect(target), table)
    if table.name in SEEDED_TABLES:
        insert = insert.on_conflict_do_update(
            index_elements=key, set_={c.name: insert.excluded[c.name] for c in columns if c not in key}
        )
    else:
        insert = insert.on_conflict_do_nothing()
    done = 0
    last: tuple[Any, ...] | None = None
    while True:
        batch = await _read_batch(source, table, columns, key, last, batch_size)
        if not batch:
            break
        rows = [dict(zip((c.name for c in columns), row)) for row in batch]
        for row in rows:
            for column in deferred:
                row[column.name] = None
        async with target.engine.begin() as conn:
            await conn.execute(insert, rows)
        done += len(batch)
        last = tuple(batch[-1][columns.index(k)] for k in key)
        if progress is not None:
            progress(table.name, done, source_rows)

    if deferred:
        await _fill_self_references(source, target, table, key, deferred, batch_size)

    target_rows = await _count(target, table)
    return TableCopy(
        name=table.name,
        source_rows=source_rows,
        target_rows=target_rows,
        copied_rows=target_rows - target_before,
        source_checksum=await table_checksum(source, table, batch_size),
        target_checksum=await table_checksum(target, table, batch_size),
    )


async def _fill_self_references(
    source: Database,
    target: Database,
    table: Table,
    key: list[Column[Any]],
    deferred: list[Column[Any]],
    batch_size: int,
) -> None:
    """Second pass: set the self-referencing columns written NULL in the first pass."""
    wanted = [*key, *deferred]
    statement = (
        update(table)
        .where(and_(*(k == bindparam(f"k_{k.name}", type_=k.type) for k in key)))
        .values({c.name: bindparam(f"v_{c.name}", type_=c.type) for c in deferred})
    )
    last: tuple[Any, ...] | None = None
    while True:
        batch = await _read_batch(source, table, wanted, key, last, batch_size)
        if not batch:
            return
        params = [
            {
                **{f"k_{k.name}": row[i] for i, k in enumerate(key)},
                **{f"v_{c.name}": row[len(key) + i] for i, c in enumerate(deferred)},
            }
            for row in batch
            if any(row[len(key) + i] is not None for i in range(len(deferred)))
        ]
        if params:
            async with target.engine.begin() as conn:
                await conn.execute(statement, params)
        last = tuple(batch[-1][: len(key)])


async def _read_batch(
    db: Database,
    table: Table,
    columns: Sequence[Column[Any]],
    key: list[Column[Any]],
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Sequence[Any]]:
    """`limit` rows in primary-key order, strictly after the key `after` (keyset pagination)."""
    statement = select(*columns).order_by(*key).limit(limit)
    if after is not None:
        statement = statement.where(_after_key(key, after))
    async with db.engine.connect() as conn:
        return list((await conn.execute(statement)).all())


def _after_key(key: list[Column[Any]], after: tuple[Any, ...]) -> Any:
    """(k1, k2, ...) > (v1, v2, ...), spelt out so both backends use their key index."""
    clauses = []
    for i, column in enumerate(key):
        equal_prefix = [key[j] == after[j] for j in range(i)]
        clauses.append(and_(*equal_prefix, column > after[i]))
    return or_(*clauses)


async def _count(db: Database, table: Table) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def table_checksum(db: Database, table: Table, batch_size: int = 1000) -> str:
    """An order-independent digest of a table's decoded rows (same value on both backends).

    Each row's canonical encoding is hashed with BLAKE3 and the hashes are summed modulo 2^256,
    so the two sides may return rows in different orders (their text collations differ).
    """
    columns = portable_columns(table)
    key = list(table.primary_key.columns)
    total = 0
    last: tuple[Any, ...] | None = None
    while True:
        batch = await _read_batch(db, table, columns, key, last, batch_size)
        if not batch:
            return f"{total:064x}"
        for row in batch:
            encoded = "\x1f".join(_canonical(value) for value in row).encode()
            total = (total + int.from_bytes(blake3(encoded).digest(), "big")) % _CHECKSUM_MODULUS
        last = tuple(batch[-1][columns.index(k)] for k in key)


def _canonical(value: Any) -> str:
    """A type-tagged text form of a decoded value, equal for equal values on both backends."""
    if value is None:
        return "N"
    if isinstance(value, bool):
        return f"B{int(value)}"
    if isinstance(value, int):
        return f"I{value}"
    if isinstance(value, float):
        return f"F{value!r}"
    if isinstance(value, Decimal):
        return f"D{value}"
    if isinstance(value, str):
        return f"S{value}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"X{bytes(value).hex()}"
    if isinstance(value, uuid.UUID):
        return f"U{value}"
    if isinstance(value, datetime):
        return f"T{value.astimezone(UTC).isoformat()}"
    # JSON documents, text arrays and embeddings: key order is not part of the value
    return "J" + json.dumps(value, sort_keys=True, default=_canonical, ensure_ascii=False)


async def _advance_sequences(db: Database) -> None:
    """After explicit ids were copied into PostgreSQL, move each serial's sequence past them."""
    async with db.engine.begin() as conn:
        for table in copy_order():
            for column in table.columns:
                if column.autoincrement is True and exists_on(column, PG):
                    await _advance_one(conn, table, column)


async def _advance_one(conn: AsyncConnection, table: Table, column: Column[Any]) -> None:
    sequence = (
        await conn.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column.name},
        )
    ).scalar_one_or_none()
    if sequence is None:
        return
    highest = (await conn.execute(select(func.max(column)))).scalar_one_or_none()
    if highest is not None:
        await conn.execute(
            text("SELECT setval(CAST(:sequence AS regclass), :value, true)"),
            {"sequence": sequence, "value": int(highest)},
        )


def _dialect(db: Database) -> str:
    return PG if db.backend == "postgres" else LIBSQL
