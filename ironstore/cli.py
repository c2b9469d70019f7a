"""The `ironstore` command (also `python -m ironstore`): migrate, inspect, adopt and copy databases.

The database comes from `--url`, else from the environment exactly as `ironstore.connect()`
resolves it (IRONSTORE_DATABASE_URL, IronClaw's DATABASE_* / LIBSQL_* names, else
~/.ironstore/ironstore.db). An encrypted libSQL file is opened with IRONSTORE_ENCRYPTION_KEY;
keys never go on the command line, where other users could read them.

Exit status: 0 success; 1 the command ran and found a problem (a failing `doctor` check, a copy
that does not verify, a migration that failed); 2 it could not run: bad arguments, a database that
cannot be reached or decrypted, a revision this version does not know, a database it refuses to
adopt. `--json` prints one JSON document on stdout instead of text.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TextIO

from . import migrations
from .config import DatabaseConfig, resolve
from .database import Database, connect
from .errors import (
    AdoptionError,
    BackendUnavailableError,
    ConfigurationError,
    DatabaseError,
    SchemaOutOfDateError,
)

__all__ = ["main"]

EXIT_OK, EXIT_PROBLEM, EXIT_UNUSABLE = 0, 1, 2


class CommandFailed(Exception):
    """A command's own failure, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- output


class Output:
    """Text for people on stdout, or one JSON document for scripts; errors always on stderr."""

    def __init__(self, as_json: bool, stream: TextIO = sys.stdout) -> None:
        self.as_json = as_json
        self.stream = stream

    def line(self, text: str) -> None:
        if not self.as_json:
            print(text, file=self.stream)

    def document(self, value: Any) -> None:
        if self.as_json:
            json.dump(value, self.stream, indent=2, sort_keys=True, default=str)
            self.stream.write("\n")


# ----------------------------------------------------------------------------- opening databases


def _config(url: str | None) -> DatabaseConfig:
    return resolve(url)


async def _open(url: str | None, *, must_exist: bool) -> Database:
    """Connect; with `must_exist`, a missing libSQL file is an error instead of a new empty file."""
    config = _config(url)
    if must_exist and config.path is not None and not config.path.exists():
        raise CommandFailed(
            f"no database at {config.path} (run `ironstore migrate` to create one)", EXIT_UNUSABLE
        )
    return await connect(url)


# ----------------------------------------------------------------------------- commands


async def cmd_migrate(args: argparse.Namespace, out: Output) -> int:
    backend = _config(args.url).backend
    target = args.to or "head"
    if args.sql:
        return _print_sql(backend, target)
    _require_known(backend, target)
    db = await _open(args.url, must_exist=False)
    try:
        from .adopt import is_ironclaw

        async with db.engine.connect() as conn:
            adopting = await conn.run_sync(is_ironclaw, backend)
        before = await db.current_revision() if not adopting else None
        if before is not None and not migrations.knows_revision(backend, before):
            raise SchemaOutOfDateError(_unknown_revision_message(before))
        await db.run_migrations(target)
        after = await db.current_revision()
    finally:
        await db.close()
    out.document({"backend": backend, "from": before, "to": after, "adopted": adopting})
    if adopting:
        out.line("adopted an IronClaw v0.22.0 database")
    out.line(f"already at {after}" if before == after else f"upgraded {before or 'empty database'} -> {after}")
    return EXIT_OK


def _print_sql(backend: str, target: str) -> int:
    from alembic import command

    if ":" not in target:
        _require_known(backend, target)
    cfg = migrations.alembic_config(backend)
    cfg.output_buffer = buffer = io.StringIO()  # printed only once every revision rendered
    try:
        command.upgrade(cfg, target, sql=True)
    except Exception as exc:  # noqa: BLE001 - whatever a revision raises offline, say why and stop
        raise CommandFailed(
            f"cannot render these migrations as SQL ({type(exc).__name__}: {exc}); on libSQL, "
            f"{OFFLINE_LIBSQL_LIMIT} edits the live schema, so render up to the revision before it "
            "(`--to ironstore_ls_0006`) or run `ironstore migrate`"
        ) from None
    sys.stdout.write(buffer.getvalue())
    return EXIT_OK


OFFLINE_LIBSQL_LIMIT = "ironstore_ls_0007"  # rewrites foreign keys through PRAGMA writable_schema


def _require_known(backend: str, revision: str) -> None:
    if revision not in ("head", "heads") and not migrations.knows_revision(backend, revision):
        raise CommandFailed(f"unknown revision {revision!r} (see `ironstore history`)", EXIT_UNUSABLE)


def _unknown_revision_message(revision: str) -> str:
    return (
        f"the database is at revision {revision!r}, which this version of ironstore does not know; "
        "upgrade ironstore (the database was migrated by a newer version)"
    )


async def cmd_current(args: argparse.Namespace, out: Output) -> int:
    db = await _open(args.url, must_exist=True)
    try:
        from .adopt import is_ironclaw

        async with db.engine.connect() as conn:
            ironclaw = await conn.run_sync(is_ironclaw, db.backend)
        current = None if ironclaw else await db.current_revision()
        backend = db.backend
    finally:
        await db.close()
    head = migrations.head_revision(backend)
    known = current is None or migrations.knows_revision(backend, current)
    out.document(
        {"backend": backend, "revision": current, "head": head, "at_head": current == head,
         "known": known, "ironclaw_not_adopted": ironclaw}
    )
    if not known:
        raise SchemaOutOfDateError(_unknown_revision_message(str(current)))
    if ironclaw:
        out.line("IronClaw database, not adopted yet (run `ironstore adopt` or `ironstore migrate`)")
    elif current is None:
        out.line("no revision: the database is not migrated (run `ironstore migrate`)")
    else:
        out.line(f"{current}" + (" (head)" if current == head else f" (head is {head})"))
    return EXIT_OK


async def cmd_history(args: argparse.Namespace, out: Output) -> int:
    from alembic.script import ScriptDirectory

    config = _config(args.url)
    current = None
    if config.path is None or config.path.exists():
        db = await connect(args.url)
        try:
            current = await db.current_revision() if await _has_version_table(db) else None
        finally:
            await db.close()
    script = ScriptDirectory.from_config(migrations.alembic_config(config.backend))
    revisions = list(reversed(list(script.walk_revisions())))
    head = script.get_current_head()
    rows = [
        {"revision": r.revision, "down_revision": r.down_revision, "title": (r.doc or "").strip().splitlines()[0]
         if r.doc else "", "current": r.revision == current, "head": r.revision == head}
        for r in revisions
    ]
    out.document({"backend": config.backend, "revisions": rows})
    for row in rows:
        marks = "".join([" (current)" if row["current"] else "", " (head)" if row["head"] else ""])
        out.line(f"{row['revision']:<24} {row['title']}{marks}")
    return EXIT_OK


async def _has_version_table(db: Database) -> bool:
    from sqlalchemy import inspect

    async with db.engine.connect() as conn:
        return bool(await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")))


async def cmd_doctor(args: argparse.Namespace, out: Output) -> int:
    from .doctor import diagnose

    db = await _open(args.url, must_exist=True)
    try:
        checks = await diagnose(db)
    finally:
        await db.close()
    healthy = all(c.status != "fail" for c in checks)
    out.document({"ok": healthy, "checks": [c.as_dict() for c in checks]})
    for check in checks:
        fix = f"\n{'':8}fix: {check.fix}" if check.fix and check.status != "ok" else ""
        out.line(f"{check.status.upper():<6}  {check.name}: {check.detail}{fix}")
    return EXIT_OK if healthy else EXIT_PROBLEM


async def cmd_adopt(args: argparse.Namespace, out: Output) -> int:
    db = await _open(args.url, must_exist=True)
    try:
        report = await db.adopt()
    finally:
        await db.close()
    out.document(report.as_dict())
    out.line(f"adopted: {report.ironclaw_state}, {report.tables} tables, {report.rows} rows")
    for column, count in sorted(report.timestamps_rewritten.items()):
        out.line(f"  rewrote {count} legacy timestamp(s) in {column}")
    if report.legacy_default_tables:
        out.line(f"  note: naive datetime('now') defaults remain in {', '.join(report.legacy_default_tables)}")
    out.line(f"stamped {report.stamped_revision}; run `ironstore migrate` to continue to head")
    return EXIT_OK


async def cmd_copy(args: argparse.Namespace, out: Output) -> int:
    from .transfer import copy_database

    source_key = _key_from(args.from_key_env)
    target_key = _key_from(args.to_key_env)
    source_config = resolve(args.source, encryption_key=source_key)
    if source_config.path is not None and not source_config.path.exists():
        raise CommandFailed(f"no database at {source_config.path}", EXIT_UNUSABLE)
    bar = ProgressBar(sys.stderr, enabled=not args.quiet)
    report = await copy_database(
        args.source, args.target, batch_size=args.batch_size, progress=bar.update,
        source_encryption_key=source_key, target_encryption_key=target_key,
    )
    bar.finish()
    out.document(
        {"ok": report.ok, "source_backend": report.source_backend, "target_backend": report.target_backend,
         "copied_rows": report.copied_rows,
         "tables": [
             {"name": t.name, "source_rows": t.source_rows, "target_rows": t.target_rows,
              "copied_rows": t.copied_rows, "matches": t.matches, "checksum": t.source_checksum}
             for t in report.tables
         ]}
    )
    for t in report.tables:
        status = "ok" if t.matches else "MISMATCH"
        out.line(f"{t.name:<28} {t.source_rows:>9} rows  copied {t.copied_rows:>9}  {status}")
    if not report.ok:
        raise CommandFailed(
            "copy finished but these tables differ from the source: " + ", ".join(report.mismatched())
        )
    out.line(f"copied {report.copied_rows} rows; every table's count and checksum match")
    return EXIT_OK


def _key_from(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise CommandFailed(f"environment variable {variable} is not set", EXIT_UNUSABLE)
    return value


class ProgressBar:
    """One bar per table on a terminal; one line per finished table otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.interactive = stream.isatty()
        self.table: str | None = None

    def update(self, table: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if table != self.table:
            self._end_line()
            self.table = table
        if self.interactive:
            filled = self.WIDTH if total == 0 else self.WIDTH * done // total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{table:<28} [{bar}] {done}/{total}")
            self.stream.flush()
        elif done >= total:
            self.stream.write(f"{table:<28} {done}/{total}\n")
            self.table = None

    def _end_line(self) -> None:
        if self.interactive and self.table is not None:
            self.stream.write("\n")

    def finish(self) -> None:
        if self.enabled:
            self._end_line()
            self.table = None


# ----------------------------------------------------------------------------- parser

Command = Callable[[argparse.Namespace, Output], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS,
        help="database URL (default: the environment, as ironstore.connect() resolves it)",
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON on stdout")
    parser = argparse.ArgumentParser(
        prog="ironstore",
        description="Migrate, check, adopt and copy ironstore databases (libSQL or PostgreSQL).",
        epilog="Exit status: 0 ok, 1 a problem was found, 2 the command could not run.",
    )
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    migrate = add("migrate", cmd_migrate, "upgrade the schema to head (adopting an IronClaw database first)")
    migrate.add_argument("--to", metavar="REV", help="stop at this revision instead of head")
    migrate.add_argument(
        "--sql", action="store_true",
        help="print the SQL instead of running it (from an empty database; --to FROM:TO for a range)",
    )
    add("current", cmd_current, "show the database's revision and whether it is at head")
    add("history", cmd_history, "list this version's migrations, marking the database's revision")
    add("doctor", cmd_doctor, "check the server, extensions, schema, encryption and embedding dimension")
    add("adopt", cmd_adopt, "adopt a database IronClaw v0.22.0 created and stamp the baseline revision")
    copy = add("copy", cmd_copy, "copy every table to another database (any backend), verified")
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="source database URL")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="target database URL")
    copy.add_argument("--batch-size", type=_positive_int, default=1000, help="rows per batch (default 1000)")
    copy.add_argument("--from-key-env", metavar="VAR", help="environment variable holding the source's encryption key")
    copy.add_argument("--to-key-env", metavar="VAR", help="environment variable holding the target's encryption key")
    copy.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def exit_status(error: BaseException) -> int:
    """2 when the command could not work with the database at all, 1 for other failures."""
    if isinstance(error, CommandFailed):
        return error.status
    unusable = (ConfigurationError, BackendUnavailableError, SchemaOutOfDateError, AdoptionError)
    return EXIT_UNUSABLE if isinstance(error, unusable) else EXIT_PROBLEM


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(args.json)
    try:
        status: int = asyncio.run(args.handler(args, out))
        return status
    except (CommandFailed, DatabaseError) as error:
        print(f"ironstore {args.command}: {error}", file=sys.stderr)
        return exit_status(error)
    except KeyboardInterrupt:
        print(f"ironstore {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`ironstore history | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PROBLEM


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
