"""SIGKILL a process that writes through ironstore, at random points; nothing is half-applied.

After every kill the database opens, `PRAGMA integrity_check` is ok (libSQL), and for every
multi-row method either all or none of its effect is there. `make test` kills 3 times per backend;
`make stress` sets IRONSTORE_CRASH_KILLS=25 (figures in RELIABILITY.md).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import text
from stress_report import record

import ironstore

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = int(os.environ.get("IRONSTORE_CRASH_KILLS", "3"))
KEYS_PER_BATCH = 20


def _kill_while_writing(url: str, tag: str, rng: random.Random) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), url, tag], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert writer.stdout is not None
        ready = writer.stdout.readline()
        assert ready.strip() == b"ready", writer.stderr.read() if writer.stderr else ready
        try:
            writer.wait(timeout=rng.uniform(0.1, 0.7))
        except subprocess.TimeoutExpired:
            pass
        assert writer.poll() is None, writer.stderr.read() if writer.stderr else "writer stopped"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()


async def _check(db: ironstore.Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        if db.backend == "libsql":
            assert (await conn.execute(text("PRAGMA integrity_check"))).scalar_one() == "ok"
            assert (await conn.execute(text("PRAGMA foreign_key_check"))).all() == []
        unbumped = await conn.execute(text(
            "SELECT count(*) FROM conversations c WHERE EXISTS (SELECT 1 FROM conversation_messages m "
            "WHERE m.conversation_id = c.id AND m.created_at > c.last_activity)"
        ))
        assert unbumped.scalar_one() == 0, "a message without its last_activity bump"
        orphans = await conn.execute(text(
            "SELECT count(*) FROM sessions s WHERE NOT EXISTS "
            "(SELECT 1 FROM checkpoints k WHERE k.session_id = s.id)"
        ))
        assert orphans.scalar_one() == 0, "a session without its first checkpoint"
        keys = [k for (k,) in await conn.execute(text("SELECT key FROM settings WHERE user_id = 'writer'"))]
        batches = Counter(k.rsplit(".", 1)[0] for k in keys)
        assert set(batches.values()) <= {KEYS_PER_BATCH}, "set_all_settings half applied"
        messages = (await conn.execute(text("SELECT count(*) FROM conversation_messages"))).scalar_one()
    return {"messages": int(messages), "setting_batches": len(batches)}


async def test_sigkill_never_leaves_half_applied_writes(ironstore_url: str, ironstore_backend: str) -> None:
    rng = random.Random(20261206)
    seen = {"messages": 0}
    for kill in range(KILLS):
        _kill_while_writing(ironstore_url, f"k{kill}", rng)
        db = await ironstore.connect(ironstore_url)
        try:
            seen = await _check(db)
            await db.set_setting("checker", "after", kill)  # still writable
        finally:
            await db.close()
    assert seen["messages"] > 0, "the writer never got to write: the test would prove nothing"
    record(check="sigkill", backend=ironstore_backend, kills=KILLS, **seen)  # figures for RELIABILITY.md
