"""Many concurrent writers on one database: no lock errors, no lost rows (both backends)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

import ironstore
from ironstore import Database
from ironstore.schema import settings

WRITERS = 32
ROWS_PER_WRITER = 20


def _row(writer: int, n: int) -> dict[str, object]:
    return {
        "user_id": f"writer-{writer}",
        "key": f"k{n:04d}",
        "value": {"writer": writer, "n": n},
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


async def _count(db: Database) -> int:
    async with db._read() as conn:
        return int((await conn.execute(select(func.count()).select_from(settings))).scalar_one())


async def test_32_concurrent_writers_lose_nothing(db: Database, ironstore_connect) -> None:  # type: ignore[no-untyped-def]
    other = await ironstore_connect()  # a second Database (own engine and pool) on the same file

    async def writer(index: int) -> None:
        target = db if index % 2 else other
        for n in range(ROWS_PER_WRITER):
            async with target._write() as conn:
                await conn.execute(insert(settings).values(**_row(index, n)))

    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    assert await _count(db) == WRITERS * ROWS_PER_WRITER
    async with db._read() as conn:
        rows = (await conn.execute(select(settings.c.user_id, settings.c.key, settings.c.value))).all()
    assert {(r.user_id, r.key) for r in rows} == {
        (f"writer-{w}", f"k{n:04d}") for w in range(WRITERS) for n in range(ROWS_PER_WRITER)
    }
    assert all(r.value == {"writer": int(r.user_id.split("-")[1]), "n": int(r.key[1:])} for r in rows)


async def test_a_failed_transaction_writes_nothing(db: Database) -> None:
    try:
        async with db._write() as conn:
            await conn.execute(insert(settings).values(**_row(1, 1)))
            await conn.execute(insert(settings).values(**_row(1, 1)))  # duplicate primary key
    except ironstore.ConflictError:
        pass
    else:
        raise AssertionError("the duplicate insert should have failed")
    assert await _count(db) == 0


async def test_writers_in_two_processes(db: Database, ironstore_url: str) -> None:
    script = (
        "import asyncio, sys, ironstore\n"
        "from datetime import datetime, timezone\n"
        "from sqlalchemy import insert\n"
        "from ironstore.schema import settings\n"
        "async def main(tag):\n"
        f"    db = await ironstore.connect({ironstore_url!r})\n"
        "    async def one(i):\n"
        "        async with db._write() as conn:\n"
        "            await conn.execute(insert(settings).values(user_id=tag, key=str(i), value=i,\n"
        "                updated_at=datetime.now(timezone.utc)))\n"
        "    await asyncio.gather(*(one(i) for i in range(100)))\n"
        "    await db.close()\n"
        "asyncio.run(main(sys.argv[1]))\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, tag, stderr=subprocess.PIPE)
        for tag in ("p1", "p2")
    ]
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]
    assert await _count(db) == 200
