"""Run the dialect's Alembic tree from code (the same trees `alembic -n <section>` runs).

Trees: `alembic/` for PostgreSQL and `alembic_libsql/` for libSQL, each with its own
`alembic_version` table. Concurrent callers are safe: on PostgreSQL the upgrade holds a
transaction-scoped advisory lock; on libSQL it runs inside one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from alembic import command

from .errors import MigrationError, SchemaOutOfDateError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TREES = {"postgres": "alembic", "libsql": "alembic_libsql"}
SECTIONS = {"postgres": "postgresql", "libsql": "libsql"}
ADVISORY_LOCK_KEY = 0x1205_7043  # arbitrary, fixed: "ironstore migrations"

_IRONCLAW_MARKERS = {"refinery_schema_history", "_migrations"}


def tree_path(backend: str) -> Path:
    """The backend's Alembic tree: the copy inside an installed wheel, else the checkout's own."""
    packaged = Path(__file__).resolve().parent / "trees" / TREES[backend]
    for path in (packaged, PROJECT_ROOT / TREES[backend]):
        if (path / "env.py").exists():
            return path
    raise MigrationError(f"migration tree {TREES[backend]}/ not found in the installed ironstore")


def alembic_config(backend: str, url: str | None = None) -> Config:
    """An Alembic Config for the backend's tree; `url` is used when no connection is passed."""
    ini = PROJECT_ROOT / "alembic.ini"
    cfg = Config(str(ini) if ini.exists() else None, ini_section=SECTIONS[backend])
    cfg.set_main_option("script_location", str(tree_path(backend)))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(backend: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(backend)).get_current_head()
    assert head is not None
    return head


def knows_revision(backend: str, revision: str) -> bool:
    """Whether this version's tree for the backend contains `revision`."""
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config(backend)).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_adoptable(connection: Connection, backend: str) -> None:
    """Before upgrading: adopt an IronClaw database in place; refuse tables another tool created."""
    from .adopt import IRONCLAW_MARKERS, adopt

    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables:
        return
    if IRONCLAW_MARKERS[backend] in tables:
        adopt(connection, backend)
        return
    if tables & _IRONCLAW_MARKERS:
        raise MigrationError("this database holds IronClaw tables of the other backend's layout")
    if "conversations" in tables:
        raise MigrationError("the database already has ironstore-like tables but no alembic_version")


_thread_lock = threading.Lock()
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def in_process_lock() -> AsyncIterator[None]:
    """Serialise migrations within this process (Alembic keeps its context in module globals)."""
    loop = asyncio.get_running_loop()
    loop_lock = _loop_locks.setdefault(loop, asyncio.Lock())
    async with loop_lock:
        while not _thread_lock.acquire(blocking=False):  # another thread's loop is migrating
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            _thread_lock.release()


def upgrade(connection: Connection, backend: str, revision: str = "head", **attributes: Any) -> None:
    """Upgrade on an open sync connection (inside `AsyncConnection.run_sync`)."""
    cfg = alembic_config(backend)
    cfg.attributes["connection"] = connection
    cfg.attributes.update(attributes)
    command.upgrade(cfg, revision)


def downgrade(connection: Connection, backend: str, revision: str) -> None:
    cfg = alembic_config(backend)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def as_migration_error(exc: BaseException, display_url: str) -> MigrationError:
    """A failed migration as ironstore's error; an unknown stored revision is SchemaOutOfDateError."""
    from alembic.util import CommandError

    from .engine import translate

    message = str(exc)
    if isinstance(exc, CommandError) and "Can't locate revision" in message:
        return SchemaOutOfDateError(
            f"the database is at a revision this version of ironstore does not know ({message}); "
            "upgrade ironstore, or open the database with the version that migrated it"
        )
    if isinstance(exc, CommandError):
        return MigrationError(f"migration failed: {message}")
    return MigrationError(f"migration failed: {translate(exc, url=display_url)}")


# ----------------------------------------------------------------------------- drift


_NOT_MODELLED = (
    "alembic_version", "refinery_schema_history", "_migrations", "sqlite_sequence",
    "ironstore_workspace_epoch",  # libSQL vector-cache bookkeeping (revision ironstore_ls_0010)
    "ironstore_workspace_changes", "idx_ironstore_workspace_changes_user",  # and its change log (ls_0011)
)
_NOT_MODELLED_PREFIXES = ("memory_chunks_fts", "libsql_vector_meta_shadow")


def object_filter(dialect_name: str) -> Any:
    """Alembic `include_object` for one dialect: MetaData's objects that exist on it, no internals."""
    from .sql import exists_on

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if name and (name in _NOT_MODELLED or name.startswith(_NOT_MODELLED_PREFIXES)):
            return False
        if name and (name.endswith("_shadow") or name == "idx_memory_chunks_embedding"):
            return False  # libSQL vector-index internals, built on demand
        model = compare_to if reflected else obj
        return model is None or exists_on(model, dialect_name)

    return include_object


def compare_type(context: Any, inspected_column: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any) -> bool | None:
    """Type comparison fixes for the drift check (None = Alembic's default comparison)."""
    from sqlalchemy import String

    from .types import SafeText

    if str(inspected_type).upper().startswith("F32_BLOB"):
        return False
    if isinstance(metadata_type, SafeText):
        # Alembic does not see through this decorator's constructor; compare what it renders to
        expected = metadata_type.max_length if context.dialect.name == "postgresql" else None
        return not isinstance(inspected_type, String) or inspected_type.length != expected
    return None


def migration_options(backend: str) -> dict[str, Any]:
    return {
        "include_object": object_filter("postgresql" if backend == "postgres" else "sqlite"),
        "compare_type": compare_type,
        "render_as_batch": backend == "libsql",
        "transactional_ddl": True,
    }


def schema_drift(connection: Connection, backend: str) -> list[Any]:
    """Differences between the migrated database and `schema.metadata` (empty when in sync).

    On libSQL, IronClaw's foreign keys and unique constraints are unnamed (SQLite keeps no
    names for inline ones) and TEXT primary keys are nullable: those differ only in name or
    in a rule SQLite cannot express, so they are not reported.
    """
    import warnings

    from alembic.autogenerate import compare_metadata

    from .schema import metadata

    ctx = MigrationContext.configure(connection, opts=migration_options(backend))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        diffs: list[Any] = compare_metadata(ctx, metadata)
    if backend == "libsql":
        diffs = _without_libsql_naming_noise(connection, diffs)
    return diffs


def _fk_signature(fk: Any) -> tuple[Any, ...]:
    return (
        fk.parent.name,
        tuple(c.name for c in fk.columns),
        fk.referred_table.name,
        tuple(e.column.name for e in fk.elements),
    )


def _libsql_fk_actions(connection: Connection, table: str) -> dict[tuple[Any, ...], str]:
    """ON DELETE actions as SQLite records them (SQLAlchemy cannot parse inline REFERENCES)."""
    rows = connection.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
    by_id: dict[int, list[Any]] = {}
    for row in rows:
        by_id.setdefault(row[0], []).append(row)
    actions = {}
    for group in by_id.values():
        group.sort(key=lambda r: r[1])
        key = (table, tuple(r[3] for r in group), group[0][2], tuple(r[4] for r in group))
        actions[key] = group[0][6].upper()
    return actions


def _without_libsql_naming_noise(connection: Connection, diffs: list[Any]) -> list[Any]:
    import warnings

    from .schema import metadata

    inspector = inspect(connection)
    removed = {_fk_signature(d[1]) for d in diffs if isinstance(d, tuple) and d[0] == "remove_fk"}
    same_fk = set()
    for d in diffs:
        if isinstance(d, tuple) and d[0] == "add_fk" and _fk_signature(d[1]) in removed:
            sig = _fk_signature(d[1])
            stored = _libsql_fk_actions(connection, sig[0]).get(sig)
            if stored == (d[1].ondelete or "NO ACTION").upper():
                same_fk.add(sig)
    kept: list[Any] = []
    for diff in diffs:
        if isinstance(diff, list):
            group = [
                d for d in diff
                if not (
                    d[0] == "modify_nullable"
                    and d[3] in {c.name for c in metadata.tables[d[2]].primary_key.columns}
                )
            ]
            if group:
                kept.append(group)
            continue
        kind = diff[0]
        if kind in ("remove_fk", "add_fk") and _fk_signature(diff[1]) in same_fk:
            continue
        if kind == "add_constraint" and diff[1].__visit_name__ == "unique_constraint":
            uc = diff[1]
            columns = [c.name for c in uc.columns]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*expression-based index.*")
                uniques = inspector.get_unique_constraints(uc.table.name)
            existing = [u["column_names"] for u in uniques]
            if columns in existing:
                continue
        kept.append(diff)
    return kept
