"""ConversationStore: every method on both backends (spec: stores-conversations-jobs-sandbox.md §2)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

import ironstore
from ironstore import (
    ConflictError,
    ConversationStore,
    CorruptDataError,
    Database,
    DatabaseError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from ironstore.records.conversations import ConversationMessage, ConversationSummary, ThreadType
from ironstore.schema import conversation_messages, conversations

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)

Connect = Callable[..., Awaitable[Database]]


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def clocked(ironstore_connect: Connect) -> tuple[Database, FakeClock]:
    clock = FakeClock()
    return await ironstore_connect(clock=clock), clock


async def count(db: Database, table: Any) -> int:
    async with db._read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def conversation_row(db: Database, conv_id: uuid.UUID) -> Any:
    async with db._read() as conn:
        return (await conn.execute(select(conversations).where(conversations.c.id == conv_id))).one()


async def raw(db: Database, sql: str, **params: Any) -> None:
    async with db._write() as conn:
        await conn.execute(text(sql), params)


async def insert_message(db: Database, conv_id: uuid.UUID, msg_id: uuid.UUID, role: str, content: str, at: datetime) -> None:
    async with db._write() as conn:
        await conn.execute(
            conversation_messages.insert().values(
                id=msg_id, conversation_id=conv_id, role=role, content=content, created_at=at
            )
        )


# ----------------------------------------------------------------------------- protocol


async def test_database_implements_protocol(db: Database) -> None:
    assert isinstance(db, ConversationStore)
    for name in ("ConversationSummary", "ConversationMessage", "ThreadType", "ConversationStore"):
        assert name in ironstore.__all__
    assert ironstore.ConversationSummary is ConversationSummary  # type: ignore[attr-defined]
    assert ThreadType("assistant") is ThreadType.ASSISTANT


# ----------------------------------------------------------------------------- create / touch


async def test_create_conversation(ironstore_connect: Connect) -> None:
    db, _clock = await clocked(ironstore_connect)
    a = await db.create_conversation("cli", "alice", None)
    b = await db.create_conversation("cli", "alice", "")
    assert isinstance(a, uuid.UUID) and a != b  # not idempotent
    row = await conversation_row(db, a)
    assert (row.channel, row.user_id, row.thread_id, row.metadata) == ("cli", "alice", None, {})
    assert row.started_at == row.last_activity == T0
    assert (await conversation_row(db, b)).thread_id == ""
    assert await db.get_conversation_metadata(a) == {}
    assert await count(db, conversations) == 2


@pytest.mark.parametrize(
    "args",
    [(1, "alice", None), ("cli", None, None), ("cli", "al\x00ice", None), ("cli", "alice", 7), ("c\x00", "a", None)],
)
async def test_create_conversation_rejects_bad_input(db: Database, args: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidInputError):
        await db.create_conversation(*args)
    assert await count(db, conversations) == 0


async def test_touch_conversation_never_moves_backwards(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    conv = await db.create_conversation_with_metadata("cli", "alice", {"k": 1})
    clock.advance(timedelta(seconds=5))
    await db.touch_conversation(conv)
    row = await conversation_row(db, conv)
    assert row.last_activity == T0 + timedelta(seconds=5) and row.started_at == T0
    assert row.metadata == {"k": 1}
    clock.now = T0 - timedelta(days=1)
    await db.touch_conversation(conv)
    assert (await conversation_row(db, conv)).last_activity == T0 + timedelta(seconds=5)


async def test_touch_conversation_unknown_and_bad_id(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await db.touch_conversation(uuid.uuid4())
    with pytest.raises(InvalidInputError):
        await db.touch_conversation("not-a-uuid")  # type: ignore[arg-type]
    assert await count(db, conversations) == 0


async def test_clock_with_microseconds_is_truncated(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0 + timedelta(microseconds=123456))
    db = await ironstore_connect(clock=clock)
    conv = await db.create_conversation("cli", "alice")
    assert (await conversation_row(db, conv)).started_at == T0 + timedelta(milliseconds=123)


# ----------------------------------------------------------------------------- messages


async def test_add_message_sets_last_activity(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    conv = await db.create_conversation("cli", "alice")
    clock.advance(timedelta(seconds=3))
    msg = await db.add_conversation_message(conv, "user", "hello\nworld")
    [m] = await db.list_conversation_messages(conv)
    assert m == ConversationMessage(id=msg, role="user", content="hello\nworld", created_at=T0 + timedelta(seconds=3))
    assert (await conversation_row(db, conv)).last_activity == m.created_at


async def test_add_message_strictly_increasing_timestamps(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    conv = await db.create_conversation("cli", "alice")
    ids = [await db.add_conversation_message(conv, "user", f"m{i}") for i in range(5)]
    clock.now = T0 - timedelta(hours=1)  # clock goes backwards: order still kept
    ids.append(await db.add_conversation_message(conv, "assistant", "late"))
    msgs = await db.list_conversation_messages(conv)
    assert [m.id for m in msgs] == ids
    assert [m.created_at for m in msgs] == [T0 + i * MS for i in range(6)]
    assert (await conversation_row(db, conv)).last_activity == T0 + 5 * MS


async def test_add_message_concurrently_keeps_all(db: Database) -> None:
    conv = await db.create_conversation("cli", "alice")
    ids = await asyncio.gather(*(db.add_conversation_message(conv, "user", str(i)) for i in range(20)))
    msgs = await db.list_conversation_messages(conv)
    assert sorted(m.id for m in msgs) == sorted(ids)
    stamps = [m.created_at for m in msgs]
    assert stamps == sorted(stamps) and len(set(stamps)) == 20


async def test_add_message_unknown_conversation(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await db.add_conversation_message(uuid.uuid4(), "user", "hi")
    assert await count(db, conversation_messages) == 0


@pytest.mark.parametrize("role,content", [("user", "a\x00b"), ("us\x00er", "x"), (None, "x"), ("user", b"bytes")])
async def test_add_message_rejects_bad_input(ironstore_connect: Connect, role: Any, content: Any) -> None:
    db, clock = await clocked(ironstore_connect)
    conv = await db.create_conversation("cli", "alice")
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidInputError):
        await db.add_conversation_message(conv, role, content)
    assert await count(db, conversation_messages) == 0
    assert (await conversation_row(db, conv)).last_activity == T0


async def test_foreign_keys_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        await insert_message(db, uuid.uuid4(), uuid.uuid4(), "user", "orphan", T0)
    assert await count(db, conversation_messages) == 0


async def test_list_messages_empty_and_tie_break(db: Database) -> None:
    assert await db.list_conversation_messages(uuid.uuid4()) == []
    conv = await db.create_conversation("cli", "alice")
    assert await db.list_conversation_messages(conv) == []
    a, b, c = sorted(uuid.uuid4() for _ in range(3))
    for mid in (c, a, b):  # legacy rows sharing one timestamp: ordered by id
        await insert_message(db, conv, mid, "user", str(mid), T0)
    assert [m.id for m in await db.list_conversation_messages(conv)] == [a, b, c]


# ----------------------------------------------------------------------------- pagination


async def test_paginated_pages_and_has_more(ironstore_connect: Connect) -> None:
    db, _clock = await clocked(ironstore_connect)
    conv = await db.create_conversation("cli", "alice")
    ids = []
    for i in range(7):  # all at the same clock value: created_at still strictly increases
        ids.append(await db.add_conversation_message(conv, "user", f"m{i}"))
    page, more = await db.list_conversation_messages_paginated(conv, None, 3)
    assert [m.id for m in page] == ids[4:] and more
    page2, more2 = await db.list_conversation_messages_paginated(conv, page[0].created_at, 3)
    assert [m.id for m in page2] == ids[1:4] and more2
    page3, more3 = await db.list_conversation_messages_paginated(conv, page2[0].created_at, 3)
    assert [m.id for m in page3] == ids[:1] and not more3
    exact, more_exact = await db.list_conversation_messages_paginated(conv, None, 7)
    assert [m.id for m in exact] == ids and not more_exact
    assert await db.list_conversation_messages_paginated(conv, T0, 5) == ([], False)
    assert await db.list_conversation_messages_paginated(uuid.uuid4(), None, 5) == ([], False)


async def test_paginated_before_id_steps_through_equal_timestamps(db: Database) -> None:
    conv = await db.create_conversation("cli", "alice")
    legacy = sorted(uuid.uuid4() for _ in range(5))
    for mid in legacy:
        await insert_message(db, conv, mid, "user", "same time", T0)
    newer = await db.add_conversation_message(conv, "assistant", "reply")
    seen: list[uuid.UUID] = []
    before: datetime | None = None
    before_id: uuid.UUID | None = None
    while True:
        page, more = await db.list_conversation_messages_paginated(conv, before, 2, before_id=before_id)
        seen = [m.id for m in page] + seen
        if not more:
            break
        before, before_id = page[0].created_at, page[0].id
    assert seen == [*legacy, newer]


@pytest.mark.parametrize(
    "before,limit,extra",
    [
        (None, 0, {}),
        (None, -1, {}),
        (None, True, {}),
        (None, "5", {}),
        (datetime(2025, 1, 1), 5, {}),
        (None, 5, {"before_id": uuid.uuid4()}),
        (T0, 5, {"before_id": "nope"}),
    ],
)
async def test_paginated_rejects_bad_input(db: Database, before: Any, limit: Any, extra: dict[str, Any]) -> None:
    conv = await db.create_conversation("cli", "alice")
    with pytest.raises(InvalidInputError):
        await db.list_conversation_messages_paginated(conv, before, limit, **extra)


# ----------------------------------------------------------------------------- ensure


async def test_ensure_conversation(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    conv = uuid.uuid4()
    assert await db.ensure_conversation(conv, "gateway", "alice", "t1", metadata={"thread_type": "thread"})
    row = await conversation_row(db, conv)
    assert (row.channel, row.user_id, row.thread_id, row.metadata) == ("gateway", "alice", "t1", {"thread_type": "thread"})
    clock.advance(timedelta(seconds=10))
    assert await db.ensure_conversation(conv, "gateway", "alice", "other", metadata={"x": 1})
    row = await conversation_row(db, conv)
    assert row.last_activity == T0 + timedelta(seconds=10) and row.started_at == T0
    assert row.thread_id == "t1" and row.metadata == {"thread_type": "thread"}
    clock.advance(timedelta(seconds=10))
    assert not await db.ensure_conversation(conv, "gateway", "bob")
    assert not await db.ensure_conversation(conv, "Gateway", "alice")
    row = await conversation_row(db, conv)
    assert row.last_activity == T0 + timedelta(seconds=10) and row.user_id == "alice"
    assert await count(db, conversations) == 1


@pytest.mark.parametrize(
    "args,kwargs",
    [
        (("not-uuid", "gateway", "alice"), {}),
        ((uuid.uuid4(), "gateway", 5), {}),
        ((uuid.uuid4(), "gateway", "alice"), {"metadata": [1, 2]}),
        ((uuid.uuid4(), "gateway", "alice"), {"metadata": {"k": float("nan")}}),
    ],
)
async def test_ensure_conversation_rejects_bad_input(db: Database, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        await db.ensure_conversation(*args, **kwargs)
    assert await count(db, conversations) == 0


# ----------------------------------------------------------------------------- summaries


async def test_summaries_counts_titles_and_thread_types(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    plain = await db.create_conversation("gateway", "alice")
    await db.add_conversation_message(plain, "assistant", "greeting first")
    await db.add_conversation_message(plain, "user", "é" * 150)
    await db.add_conversation_message(plain, "tool_calls", '{"calls": []}')
    await db.add_conversation_message(plain, "user", "second question")
    clock.advance(timedelta(seconds=1))
    routine = await db.get_or_create_routine_conversation(uuid.uuid4(), "Daily digest", "alice")
    clock.advance(timedelta(seconds=1))
    assistant = await db.get_or_create_assistant_conversation("alice", "gateway")
    await db.add_conversation_message(assistant, "assistant", "hi")

    summaries = await db.list_conversations_all_channels("alice", 50)
    assert [s.id for s in summaries] == [assistant, routine, plain]
    by_id = {s.id: s for s in summaries}
    assert by_id[plain] == ConversationSummary(
        id=plain, title="é" * 100, message_count=2, started_at=T0, last_activity=T0 + 3 * MS,
        thread_type=None, channel="gateway",
    )
    assert (by_id[routine].title, by_id[routine].message_count, by_id[routine].thread_type) == ("Daily digest", 0, "routine")
    assert by_id[routine].channel == "routine"
    assert (by_id[assistant].title, by_id[assistant].thread_type) == (None, "assistant")

    gateway = await db.list_conversations_with_preview("alice", "gateway", 10)
    assert [s.id for s in gateway] == [assistant, plain]
    assert await db.list_conversations_with_preview("alice", "gateway", 1) == gateway[:1]
    assert await db.list_conversations_with_preview("alice", "gateway", 0) == []
    assert await db.list_conversations_all_channels("bob", 10) == []
    assert await db.list_conversations_with_preview("alice", "telegram", 10) == []


async def test_summaries_tie_breaks(ironstore_connect: Connect) -> None:
    db, _clock = await clocked(ironstore_connect)
    convs = [await db.create_conversation("gateway", "alice") for _ in range(4)]
    summaries = await db.list_conversations_with_preview("alice", "gateway", 10)
    assert [s.id for s in summaries] == sorted(convs, reverse=True)  # same last_activity: id desc
    # the title comes from the earliest user message, ties on created_at broken by id
    conv = convs[0]
    a, b = sorted(uuid.uuid4() for _ in range(2))
    await insert_message(db, conv, b, "user", "from b", T0)
    await insert_message(db, conv, a, "user", "from a", T0)
    [s] = [s for s in await db.list_conversations_all_channels("alice", 10) if s.id == conv]
    assert s.title == "from a" and s.message_count == 2


async def test_summaries_non_string_metadata_values(db: Database) -> None:
    conv = await db.create_conversation_with_metadata("gateway", "alice", {"thread_type": 3, "routine_name": ["x"]})
    [s] = await db.list_conversations_all_channels("alice", 5)
    assert s.id == conv and s.title is None and s.thread_type is None


@pytest.mark.parametrize("limit", [-1, -2, 1.5, None, False])
async def test_summaries_reject_bad_limits(db: Database, limit: Any) -> None:
    await db.create_conversation("gateway", "alice")
    with pytest.raises(InvalidInputError):
        await db.list_conversations_all_channels("alice", limit)
    with pytest.raises(InvalidInputError):
        await db.list_conversations_with_preview("alice", "gateway", limit)


# ----------------------------------------------------------------------------- get-or-create


async def test_routine_conversation(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    routine = uuid.uuid4()
    a = await db.get_or_create_routine_conversation(routine, "Digest", "alice")
    row = await conversation_row(db, a)
    assert row.channel == "routine" and row.thread_id is None
    assert row.metadata == {"thread_type": "routine", "routine_id": str(routine), "routine_name": "Digest"}
    clock.advance(timedelta(minutes=1))
    assert await db.get_or_create_routine_conversation(routine, "Renamed", "alice") == a
    row = await conversation_row(db, a)
    assert row.metadata["routine_name"] == "Digest" and row.last_activity == T0
    assert await db.get_or_create_routine_conversation(str(routine), "Renamed", "alice", refresh_name=True) == a  # type: ignore[arg-type]
    assert (await conversation_row(db, a)).metadata["routine_name"] == "Renamed"
    b = await db.get_or_create_routine_conversation(routine, "Digest", "bob")
    assert b != a
    assert await db.get_or_create_routine_conversation(uuid.uuid4(), "Other", "alice") not in (a, b)
    assert await count(db, conversations) == 3


async def test_routine_conversation_matches_any_channel(db: Database) -> None:
    routine = uuid.uuid4()
    existing = await db.create_conversation_with_metadata("gateway", "alice", {"routine_id": str(routine)})
    assert await db.get_or_create_routine_conversation(routine, "R", "alice") == existing
    with pytest.raises(ConflictError):
        await db.create_conversation_with_metadata("tui", "alice", {"routine_id": str(routine)})
    assert await count(db, conversations) == 1


async def test_heartbeat_conversation(db: Database) -> None:
    a = await db.get_or_create_heartbeat_conversation("alice")
    assert await db.get_or_create_heartbeat_conversation("alice") == a
    row = await conversation_row(db, a)
    assert (row.channel, row.metadata) == ("heartbeat", {"thread_type": "heartbeat"})
    assert await db.get_or_create_heartbeat_conversation("bob") != a
    with pytest.raises(ConflictError):
        await db.create_conversation_with_metadata("gateway", "alice", {"thread_type": "heartbeat"})
    other = await db.create_conversation("gateway", "alice")
    with pytest.raises(ConflictError):
        await db.update_conversation_metadata_field(other, "thread_type", "heartbeat")
    assert await db.get_conversation_metadata(other) == {}
    assert await count(db, conversations) == 3


async def test_assistant_conversation(db: Database) -> None:
    a = await db.get_or_create_assistant_conversation("alice", "gateway")
    assert await db.get_or_create_assistant_conversation("alice", "gateway") == a
    row = await conversation_row(db, a)
    assert (row.channel, row.thread_id, row.metadata) == ("gateway", None, {"thread_type": "assistant", "title": "Assistant"})
    assert await db.get_or_create_assistant_conversation("alice", "tui") != a
    assert await db.get_or_create_assistant_conversation("bob", "gateway") != a
    with pytest.raises(ConflictError):
        await db.create_conversation_with_metadata("gateway", "alice", {"thread_type": "assistant"})
    assert await count(db, conversations) == 3


async def test_get_or_create_concurrently_returns_one_row(db: Database) -> None:
    routine = uuid.uuid4()
    results = await asyncio.gather(
        *(db.get_or_create_routine_conversation(routine, "R", "alice") for _ in range(20)),
        *(db.get_or_create_heartbeat_conversation("alice") for _ in range(20)),
        *(db.get_or_create_assistant_conversation("alice", "gateway") for _ in range(20)),
    )
    assert len(set(results[:20])) == len(set(results[20:40])) == len(set(results[40:])) == 1
    assert len(set(results)) == 3
    assert await count(db, conversations) == 3


async def test_get_or_create_concurrently_across_connections(db: Database, ironstore_connect: Connect) -> None:
    other = await ironstore_connect()
    results = await asyncio.gather(
        *(d.get_or_create_assistant_conversation("alice", "gateway") for d in [db, other] * 10)
    )
    assert len(set(results)) == 1
    assert await count(db, conversations) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.get_or_create_routine_conversation("nope", "R", "alice"),
        lambda db: db.get_or_create_routine_conversation(uuid.uuid4(), None, "alice"),
        lambda db: db.get_or_create_routine_conversation(uuid.uuid4(), "R", "alice", refresh_name="yes"),
        lambda db: db.get_or_create_heartbeat_conversation("al\x00ice"),
        lambda db: db.get_or_create_assistant_conversation("alice", 3),
    ],
)
async def test_get_or_create_rejects_bad_input(db: Database, call: Any) -> None:
    with pytest.raises(InvalidInputError):
        await call(db)
    assert await count(db, conversations) == 0


# ----------------------------------------------------------------------------- metadata


async def test_create_with_metadata(ironstore_connect: Connect) -> None:
    db, _ = await clocked(ironstore_connect)
    doc = {"openclaw_conversation_id": "x", "nested": {"a": [1, 2.5, None, True]}, "ü": "ß"}
    a = await db.create_conversation_with_metadata("import", "alice", doc)
    b = await db.create_conversation_with_metadata("import", "alice", doc)
    assert a != b
    assert await db.get_conversation_metadata(a) == doc
    row = await conversation_row(db, a)
    assert row.thread_id is None and row.started_at == row.last_activity == T0


@pytest.mark.parametrize(
    "metadata",
    [None, [1], "text", 3, {1: "x"}, {"k": "a\x00b"}, {"k\x00": 1}, {"k": float("inf")}, {"k": object()}],
)
async def test_create_with_metadata_rejects_bad_input(db: Database, metadata: Any) -> None:
    with pytest.raises(InvalidInputError):
        await db.create_conversation_with_metadata("import", "alice", metadata)
    assert await count(db, conversations) == 0


async def test_update_metadata_field(ironstore_connect: Connect) -> None:
    db, clock = await clocked(ironstore_connect)
    conv = await db.create_conversation_with_metadata("gateway", "alice", {"keep": 1, "obj": {"a": 1, "b": 2}})
    clock.advance(timedelta(seconds=1))
    await db.update_conversation_metadata_field(conv, "thread_type", "thread")
    await db.update_conversation_metadata_field(conv, "obj", {"a": None})  # replaced, not deep-merged
    await db.update_conversation_metadata_field(conv, "gone", None)  # JSON null stored, key kept
    await db.update_conversation_metadata_field(conv, 'we"ird.key', [1, "x"])
    await db.update_conversation_metadata_field(conv, "gone", None)  # idempotent
    assert await db.get_conversation_metadata(conv) == {
        "keep": 1, "obj": {"a": None}, "thread_type": "thread", "gone": None, 'we"ird.key': [1, "x"],
    }
    assert (await conversation_row(db, conv)).last_activity == T0  # not touched


async def test_update_metadata_field_concurrently_loses_nothing(db: Database) -> None:
    conv = await db.create_conversation("gateway", "alice")
    await asyncio.gather(*(db.update_conversation_metadata_field(conv, f"k{i}", i) for i in range(20)))
    assert await db.get_conversation_metadata(conv) == {f"k{i}": i for i in range(20)}


@pytest.mark.parametrize("stored", ["null", "[1, 2]", "\"text\"", "5"])
async def test_update_metadata_field_coerces_non_objects(db: Database, stored: str) -> None:
    conv = await db.create_conversation("gateway", "alice")
    await raw(db, "UPDATE conversations SET metadata = :m", m=stored)
    await db.update_conversation_metadata_field(conv, "k", "v")
    assert await db.get_conversation_metadata(conv) == {"k": "v"}


async def test_update_metadata_field_unknown_and_bad_input(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await db.update_conversation_metadata_field(uuid.uuid4(), "k", 1)
    conv = await db.create_conversation_with_metadata("gateway", "alice", {"k": 1})
    bad: list[tuple[Any, Any]] = [(1, "v"), ("k\x00", "v"), ("k", {"x": float("nan")}), ("k", "a\x00"), ("k", {1, 2})]
    for key, value in bad:
        with pytest.raises(InvalidInputError):
            await db.update_conversation_metadata_field(conv, key, value)
    assert await db.get_conversation_metadata(conv) == {"k": 1}
    assert await count(db, conversations) == 1


async def test_get_metadata(db: Database) -> None:
    assert await db.get_conversation_metadata(uuid.uuid4()) is None
    conv = await db.create_conversation("gateway", "alice")
    await raw(db, "UPDATE conversations SET metadata = 'null'")
    assert await db.get_conversation_metadata(conv) == {}
    with pytest.raises(InvalidInputError):
        await db.get_conversation_metadata(42)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- ownership


async def test_conversation_belongs_to_user(db: Database) -> None:
    conv = await db.create_conversation("gateway", "alice")
    assert await db.conversation_belongs_to_user(conv, "alice")
    assert await db.conversation_belongs_to_user(str(conv), "alice")  # type: ignore[arg-type]
    assert not await db.conversation_belongs_to_user(conv, "Alice")
    assert not await db.conversation_belongs_to_user(conv, "bob")
    assert not await db.conversation_belongs_to_user(uuid.uuid4(), "alice")
    with pytest.raises(InvalidInputError):
        await db.conversation_belongs_to_user(conv, None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- stored values


async def test_legacy_timestamps_readable(db: Database) -> None:
    conv = await db.create_conversation("gateway", "alice")
    await db.add_conversation_message(conv, "user", "old")
    if db.backend == "libsql":  # IronClaw's older naive text form, read as UTC
        legacy, value = "2024-01-02 03:04:05.678", ":t"
    else:
        legacy, value = "2024-01-02 03:04:05.678+00", "CAST(CAST(:t AS text) AS timestamptz)"
    await raw(db, f"UPDATE conversation_messages SET created_at = {value}", t=legacy)
    await raw(db, f"UPDATE conversations SET last_activity = {value}, started_at = {value}", t=legacy)
    expected = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    [m] = await db.list_conversation_messages(conv)
    assert m.created_at == expected
    [s] = await db.list_conversations_all_channels("alice", 5)
    assert s.started_at == s.last_activity == expected
    # a new message after a legacy one is still later and listed after it
    new = await db.add_conversation_message(conv, "user", "new")
    assert [x.id for x in await db.list_conversation_messages(conv)] == [m.id, new]


async def test_corrupt_stored_values(db: Database) -> None:
    conv = await db.create_conversation("gateway", "alice")
    # Undecodable metadata cannot even be stored: jsonb on PostgreSQL, and on libSQL the partial
    # unique indexes evaluate json_extract() over it.
    with pytest.raises(DatabaseError):
        await raw(db, "UPDATE conversations SET metadata = 'not json'")
    assert await db.get_conversation_metadata(conv) == {}
    if db.backend == "postgres":  # typed columns: nothing else can be corrupt there
        with pytest.raises(DatabaseError):
            await raw(db, "UPDATE conversations SET started_at = 'no such time'")
        return
    await raw(db, "UPDATE conversations SET started_at = 'yesterday!'")
    with pytest.raises(CorruptDataError):
        await db.list_conversations_with_preview("alice", "gateway", 5)
    await raw(db, "UPDATE conversations SET started_at = last_activity, id = 'not-a-uuid'")
    with pytest.raises(CorruptDataError):
        await db.list_conversations_all_channels("alice", 5)
    await raw(db, "UPDATE conversations SET id = :id", id=str(conv))
    await db.add_conversation_message(conv, "user", "x")
    await raw(db, "UPDATE conversation_messages SET created_at = '2024-13-45T00:00:00.000Z'")
    with pytest.raises(CorruptDataError):
        await db.list_conversation_messages(conv)


# ----------------------------------------------------------------------------- bounded reads, sizes


async def test_list_messages_limit_offset(ironstore_connect: Connect) -> None:
    db, _clock = await clocked(ironstore_connect)
    conv = await db.create_conversation("cli", "alice")
    ids = [await db.add_conversation_message(conv, "user", f"m{i}") for i in range(7)]
    assert [m.id for m in await db.list_conversation_messages(conv, limit=3)] == ids[:3]
    assert [m.id for m in await db.list_conversation_messages(conv, limit=3, offset=3)] == ids[3:6]
    assert [m.id for m in await db.list_conversation_messages(conv, offset=5)] == ids[5:]
    assert await db.list_conversation_messages(conv, limit=3, offset=7) == []
    # slices taken while messages are appended neither repeat nor skip any
    first = await db.list_conversation_messages(conv, limit=4)
    ids.append(await db.add_conversation_message(conv, "assistant", "late"))
    rest = await db.list_conversation_messages(conv, limit=100, offset=4)
    assert [m.id for m in first + rest] == ids
    bad: list[dict[str, Any]] = [{"limit": 0}, {"limit": -1}, {"offset": -1}, {"limit": "2"}, {"offset": 1.0}]
    for kwargs in bad:
        with pytest.raises(InvalidInputError):
            await db.list_conversation_messages(conv, **kwargs)


async def test_large_content_round_trips(db: Database) -> None:
    conv = await db.create_conversation("cli", "alice")
    content = ("ünïcødé 🦀 " * 100_000)[:1_000_000]  # no size limit on either backend
    msg = await db.add_conversation_message(conv, "tool_calls", content)
    [m] = await db.list_conversation_messages(conv)
    assert m.id == msg and m.content == content
    [s] = await db.list_conversations_all_channels("alice", 1)
    assert s.title is None and s.message_count == 0  # tool_calls is not a user message


async def test_empty_stored_timestamps_are_corrupt(db: Database) -> None:
    if db.backend == "postgres":
        pytest.skip("timestamptz columns cannot hold an empty value")
    conv = await db.create_conversation("gateway", "alice")
    await db.add_conversation_message(conv, "user", "x")
    await raw(db, "UPDATE conversation_messages SET created_at = ''")
    with pytest.raises(CorruptDataError):
        await db.list_conversation_messages(conv)
    with pytest.raises(CorruptDataError):
        await db.list_conversation_messages_paginated(conv, None, 5)
    await raw(db, "UPDATE conversations SET last_activity = ''")
    with pytest.raises(CorruptDataError):
        await db.list_conversations_all_channels("alice", 5)
