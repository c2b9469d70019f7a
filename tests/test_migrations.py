"""Both Alembic trees: baseline object counts, upgrade/downgrade, drift, concurrency, CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

import ironstore
from ironstore import Database, MigrationError, migrations

ROOT = Path(__file__).resolve().parent.parent
BASELINE = {"postgres": "ironclaw_v13", "libsql": "ironclaw_ls_baseline"}


async def _drift(db: Database) -> list[object]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(migrations.schema_drift, db.backend)  # type: ignore[no-any-return]


async def test_migrated_database_matches_metadata(db: Database) -> None:
    assert await _drift(db) == []


async def _scalar(db: Database, sql: str) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def test_baseline_is_ironclaws_schema(blank_url: str, ironstore_backend: str) -> None:
    db = await ironstore.connect(blank_url)
    try:
        await db.run_migrations(BASELINE[ironstore_backend])
        assert await db.current_revision() == BASELINE[ironstore_backend]
        if ironstore_backend == "postgres":
            counts = {
                "tables": "SELECT count(*) FROM pg_tables WHERE schemaname='public' "
                "AND tablename NOT IN ('alembic_version','refinery_schema_history')",
                "pk": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid=c.connamespace "
                "WHERE n.nspname='public' AND contype='p' AND conrelid::regclass::text "
                "NOT IN ('alembic_version','refinery_schema_history')",
                "unique": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid=c.connamespace "
                "WHERE n.nspname='public' AND contype='u'",
                "fk": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid=c.connamespace "
                "WHERE n.nspname='public' AND contype='f'",
                "indexes": "SELECT count(*) FROM pg_indexes WHERE schemaname='public' "
                "AND tablename NOT IN ('alembic_version','refinery_schema_history')",
                "sequences": "SELECT count(*) FROM pg_sequences WHERE schemaname='public'",
                "functions": "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid=p.pronamespace "
                "WHERE n.nspname='public' AND p.proname IN ('update_updated_at_column','list_workspace_files')",
                "triggers": "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal",
                "views": "SELECT count(*) FROM pg_views WHERE schemaname='public'",
                "seeds": "SELECT count(*) FROM leak_detection_patterns",
                "refinery": "SELECT count(*) FROM refinery_schema_history WHERE version BETWEEN 1 AND 13",
                "vector": "SELECT count(*) FROM pg_extension WHERE extname='vector'",
            }
            expected = {"tables": 24, "pk": 24, "unique": 13, "fk": 17, "indexes": 97, "sequences": 1,
                        "functions": 2, "triggers": 4, "views": 5, "seeds": 18, "refinery": 13, "vector": 1}
        else:
            counts = {
                "tables": "SELECT count(*) FROM sqlite_master WHERE type='table' "
                "AND name NOT IN ('sqlite_sequence','alembic_version')",
                "named_indexes": "SELECT count(*) FROM sqlite_master WHERE type='index' "
                "AND name NOT LIKE 'sqlite_autoindex%'",
                "triggers": "SELECT count(*) FROM sqlite_master WHERE type='trigger'",
                "seeds": "SELECT count(*) FROM leak_detection_patterns",
                "bookkeeping": "SELECT count(*) FROM _migrations WHERE version IN (9, 12, 13)",
            }
            expected = {"tables": 30, "named_indexes": 58, "triggers": 4, "seeds": 18, "bookkeeping": 3}
        measured = {key: await _scalar(db, sql) for key, sql in counts.items()}
        assert measured == expected
    finally:
        await db.close()


async def _user_tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(__import__("sqlalchemy").inspect(c).get_table_names()))
    return {n for n in names if n not in ("alembic_version", "sqlite_sequence")}


async def test_upgrade_downgrade_upgrade(blank_url: str) -> None:
    db = await ironstore.connect(blank_url)
    try:
        await db.run_migrations()
        assert len(await _user_tables(db)) >= 24
        async with migrations.in_process_lock(), db._write_engine.connect() as conn:
            await conn.run_sync(migrations.downgrade, db.backend, "base")
            await conn.commit()
        assert await _user_tables(db) == set()
        await db.run_migrations()
        assert await _drift(db) == []
    finally:
        await db.close()


async def test_two_processes_migrate_at_once(blank_url: str) -> None:
    script = (
        "import asyncio, ironstore\n"
        "async def main():\n"
        f"    db = await ironstore.connect({blank_url!r})\n"
        "    await db.run_migrations()\n"
        "    print(await db.current_revision())\n"
        "    await db.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    heads = {out.decode().strip() for out, _ in results}
    assert len(heads) == 1
    db = await ironstore.connect(blank_url)
    try:
        assert await _drift(db) == []
        assert await _scalar(db, "SELECT count(*) FROM leak_detection_patterns") == 18
    finally:
        await db.close()


async def test_concurrent_run_migrations_in_one_process(blank_url: str) -> None:
    dbs = [await ironstore.connect(blank_url) for _ in range(3)]
    try:
        await asyncio.gather(*(d.run_migrations() for d in dbs))
        assert await _drift(dbs[0]) == []
    finally:
        for d in dbs:
            await d.close()


def test_alembic_command_line(blank_url: str, ironstore_backend: str) -> None:
    section = "postgresql" if ironstore_backend == "postgres" else "libsql"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("IRONSTORE_DATABASE_URL", None)
    for args in (["upgrade", "head"], ["current"], ["downgrade", "base"], ["upgrade", "head"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-n", section,
             "-x", f"url={blank_url}", *args],
            check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    # the URL may also come from the environment, as with ironstore.connect()
    env["IRONSTORE_DATABASE_URL"] = blank_url
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-n", section, "current"],
        check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert done.returncode == 0 and "(head)" in done.stdout, done.stderr[-2000:]


def test_alembic_refuses_the_other_backends_url(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-n", "postgresql",
         "-x", f"url=sqlite+libsql:///{tmp_path}/x.db", "upgrade", "head"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode != 0 and "libsql" in done.stderr


async def test_an_ironclaw_database_is_not_overwritten(blank_url: str, ironstore_backend: str) -> None:
    marker = "_migrations" if ironstore_backend == "libsql" else "refinery_schema_history"
    db = await ironstore.connect(blank_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {marker} (version INTEGER PRIMARY KEY, name TEXT)"))
        with pytest.raises(MigrationError) as info:
            await db.run_migrations()
        assert "IronClaw" in str(info.value)
        assert await _user_tables(db) == {marker}
    finally:
        await db.close()
