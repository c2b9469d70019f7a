"""`make demo`: migrate an embedded libSQL file and show what is in it. No server needed."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from sqlalchemy import func, select, text

import ironstore
from ironstore.schema import IRONCLAW_TABLES, leak_detection_patterns


async def main(path: Path) -> None:
    url = f"sqlite+libsql:///{path}"
    print(f"ironstore demo — libSQL file {path}")
    async with await ironstore.connect(url) as db:
        print(f"  schema before: {await db.current_revision()}")
        await db.run_migrations()
        print(f"  schema after:  {await db.current_revision()} (head)")
        async with db.engine.connect() as conn:
            tables = (await conn.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ))).scalar()
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            patterns = (await conn.execute(
                select(func.count()).select_from(leak_detection_patterns)
            )).scalar()
        print(f"  {tables} tables ({len(IRONCLAW_TABLES)} IronClaw tables + bookkeeping and FTS)")
        print(f"  journal_mode={mode}, foreign_keys={fks}")
        print(f"  {patterns} leak-detection patterns seeded")
    print("done.")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo.db"
    asyncio.run(main(target))
