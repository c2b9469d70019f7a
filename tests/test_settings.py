"""SettingsStore on both backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ironstore import Database, InvalidInputError, SettingRow, SettingsStore
from ironstore.schema import settings

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


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
        return int((await conn.execute(select(func.count()).select_from(settings))).scalar() or 0)


async def test_protocol(db: Database) -> None:
    assert isinstance(db, SettingsStore)


async def test_get_missing(db: Database) -> None:
    assert await db.get_setting("u", "k") is None
    assert await db.get_setting_full("u", "k") is None
    assert await db.list_settings("u") == []
    assert await db.get_all_settings("u") == {}
    assert await db.has_settings("u") is False
    assert await db.delete_setting("u", "k") is False


async def test_upsert_replaces_and_moves_updated_at(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    await db.set_setting("u", "agent.name", "Iron")
    row = await db.get_setting_full("u", "agent.name")
    assert row == SettingRow(key="agent.name", value="Iron", updated_at=T0)
    clock.tick(2.5)
    await db.set_setting("u", "agent.name", {"nested": [1, 2, {"x": None}], "ü": "✓"})
    row = await db.get_setting_full("u", "agent.name")
    assert row is not None
    assert row.value == {"nested": [1, 2, {"x": None}], "ü": "✓"}
    assert row.updated_at == T0 + timedelta(seconds=2.5)
    assert await _count(db) == 1


async def test_json_null_vs_missing(db: Database) -> None:
    await db.set_setting("u", "k", None)
    assert await db.get_setting("u", "k") is None
    row = await db.get_setting_full("u", "k")
    assert row is not None and row.value is None
    assert await db.has_settings("u") is True


async def test_scalars_round_trip(db: Database) -> None:
    values: dict[str, Any] = {"i": 2**40, "f": 1.5, "b": False, "s": "", "l": [], "o": {}}
    for k, v in values.items():
        await db.set_setting("u", k, v)
    got = await db.get_all_settings("u")
    assert got == values
    assert type(got["b"]) is bool


async def test_list_is_bytewise_and_user_scoped(db: Database) -> None:
    keys = ["agent_mode", "agent.name", "Zeta", "alpha", "_x", "é", "a"]
    for k in keys:
        await db.set_setting("u", k, k)
    await db.set_setting("other", "b", 1)
    rows = await db.list_settings("u")
    assert [r.key for r in rows] == sorted(keys, key=lambda s: s.encode())
    assert await db.get_all_settings("other") == {"b": 1}


async def test_delete(db: Database) -> None:
    await db.set_setting("u", "k", 1)
    await db.set_setting("u", "k2", 2)
    assert await db.delete_setting("u", "k") is True
    assert await db.delete_setting("u", "k") is False
    assert await db.get_all_settings("u") == {"k2": 2}


async def test_case_sensitive_keys(db: Database) -> None:
    await db.set_setting("u", "Key", 1)
    assert await db.get_setting("u", "key") is None
    assert await db.get_setting("U", "Key") is None


async def test_set_all_merges_with_one_timestamp(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    await db.set_setting("u", "keep", "old")
    await db.set_setting("u", "a", "old")
    clock.tick(1)
    await db.set_all_settings("u", {"a": 1, "b": [True], "c": None})
    assert await db.get_all_settings("u") == {"keep": "old", "a": 1, "b": [True], "c": None}
    stamps = {r.key: r.updated_at for r in await db.list_settings("u")}
    assert stamps == {"a": T0 + timedelta(seconds=1), "b": T0 + timedelta(seconds=1),
                      "c": T0 + timedelta(seconds=1), "keep": T0}


async def test_set_all_replace(db: Database) -> None:
    await db.set_all_settings("u", {"a": 1, "b": 2})
    await db.set_setting("v", "a", 1)
    await db.set_all_settings("u", {"b": 3, "c": 4}, replace=True)
    assert await db.get_all_settings("u") == {"b": 3, "c": 4}
    await db.set_all_settings("u", {}, replace=True)
    assert await db.has_settings("u") is False
    assert await db.get_all_settings("v") == {"a": 1}


async def test_set_all_empty_is_noop(db: Database) -> None:
    await db.set_all_settings("u", {})
    assert await _count(db) == 0


async def test_set_all_many_keys(db: Database) -> None:
    data = {f"k{i:05d}": i for i in range(1203)}
    await db.set_all_settings("u", data)
    assert await db.get_all_settings("u") == data


async def test_set_all_replace_many_keys_under_a_frozen_clock(ironstore_connect: Connect) -> None:
    """Replacing more keys than one INSERT batch holds removes every old key, whatever its timestamp."""
    db = await ironstore_connect(clock=FakeClock())  # every write gets the same instant
    await db.set_all_settings("u", {f"old{i:04d}": i for i in range(700)})
    new = {f"new{i:04d}": i for i in range(701)}
    await db.set_all_settings("u", new, replace=True)
    assert await db.get_all_settings("u") == new


async def test_set_all_is_atomic(db: Database) -> None:
    await db.set_setting("u", "a", "old")
    with pytest.raises(InvalidInputError):
        await db.set_all_settings("u", {"a": "new", "bad": float("nan")})
    with pytest.raises(InvalidInputError):
        await db.set_all_settings("u", {"a": "new", "bad": "x\x00y"})
    with pytest.raises(InvalidInputError):
        await db.set_all_settings("u", {"a": "new", 3: "int key"})  # type: ignore[dict-item]
    assert await db.get_all_settings("u") == {"a": "old"}
    assert await _count(db) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("u", "k", float("inf")),
        ("u", "k", {"x": "\x00"}),
        ("u", "k", {1, 2}),
        ("u\x00", "k", 1),
        ("u", None, 1),
        (5, "k", 1),
    ],
)
async def test_bad_input_writes_nothing(db: Database, args: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidInputError):
        await db.set_setting(*args)
    assert await _count(db) == 0


async def test_bad_mapping(db: Database) -> None:
    with pytest.raises(InvalidInputError):
        await db.set_all_settings("u", [("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.get_setting("u", 1)  # type: ignore[arg-type]
    assert await _count(db) == 0
