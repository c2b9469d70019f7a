"""ironstore against the raw drivers (asyncpg, libsql_experimental): micro-ops and the agent turn."""

from __future__ import annotations

from typing import Any

import ironstore

from . import scenario
from ._util import Pair, run_interleaved
from .raw import RawLibSQL, RawLibSQLInline, RawPG

ITERS = {
    "add a message": 200,
    "get a setting": 400,
    "set a setting": 300,
    "get a document by path": 400,
    "list 50 messages": 200,
    "agent turn": 40,
}


async def open_raw(backend: str, url: str, path: str | None) -> Any:
    if backend == "postgres":
        from ironstore.testing import _asyncpg_dsn

        return await RawPG.open(_asyncpg_dsn(url), scenario.DIM)
    assert path is not None
    return await RawLibSQL.open(path, scenario.DIM)


async def compare(backend: str, url: str, path: str | None, reps: int, scale: float = 1.0) -> list[Pair]:
    """Populate a fresh database at `url`, then time every pair interleaved."""
    db = await ironstore.connect(url, embedding_dimension=scenario.DIM)
    try:
        await db.run_migrations()
        data = await scenario.populate(db)
        raw = await open_raw(backend, url, path)
        inline = await RawLibSQLInline.open(path, scenario.DIM) if backend == "libsql" and path else None
        try:
            sides = scenario.pairs_for(db, raw, data)
            alts = scenario.pairs_for(db, inline, data, raw_tag="inline") if inline is not None else {}
            pairs = [
                Pair(
                    name, base, ours, iters=max(5, int(ITERS[name] * scale)),
                    alt=alts[name][0] if name in alts else None,
                )
                for name, (base, ours) in sides.items()
            ]
            await run_interleaved(pairs, reps, warmup=max(3, int(20 * scale)))
        finally:
            await raw.close()
            if inline is not None:
                await inline.close()
    finally:
        await db.close()
    return pairs
