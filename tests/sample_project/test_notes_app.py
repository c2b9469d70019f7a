"""A user's tests for a tiny notes feature, written against ironstore's pytest plugin only."""

from __future__ import annotations

import os

import pytest

from ironstore import Database, NotFoundError

COUNT = int(os.environ.get("SAMPLE_REPEAT", "1"))


async def save_note(db: Database, user: str, text: str) -> None:
    """The "application code" under test: a note is a conversation message on the notes channel."""
    conversation = await db.get_or_create_assistant_conversation(user, "notes")
    await db.add_conversation_message(conversation, "user", text)


async def test_notes_are_kept_in_order(ironstore_db: Database) -> None:
    await save_note(ironstore_db, "alice", "first")
    await save_note(ironstore_db, "alice", "second")
    conversation = await ironstore_db.get_or_create_assistant_conversation("alice", "notes")
    messages = await ironstore_db.list_conversation_messages(conversation)
    assert [m.content for m in messages] == ["first", "second"]


async def test_each_test_gets_an_empty_database(ironstore_db: Database, ironstore_backend: str) -> None:
    assert ironstore_db.backend == ironstore_backend
    assert await ironstore_db.list_conversations_all_channels("alice", 10) == []
    assert not await ironstore_db.has_settings("alice")


async def test_more_connections_to_the_same_database(ironstore_db: Database, ironstore_connect) -> None:
    await ironstore_db.set_setting("alice", "theme", "dark")
    other = await ironstore_connect(embedding_dimension=4)
    assert await other.get_setting("alice", "theme") == "dark"
    assert other.embedding_dimension == 4


async def test_errors_are_ironstores(ironstore_db: Database) -> None:
    import uuid

    with pytest.raises(NotFoundError):
        await ironstore_db.touch_conversation(uuid.uuid4())


@pytest.mark.parametrize("n", range(COUNT))
async def test_cheap_per_test_database(ironstore_db: Database, n: int) -> None:
    """Repeated SAMPLE_REPEAT times to measure what the plugin costs per test."""
    await ironstore_db.set_setting("u", "n", n)
    assert await ironstore_db.get_all_settings("u") == {"n": n}
