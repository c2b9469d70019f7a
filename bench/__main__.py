"""`python -m bench` (what `make bench` runs): every benchmark of issue #9, then BENCHMARKS.md.

    python -m bench                 # full run (about 3-4 minutes on 2 cores)
    python -m bench --quick         # smoke run: fewer repetitions, shorter concurrency
    python -m bench --only drivers  # drivers | peers | concurrency (comma-separated)

PostgreSQL: `IRONSTORE_BENCH_POSTGRES_URL`, else postgresql://postgres@127.0.0.1:5432/postgres,
else an embedded server from the `pgserver` package; the run prints which one it used and
creates / drops its own `ironstore_bench_*` databases there. libSQL files go to a temporary
directory. The "Workspace" section of BENCHMARKS.md belongs to `make bench-workspace` and is
kept as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from . import concurrency, drivers, peers
from ._util import Pair, fmt_us, machine_facts, package_version, table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_AGENT_TURN = {"postgres": 1.5, "libsql": 2.0}
TARGET_PEER_SPEEDUP = 2.0


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- PostgreSQL


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _pg_reachable(url: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(_dsn(url), timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    try:
        row = await conn.fetchrow("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return None if row else "pgvector is not installed on that server"
    finally:
        await conn.close()


async def _pg_admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_facts(url: str) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    try:
        version = await conn.fetchval("SHOW server_version")
        vector = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        if vector is None:
            vector = await conn.fetchval(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            )
        sync = await conn.fetchval("SHOW synchronous_commit")
    finally:
        await conn.close()
    return {"PostgreSQL": str(version), "pgvector": str(vector), "synchronous_commit": str(sync)}


class Postgres:
    """The server the run uses, and the databases it created there."""

    def __init__(self) -> None:
        self.url = ""
        self.source = ""
        self._server: Any = None
        self._dir: str | None = None
        self.created: list[str] = []

    async def start(self) -> None:
        url = os.environ.get("IRONSTORE_BENCH_POSTGRES_URL") or DEFAULT_PG
        problem = await _pg_reachable(url)
        if problem is None:
            self.url = url
            self.source = f"server at {make_url(url).render_as_string(hide_password=True)}"
            return
        log(f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} not usable ({problem}); "
            "starting an embedded server (pgserver)")
        import pgserver  # type: ignore[import-untyped]

        self._dir = tempfile.mkdtemp(prefix="ironstore-bench-pg-")
        self._server = pgserver.get_server(self._dir, cleanup_mode="stop")
        self.url = f"postgresql://postgres@/postgres?host={self._dir}"
        self.source = "embedded pgserver (PyPI `pgserver`)"

    async def database(self, name: str) -> str:
        full = f"ironstore_bench_{name}"
        await _pg_admin(self.url, f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)', f'CREATE DATABASE "{full}"')
        self.created.append(full)
        return _with_db(self.url, full)

    async def stop(self) -> None:
        for name in self.created:
            try:
                await _pg_admin(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - cleanup is best effort
                log(f"could not drop {name}: {exc}")
        if self._server is not None:
            self._server.cleanup()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


# ----------------------------------------------------------------------------- suites


def _sql_url(path: Path) -> str:
    return f"sqlite+libsql:///{path}"


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


async def suite_drivers(pg: Postgres, tmp: Path, reps: int, scale: float) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {}
    path = _fresh(tmp / "drivers.db")
    log("raw drivers: libSQL ...")
    out["libsql"] = await drivers.compare("libsql", _sql_url(path), str(path), reps, scale)
    log(table(out["libsql"], "raw", "raw inline"))
    log("raw drivers: PostgreSQL ...")
    url = await pg.database("drivers")
    out["postgres"] = await drivers.compare("postgres", url, None, reps, scale)
    log(table(out["postgres"], "raw"))
    return out


async def suite_peers(pg: Postgres, tmp: Path, reps: int, scale: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    jobs: list[tuple[str, str, Any]] = [
        ("LangGraph checkpointer", "libsql", "langgraph"),
        ("LangGraph checkpointer", "postgres", "langgraph"),
        ("google-adk sessions", "libsql", "adk"),
        ("google-adk sessions", "postgres", "adk"),
    ]
    for title, backend, kind in jobs:
        log(f"peers: {title} on {backend} ...")
        row: dict[str, Any] = {"title": title, "backend": backend}
        try:
            if backend == "libsql":
                ours = _sql_url(_fresh(tmp / f"{kind}-ours.db"))
                peer_file = _fresh(tmp / f"{kind}-peer.db")
                target = str(peer_file) if kind == "langgraph" else f"sqlite+aiosqlite:///{peer_file}"
            else:
                ours = await pg.database(f"{kind}_ours")
                peer_db = await pg.database(f"{kind}_peer")
                target = _dsn(peer_db) if kind == "langgraph" else make_url(peer_db).set(
                    drivername="postgresql+asyncpg").render_as_string(hide_password=False)
            fn = peers.langgraph_pair if kind == "langgraph" else peers.adk_pair
            pair, info = await fn(backend, ours, target, reps, scale)
            row.update(info, pair=pair)
            log(f"  {info['peer']}: peer {fmt_us(pair.base_median)} µs, ironstore "
                f"{fmt_us(pair.ours_median)} µs, ironstore {pair.base_median / pair.ours_median:.2f}x faster")
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
            row["error"] = f"{type(exc).__name__}: {exc}"
            log(f"  skipped: {row['error']}")
            traceback.print_exc()
        rows.append(row)
    return rows


async def suite_concurrency(pg: Postgres, tmp: Path, seconds: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    log(f"concurrency: libSQL, {concurrency.TASKS} tasks x {seconds:.0f} s ...")
    out["libsql"] = await concurrency.run(_sql_url(_fresh(tmp / "concurrency.db")), seconds)
    log(f"  {out['libsql']}")
    log(f"concurrency: PostgreSQL, {concurrency.TASKS} tasks x {seconds:.0f} s ...")
    out["postgres"] = await concurrency.run(await pg.database("concurrency"), seconds)
    log(f"  {out['postgres']}")
    return out


# ----------------------------------------------------------------------------- report


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(
    command: str,
    facts: dict[str, str],
    pg_source: str,
    reps: int,
    elapsed: float,
    driver_pairs: dict[str, list[Pair]] | None,
    peer_rows: list[dict[str, Any]] | None,
    conc: dict[str, dict[str, Any]] | None,
) -> str:
    lines: list[str] = ["# Benchmarks", ""]
    lines += [
        "Generated by `make bench` (`python -m bench`, sources in `bench/`). Every comparison runs",
        "both sides in the same process, interleaved: each repetition times a block of calls of one",
        "side, then the other (the order alternates), after a warm-up. Figures are medians over the",
        "repetitions of the mean time per call; ratios are ironstore time / other side's time. Wall",
        "clock, one client task, the database on the same machine.",
        "",
        f"- command: `{command}`",
        f"- repetitions per comparison: {reps}; whole run: {elapsed / 60:.1f} min",
        f"- PostgreSQL used: {pg_source}",
    ]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines.append("")
    if driver_pairs:
        lines += ["## Against the raw drivers", ""]
        lines += [
            "The same SQL statements (checked by `bench/verify.py`) sent straight through the driver:",
            "asyncpg on one held connection (single statements without a transaction, several in",
            "`conn.transaction()`); libsql_experimental on one worker thread per connection, one",
            "`run_in_executor` hop per statement with the rows fetched in that hop, `BEGIN` sent in",
            "the first statement's hop and `COMMIT` in its own (single statements in autocommit).",
            "libSQL also has a *raw inline* column: the same client calling the driver directly on",
            "the event-loop thread (how ironstore's adapter calls it for local files; the driver",
            "holds the GIL during every call, so a thread cannot overlap anything).",
            "",
            "Micro-ops: add a message (3 statements in one transaction), get a setting, set a",
            "setting (upsert), get a document by path, list 50 messages (page of a 120+-message",
            "conversation). Agent turn: ensure conversation, add the user message, page the last 50",
            "messages, hybrid search (FTS + vector, 200 chunks of 384 dimensions, RRF), record an",
            "LLM call, add the assistant message, save an action.",
            "",
        ]
        for backend, title in (("libsql", "libSQL (embedded file)"), ("postgres", "PostgreSQL")):
            pairs = driver_pairs.get(backend)
            if not pairs:
                continue
            lines += [f"### {title}", ""]
            lines.append(table(pairs, "raw", "raw inline" if backend == "libsql" else None))
            turn = next(p for p in pairs if p.name == "agent turn")
            target = TARGET_AGENT_TURN[backend]
            lines += [
                "",
                f"Target: agent turn <= {target}x raw: {turn.ratio:.2f}x, {_verdict(turn.ratio <= target)}.",
                "",
            ]
    if peer_rows:
        lines += ["## Against peers (same payloads)", ""]
        lines += [
            "LangGraph: put a checkpoint whose state holds a 20-message conversation, then get the",
            "latest checkpoint (ironstore: `create_checkpoint` + `get_checkpoint`). google-adk:",
            "append one text event, then get the session with its 50 most recent events (ironstore:",
            "`add_conversation_message` + `list_conversation_messages_paginated(50)`). Target:",
            f"ironstore at least {TARGET_PEER_SPEEDUP:.0f}x faster.",
            "",
            "| peer | backend | operation | peer µs | ironstore µs | ironstore speed-up | target |",
            "|---|---|---|---:|---:|---:|---|",
        ]
        for row in peer_rows:
            name = row.get("peer", row["title"])
            backend = "libSQL vs SQLite" if row["backend"] == "libsql" else "PostgreSQL"
            if "error" in row:
                lines.append(f"| {name} | {backend} | - | - | - | - | not run: {row['error']} |")
                continue
            p: Pair = row["pair"]
            speed = p.base_median / p.ours_median
            lines.append(
                f"| {name} | {backend} | {p.name} | {fmt_us(p.base_median)} | {fmt_us(p.ours_median)} | "
                f"{speed:.2f}x | {_verdict(speed >= TARGET_PEER_SPEEDUP)} |"
            )
        lines.append("")
    if conc:
        lines += ["## Concurrency", ""]
        lines += [
            f"{concurrency.TASKS} asyncio tasks on one `Database`, each looping over a seeded mix",
            "(append a message to one of 8 shared conversations, page 50 messages twice as often,",
            "get a setting, upsert a setting, record an LLM call). Errors must be zero; lost writes",
            "counts appended messages that cannot be read back afterwards.",
            "",
            "| backend | duration s | operations | ops/s | p50 ms | p99 ms | max ms | errors | lost writes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for backend, r in conc.items():
            lines.append(
                f"| {backend} | {r['seconds']} | {r['operations']} | {r['ops_per_s']:,.0f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['errors']} | {r['lost_writes']} |"
            )
            if r["errors"]:
                lines.append(f"| {backend} errors | {r['error_kinds']} |")
        lines.append("")
    return "\n".join(lines)


def merge_report(path: Path, generated: str, notes: str) -> str:
    """Keep the Workspace section (owned by `make bench-workspace`) and the hand-written notes."""
    workspace = ""
    if path.exists():
        old = path.read_text()
        m = re.search(r"^## Workspace.*?(?=^## |\Z)", old, flags=re.DOTALL | re.MULTILINE)
        if m:
            workspace = m.group(0).rstrip() + "\n"
    parts = [generated.rstrip() + "\n"]
    if notes:
        parts.append(notes.rstrip() + "\n")
    if workspace:
        parts.append(workspace)
    return "\n".join(parts)


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--scale", type=float, default=None, help="calls per timed block, relative")
    ap.add_argument("--seconds", type=float, default=None, help="concurrency duration per backend")
    ap.add_argument("--only", default="drivers,peers,concurrency")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args(argv)
    reps = args.reps or (3 if args.quick else 15)
    scale = args.scale or (0.25 if args.quick else 1.0)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    command = "make bench" if not argv else "python -m bench " + " ".join(argv)

    started = time.perf_counter()
    facts = machine_facts()
    pg = Postgres()
    await pg.start()
    log(f"PostgreSQL: {pg.source}")
    tmp = Path(tempfile.mkdtemp(prefix="ironstore-bench-"))
    driver_pairs = peer_rows = conc = None
    try:
        facts.update(await _pg_facts(pg.url))
        import libsql_experimental as libsql  # type: ignore[import-untyped]

        facts["libSQL"] = (
            f"libsql-experimental {package_version('libsql-experimental')} (SQLite "
            + ".".join(str(x) for x in libsql.sqlite_version_info) + ")"
        )
        facts["packages"] = ", ".join(
            f"{name} {package_version(name)}"
            for name in ("ironstore", "sqlalchemy", "asyncpg", "langgraph-checkpoint-sqlite",
                         "langgraph-checkpoint-postgres", "aiosqlite", "psycopg", "google-adk")
        )
        log("machine: " + "; ".join(f"{k}={v}" for k, v in facts.items()))
        if "drivers" in only:
            driver_pairs = await suite_drivers(pg, tmp, reps, scale)
        if "peers" in only:
            peer_rows = await suite_peers(pg, tmp, reps, scale)
        if "concurrency" in only:
            conc = await suite_concurrency(pg, tmp, seconds)
        if "drivers" in only:
            from . import verify

            facts["same SQL check"] = await verify.check(tmp, await pg.database("verify"))
            log(f"same SQL check: {facts['same SQL check']}")
        if pg.url.find("host=/") >= 0:
            pg_facts_post = await _pg_facts(await pg.database("facts"))
            facts.update(pg_facts_post)
    finally:
        await pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - started
    generated = render(command, facts, pg.source, reps, elapsed, driver_pairs, peer_rows, conc)
    notes_file = ROOT / "bench" / "NOTES.md"
    notes = notes_file.read_text() if notes_file.exists() else ""
    out = Path(args.out)
    out.write_text(merge_report(out, generated, notes))
    log(f"wrote {out} ({elapsed / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
