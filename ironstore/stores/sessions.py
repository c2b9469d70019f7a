"""Agent sessions and checkpoints (spec: stores-sessions-checkpoints.md).

Tables `sessions` / `checkpoints` (revisions ironstore_0006 / ironstore_ls_0006). Decisions:

- The active checkpoint is the one with the highest per-session `seq` (never a timestamp);
  checkpoints list in `seq` order, sessions by `updated_at DESC, id DESC`.
- Every write is one transaction. `create_checkpoint` first bumps the session's `updated_at`
  (row lock on PostgreSQL, the libSQL writer lock), so concurrent writers of one session get
  gap-free, unique sequence numbers.
- Soft-deleted sessions are hidden from `list_sessions`, `get_session` and
  `get_active_checkpoint` (`NotFoundError`) unless asked for (`include_deleted=True`, or an
  explicit `status` filter when listing) -- issue #6 overrides the spec's "get returns deleted
  sessions" here. Their checkpoints stay readable by id (`get_checkpoint`) and through
  `list_checkpoints`; writes to them raise `InvalidInputError`.
- Undecodable stored state raises `CorruptDataError` naming the checkpoint. With
  `connect(lenient_session_decoding=True)` such a state reads as an empty `CheckpointState` and
  a warning is logged on the `ironstore.sessions` logger (the reference's behaviour, reported).
- Listing limits: `limit` must be >= 1 (design §11: paged listings), `offset` >= 0, both at
  most 2**31 - 1. Filters, LIMIT and OFFSET are always bound parameters.
- libSQL connection setup (WAL, synchronous=NORMAL, foreign_keys=ON, busy_timeout 5000 ms) is
  the dialect's; a different busy timeout is a URL parameter: `sqlite+libsql:///app.db?busy_timeout=10000`.
- Errors: the spec's names map onto ironstore's hierarchy (see `ironstore.records.sessions`):
  NotFound -> `NotFoundError`, InvalidRequest -> `InvalidInputError`, Internal -> `QueryError`
  (`CorruptDataError` for undecodable stored data), Connection -> `BackendUnavailableError`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import CorruptDataError, InvalidInputError, NotFoundError
from ..records.sessions import (
    BackendInfo,
    BackendKind,
    Checkpoint,
    CheckpointState,
    CheckpointSummary,
    CreateCheckpointRequest,
    CreateSessionRequest,
    CreateSessionResult,
    ListCheckpointsQuery,
    ListCheckpointsResult,
    ListSessionsQuery,
    ListSessionsResult,
    Session,
    SessionStats,
    SessionStatus,
    SessionSummary,
    SessionVisibility,
    UpdateSessionRequest,
)
from ..schema import checkpoints, sessions
from ..types import check_text, coerce_uuid
from ._base import StoreBase

__all__ = ["SessionRepository", "SessionStore"]

_log = logging.getLogger("ironstore.sessions")

DEFAULT_LIMIT = 100
MAX_PAGE_VALUE = 2**31 - 1  # asyncpg binds LIMIT/OFFSET as 32-bit INTEGER

_E = TypeVar("_E", SessionStatus, SessionVisibility)


@runtime_checkable
class SessionStore(Protocol):
    """Agent sessions and checkpoints (spec: stores-sessions-checkpoints.md).

    Identical behaviour on libSQL and PostgreSQL. Every method is one transaction; bad
    arguments raise `InvalidInputError` (also a `ValueError`) before anything is written.
    """

    def backend_info(self) -> BackendInfo:
        """Describe the backend (kind, file path or redacted URL). No I/O; never raises."""
        ...

    async def list_sessions(self, query: ListSessionsQuery | None = None) -> ListSessionsResult:
        """One page of sessions (newest activity first) and the filtered total.

        ACTIVE sessions only unless `include_deleted` or a `status` filter says otherwise.
        Raises `InvalidInputError` for a bad query. Read-only.
        """
        ...

    async def get_session(self, session_id: uuid.UUID, *, include_deleted: bool = False) -> Session:
        """A session with its active checkpoint.

        Raises `NotFoundError` for an unknown or (unless `include_deleted`) deleted session,
        `CorruptDataError` for an undecodable active state. Read-only.
        """
        ...

    async def create_session(self, request: CreateSessionRequest) -> CreateSessionResult:
        """Create a session and its first checkpoint in one transaction.

        Raises `InvalidInputError` (nothing written). Not idempotent.
        """
        ...

    async def update_session(self, session_id: uuid.UUID, request: UpdateSessionRequest) -> Session:
        """Change title and/or visibility in one statement; returns the session.

        Raises `NotFoundError` (unknown id), `InvalidInputError` (bad fields, deleted session).
        """
        ...

    async def delete_session(self, session_id: uuid.UUID) -> None:
        """Soft-delete a session. Idempotent; raises `NotFoundError` for an unknown id."""
        ...

    async def list_checkpoints(
        self, session_id: uuid.UUID, query: ListCheckpointsQuery | None = None
    ) -> ListCheckpointsResult:
        """One page of a session's checkpoints, oldest first, and their total.

        Raises `NotFoundError` (unknown session), `InvalidInputError` (bad query). Read-only.
        """
        ...

    async def get_checkpoint(self, checkpoint_id: uuid.UUID) -> Checkpoint:
        """A checkpoint with its full state, whatever its session's status.

        Raises `NotFoundError`, `CorruptDataError`. Read-only.
        """
        ...

    async def create_checkpoint(self, session_id: uuid.UUID, request: CreateCheckpointRequest) -> Checkpoint:
        """Append a checkpoint (it becomes the active one) and bump the session's updated_at.

        One transaction. Raises `NotFoundError` (unknown session), `InvalidInputError` (bad
        state, parent missing or in another session, deleted session). Not idempotent.
        """
        ...

    async def get_active_checkpoint(self, session_id: uuid.UUID, *, include_deleted: bool = False) -> Checkpoint:
        """The session's most recently created checkpoint (highest per-session sequence).

        Raises `NotFoundError` like `get_session`, or "No active checkpoint". Read-only.
        """
        ...

    async def get_session_stats(self, session_id: uuid.UUID) -> SessionStats:
        """Statistics (not supported: always the all-zero default). No I/O."""
        ...


# --------------------------------------------------------------------------- validation


def _enum_arg(value: object, cls: type[_E], what: str) -> _E:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in cls)
    raise InvalidInputError(f"{what} must be one of {allowed}, got {value!r:.60}")


def _stored_enum(value: object, cls: type[_E], what: str) -> _E:
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    raise CorruptDataError(f"stored {what} {value!r:.60} is not a known value")


def _page_arg(value: object, default: int, minimum: int, what: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InvalidInputError(f"{what} must be >= {minimum}, got {value}")
    if value > MAX_PAGE_VALUE:
        raise InvalidInputError(f"{what} must be <= {MAX_PAGE_VALUE}, got {value}")
    return value


def _bool_arg(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a bool, got {type(value).__name__}")
    return value


def _encoded_state(state: object) -> tuple[str, CheckpointState]:
    """Serialise (validating) and return the stored text plus the state as it will read back."""
    if not isinstance(state, CheckpointState):
        raise InvalidInputError(f"state must be a CheckpointState, got {type(state).__name__}")
    text = state.to_json()
    return text, CheckpointState.from_json(text)


_CHECKPOINT_COLUMNS = (
    checkpoints.c.id,
    checkpoints.c.session_id,
    checkpoints.c.parent_id,
    checkpoints.c.state,
    checkpoints.c.created_at,
    checkpoints.c.updated_at,
)


def _deleted_not_found(session_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"Session {session_id} not found (it is deleted; pass include_deleted=True to read it)")


class SessionRepository(StoreBase):
    """Repository mixin of `Database` for the SessionStore."""

    # ------------------------------------------------------------------ helpers

    def _lenient_session_decoding(self) -> bool:
        options = getattr(self, "_options", None)
        return bool(getattr(options, "lenient_session_decoding", False))

    def _decode_state(self, checkpoint_id: uuid.UUID, text: str | None) -> CheckpointState:
        try:
            return CheckpointState.from_json(text)
        except CorruptDataError as exc:
            if self._lenient_session_decoding():
                _log.warning("checkpoint %s: %s; read as an empty state (lenient decoding)", checkpoint_id, exc)
                return CheckpointState()
            raise CorruptDataError(f"checkpoint {checkpoint_id}: {exc}") from None

    def _checkpoint(self, row: Row[Any] | Any) -> Checkpoint:
        return Checkpoint(
            id=row.id,
            session_id=row.session_id,
            parent_id=row.parent_id,
            state=self._decode_state(row.id, row.state),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def _active_checkpoint(self, conn: AsyncConnection, session_id: uuid.UUID) -> Checkpoint | None:
        row = (
            await conn.execute(
                select(*_CHECKPOINT_COLUMNS)
                .where(checkpoints.c.session_id == session_id)
                .order_by(checkpoints.c.seq.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else self._checkpoint(row)

    async def _session_status(self, conn: AsyncConnection, session_id: uuid.UUID) -> SessionStatus:
        status = (
            await conn.execute(select(sessions.c.status).where(sessions.c.id == session_id))
        ).scalar_one_or_none()
        if status is None:
            raise NotFoundError(f"Session {session_id} not found")
        return _stored_enum(status, SessionStatus, "session status")

    async def _load_session(self, conn: AsyncConnection, session_id: uuid.UUID, *, include_deleted: bool) -> Session:
        row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
        if row is None:
            raise NotFoundError(f"Session {session_id} not found")
        status = _stored_enum(row.status, SessionStatus, "session status")
        if status is SessionStatus.DELETED and not include_deleted:
            raise _deleted_not_found(session_id)
        return Session(
            id=row.id,
            title=row.title,
            visibility=_stored_enum(row.visibility, SessionVisibility, "session visibility"),
            status=status,
            cwd=row.cwd,
            created_at=row.created_at,
            updated_at=row.updated_at,
            active_checkpoint=await self._active_checkpoint(conn, session_id),
            deleted_at=row.deleted_at,
        )

    # ------------------------------------------------------------------ public API

    def backend_info(self) -> BackendInfo:
        """Describe the backend without I/O; never raises.

        libSQL: `LOCAL` with `store_path` = the database file (`":memory:"` for an in-memory
        database), or `endpoint` = the redacted URL of a remote server. PostgreSQL: `POSTGRES`
        with `endpoint` = the URL with the password hidden.
        """
        config = self._config
        if config.backend == "postgres":
            return BackendInfo(kind=BackendKind.POSTGRES, endpoint=config.display_url)
        if getattr(self, "_in_memory", False):
            return BackendInfo(kind=BackendKind.LOCAL, store_path=":memory:")
        store_path = str(config.path) if config.path is not None else None
        endpoint = None if config.path is not None else config.display_url
        return BackendInfo(kind=BackendKind.LOCAL, endpoint=endpoint, store_path=store_path)

    async def list_sessions(self, query: ListSessionsQuery | None = None) -> ListSessionsResult:
        """One page of sessions ordered by `updated_at DESC, id DESC`, plus the filtered total.

        Same on both backends. Default: ACTIVE sessions only (`include_deleted=True` or an
        explicit `status` to see deleted ones). `search` is a case-insensitive (ASCII) literal
        substring of the title (`%`, `_` and `\\` match themselves). Each summary carries the
        active checkpoint's id, message count and `created_at` (`last_message_at`) from stored
        columns, so a corrupt state never breaks a listing. `total` counts every match,
        ignoring limit/offset, in the same read transaction. Defaults: limit 100, offset 0.
        Raises `InvalidInputError` for bad filters, limit < 1 or offset < 0. Read-only.
        """
        if query is None:
            query = ListSessionsQuery()
        if not isinstance(query, ListSessionsQuery):
            raise InvalidInputError(f"query must be a ListSessionsQuery, got {type(query).__name__}")
        limit = _page_arg(query.limit, DEFAULT_LIMIT, 1, "limit")
        offset = _page_arg(query.offset, 0, 0, "offset")
        include_deleted = _bool_arg(query.include_deleted, "include_deleted")
        conditions: list[Any] = []
        if query.status is not None:
            status = _enum_arg(query.status, SessionStatus, "status")
            conditions.append(sessions.c.status == status.value)
        elif not include_deleted:
            conditions.append(sessions.c.status == SessionStatus.ACTIVE.value)
        if query.visibility is not None:
            visibility = _enum_arg(query.visibility, SessionVisibility, "visibility")
            conditions.append(sessions.c.visibility == visibility.value)
        if query.search is not None:
            search = check_text(query.search, "search")
            if search:
                conditions.append(sessions.c.title.icontains(search, autoescape=True))

        latest = checkpoints.alias("latest_cp")
        newer = checkpoints.alias("cp_max")
        max_seq = (
            select(func.max(newer.c.seq))
            .where(newer.c.session_id == sessions.c.id)
            .correlate(sessions)
            .scalar_subquery()
        )
        page = (
            select(
                sessions,
                latest.c.id.label("cp_id"),
                latest.c.message_count.label("cp_message_count"),
                latest.c.created_at.label("cp_created_at"),
            )
            .select_from(
                sessions.outerjoin(latest, and_(latest.c.session_id == sessions.c.id, latest.c.seq == max_seq))
            )
            .where(*conditions)
            .order_by(sessions.c.updated_at.desc(), sessions.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(sessions).where(*conditions)
        async with self._read() as conn:
            total = int((await conn.execute(count)).scalar_one())
            rows = (await conn.execute(page)).all()
        summaries = [
            SessionSummary(
                id=row.id,
                title=row.title,
                visibility=_stored_enum(row.visibility, SessionVisibility, "session visibility"),
                status=_stored_enum(row.status, SessionStatus, "session status"),
                cwd=row.cwd,
                created_at=row.created_at,
                updated_at=row.updated_at,
                message_count=0 if row.cp_message_count is None else int(row.cp_message_count),
                active_checkpoint_id=row.cp_id,
                last_message_at=row.cp_created_at,
                deleted_at=row.deleted_at,
            )
            for row in rows
        ]
        return ListSessionsResult(sessions=summaries, total=total)

    async def get_session(self, session_id: uuid.UUID, *, include_deleted: bool = False) -> Session:
        """The session with its active (highest-`seq`) checkpoint, read in one transaction.

        Same on both backends. A soft-deleted session is hidden (`NotFoundError`) unless
        `include_deleted=True`, which returns it with `status` DELETED and `deleted_at` set.
        Raises `NotFoundError` for an unknown id, `CorruptDataError` if the active state (or a
        stored enum) is undecodable, `InvalidInputError` for a bad id. Read-only.
        """
        sid = coerce_uuid(session_id, "session_id")
        show_deleted = _bool_arg(include_deleted, "include_deleted")
        async with self._read() as conn:
            return await self._load_session(conn, sid, include_deleted=show_deleted)

    async def create_session(self, request: CreateSessionRequest) -> CreateSessionResult:
        """Insert a session and its first checkpoint (`seq` 1, no parent) in one transaction.

        Same on both backends: both rows or neither. Returns exactly what a later read returns
        (millisecond timestamps, the state as decoded from its stored JSON). Raises
        `InvalidInputError` for bad fields or an unserialisable state (NaN, lone surrogates,
        non-mapping messages), with nothing written. Not idempotent: every call creates a
        session.
        """
        if not isinstance(request, CreateSessionRequest):
            raise InvalidInputError(f"request must be a CreateSessionRequest, got {type(request).__name__}")
        title = check_text(request.title, "title")
        visibility = _enum_arg(request.visibility, SessionVisibility, "visibility")
        cwd = None if request.cwd is None else check_text(request.cwd, "cwd")
        state_text, state = _encoded_state(request.initial_state)
        now = self._now()
        session_id, checkpoint_id = uuid.uuid4(), uuid.uuid4()
        async with self._write() as conn:
            await conn.execute(
                insert(sessions).values(
                    id=session_id,
                    title=title,
                    visibility=visibility.value,
                    status=SessionStatus.ACTIVE.value,
                    cwd=cwd,
                    created_at=now,
                    updated_at=now,
                    deleted_at=None,
                )
            )
            await conn.execute(
                insert(checkpoints).values(
                    id=checkpoint_id,
                    session_id=session_id,
                    parent_id=None,
                    seq=1,
                    state=state_text,
                    message_count=state.message_count,
                    created_at=now,
                    updated_at=now,
                )
            )
        checkpoint = Checkpoint(checkpoint_id, session_id, None, state, now, now)
        return CreateSessionResult(session_id=session_id, checkpoint=checkpoint)

    async def update_session(self, session_id: uuid.UUID, request: UpdateSessionRequest) -> Session:
        """Set the given fields and `updated_at` in ONE UPDATE statement, then return the session.

        Same on both backends; the UPDATE and the re-read are one transaction, so a failure
        leaves every field unchanged. An empty request writes nothing and returns the session.
        Raises `NotFoundError` (unknown id), `InvalidInputError` (bad fields, or the session is
        deleted -- also for an empty request). Idempotent in effect, except that `updated_at`
        moves to now.
        """
        sid = coerce_uuid(session_id, "session_id")
        if not isinstance(request, UpdateSessionRequest):
            raise InvalidInputError(f"request must be an UpdateSessionRequest, got {type(request).__name__}")
        values: dict[str, Any] = {}
        if request.title is not None:
            values["title"] = check_text(request.title, "title")
        if request.visibility is not None:
            values["visibility"] = _enum_arg(request.visibility, SessionVisibility, "visibility").value
        if not values:
            async with self._read() as conn:
                if await self._session_status(conn, sid) is SessionStatus.DELETED:
                    raise InvalidInputError(f"Session {sid} is deleted")
                return await self._load_session(conn, sid, include_deleted=False)
        now = self._now()
        async with self._write() as conn:
            updated = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == sid, sessions.c.status == SessionStatus.ACTIVE.value)
                    .values(**values, updated_at=now)
                    .returning(sessions.c.id)
                )
            ).first()
            if updated is None:
                await self._session_status(conn, sid)  # NotFoundError if it does not exist
                raise InvalidInputError(f"Session {sid} is deleted")
            return await self._load_session(conn, sid, include_deleted=False)

    async def delete_session(self, session_id: uuid.UUID) -> None:
        """Soft delete: status DELETED, `deleted_at` = `updated_at` = now; checkpoints kept.

        Same on both backends (one UPDATE). Idempotent: deleting a deleted session changes
        nothing (`updated_at` and `deleted_at` stay). Raises `NotFoundError` for an unknown id,
        `InvalidInputError` for a bad id.
        """
        sid = coerce_uuid(session_id, "session_id")
        now = self._now()
        async with self._write() as conn:
            deleted = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == sid, sessions.c.status == SessionStatus.ACTIVE.value)
                    .values(status=SessionStatus.DELETED.value, deleted_at=now, updated_at=now)
                    .returning(sessions.c.id)
                )
            ).first()
            if deleted is None:
                await self._session_status(conn, sid)  # NotFoundError if it does not exist

    async def list_checkpoints(
        self, session_id: uuid.UUID, query: ListCheckpointsQuery | None = None
    ) -> ListCheckpointsResult:
        """One page of the session's checkpoints in creation (`seq`) order, and their total.

        Same on both backends; deleted sessions included. The default page (limit 100,
        offset 0) is the *oldest* 100. `include_state=True` fills each summary's `state`
        (decoded like `get_checkpoint`, so it may raise `CorruptDataError`). Raises
        `NotFoundError` for an unknown session, `InvalidInputError` for limit < 1 or
        offset < 0. Read-only.
        """
        sid = coerce_uuid(session_id, "session_id")
        if query is None:
            query = ListCheckpointsQuery()
        if not isinstance(query, ListCheckpointsQuery):
            raise InvalidInputError(f"query must be a ListCheckpointsQuery, got {type(query).__name__}")
        limit = _page_arg(query.limit, DEFAULT_LIMIT, 1, "limit")
        offset = _page_arg(query.offset, 0, 0, "offset")
        include_state = False if query.include_state is None else _bool_arg(query.include_state, "include_state")
        columns = [
            checkpoints.c.id,
            checkpoints.c.session_id,
            checkpoints.c.parent_id,
            checkpoints.c.message_count,
            checkpoints.c.created_at,
            checkpoints.c.updated_at,
        ]
        if include_state:
            columns.append(checkpoints.c.state)
        page = (
            select(*columns)
            .where(checkpoints.c.session_id == sid)
            .order_by(checkpoints.c.seq)
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(checkpoints).where(checkpoints.c.session_id == sid)
        async with self._read() as conn:
            await self._session_status(conn, sid)
            total = int((await conn.execute(count)).scalar_one())
            rows = (await conn.execute(page)).all()
        return ListCheckpointsResult(
            checkpoints=[
                CheckpointSummary(
                    id=row.id,
                    session_id=row.session_id,
                    parent_id=row.parent_id,
                    message_count=int(row.message_count),
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                    state=self._decode_state(row.id, row.state) if include_state else None,
                )
                for row in rows
            ],
            total=total,
        )

    async def get_checkpoint(self, checkpoint_id: uuid.UUID) -> Checkpoint:
        """The checkpoint with its full state, whatever its session's status.

        Same on both backends. Raises `NotFoundError` (unknown id), `CorruptDataError`
        (undecodable state, naming the checkpoint; with `connect(lenient_session_decoding=True)`
        an empty state and a logged warning instead), `InvalidInputError` (bad id). Read-only.
        """
        cid = coerce_uuid(checkpoint_id, "checkpoint_id")
        async with self._read(autocommit=True) as conn:  # one statement
            row = (await conn.execute(select(*_CHECKPOINT_COLUMNS).where(checkpoints.c.id == cid))).first()
        if row is None:
            raise NotFoundError(f"Checkpoint {cid} not found")
        return self._checkpoint(row)

    async def create_checkpoint(self, session_id: uuid.UUID, request: CreateCheckpointRequest) -> Checkpoint:
        """Append a checkpoint with the next `seq` and set the session's `updated_at`, atomically.

        Same on both backends: the session row is updated first (PostgreSQL row lock; libSQL
        write lock), so concurrent writers of one session get unique, gap-free sequence
        numbers. The new checkpoint becomes the active one; the return value equals a later
        `get_checkpoint`. Raises `NotFoundError` (unknown session), `InvalidInputError`
        (unserialisable state, parent missing or in another session, session deleted) with
        nothing written. Not idempotent.
        """
        sid = coerce_uuid(session_id, "session_id")
        if not isinstance(request, CreateCheckpointRequest):
            raise InvalidInputError(f"request must be a CreateCheckpointRequest, got {type(request).__name__}")
        parent_id = None if request.parent_id is None else coerce_uuid(request.parent_id, "parent_id")
        state_text, state = _encoded_state(request.state)
        now = self._now()
        checkpoint_id = uuid.uuid4()
        async with self._write() as conn:
            # the session row first: serialises concurrent writers of this session
            bumped = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == sid)
                    .values(updated_at=now)
                    .returning(sessions.c.status)
                )
            ).first()
            if bumped is None:
                raise NotFoundError(f"Session {sid} not found")
            if _stored_enum(bumped.status, SessionStatus, "session status") is not SessionStatus.ACTIVE:
                raise InvalidInputError(f"Session {sid} is deleted")
            if parent_id is not None:
                parent_session = (
                    await conn.execute(select(checkpoints.c.session_id).where(checkpoints.c.id == parent_id))
                ).scalar_one_or_none()
                if parent_session is None:
                    raise InvalidInputError(f"parent checkpoint {parent_id} does not exist")
                if parent_session != sid:
                    raise InvalidInputError(f"parent checkpoint {parent_id} belongs to another session")
            seq = int(
                (
                    await conn.execute(
                        select(func.coalesce(func.max(checkpoints.c.seq), 0) + 1).where(
                            checkpoints.c.session_id == sid
                        )
                    )
                ).scalar_one()
            )
            await conn.execute(
                insert(checkpoints).values(
                    id=checkpoint_id,
                    session_id=sid,
                    parent_id=parent_id,
                    seq=seq,
                    state=state_text,
                    message_count=state.message_count,
                    created_at=now,
                    updated_at=now,
                )
            )
        return Checkpoint(checkpoint_id, sid, parent_id, state, now, now)

    async def get_active_checkpoint(self, session_id: uuid.UUID, *, include_deleted: bool = False) -> Checkpoint:
        """The session's highest-`seq` checkpoint (`get_session(id).active_checkpoint`).

        Same on both backends; timestamps and parent links play no part. Raises
        `NotFoundError` for an unknown session, a deleted one (unless `include_deleted=True`)
        or ("No active checkpoint") a session without checkpoints; `CorruptDataError` for an
        undecodable state. Read-only.
        """
        sid = coerce_uuid(session_id, "session_id")
        show_deleted = _bool_arg(include_deleted, "include_deleted")
        async with self._read() as conn:
            if await self._session_status(conn, sid) is SessionStatus.DELETED and not show_deleted:
                raise _deleted_not_found(sid)
            checkpoint = await self._active_checkpoint(conn, sid)
        if checkpoint is None:
            raise NotFoundError("No active checkpoint")
        return checkpoint

    async def get_session_stats(self, session_id: uuid.UUID) -> SessionStats:
        """`SessionStats()` (all zero) for any id, without touching storage (reference parity).

        Same on both backends; raises `InvalidInputError` only for an id that is not a UUID.
        Idempotent.
        """
        coerce_uuid(session_id, "session_id")
        return SessionStats()
