"""`ironstore.transfer.copy_database`: libSQL <-> PostgreSQL, exact, verified, restartable.

These tests need both backends at once (a libSQL file and a PostgreSQL database), so they do
not use the per-backend `db` fixture; they run in every pass of the suite, whatever
IRONSTORE_TEST_BACKENDS selects (libSQL needs no server).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from populated import populate

import ironstore
from ironstore import Database, MigrationError, connect
from ironstore.demo import (
    DIMENSION,
    toy_embedding,
)
from ironstore.errors import InvalidInputError
from ironstore.schema import metadata
from ironstore.testing import _pg_admin, _run_aside, _with_database
from ironstore.transfer import (
    CopyReport,
    copy_database,
    copy_order,
    portable_columns,
    table_checksum,
)

MASTER_KEY = "copy-test-master-key-0123456789abcdef"


@pytest.fixture
def libsql_url(ironstore_libsql_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "source.db"
    shutil.copyfile(ironstore_libsql_template, path)
    return f"sqlite+libsql:///{path}"


@pytest.fixture
def blank_libsql_url(tmp_path: Path) -> str:
    return f"sqlite+libsql:///{tmp_path}/blank.db"


@pytest.fixture
def postgres_urls(ironstore_postgres_server: str) -> Iterator[list[str]]:
    """A factory list: call `make()` to get a fresh empty PostgreSQL database URL."""
    created: list[str] = []
    yield created
    for name in created:
        _run_aside(_pg_admin(ironstore_postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def blank_postgres_url(ironstore_postgres_server: str, postgres_urls: list[str]) -> str:
    name = f"ironstore_copy_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _run_aside(_pg_admin(ironstore_postgres_server, f'CREATE DATABASE "{name}"'))
    postgres_urls.append(name)
    return _with_database(ironstore_postgres_server, name)


@pytest.fixture
def second_postgres_url(ironstore_postgres_server: str, postgres_urls: list[str]) -> str:
    name = f"ironstore_copy2_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _run_aside(_pg_admin(ironstore_postgres_server, f'CREATE DATABASE "{name}"'))
    postgres_urls.append(name)
    return _with_database(ironstore_postgres_server, name)


async def open_db(url: str) -> Database:
    return await connect(url, embedding_dimension=DIMENSION, secrets_master_key=MASTER_KEY)


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every schema table's decoded rows (portable columns), sorted, for exact comparison."""
    db = await open_db(url)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        async with db.engine.connect() as conn:
            for table in copy_order():
                cols = portable_columns(table)
                rows = (await conn.execute(sa.select(*cols))).all()
                out[table.name] = sorted((tuple(_comparable(v) for v in r) for r in rows), key=repr)
        return out
    finally:
        await db.close()


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _comparable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_comparable(v) for v in value)
    return value


async def test_round_trip_libsql_postgres_libsql_is_identical(
    libsql_url: str, blank_postgres_url: str, blank_libsql_url: str
) -> None:
    db = await open_db(libsql_url)
    await populate(db)
    await db.close()
    before = await dump(libsql_url)
    assert sum(len(rows) for rows in before.values()) > 40

    seen: dict[str, list[tuple[int, int]]] = {}
    report = await copy_database(
        libsql_url, blank_postgres_url, batch_size=7,
        progress=lambda t, done, total: seen.setdefault(t, []).append((done, total)),
    )
    assert report.ok, report.mismatched()
    assert (report.source_backend, report.target_backend) == ("libsql", "postgres")
    seeded = len(before["leak_detection_patterns"])  # every migrated database starts with them
    assert seeded > 0
    assert report.copied_rows == sum(len(rows) for rows in before.values()) - seeded
    # progress: every table reported, starting at 0 and ending at its row count
    assert set(seen) == set(metadata.tables)
    messages = seen["conversation_messages"]
    assert messages[0] == (0, 27) and messages[-1] == (27, 27) and len(messages) == 1 + 4
    assert await dump(blank_postgres_url) == before

    back = await copy_database(blank_postgres_url, blank_libsql_url)
    assert back.ok, back.mismatched()
    assert await dump(blank_libsql_url) == before

    # the copies work through the store methods: search, secrets, sessions, new writes
    for url in (blank_postgres_url, blank_libsql_url):
        copy = await open_db(url)
        try:
            query = "when is the dentist appointment"
            hits = await copy.hybrid_search("alice", None, query, toy_embedding(query),
                                            ironstore.SearchConfig(limit=3))
            assert hits[0].document_path == "notes/dentist.md"
            assert hits[0].fts_rank == 1 and hits[0].vector_rank == 1
            secret = await copy.secrets.get_decrypted("alice", "github")
            assert secret.expose() == "ghp_secret_value"
            sessions = await copy.list_sessions()
            assert sessions.total == 1
            event_id = await copy.save_job_event(
                (await copy.list_sandbox_jobs())[0].id, "status", {"after": "copy"})
            assert event_id > 3  # the serial continues after the copied ids
            conv = await copy.create_conversation("cli", "carol", None)
            await copy.add_conversation_message(conv, "user", "written after the copy")
        finally:
            await copy.close()


async def test_rerun_after_interruption_does_not_duplicate(
    libsql_url: str, blank_postgres_url: str
) -> None:
    db = await open_db(libsql_url)
    await populate(db)
    await db.close()
    calls = 0

    def interrupt(table: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if table == "conversation_messages" and done >= 14:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await copy_database(libsql_url, blank_postgres_url, batch_size=7, progress=interrupt)
    partial = await dump(blank_postgres_url)
    assert 0 < len(partial["conversation_messages"]) < 27
    order = [t.name for t in copy_order()]
    assert order.index("llm_calls") > order.index("conversation_messages")
    assert partial["llm_calls"] == []  # a later table was not reached

    report = await copy_database(libsql_url, blank_postgres_url, batch_size=7)
    assert report.ok, report.mismatched()
    by_name = {t.name: t for t in report.tables}
    assert by_name["conversation_messages"].copied_rows == 27 - len(partial["conversation_messages"])
    assert await dump(blank_postgres_url) == await dump(libsql_url)

    again = await copy_database(libsql_url, blank_postgres_url)
    assert again.ok and again.copied_rows == 0
    assert await dump(blank_postgres_url) == await dump(libsql_url)


async def test_empty_database(libsql_url: str, blank_postgres_url: str) -> None:
    report = await copy_database(libsql_url, blank_postgres_url)
    assert report.ok and report.copied_rows == 0
    assert {t.name for t in report.tables} == set(metadata.tables)
    assert all(t.source_rows == t.target_rows for t in report.tables)
    assert {t.name for t in report.tables if t.source_rows} == {"leak_detection_patterns"}


async def test_every_schema_table_is_copied_and_compared(
    libsql_url: str, blank_postgres_url: str
) -> None:
    """Guards against a table added by a later migration being forgotten."""
    db = await open_db(libsql_url)
    await populate(db)
    await db.close()
    report = await copy_database(libsql_url, blank_postgres_url)
    assert [t.name for t in report.tables] == [t.name for t in metadata.sorted_tables]
    assert set(metadata.tables) == {t.name for t in report.tables}


async def test_conflicting_target_rows_are_kept_and_reported(
    libsql_url: str, blank_postgres_url: str
) -> None:
    db = await open_db(libsql_url)
    await db.set_setting("alice", "theme", "dark")
    await db.close()
    target = await open_db(blank_postgres_url)
    await target.run_migrations()
    await target.set_setting("alice", "theme", "light")
    await target.close()

    report = await copy_database(libsql_url, blank_postgres_url)
    assert not report.ok
    assert report.mismatched() == ["settings"]
    target = await open_db(blank_postgres_url)
    try:
        assert await target.get_setting("alice", "theme") == "light"  # nothing overwritten
    finally:
        await target.close()


async def test_source_not_at_head_is_refused_before_anything_is_written(
    blank_libsql_url: str, blank_postgres_url: str
) -> None:
    src = await connect(blank_libsql_url)
    await src.run_migrations("ironstore_ls_0002")
    await src.close()
    with pytest.raises(MigrationError, match="run `ironstore migrate` on the source"):
        await copy_database(blank_libsql_url, blank_postgres_url)
    target = await connect(blank_postgres_url)
    try:
        assert await target.current_revision() is None
    finally:
        await target.close()


async def test_bad_batch_size(libsql_url: str, blank_postgres_url: str) -> None:
    for bad in (0, -1, True, "10"):
        with pytest.raises(InvalidInputError):
            await copy_database(libsql_url, blank_postgres_url, batch_size=bad)  # type: ignore[arg-type]
    target = await connect(blank_postgres_url)
    try:
        assert await target.current_revision() is None
    finally:
        await target.close()


async def test_postgres_to_postgres_and_checksum_is_content_sensitive(
    libsql_url: str, blank_postgres_url: str, second_postgres_url: str
) -> None:
    db = await open_db(libsql_url)
    await populate(db)
    await db.close()
    assert (await copy_database(libsql_url, blank_postgres_url)).ok
    assert (await copy_database(blank_postgres_url, second_postgres_url)).ok
    second = await open_db(second_postgres_url)
    try:
        table = metadata.tables["conversation_messages"]
        before = await table_checksum(second, table)
        async with second.engine.begin() as conn:
            await conn.execute(
                sa.update(table).where(table.c.content == "message 3").values(content="message 3!")
            )
        assert await table_checksum(second, table) != before
    finally:
        await second.close()


def test_report_ok_reflects_tables() -> None:
    from ironstore.transfer import TableCopy

    good = TableCopy("a", 1, 1, 1, "x", "x")
    bad = TableCopy("b", 2, 2, 0, "x", "y")
    assert CopyReport("libsql", "postgres", (good,)).ok
    assert not CopyReport("libsql", "postgres", (good, bad)).ok
    assert CopyReport("libsql", "postgres", (good, bad)).mismatched() == ["b"]


async def test_cli_copy_round_trip_and_rerun(
    libsql_url: str, blank_postgres_url: str, blank_libsql_url: str
) -> None:
    """`ironstore copy` as a user runs it: libSQL -> PostgreSQL -> libSQL, then a rerun."""
    import json
    import subprocess
    import sys

    db = await open_db(libsql_url)
    try:
        await populate(db)
    finally:
        await db.close()
    env = {**os.environ, "EMBEDDING_DIMENSION": str(DIMENSION)}

    def copy(source: str, target: str) -> tuple[dict[str, Any], str]:
        done = subprocess.run(
            [sys.executable, "-m", "ironstore", "copy", "--from", source, "--to", target, "--json",
             "--batch-size", "7"],
            check=False, capture_output=True, text=True, env=env, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout), done.stderr

    there, progress = copy(libsql_url, blank_postgres_url)
    assert there["ok"] and there["target_backend"] == "postgres" and there["copied_rows"] > 25
    assert "conversation_messages" in progress  # one progress line per table off a terminal
    again, _ = copy(libsql_url, blank_postgres_url)
    assert again["ok"] and again["copied_rows"] == 0
    back, _ = copy(blank_postgres_url, blank_libsql_url)
    assert back["ok"] and back["copied_rows"] == there["copied_rows"]
    assert await dump(blank_libsql_url) == await dump(libsql_url)
