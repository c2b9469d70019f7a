"""Conversations and messages (spec: stores-conversations-jobs-sandbox.md §2).

Semantics shared by both backends (the spec's "do better" items adopted here):

- One clock: every timestamp comes from the injectable clock, read once per call inside the
  write transaction; `started_at == last_activity` on creation.
- `last_activity` never moves backwards (touch, ensure and message appends keep the later value).
- Messages get strictly increasing `created_at` per conversation (a message written within the
  same millisecond as the previous one, or while the clock is behind, gets previous + 1 ms), so
  `created_at` order is insertion order and a plain timestamp cursor never skips messages.
  Every message ordering is (`created_at`, `id`), so legacy rows with equal timestamps still sort
  deterministically, and the paginated listing takes an optional `before_id` to page over them.
- The get-or-create methods are one INSERT … ON CONFLICT DO NOTHING (no conflict target, so the
  partial unique indexes `uq_conv_routine`, `uq_conv_heartbeat` and `uq_conv_assistant` arbitrate)
  followed by a select-back: concurrent callers all get the same id on both backends.
- Metadata is always a JSON object; `update_conversation_metadata_field` sets one top-level key
  (replacing its value, storing JSON null as a value) with a locked read-modify-write.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ..errors import ConflictError, CorruptDataError, InvalidInputError, NotFoundError
from ..records.conversations import ConversationMessage, ConversationSummary, ThreadType
from ..schema import conversation_messages, conversations
from ..sql import json_text
from ..types import Timestamp, check_text, coerce_uuid, dumps_json, to_utc_ms
from ._base import StoreBase

__all__ = ["ConversationRepository", "ConversationStore"]

JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]

TITLE_CHARS = 100
_MAX_LIMIT = 2**31 - 2  # larger limits are clamped (both backends then behave as "no limit")
_ONE_MS = timedelta(milliseconds=1)

_c = conversations.c
_m = conversation_messages.c


@runtime_checkable
class ConversationStore(Protocol):
    """Conversations and messages (spec: stores-conversations-jobs-sandbox.md §2)."""

    async def create_conversation(self, channel: str, user_id: str, thread_id: str | None = None) -> uuid.UUID:
        """Create a conversation with empty metadata; returns its new id."""

    async def touch_conversation(self, id: uuid.UUID) -> None:
        """Set `last_activity` to now (never backwards); NotFoundError for an unknown id."""

    async def add_conversation_message(self, conversation_id: uuid.UUID, role: str, content: str) -> uuid.UUID:
        """Append a message and bump `last_activity` in one transaction; returns the message id."""

    async def ensure_conversation(
        self,
        id: uuid.UUID,
        channel: str,
        user_id: str,
        thread_id: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Create the conversation with this id, or touch it if (user, channel) match; False otherwise."""

    async def list_conversations_with_preview(self, user_id: str, channel: str, limit: int) -> list[ConversationSummary]:
        """The user's conversations on one channel, most recently active first, with title and count."""

    async def list_conversations_all_channels(self, user_id: str, limit: int) -> list[ConversationSummary]:
        """The user's conversations on every channel, most recently active first."""

    async def get_or_create_routine_conversation(
        self, routine_id: uuid.UUID, routine_name: str, user_id: str, *, refresh_name: bool = False
    ) -> uuid.UUID:
        """The one conversation of (user, routine), created if absent; race-safe."""

    async def get_or_create_heartbeat_conversation(self, user_id: str) -> uuid.UUID:
        """The one heartbeat conversation of the user, created if absent; race-safe."""

    async def get_or_create_assistant_conversation(self, user_id: str, channel: str) -> uuid.UUID:
        """The one assistant conversation of (user, channel), created if absent; race-safe."""

    async def create_conversation_with_metadata(self, channel: str, user_id: str, metadata: dict[str, Any]) -> uuid.UUID:
        """Create a conversation with the given metadata object; returns its new id."""

    async def list_conversation_messages_paginated(
        self,
        conversation_id: uuid.UUID,
        before: datetime | None,
        limit: int,
        *,
        before_id: uuid.UUID | None = None,
    ) -> tuple[list[ConversationMessage], bool]:
        """A page of messages older than the cursor (oldest first) and whether older ones exist."""

    async def update_conversation_metadata_field(self, id: uuid.UUID, key: str, value: JSONValue) -> None:
        """Set one top-level metadata key (None stores JSON null); NotFoundError for an unknown id."""

    async def get_conversation_metadata(self, id: uuid.UUID) -> JSONValue | None:
        """The conversation's metadata document, or None when the conversation does not exist."""

    async def list_conversation_messages(
        self, conversation_id: uuid.UUID, *, limit: int | None = None, offset: int = 0
    ) -> list[ConversationMessage]:
        """The conversation's messages, oldest first (all of them unless `limit` is given)."""

    async def conversation_belongs_to_user(self, conversation_id: uuid.UUID, user_id: str) -> bool:
        """True when the conversation exists and belongs to `user_id` (channel ignored)."""


# ----------------------------------------------------------------------------- validation


def _limit(value: object, minimum: int, what: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InvalidInputError(f"{what} must be >= {minimum}, got {value}")
    return min(value, _MAX_LIMIT)


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else check_text(value, what)


def _metadata_object(value: object, what: str = "metadata") -> dict[str, Any]:
    """A JSON object both backends store unchanged (str keys, no NUL, finite numbers)."""
    if not isinstance(value, dict):
        raise InvalidInputError(f"{what} must be a dict (a JSON object), got {type(value).__name__}")
    for key in value:
        check_text(key, f"{what} key")
    dumps_json(value)
    return dict(value)


def _later(column: ColumnElement[Any], now: datetime) -> ColumnElement[Any]:
    """`now` unless the stored value is already later (timestamps never move backwards)."""
    bound = literal(now, Timestamp())
    return case((column < bound, bound), else_=column)


def _json_str(document: object, key: str) -> str | None:
    if isinstance(document, dict):
        value = document.get(key)
        if isinstance(value, str):
            return value
    return None


def _present(value: Any, what: str) -> Any:
    """A NOT NULL value that decoded to None (a legacy empty string) is corrupt, not absent."""
    if value is None:
        raise CorruptDataError(f"stored {what} is empty")
    return value


def _message(row: Any) -> ConversationMessage:
    id_, role, content, created_at = row  # rows of (id, role, content, created_at); unpacking is cheaper
    if created_at is None:
        created_at = _present(created_at, f"created_at of message {id_}")
    return ConversationMessage(id=id_, role=role, content=content, created_at=created_at)


class ConversationRepository(StoreBase):
    """Repository mixin of `Database` for the ConversationStore."""

    # ------------------------------------------------------------------------- creation

    async def _insert_conversation(
        self,
        conn: AsyncConnection,
        *,
        channel: str,
        user_id: str,
        thread_id: str | None,
        metadata: dict[str, Any],
        now: datetime,
        conversation_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        new_id = conversation_id or uuid.uuid4()
        await conn.execute(
            conversations.insert().values(
                id=new_id,
                channel=channel,
                user_id=user_id,
                thread_id=thread_id,
                started_at=now,
                last_activity=now,
                metadata=metadata,
            )
        )
        return new_id

    async def create_conversation(self, channel: str, user_id: str, thread_id: str | None = None) -> uuid.UUID:
        """Create a conversation and return its new (random) id.

        One row on both backends: `metadata = {}`, `thread_id` as given (None → NULL, "" kept),
        `started_at == last_activity ==` the clock's now. Raises InvalidInputError for a
        non-str or NUL-containing argument (nothing written). Not idempotent: every call creates
        a new conversation.
        """
        check_text(channel, "channel")
        check_text(user_id, "user_id")
        _optional_text(thread_id, "thread_id")
        async with self._write() as conn:
            return await self._insert_conversation(
                conn, channel=channel, user_id=user_id, thread_id=thread_id, metadata={}, now=self._now()
            )

    async def create_conversation_with_metadata(self, channel: str, user_id: str, metadata: dict[str, Any]) -> uuid.UUID:
        """Create a conversation with the given metadata object and return its new id.

        `thread_id` is NULL, `started_at == last_activity == now`; the metadata is stored as
        given (jsonb on PostgreSQL, compact JSON text on libSQL). Raises InvalidInputError
        unless `metadata` is a dict with str keys holding JSON values without NUL characters,
        ConflictError when it would give the user a second routine (same `routine_id`),
        heartbeat, or assistant (same channel) conversation. Nothing is written on error. Not
        idempotent (the IronClaw importer creates a new conversation on every run).
        """
        check_text(channel, "channel")
        check_text(user_id, "user_id")
        document = _metadata_object(metadata)
        async with self._write() as conn:
            return await self._insert_conversation(
                conn, channel=channel, user_id=user_id, thread_id=None, metadata=document, now=self._now()
            )

    async def ensure_conversation(
        self,
        id: uuid.UUID,
        channel: str,
        user_id: str,
        thread_id: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Make sure conversation `id` exists and is writable by (`channel`, `user_id`).

        One upsert on both backends. Absent: inserted with `thread_id` and `metadata` (default
        `{}`; applied only on insert, so a new thread gets its `thread_type` atomically) → True.
        Present with the same `user_id` and `channel` (exact, case-sensitive): only
        `last_activity` moves to now (never backwards) → True. Present for another user or
        channel: nothing changes → False. `thread_id` is never compared or updated. Raises
        InvalidInputError for bad arguments, ConflictError when `metadata` would duplicate a
        routine / heartbeat / assistant thread. Idempotent.
        """
        conv_id = coerce_uuid(id, "id")
        check_text(channel, "channel")
        check_text(user_id, "user_id")
        _optional_text(thread_id, "thread_id")
        document = {} if metadata is None else _metadata_object(metadata)
        async with self._write(autocommit=True) as conn:  # one statement
            now = self._now()
            stmt = self._insert(conversations).values(
                id=conv_id,
                channel=channel,
                user_id=user_id,
                thread_id=thread_id,
                started_at=now,
                last_activity=now,
                metadata=document,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[_c.id],
                set_={"last_activity": _later(_c.last_activity, now)},
                where=and_(_c.user_id == user_id, _c.channel == channel),
            ).returning(_c.id)
            return (await conn.execute(stmt)).first() is not None

    # ------------------------------------------------------------------------- get-or-create

    async def _get_or_create(
        self,
        *,
        key: ColumnElement[bool],
        channel: str,
        user_id: str,
        metadata: dict[str, Any],
        refresh: tuple[str, str] | None = None,
    ) -> uuid.UUID:
        """INSERT … ON CONFLICT DO NOTHING (every unique index arbitrates), then select back.

        `refresh=(key, value)` sets that metadata key on an existing match when it differs.
        """
        async with self._write() as conn:
            now = self._now()
            stmt = (
                self._insert(conversations)
                .values(
                    id=uuid.uuid4(),
                    channel=channel,
                    user_id=user_id,
                    thread_id=None,
                    started_at=now,
                    last_activity=now,
                    metadata=metadata,
                )
                .on_conflict_do_nothing()
                .returning(_c.id)
            )
            created = (await conn.execute(stmt)).scalar()
            if created is not None:
                return created  # type: ignore[no-any-return]
            existing = (
                await conn.execute(
                    select(_c.id)
                    .where(_c.user_id == user_id, key)
                    .order_by(_c.started_at, _c.id)
                    .limit(1)
                )
            ).scalar()
            if existing is None:  # the insert conflicted with something other than the key
                raise ConflictError("conversation could not be created: a unique constraint conflicts")
            if refresh is not None:
                await self._set_metadata_key(conn, existing, refresh[0], refresh[1], only_if_changed=True)
            return existing  # type: ignore[no-any-return]

    async def get_or_create_routine_conversation(
        self, routine_id: uuid.UUID, routine_name: str, user_id: str, *, refresh_name: bool = False
    ) -> uuid.UUID:
        """The id of the user's conversation for `routine_id`, created if there is none.

        Key: (`user_id`, metadata `routine_id` == `str(routine_id)`), on any channel. A match is
        returned unchanged (no touch), unless `refresh_name=True` and its stored
        `routine_name` differs — then only that key is updated. Otherwise a conversation is
        created on channel `routine` with metadata `{"thread_type": "routine", "routine_id",
        "routine_name"}`. Both backends run INSERT … ON CONFLICT DO NOTHING under the unique
        index `uq_conv_routine` and select the row back, so concurrent callers (tasks or
        processes) all get the same id. Raises InvalidInputError for bad arguments.
        Idempotent.
        """
        rid = str(coerce_uuid(routine_id, "routine_id"))
        check_text(routine_name, "routine_name")
        check_text(user_id, "user_id")
        if not isinstance(refresh_name, bool):
            raise InvalidInputError("refresh_name must be a bool")
        return await self._get_or_create(
            key=json_text(_c.metadata, "routine_id") == rid,
            channel="routine",
            user_id=user_id,
            metadata={"thread_type": ThreadType.ROUTINE.value, "routine_id": rid, "routine_name": routine_name},
            refresh=("routine_name", routine_name) if refresh_name else None,
        )

    async def get_or_create_heartbeat_conversation(self, user_id: str) -> uuid.UUID:
        """The id of the user's heartbeat conversation, created if there is none.

        Key: (`user_id`, metadata `thread_type` == `heartbeat`), on any channel; a match is
        returned unchanged. Otherwise created on channel `heartbeat` with metadata
        `{"thread_type": "heartbeat"}`. Race-safe on both backends (INSERT … ON CONFLICT DO
        NOTHING under `uq_conv_heartbeat`, then select-back). Raises InvalidInputError for a
        bad `user_id`. Idempotent.
        """
        check_text(user_id, "user_id")
        return await self._get_or_create(
            key=json_text(_c.metadata, "thread_type") == ThreadType.HEARTBEAT.value,
            channel="heartbeat",
            user_id=user_id,
            metadata={"thread_type": ThreadType.HEARTBEAT.value},
        )

    async def get_or_create_assistant_conversation(self, user_id: str, channel: str) -> uuid.UUID:
        """The id of the user's assistant conversation on `channel`, created if there is none.

        Key: (`user_id`, `channel`, metadata `thread_type` == `assistant`); created with metadata
        `{"thread_type": "assistant", "title": "Assistant"}`. Race-safe on both backends: the
        partial unique index `uq_conv_assistant` (migration ironstore_0002, which first merged
        existing duplicates into the oldest) arbitrates INSERT … ON CONFLICT DO NOTHING, then
        the row is selected back. Raises InvalidInputError for bad arguments. Idempotent.
        """
        check_text(user_id, "user_id")
        check_text(channel, "channel")
        return await self._get_or_create(
            key=and_(_c.channel == channel, json_text(_c.metadata, "thread_type") == ThreadType.ASSISTANT.value),
            channel=channel,
            user_id=user_id,
            metadata={"thread_type": ThreadType.ASSISTANT.value, "title": "Assistant"},
        )

    # ------------------------------------------------------------------------- updates

    async def touch_conversation(self, id: uuid.UUID) -> None:
        """Set the conversation's `last_activity` to now; nothing else changes.

        Same on both backends: the later of the stored value and the clock's now is kept, so
        `last_activity` never moves backwards. Raises NotFoundError for an unknown id (IronClaw
        silently does nothing; design.md §11), InvalidInputError for a bad id. Idempotent in
        effect (repeated calls only move the time forward).
        """
        conv_id = coerce_uuid(id, "id")
        async with self._write() as conn:
            now = self._now()
            result = await conn.execute(
                update(conversations)
                .where(_c.id == conv_id)
                .values(last_activity=_later(_c.last_activity, now))
                .returning(_c.id)
            )
            if result.first() is None:
                raise NotFoundError(f"conversation {conv_id} not found")

    async def add_conversation_message(self, conversation_id: uuid.UUID, role: str, content: str) -> uuid.UUID:
        """Append a message and return its new id; `last_activity` follows in the same transaction.

        `role` and `content` are stored verbatim (roles are free text: `user`, `assistant`,
        `tool_calls`, …). `created_at` is the clock's now, or 1 ms after the conversation's
        newest message when that is not earlier, so on both backends messages are strictly
        ordered by time within a conversation (concurrent appends serialise on the
        conversation row). `last_activity` becomes the later of itself and the message time.
        Raises NotFoundError for an unknown conversation (on both backends; IronClaw's libSQL
        stored an orphan), InvalidInputError for a non-str or NUL-containing role/content (which
        PostgreSQL cannot store); nothing is written on error. Not idempotent.
        """
        conv_id = coerce_uuid(conversation_id, "conversation_id")
        check_text(role, "role")
        check_text(content, "content")
        async with self._write() as conn:
            now = self._now()
            # Locks the conversation row (PostgreSQL) so concurrent appends serialise here.
            locked = await conn.execute(
                update(conversations)
                .where(_c.id == conv_id)
                .values(last_activity=_later(_c.last_activity, now))
                .returning(_c.id)
            )
            if locked.first() is None:
                raise NotFoundError(f"conversation {conv_id} not found")
            newest = (
                await conn.execute(select(func.max(_m.created_at)).where(_m.conversation_id == conv_id))
            ).scalar()
            created_at = now if newest is None or newest < now else newest + _ONE_MS
            message_id = uuid.uuid4()
            await conn.execute(
                conversation_messages.insert().values(
                    id=message_id, conversation_id=conv_id, role=role, content=content, created_at=created_at
                )
            )
            if created_at != now:
                await conn.execute(
                    update(conversations)
                    .where(_c.id == conv_id)
                    .values(last_activity=_later(_c.last_activity, created_at))
                )
            return message_id

    async def _set_metadata_key(
        self,
        conn: AsyncConnection,
        conv_id: uuid.UUID,
        key: str,
        value: JSONValue,
        *,
        only_if_changed: bool = False,
    ) -> bool:
        """Locked read-modify-write of one top-level key; False when the conversation is absent."""
        row = (
            await conn.execute(select(_c.metadata).where(_c.id == conv_id).with_for_update())
        ).first()
        if row is None:
            return False
        stored = row[0]
        document: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
        if only_if_changed and key in document and document[key] == value:
            return True
        document[key] = value
        await conn.execute(update(conversations).where(_c.id == conv_id).values(metadata=document))
        return True

    async def update_conversation_metadata_field(self, id: uuid.UUID, key: str, value: JSONValue) -> None:
        """Set the top-level metadata key `key` to `value`; other keys are kept.

        One semantic on both backends (IronClaw's differed): the old value is replaced, never
        deep-merged; `None` stores JSON `null` and the key stays present; stored metadata that
        is not an object is treated as `{}`. Any key works, including keys with quotes or dots
        (a locked read-modify-write in one transaction, so concurrent updates of different keys
        all survive). `last_activity` is not touched. Raises NotFoundError for an unknown id
        (IronClaw silently does nothing; design.md §11), InvalidInputError for a non-str / NUL
        key or a value that is not JSON, ConflictError when it would give the user a second
        routine / heartbeat / assistant thread; nothing is written on error. Idempotent.
        """
        conv_id = coerce_uuid(id, "id")
        check_text(key, "key")
        dumps_json(value)
        async with self._write() as conn:
            if not await self._set_metadata_key(conn, conv_id, key, value):
                raise NotFoundError(f"conversation {conv_id} not found")

    # ------------------------------------------------------------------------- reads

    async def get_conversation_metadata(self, id: uuid.UUID) -> JSONValue | None:
        """The conversation's metadata document; None only when no conversation has that id.

        A stored JSON `null` reads as `{}`, so an existing conversation never yields None.
        Raises CorruptDataError when the stored text cannot be decoded (libSQL; IronClaw
        returned null there), InvalidInputError for a bad id. Read-only.
        """
        conv_id = coerce_uuid(id, "id")
        async with self._read() as conn:
            row = (await conn.execute(select(_c.metadata).where(_c.id == conv_id))).first()
        if row is None:
            return None
        return {} if row[0] is None else row[0]

    async def conversation_belongs_to_user(self, conversation_id: uuid.UUID, user_id: str) -> bool:
        """True iff the conversation exists and its `user_id` equals `user_id` (exact, case-sensitive).

        The channel is ignored (unlike `ensure_conversation`). Unknown id → False. Raises
        InvalidInputError for a bad id or user. Read-only.
        """
        conv_id = coerce_uuid(conversation_id, "conversation_id")
        check_text(user_id, "user_id")
        async with self._read() as conn:
            row = (
                await conn.execute(select(_c.id).where(_c.id == conv_id, _c.user_id == user_id))
            ).first()
        return row is not None

    async def _summaries(self, user_id: str, channel: str | None, limit: int) -> list[ConversationSummary]:
        check_text(user_id, "user_id")
        if channel is not None:
            check_text(channel, "channel")
        n = _limit(limit, 0)
        if n == 0:
            return []
        counted = conversation_messages.alias("counted")
        first = conversation_messages.alias("first_user")
        message_count = (
            select(func.count())
            .select_from(counted)
            .where(counted.c.conversation_id == _c.id, counted.c.role == "user")
            .correlate(conversations)
            .scalar_subquery()
        )
        title = (
            select(func.substr(first.c.content, 1, TITLE_CHARS))
            .where(first.c.conversation_id == _c.id, first.c.role == "user")
            .order_by(first.c.created_at, first.c.id)
            .limit(1)
            .correlate(conversations)
            .scalar_subquery()
        )
        query = select(
            _c.id,
            _c.channel,
            _c.started_at,
            _c.last_activity,
            _c.metadata,
            message_count.label("message_count"),
            title.label("title"),
        ).where(_c.user_id == user_id)
        if channel is not None:
            query = query.where(_c.channel == channel)
        query = query.order_by(_c.last_activity.desc(), _c.id.desc()).limit(n)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ConversationSummary(
                id=row.id,
                title=row.title if row.title is not None else _json_str(row.metadata, "routine_name"),
                message_count=int(row.message_count),
                started_at=_present(row.started_at, f"started_at of conversation {row.id}"),
                last_activity=_present(row.last_activity, f"last_activity of conversation {row.id}"),
                thread_type=_json_str(row.metadata, "thread_type"),
                channel=row.channel,
            )
            for row in rows
        ]

    async def list_conversations_with_preview(self, user_id: str, channel: str, limit: int) -> list[ConversationSummary]:
        """Up to `limit` of the user's conversations on `channel` (exact), as summaries.

        Every thread type is included. Order on both backends: `last_activity` descending at
        full stored precision, then `id` descending. Each summary carries `message_count` (messages
        with role exactly `user`), `title` (first 100 characters of the earliest `user` message
        by (`created_at`, `id`), else the metadata's `routine_name` when it is a string, else
        None) and `thread_type` (the metadata's, when a string). `limit = 0` → `[]`. Raises
        InvalidInputError for a negative or non-int limit or bad text, CorruptDataError for an
        undecodable stored row. Read-only.
        """
        check_text(channel, "channel")
        return await self._summaries(user_id, channel, limit)

    async def list_conversations_all_channels(self, user_id: str, limit: int) -> list[ConversationSummary]:
        """Up to `limit` of the user's conversations on every channel, as summaries.

        Same order, derived fields and errors as `list_conversations_with_preview`, without
        the channel filter (one query builder serves both). Raises InvalidInputError for a
        negative or non-int limit or a bad user, CorruptDataError for an undecodable row.
        Read-only.
        """
        return await self._summaries(user_id, None, limit)

    async def list_conversation_messages_paginated(
        self,
        conversation_id: uuid.UUID,
        before: datetime | None,
        limit: int,
        *,
        before_id: uuid.UUID | None = None,
    ) -> tuple[list[ConversationMessage], bool]:
        """A page of messages older than the cursor, oldest first, and whether older ones exist.

        `before=None` gives the newest page; then pass the oldest returned message's
        `created_at` (messages with `created_at < before` follow). Because `add_conversation_message`
        keeps `created_at` strictly increasing per conversation, this timestamp cursor never
        skips a message on either backend. Rows written by other tools may share a timestamp:
        pass also `before_id` (that message's id) to page on the pair (`created_at`, `id`),
        the order used throughout. `has_more` is true when older messages remain. Unknown
        conversation → `([], False)` (no ownership check: use `conversation_belongs_to_user`).
        Raises InvalidInputError for `limit < 1`, a naive `before`, or `before_id` without
        `before`; CorruptDataError for an undecodable stored row. Read-only.
        """
        conv_id = coerce_uuid(conversation_id, "conversation_id")
        n = _limit(limit, 1)
        cursor = None if before is None else to_utc_ms(before, "before")
        cursor_id = None if before_id is None else coerce_uuid(before_id, "before_id")
        if cursor_id is not None and cursor is None:
            raise InvalidInputError("before_id needs before (the created_at of that message)")
        query = select(_m.id, _m.role, _m.content, _m.created_at).where(_m.conversation_id == conv_id)
        if cursor is not None:
            if cursor_id is None:
                query = query.where(_m.created_at < cursor)
            else:
                query = query.where(
                    or_(_m.created_at < cursor, and_(_m.created_at == cursor, _m.id < cursor_id))
                )
        query = query.order_by(_m.created_at.desc(), _m.id.desc()).limit(n + 1)
        async with self._read(autocommit=True) as conn:  # one statement
            rows = (await conn.execute(query)).all()
        has_more = len(rows) > n
        page = [_message(row) for row in rows[:n]]
        page.reverse()
        return page, has_more

    async def list_conversation_messages(
        self, conversation_id: uuid.UUID, *, limit: int | None = None, offset: int = 0
    ) -> list[ConversationMessage]:
        """The conversation's messages, oldest first, ordered by (`created_at`, `id`) on both backends.

        Unbounded by default (IronClaw loads whole threads with it); `limit` (≥ 1) and `offset`
        (≥ 0) read a long thread in slices — appends always sort last, so slices taken while
        messages are being added neither repeat nor skip any. Unknown conversation → `[]`.
        Raises InvalidInputError for a bad id, limit or offset, CorruptDataError for an
        undecodable stored row. Read-only.
        """
        conv_id = coerce_uuid(conversation_id, "conversation_id")
        n = None if limit is None else _limit(limit, 1)
        skip = _limit(offset, 0, "offset")
        query = (
            select(_m.id, _m.role, _m.content, _m.created_at)
            .where(_m.conversation_id == conv_id)
            .order_by(_m.created_at, _m.id)
        )
        if n is not None:
            query = query.limit(n)
        if skip:
            query = query.offset(skip)
        async with self._read(autocommit=True) as conn:  # one statement
            rows = (await conn.execute(query)).all()
        return [_message(row) for row in rows]
