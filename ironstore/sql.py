"""Small SQL constructs that compile differently per dialect, so repositories never branch.

- `json_text(col, key)`: a top-level JSON field as text (`->>` on PG, `json_extract` on libSQL).
- `insert_for(dialect_name, table)`: an INSERT with `on_conflict_do_*` (same shape on both).
- `embedding_dims(col)`: dimensions of a stored embedding (`vector_dims` on PG, bytes / 4 on libSQL).
- `only_on(obj, dialect)`: marks a column/index/constraint that exists on one backend only.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["byte_order", "embedding_dims", "exists_on", "insert_for", "json_text", "only_on"]

PG = "postgresql"
LIBSQL = "sqlite"

T = TypeVar("T")


def only_on(obj: T, dialect: str) -> T:
    """Tag a schema object that exists only on one backend (drift checks honour the tag)."""
    obj.info["dialects"] = (dialect,)  # type: ignore[attr-defined]
    return obj


def exists_on(obj: Any, dialect: str) -> bool:
    dialects = getattr(obj, "info", {}).get("dialects")
    return dialects is None or dialect in dialects


class json_text(FunctionElement[str]):
    """`col ->> 'key'` on PostgreSQL, `json_extract(col, '$.key')` on libSQL."""

    type = Text()
    inherit_cache = True
    name = "json_text"
    # the key is part of the statement's cache key, or two keys would share one compiled form
    _traverse_internals = FunctionElement._traverse_internals + [
        ("key", InternalTraversal.dp_string)
    ]

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if not key.replace("_", "").isalnum():
            raise ValueError(f"json key {key!r} must be an identifier")
        self.key = key
        super().__init__(column)


@compiles(json_text, PG)
def _json_text_pg(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"({compiler.process(column, **kw)} ->> '{element.key}')"


@compiles(json_text, LIBSQL)
def _json_text_libsql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"json_extract({compiler.process(column, **kw)}, '$.{element.key}')"


class byte_order(FunctionElement[str]):
    """Byte-wise text ordering on both backends: `x COLLATE "C"` on PG, plain `x` (BINARY) on libSQL."""

    type = Text()
    inherit_cache = True
    name = "byte_order"

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)


@compiles(byte_order, PG)
def _byte_order_pg(element: byte_order, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f'({compiler.process(column, **kw)} COLLATE "C")'


@compiles(byte_order, LIBSQL)
def _byte_order_libsql(element: byte_order, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return str(compiler.process(column, **kw))


def insert_for(dialect_name: str, table: Table) -> Any:
    """A dialect INSERT supporting `on_conflict_do_update` / `on_conflict_do_nothing`."""
    if dialect_name == PG:
        return postgresql.insert(table)
    return sqlite.insert(table)


class embedding_dims(FunctionElement[int]):
    """Number of dimensions of a stored embedding: `vector_dims(x)` on PG, `length(x)/4` on libSQL."""

    inherit_cache = True
    name = "embedding_dims"

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)


@compiles(embedding_dims, "postgresql")
def embedding_dims_pg(element: embedding_dims, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"vector_dims({compiler.process(column, **kw)})"


@compiles(embedding_dims, "sqlite")
def embedding_dims_libsql(element: embedding_dims, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"(length({compiler.process(column, **kw)}) / 4)"
