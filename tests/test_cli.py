"""The `ironstore` command run as a subprocess against real databases (issue #8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ironclaw_shape import CONV, ironclaw_database
from sqlalchemy import text

import ironstore
from ironstore import migrations


def run(*args: str, env: dict[str, str] | None = None, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    """`python -m ironstore ARGS` with a clean database environment; asserts the exit status."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IRONSTORE_", "DATABASE_", "LIBSQL_"))}
    base.pop("EMBEDDING_DIMENSION", None)
    result = subprocess.run(
        [sys.executable, "-m", "ironstore", *args], check=False, capture_output=True, text=True,
        env={**base, **(env or {})}, timeout=120,
    )
    if check is not None:
        assert result.returncode == check, (result.returncode, result.stdout, result.stderr)
    return result


def run_json(*args: str, **kwargs: Any) -> Any:
    return json.loads(run(*args, "--json", **kwargs).stdout)


async def _blank_database(url: str) -> None:
    """Make sure the database exists (a libSQL file is created by connecting)."""
    db = await ironstore.connect(url)
    await db.close()


def test_help_on_every_command() -> None:
    assert "migrate" in run("--help").stdout
    for command in ("migrate", "current", "history", "doctor", "adopt", "copy"):
        assert "--url" in run(command, "--help").stdout
    assert run("frobnicate", check=2).stderr.startswith("usage:")
    assert "--from" in run("copy", check=2).stderr


def test_migrate_current_history_doctor(blank_url: str, ironstore_backend: str) -> None:
    head = migrations.head_revision(ironstore_backend)
    migrated = run_json("migrate", "--url", blank_url)
    assert migrated == {"backend": ironstore_backend, "from": None, "to": head, "adopted": False}
    assert run("migrate", "--url", blank_url).stdout.strip() == f"already at {head}"
    current = run_json("current", "--url", blank_url)
    assert current["revision"] == head and current["at_head"] is True
    assert run("--url", blank_url, "current").stdout.strip() == f"{head} (head)"
    history = run_json("history", "--url", blank_url)["revisions"]
    assert history[-1]["revision"] == head and history[-1]["current"] and history[-1]["head"]
    assert history[0]["revision"] in ("ironclaw_v13", "ironclaw_ls_baseline")
    report = run_json("doctor", "--url", blank_url, env={"EMBEDDING_DIMENSION": "8"})
    assert report["ok"] is True
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["schema"] == "ok" and statuses["embedding dimension"] == "ok"
    expected = {"pgvector", "pgvector hnsw", "server"} if ironstore_backend == "postgres" else {"fts5", "vector functions"}
    assert all(statuses[name] == "ok" for name in expected), statuses


async def test_doctor_names_the_fix(blank_url: str, ironstore_backend: str) -> None:
    await _blank_database(blank_url)
    result = run("doctor", "--url", blank_url, check=1)
    assert "FAIL    schema: empty database" in result.stdout
    assert "fix: run `ironstore migrate`" in result.stdout
    run("migrate", "--url", blank_url)
    db = await ironstore.connect(blank_url, embedding_dimension=3)
    try:
        doc = await db.get_or_create_document_by_path("alice", None, "notes.md")
        await db.insert_chunk(doc.id, 0, "hello", [0.1, 0.2, 0.3])
    finally:
        await db.close()
    report = run_json("doctor", "--url", blank_url, env={"EMBEDDING_DIMENSION": "4"}, check=1)
    dimension = next(c for c in report["checks"] if c["name"] == "embedding dimension")
    assert dimension["status"] == "fail" and "stored embeddings have 3" in dimension["detail"]
    assert "EMBEDDING_DIMENSION=3" in dimension["fix"]


async def test_unknown_revision_is_a_clear_error(blank_url: str) -> None:
    run("migrate", "--url", blank_url)
    db = await ironstore.connect(blank_url)
    try:
        async with db._write() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    finally:
        await db.close()
    for command in ("current", "migrate"):
        result = run(command, "--url", blank_url, check=2)
        assert "'from_the_future'" in result.stderr and "does not know" in result.stderr
        assert "Traceback" not in result.stderr
    doctor = run("doctor", "--url", blank_url, check=1)
    assert "a revision this version of ironstore does not know" in doctor.stdout
    assert "unknown revision 'nope'" in run("migrate", "--to", "nope", "--url", blank_url, check=2).stderr


def test_wrong_urls(tmp_path: Path) -> None:
    assert "unsupported database URL scheme" in run("current", "--url", "mysql://x/y", check=2).stderr
    missing = run("doctor", "--url", f"sqlite+libsql:///{tmp_path}/absent.db", check=2)
    assert "no database at" in missing.stderr and not (tmp_path / "absent.db").exists()
    unreachable = run("current", "--url", "postgresql://bob:hunter2@127.0.0.1:1/nowhere", check=2)
    assert "database unavailable" in unreachable.stderr
    assert "hunter2" not in unreachable.stderr and "Traceback" not in unreachable.stderr


async def test_adopt_and_migrate(blank_url: str, ironstore_backend: str) -> None:
    db = await ironclaw_database(blank_url)
    await db.close()
    doctor = run("doctor", "--url", blank_url, check=1)
    assert "an IronClaw database, not adopted yet" in doctor.stdout
    assert run_json("current", "--url", blank_url)["ironclaw_not_adopted"] is True
    report = run_json("adopt", "--url", blank_url)
    assert report["stamped_revision"] in ("ironclaw_v13", "ironclaw_ls_baseline")
    assert report["tables"] == 24
    again = run("adopt", "--url", blank_url, check=2)
    assert "already managed by ironstore" in again.stderr
    assert run_json("migrate", "--url", blank_url)["to"] == migrations.head_revision(ironstore_backend)
    db = await ironstore.connect(blank_url)
    try:
        assert len(await db.list_conversation_messages(CONV)) == 2
    finally:
        await db.close()


def test_sql_output(ironstore_backend: str, blank_url: str) -> None:
    if ironstore_backend == "postgres":
        sql = run("migrate", "--sql", "--url", blank_url).stdout
        assert sql.count("-- Running upgrade") == len(run_json("history", "--url", blank_url)["revisions"])
        assert "CREATE TABLE sessions" in sql and sql.rstrip().endswith("COMMIT;")
    else:
        sql = run("migrate", "--sql", "--to", "ironstore_ls_0006", "--url", blank_url).stdout
        assert "CREATE TABLE sessions" in sql
        refused = run("migrate", "--sql", "--url", blank_url, check=1)
        assert "ironstore_ls_0007 edits the live schema" in refused.stderr and refused.stdout == ""


async def test_encrypted_libsql_file(tmp_path: Path, ironstore_backend: str) -> None:
    if ironstore_backend == "postgres":
        pytest.skip("encryption at rest of the embedded database is a libSQL feature")
    marker = "the-plaintext-marker-7f3a"
    key = {"IRONSTORE_ENCRYPTION_KEY": "correct horse battery staple"}
    files: dict[str, Path] = {}
    for name, env in (("plain", {}), ("encrypted", key)):
        url = f"sqlite+libsql:///{tmp_path / name}/store.db"
        run("migrate", "--url", url, env=env)
        db = await ironstore.connect(url, encryption_key=env.get("IRONSTORE_ENCRYPTION_KEY"))
        try:
            conv = await db.create_conversation("cli", "alice", None)
            await db.add_conversation_message(conv, "user", f"remember {marker}")
            await db.set_setting("alice", "note", marker)
        finally:
            await db.close()
        files[name] = tmp_path / name
        url_of = url

    def contains_marker(directory: Path) -> bool:
        return any(marker.encode() in p.read_bytes() for p in directory.iterdir() if p.is_file())
    assert contains_marker(files["plain"])  # the check can fail: plaintext is visible without a key
    assert not contains_marker(files["encrypted"])
    assert "encrypted at rest" in run("doctor", "--url", url_of, env=key).stdout
    assert "is encrypted" in run("current", "--url", url_of, check=2).stderr
    wrong = run("current", "--url", url_of, env={"IRONSTORE_ENCRYPTION_KEY": "not-the-key-42"}, check=2)
    assert "wrong encryption key" in wrong.stderr and "not-the-key-42" not in wrong.stderr
    with pytest.raises(ironstore.EncryptionKeyError, match="is encrypted"):
        await ironstore.connect(url_of)
    plain_url = f"sqlite+libsql:///{files['plain']}/store.db"
    with pytest.raises(ironstore.EncryptionKeyError, match="not encrypted"):
        await ironstore.connect(plain_url, encryption_key="k")
    assert "not encrypted" in run("current", "--url", plain_url, env=key, check=2).stderr

    # encrypting an existing file: copy it into a new one under a key named by --to-key-env
    secret_dir = tmp_path / "copied"
    copied_url = f"sqlite+libsql:///{secret_dir}/store.db"
    report = run_json(
        "copy", "--from", plain_url, "--to", copied_url, "--to-key-env", "NEW_KEY",
        env={"NEW_KEY": "another key"},
    )
    assert report["ok"] and report["copied_rows"] > 0
    assert not contains_marker(secret_dir)
    db = await ironstore.connect(copied_url, encryption_key="another key")
    try:
        assert await db.get_setting("alice", "note") == marker
    finally:
        await db.close()
    assert "NEW_KEY is not set" in run("copy", "--from", plain_url, "--to", copied_url,
                                       "--to-key-env", "NEW_KEY", check=2).stderr


def test_wheel_ships_both_migration_trees(tmp_path: Path) -> None:
    """A non-editable install has no checkout: the wheel must carry the Alembic trees itself."""
    import zipfile

    project = Path(__file__).resolve().parent.parent
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(project)],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("ironstore-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for tree in ("alembic", "alembic_libsql"):
        shipped = {n for n in names if n.startswith(f"ironstore/trees/{tree}/")}
        expected = {
            f"ironstore/trees/{tree}/{p.relative_to(project / tree)}"
            for p in (project / tree).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        }
        assert expected and expected <= shipped
    assert "ironstore/cli.py" in names and "ironstore/py.typed" in names
    assert not any(n.startswith(("alembic/", "alembic_libsql/")) for n in names)  # never shadow alembic
