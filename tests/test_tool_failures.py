"""ToolFailureStore on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ironstore import BrokenTool, Database, IntegrityError, InvalidInputError, ToolFailureStore
from ironstore.schema import tool_failures

T0 = datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


Connect = Callable[..., Awaitable[Database]]


async def _count(db: Database) -> int:
    async with db._read() as conn:
        return int((await conn.execute(select(func.count()).select_from(tool_failures))).scalar() or 0)


async def test_protocol(db: Database) -> None:
    assert isinstance(db, ToolFailureStore)


async def test_empty(db: Database) -> None:
    assert await db.get_broken_tools(1) == []
    assert await db.mark_tool_repaired("nope") is False
    assert await db.increment_repair_attempts("nope") is None
    assert await _count(db) == 0


async def test_three_failures_keep_last_message(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    for i in range(3):
        await db.record_tool_failure("shell", f"error {i}")
        clock.tick(10)
    (tool,) = await db.get_broken_tools(3)
    assert tool == BrokenTool(
        name="shell", failure_count=3, last_error="error 2", first_failure=T0,
        last_failure=T0 + timedelta(seconds=20), last_build_result=None, repair_attempts=0,
    )
    assert await db.get_broken_tools(4) == []  # threshold is inclusive
    assert len(await db.get_broken_tools(0)) == 1
    assert len(await db.get_broken_tools(-5)) == 1
    assert await db.get_broken_tools(2**40) == []


async def test_ordering(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    # b, a: 2 failures each, a failed later; Z and c: 1 failure at the same instant
    for name in ["b", "a", "b", "a"]:
        await db.record_tool_failure(name, "x")
        clock.tick()
    await db.record_tool_failure("c", "x")
    await db.record_tool_failure("Z", "x")
    names = [t.name for t in await db.get_broken_tools(1)]
    assert names == ["a", "b", "Z", "c"]


async def test_repair_and_new_episode(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    for _ in range(5):
        await db.record_tool_failure("t", "boom")
    assert await db.increment_repair_attempts("t") == 1
    assert await db.increment_repair_attempts("t") == 2
    (tool,) = await db.get_broken_tools(5)
    assert tool.repair_attempts == 2
    clock.tick(60)
    assert await db.mark_tool_repaired("t") is True
    assert await db.get_broken_tools(0) == []
    assert await db.mark_tool_repaired("t") is True  # again: repaired_at moves forward
    clock.tick(60)
    await db.record_tool_failure("t", "boom again")
    (tool,) = await db.get_broken_tools(1)
    assert tool.failure_count == 1
    assert tool.first_failure == T0 + timedelta(seconds=120)
    assert tool.last_error == "boom again"
    assert tool.repair_attempts == 0
    await db.record_tool_failure("t", "third")
    (tool,) = await db.get_broken_tools(1)
    assert tool.failure_count == 2
    assert tool.first_failure == T0 + timedelta(seconds=120)
    assert await _count(db) == 1


async def test_concurrent_failures_lose_nothing(db: Database) -> None:
    await asyncio.gather(*(db.record_tool_failure("racy", f"e{i}") for i in range(40)))
    (tool,) = await db.get_broken_tools(1)
    assert tool.failure_count == 40
    counts = await asyncio.gather(*(db.increment_repair_attempts("racy") for _ in range(10)))
    assert sorted(c for c in counts if c is not None) == list(range(1, 11))


async def test_message_nul_and_cap(db: Database) -> None:
    await db.record_tool_failure("t", "a\x00b" + "x" * 5000)
    (tool,) = await db.get_broken_tools(1)
    assert tool.last_error is not None
    assert tool.last_error.startswith("a\ufffdb")
    assert len(tool.last_error) == 4096


@pytest.mark.parametrize("column", ["error_count", "repair_attempts", "first_failure", "last_failure"])
async def test_counter_columns_are_not_null(db: Database, column: str) -> None:
    """ironstore_0008 made the counters NOT NULL (spec §1.3); the NULL-tolerant reads of
    IronClaw-era rows are covered by tests/test_migration_0008.py."""
    await db.record_tool_failure("t", "x")
    with pytest.raises(IntegrityError):
        async with db._write() as conn:
            await conn.execute(update(tool_failures).values({column: None}))
    (tool,) = await db.get_broken_tools(1)
    assert tool.failure_count == 1 and tool.repair_attempts == 0


async def test_tool_name_limit_255(db: Database) -> None:
    await db.record_tool_failure("n" * 255, "x")
    assert await _count(db) == 1


@pytest.mark.parametrize(
    "args",
    [("", "x"), ("n" * 256, "x"), ("a\x00", "x"), (None, "x"), ("t", None), ("t", 5)],
)
async def test_bad_input_writes_nothing(db: Database, args: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidInputError):
        await db.record_tool_failure(*args)
    assert await _count(db) == 0


async def test_bad_arguments(db: Database) -> None:
    for bad in ("5", 1.0, True, None):
        with pytest.raises(InvalidInputError):
            await db.get_broken_tools(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.mark_tool_repaired("")
    with pytest.raises(InvalidInputError):
        await db.increment_repair_attempts(3)  # type: ignore[arg-type]
