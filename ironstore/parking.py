"""Downgrades that keep data: what a revision's downgrade would drop is parked, not destroyed.

A downgrade that removes a table or a column would otherwise delete rows a user can never get
back, so upgrade head -> downgrade -> upgrade head would lose data. Instead:

- a table the downgrade removes is renamed to `ironstore_parked_<table>` when it holds rows (an
  empty one is simply dropped), and the upgrade renames it back instead of creating it;
- columns the downgrade removes are copied, with the row key, into
  `ironstore_parked_<table>_<revision>` (only rows where one of them is not NULL), and the
  upgrade writes them back after re-adding the columns.

Parked tables are ordinary tables IronClaw ignores. A row deleted while the database was
downgraded stays deleted (its parked values match nothing); a row added meanwhile keeps the
columns' defaults. Used by the migration trees (both dialects: only RENAME, CREATE TABLE AS and
UPDATE ... FROM, which PostgreSQL and libSQL share, built as SQLAlchemy constructs).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.schema import CreateTableAs

from alembic import op

PREFIX = "ironstore_parked_"


def _offline() -> bool:
    """`--sql` rendering has no database to look at: nothing is parked or restored there."""
    return bool(op.get_context().as_sql)


def _exists(table: str) -> bool:
    return not _offline() and sa.inspect(op.get_bind()).has_table(table)


def _has_rows(table: str) -> bool:
    return not _offline() and op.get_bind().execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first() is not None


def park_or_drop_tables(*tables: str) -> None:
    """Remove `tables` (dependents first): parked together if any holds a row, else dropped."""
    if any(_has_rows(t) for t in tables):
        for table in tables:
            op.rename_table(table, PREFIX + table)
    else:
        for table in tables:
            op.drop_table(table)


def unpark_tables(*tables: str) -> bool:
    """Rename parked `tables` back (with their indexes and constraints); False if none is parked."""
    parked = [_exists(PREFIX + t) for t in tables]
    if not any(parked):
        return False
    if not all(parked):
        raise RuntimeError(f"only some of {tables} are parked; restore or drop {PREFIX}* by hand")
    for table in tables:
        op.rename_table(PREFIX + table, table)
    return True


def park_columns(table: str, key: str, columns: list[str], revision: str) -> None:
    """Copy (key, columns) of rows with any non-NULL column aside before the columns are dropped."""
    source = sa.table(table, sa.column(key), *(sa.column(c) for c in columns))
    kept = sa.select(*(source.c[name] for name in [key, *columns])).where(
        sa.or_(*(source.c[c].is_not(None) for c in columns))
    )
    if _offline() or op.get_bind().execute(kept.limit(1)).first() is None:
        return
    op.execute(CreateTableAs(kept, f"{PREFIX}{table}_{revision}"))


def unpark_columns(table: str, key: str, columns: list[str], revision: str) -> None:
    """Write parked column values back onto the rows that still exist, then drop the copy."""
    parked_name = f"{PREFIX}{table}_{revision}"
    if not _exists(parked_name):
        return
    target = sa.table(table, sa.column(key), *(sa.column(c) for c in columns))
    parked = sa.table(parked_name, sa.column(key), *(sa.column(c) for c in columns)).alias("parked")
    op.execute(
        target.update()
        .values({c: parked.c[c] for c in columns})
        .where(target.c[key] == parked.c[key])
    )
    op.drop_table(parked_name)
