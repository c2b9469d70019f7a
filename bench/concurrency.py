"""32 tasks mixing reads and writes against one database for a fixed time.

Each task loops over a fixed, seeded mix: append a message to one of 8 shared conversations
(write, one transaction of 3 statements), page its 50 newest messages (read), read a setting,
upsert a setting (write), record an LLM call (write). Reported: operations per second,
latency percentiles, errors (any exception counts), and a lost-write check (every message
whose append returned is read back at the end).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import ironstore
from ironstore import LlmCallRecord

from ._util import percentile

TASKS = 32
CONVERSATIONS = 8


async def run(url: str, seconds: float, tasks: int = TASKS) -> dict[str, Any]:
    db = await ironstore.connect(url)
    try:
        await db.run_migrations()
        convs = [uuid.UUID(int=i + 1, version=4) for i in range(CONVERSATIONS)]
        for cid in convs:
            await db.ensure_conversation(cid, "bench", "conc-user")
        await db.set_setting("conc-user", "shared", {"n": 0})
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        written: Counter[uuid.UUID] = Counter()
        ops = Counter[str]()
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            rng = random.Random(n)
            while time.perf_counter() < deadline:
                cid = convs[rng.randrange(CONVERSATIONS)]
                kind = rng.choice(("append", "page", "get_setting", "set_setting", "llm_call", "page"))
                t0 = time.perf_counter()
                try:
                    if kind == "append":
                        await db.add_conversation_message(cid, "user", f"task {n} says hello")
                        written[cid] += 1
                    elif kind == "page":
                        await db.list_conversation_messages_paginated(cid, None, 50)
                    elif kind == "get_setting":
                        await db.get_setting("conc-user", "shared")
                    elif kind == "set_setting":
                        await db.set_setting("conc-user", f"task-{n}", {"at": t0})
                    else:
                        await db.record_llm_call(
                            LlmCallRecord(provider="p", model="m", input_tokens=10, output_tokens=5,
                                          cost=Decimal("0.001"), conversation_id=cid)
                        )
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                else:
                    ops[kind] += 1
                    latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(tasks)))
        elapsed = time.perf_counter() - started
        lost = 0
        for cid in convs:
            stored = len(await db.list_conversation_messages(cid))
            lost += max(0, written[cid] - stored)
    finally:
        await db.close()
    total = sum(ops.values())
    return {
        "tasks": tasks,
        "seconds": round(elapsed, 1),
        "operations": total,
        "ops_per_s": total / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=0.0) * 1000,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(3)),
        "lost_writes": lost,
        "mix": dict(ops),
    }
