"""Agent jobs, actions, LLM calls, estimations (spec: stores-conversations-jobs-sandbox.md §3).

Choices beyond IronClaw v0.22.0 (the spec's "do better" items):

- Source scoping (DB-8): every point operation acts on `source = 'direct'` rows only; `save_job`
  on the id of a sandbox job raises `ConflictError` instead of clobbering it.
- Status writes tolerate reordering (DB-9, DB-10): `update_job_status` never leaves a terminal
  state (`accepted`, `failed`, `cancelled`), maintains `started_at` / `completed_at` /
  `stuck_since`, and returns whether a row changed. `mark_job_stuck` keeps the first stuck time.
- No silent decode fallbacks (DB-11): an unknown stored status in `get_job` raises
  `CorruptDataError`; legacy `''` decimals read as `None` (DB-12).
- Idempotent appends (DB-13): `save_action` ignores an exact retry of the same action id;
  `record_llm_call` accepts an optional caller-supplied id.
- One clock (DB-15): every timestamp comes from the injectable clock.
- Input validation (DB-16): integer ranges, non-negative durations, aware datetimes, no NUL.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Select, bindparam, case, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from ..errors import ConflictError, CorruptDataError, InvalidInputError
from ..records.jobs import (
    TERMINAL_JOB_STATES,
    ActionRecord,
    AgentJobRecord,
    AgentJobSummary,
    JobContext,
    JobSource,
    JobState,
    LlmCallRecord,
)
from ..schema import agent_jobs, estimation_snapshots, job_actions, llm_calls
from ..types import (
    INT32_MAX,
    INT64_MAX,
    JSONType,
    Timestamp,
    check_decimal,
    check_text,
    coerce_uuid,
    dumps_json,
    to_utc_ms,
)
from ._base import StoreBase

__all__ = ["JobRepository", "JobStore"]

# --------------------------------------------------------------------------- validation helpers
# (shared with ironstore.stores.sandbox)


def _text(value: object, what: str) -> str:
    return check_text(value, what)


def _opt_text(value: object, what: str) -> str | None:
    return None if value is None else check_text(value, what)


def _int(value: object, what: str, high: int = INT32_MAX, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInputError(f"{what} must be between {low} and {high}, got {value}")
    return value


def _ts(value: object, what: str) -> datetime:
    return to_utc_ms(value, what)


def _opt_ts(value: object, what: str) -> datetime | None:
    return None if value is None else to_utc_ms(value, what)


def _dec(value: object, what: str) -> Decimal:
    return check_decimal(value, what)


def _opt_dec(value: object, what: str) -> Decimal | None:
    return None if value is None else check_decimal(value, what)


def _opt_uuid(value: object, what: str) -> uuid.UUID | None:
    return None if value is None else coerce_uuid(value, what)


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a bool, got {type(value).__name__}")
    return value


def _json(value: object, what: str) -> Any:
    """Any JSON value PostgreSQL's jsonb can hold (checked before anything is written)."""
    try:
        dumps_json(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from None
    return value


def _duration(value: object, what: str, unit: timedelta) -> int:
    """A non-negative timedelta in whole `unit`s (truncated), fitting a 32-bit column."""
    if not isinstance(value, timedelta):
        raise InvalidInputError(f"{what} must be a timedelta, got {type(value).__name__}")
    if value < timedelta(0):
        raise InvalidInputError(f"{what} must not be negative")
    return _int(value // unit, what)


def _limit(value: object, what: str = "limit", minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InvalidInputError(f"{what} must be at least {minimum}, got {value}")
    return value


def _offset(value: object) -> int:
    return _limit(value, "offset", 0)


def _json_bind(value: Any) -> Any:
    """A bind that stores Python `None` as JSON `null` (for NOT NULL JSON value columns)."""
    return bindparam(None, value, type_=JSONType(null_as_json=True))


def _ts_bind(value: datetime) -> Any:
    return literal(value, Timestamp())


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class JobStore(Protocol):
    """Agent jobs, actions, LLM calls, estimations (spec: stores-conversations-jobs-sandbox.md)."""

    async def save_job(self, ctx: JobContext) -> bool:
        """Insert or update a direct job from its context; False if a stale re-save was ignored."""
        ...

    async def get_job(self, id: uuid.UUID) -> JobContext | None:
        """The direct job's context, or None."""
        ...

    async def update_job_status(
        self, id: uuid.UUID, status: JobState, failure_reason: str | None = None
    ) -> bool:
        """Set a direct job's status and failure reason; True if a row changed."""
        ...

    async def mark_job_stuck(self, id: uuid.UUID) -> bool:
        """Mark a non-terminal direct job stuck; True if a row changed."""
        ...

    async def get_stuck_jobs(self) -> list[uuid.UUID]:
        """Ids of stuck direct jobs, oldest stuck first."""
        ...

    async def list_agent_jobs(
        self, limit: int | None = None, offset: int = 0
    ) -> list[AgentJobRecord]:
        """Direct jobs of every user, newest first."""
        ...

    async def list_agent_jobs_for_user(
        self, user_id: str, limit: int | None = None, offset: int = 0
    ) -> list[AgentJobRecord]:
        """Direct jobs of one user, newest first."""
        ...

    async def agent_job_summary(self) -> AgentJobSummary:
        """Counts of direct jobs per bucket."""
        ...

    async def agent_job_summary_for_user(self, user_id: str) -> AgentJobSummary:
        """Counts of one user's direct jobs per bucket."""
        ...

    async def get_agent_job_failure_reason(self, id: uuid.UUID) -> str | None:
        """A direct job's failure reason, or None."""
        ...

    async def save_action(self, job_id: uuid.UUID, action: ActionRecord) -> None:
        """Append an action to a job (an exact retry is ignored)."""
        ...

    async def get_job_actions(self, job_id: uuid.UUID) -> list[ActionRecord]:
        """A job's actions by sequence number."""
        ...

    async def record_llm_call(
        self, record: LlmCallRecord, id: uuid.UUID | None = None
    ) -> uuid.UUID:
        """Record an LLM call; returns its id."""
        ...

    async def save_estimation_snapshot(
        self,
        job_id: uuid.UUID,
        category: str,
        tool_names: list[str],
        estimated_cost: Decimal,
        estimated_time_secs: int,
        estimated_value: Decimal,
    ) -> uuid.UUID:
        """Record an estimation snapshot; returns its id."""
        ...

    async def update_estimation_actuals(
        self,
        id: uuid.UUID,
        actual_cost: Decimal,
        actual_time_secs: int,
        actual_value: Decimal | None,
    ) -> bool:
        """Fill in a snapshot's actuals; True if a row changed."""
        ...

    async def prune_llm_calls(self, older_than: datetime) -> int:
        """Delete LLM-call records created before `older_than`; returns how many."""
        ...


# --------------------------------------------------------------------------- repository

_DIRECT = JobSource.DIRECT.value
_BUCKETS: Mapping[str, str] = {
    "pending": "pending",
    "in_progress": "in_progress",
    "completed": "completed",
    "submitted": "completed",
    "accepted": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "stuck": "stuck",
}
_TERMINAL = frozenset(s.value for s in TERMINAL_JOB_STATES)
_COMPLETING = {JobState.COMPLETED, JobState.ACCEPTED, JobState.FAILED, JobState.CANCELLED}
# Stage of each non-abort state along IronClaw's state machine; a write may stay in a stage or
# move forward, never back (`stuck` and `in_progress` share a stage: a stuck job can resume).
_STAGE = {
    JobState.PENDING.value: 0,
    JobState.IN_PROGRESS.value: 1,
    JobState.STUCK.value: 1,
    JobState.COMPLETED.value: 2,
    JobState.SUBMITTED.value: 3,
    JobState.ACCEPTED.value: 4,
}


def _blocked_from(new: JobState) -> list[str]:
    """Stored statuses a write of `new` must not replace: terminal ones and later stages."""
    blocked = set(_TERMINAL)
    stage = _STAGE.get(new.value)
    if stage is not None:
        blocked |= {s for s, n in _STAGE.items() if n > stage}
    blocked.discard(new.value)
    return sorted(blocked)


def _move_allowed(new: JobState) -> ColumnElement[bool]:
    """Rows whose status may become `new` (the same status may always be written again;
    statuses IronClaw never writes do not block)."""
    status = agent_jobs.c.status
    return or_(status == new.value, status.notin_(_blocked_from(new)))


def _present(value: Any, what: str) -> Any:
    """A NOT NULL value that decoded to None (a legacy empty string) is corrupt, not absent."""
    if value is None:
        raise CorruptDataError(f"stored {what} is empty")
    return value

_AGENT_JOB_COLUMNS = (
    agent_jobs.c.id,
    agent_jobs.c.title,
    agent_jobs.c.status,
    agent_jobs.c.user_id,
    agent_jobs.c.created_at,
    agent_jobs.c.started_at,
    agent_jobs.c.completed_at,
    agent_jobs.c.failure_reason,
)


def _job_state(value: object) -> JobState:
    if isinstance(value, JobState):
        return value
    if isinstance(value, str):
        try:
            return JobState(value)
        except ValueError:
            pass
    raise InvalidInputError(f"unknown job state {value!r:.60}")


def _job_row(ctx: object) -> dict[str, Any]:
    if not isinstance(ctx, JobContext):
        raise InvalidInputError(f"ctx must be a JobContext, got {type(ctx).__name__}")
    return {
        "id": coerce_uuid(ctx.job_id, "job_id"),
        "conversation_id": _opt_uuid(ctx.conversation_id, "conversation_id"),
        "title": _text(ctx.title, "title"),
        "description": _text(ctx.description, "description"),
        "category": _opt_text(ctx.category, "category"),
        "status": _job_state(ctx.state).value,
        "source": _DIRECT,
        "user_id": _text(ctx.user_id, "user_id"),
        "budget_amount": _opt_dec(ctx.budget, "budget"),
        "budget_token": _opt_text(ctx.budget_token, "budget_token"),
        "bid_amount": _opt_dec(ctx.bid_amount, "bid_amount"),
        "estimated_cost": _opt_dec(ctx.estimated_cost, "estimated_cost"),
        "estimated_time_secs": (
            None
            if ctx.estimated_duration is None
            else _duration(ctx.estimated_duration, "estimated_duration", timedelta(seconds=1))
        ),
        "actual_cost": _dec(ctx.actual_cost, "actual_cost"),
        "repair_attempts": _int(ctx.repair_attempts, "repair_attempts"),
        "max_tokens": _int(ctx.max_tokens, "max_tokens", INT64_MAX),
        "total_tokens_used": _int(ctx.total_tokens_used, "total_tokens_used", INT64_MAX),
        "created_at": _ts(ctx.created_at, "created_at"),
        "started_at": _opt_ts(ctx.started_at, "started_at"),
        "completed_at": _opt_ts(ctx.completed_at, "completed_at"),
        "job_mode": "worker",
    }


_UPDATED_ON_RESAVE = (
    "title",
    "description",
    "category",
    "status",
    "user_id",
    "estimated_cost",
    "estimated_time_secs",
    "actual_cost",
    "repair_attempts",
    "max_tokens",
    "total_tokens_used",
    "started_at",
    "completed_at",
)


def _summary(rows: Sequence[Any]) -> AgentJobSummary:
    counts = {"total": 0, "pending": 0, "in_progress": 0, "completed": 0, "failed": 0, "stuck": 0}
    for status, n in rows:
        counts["total"] += int(n)
        bucket = _BUCKETS.get(status)
        if bucket is not None:
            counts[bucket] += int(n)
    return AgentJobSummary(**counts)


class JobRepository(StoreBase):
    """Repository mixin of `Database` for the JobStore."""

    # ------------------------------------------------------------------ jobs

    async def save_job(self, ctx: JobContext) -> bool:
        """Insert a direct job from its context, or update it; True if the row was written.

        One upsert keyed on `ctx.job_id` (`source = 'direct'`, `job_mode = 'worker'`). A
        re-save overwrites title, description, category, status, user_id, estimated_cost,
        estimated_duration, actual_cost, repair_attempts, the token counters, started_at and
        completed_at (None included) and keeps created_at, conversation_id, the budget fields,
        failure_reason, stuck_since and job_mode. A stale re-save — one whose state would leave
        a terminal state or move back a stage (see `update_job_status`) — is ignored and
        returns False. `ctx.metadata`, `requester_id` and `user_timezone` are not stored.

        Raises InvalidInputError for a field either backend cannot hold (naive datetimes,
        negative or > 32-bit counters/durations, NUL characters, non-finite decimals),
        ConflictError when the id belongs to a sandbox job (IronClaw clobbered it),
        IntegrityError for an unknown conversation (both backends). Nothing is written on error.
        Idempotent.
        """
        row = _job_row(ctx)
        state = JobState(row["status"])
        stmt = self._insert(agent_jobs).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[agent_jobs.c.id],
            set_={name: getattr(stmt.excluded, name) for name in _UPDATED_ON_RESAVE},
            where=(agent_jobs.c.source == _DIRECT) & _move_allowed(state),
        ).returning(agent_jobs.c.id)
        async with self._write() as conn:
            if (await conn.execute(stmt)).first() is not None:
                return True
            source = (
                await conn.execute(select(agent_jobs.c.source).where(agent_jobs.c.id == row["id"]))
            ).scalar_one_or_none()
        if source != _DIRECT:
            raise ConflictError(f"job {row['id']} exists and is not a direct job")
        return False

    async def get_job(self, id: uuid.UUID) -> JobContext | None:
        """The direct job with that id as a `JobContext`, or None (also for sandbox jobs).

        Same on both backends: NULL `actual_cost` reads as 0, NULL token counters as 0,
        `estimated_time_secs` as a whole-second `timedelta`; the fields that are not stored
        get their defaults (`requester_id=None`, `metadata=None`, `user_timezone="UTC"`).
        Raises CorruptDataError for a stored status that is not a `JobState` (IronClaw read it
        as `pending`) or any undecodable value, InvalidInputError for a bad id. Read-only.
        """
        job_id = coerce_uuid(id)
        j = agent_jobs.c
        stmt = select(
            j.id, j.user_id, j.title, j.description, j.status, j.conversation_id, j.category,
            j.budget_amount, j.budget_token, j.bid_amount, j.estimated_cost,
            j.estimated_time_secs, j.actual_cost, j.total_tokens_used, j.max_tokens,
            j.created_at, j.started_at, j.completed_at, j.repair_attempts,
        ).where(j.id == job_id, j.source == _DIRECT)
        async with self._read() as conn:
            r = (await conn.execute(stmt)).first()
        if r is None:
            return None
        try:
            state = JobState(r.status)
        except ValueError:
            raise CorruptDataError(f"job {job_id} has unknown status {r.status!r:.60}") from None
        return JobContext(
            job_id=r.id,
            user_id=r.user_id,
            title=r.title,
            description=r.description,
            state=state,
            conversation_id=r.conversation_id,
            category=r.category,
            budget=r.budget_amount,
            budget_token=r.budget_token,
            bid_amount=r.bid_amount,
            estimated_cost=r.estimated_cost,
            estimated_duration=(
                None if r.estimated_time_secs is None else timedelta(seconds=r.estimated_time_secs)
            ),
            actual_cost=Decimal(0) if r.actual_cost is None else r.actual_cost,
            total_tokens_used=r.total_tokens_used or 0,
            max_tokens=r.max_tokens or 0,
            created_at=_present(r.created_at, f"created_at of job {job_id}"),
            started_at=r.started_at,
            completed_at=r.completed_at,
            repair_attempts=r.repair_attempts or 0,
        )

    async def update_job_status(
        self, id: uuid.UUID, status: JobState, failure_reason: str | None = None
    ) -> bool:
        """Set a direct job's status and failure reason; True if the row changed.

        `failure_reason=None` clears a stored reason (callers rely on that). The job timestamps
        follow the state, as IronClaw's in-memory state machine keeps them: `started_at` is set
        on entering `in_progress` and `completed_at` on entering `completed` / `accepted` /
        `failed` / `cancelled` (each only when unset); `stuck_since` is set on entering `stuck`
        and cleared on any other status. Writes that arrive out of order cannot undo progress:
        a terminal job (`accepted`, `failed`, `cancelled`) only takes its own status again, and
        no write moves a job back a stage (pending → in_progress/stuck → completed → submitted →
        accepted); such writes, unknown ids and sandbox jobs return False and change nothing.
        Same on both backends (one guarded UPDATE). Raises InvalidInputError for an unknown
        status or bad arguments. Idempotent.
        """
        job_id = coerce_uuid(id)
        state = _job_state(status)
        reason = _opt_text(failure_reason, "failure_reason")
        now = self._now()
        j = agent_jobs.c
        values: dict[str, Any] = {"status": state.value, "failure_reason": reason}
        if state is JobState.IN_PROGRESS:
            values["started_at"] = func.coalesce(j.started_at, _ts_bind(now))
        if state in _COMPLETING:
            values["completed_at"] = func.coalesce(j.completed_at, _ts_bind(now))
        if state is JobState.STUCK:
            values["stuck_since"] = case(
                (j.status == JobState.STUCK.value, func.coalesce(j.stuck_since, _ts_bind(now))),
                else_=_ts_bind(now),
            )
        else:
            values["stuck_since"] = None
        stmt = (
            agent_jobs.update()
            .where(j.id == job_id, j.source == _DIRECT, _move_allowed(state))
            .values(**values)
            .returning(j.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def mark_job_stuck(self, id: uuid.UUID) -> bool:
        """Set a direct job's status to `stuck`; True if the row changed.

        `stuck_since` becomes now, except for a job that is already stuck, which keeps its
        first stuck time. `failure_reason` is untouched. Terminal jobs and jobs past
        `in_progress` (completed, submitted) are not marked; like unknown ids and sandbox jobs
        they return False. Same on both backends. Raises InvalidInputError for a bad id.
        Idempotent.
        """
        job_id = coerce_uuid(id)
        now = self._now()
        j = agent_jobs.c
        stmt = (
            agent_jobs.update()
            .where(j.id == job_id, j.source == _DIRECT, _move_allowed(JobState.STUCK))
            .values(
                status=JobState.STUCK.value,
                stuck_since=case(
                    (j.status == JobState.STUCK.value, func.coalesce(j.stuck_since, _ts_bind(now))),
                    else_=_ts_bind(now),
                ),
            )
            .returning(j.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def get_stuck_jobs(self) -> list[uuid.UUID]:
        """Ids of every user's stuck direct jobs, longest stuck first (`stuck_since`, then id).

        Rows without a `stuck_since` sort last. `[]` when none. Raises CorruptDataError for an
        undecodable stored id (IronClaw's libSQL skipped it). Read-only.
        """
        j = agent_jobs.c
        stmt = (
            select(j.id)
            .where(j.status == JobState.STUCK.value, j.source == _DIRECT)
            .order_by(j.stuck_since.asc().nulls_last(), j.id.asc())
        )
        async with self._read() as conn:
            return [r.id for r in await conn.execute(stmt)]

    def _list_jobs(self, user_id: str | None, limit: int | None, offset: int) -> Select[Any]:
        j = agent_jobs.c
        stmt = select(*_AGENT_JOB_COLUMNS).where(j.source == _DIRECT)
        if user_id is not None:
            stmt = stmt.where(j.user_id == user_id)
        stmt = stmt.order_by(j.created_at.desc(), j.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return stmt

    async def _fetch_agent_jobs(self, stmt: Select[Any]) -> list[AgentJobRecord]:
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            AgentJobRecord(
                id=r.id,
                title=r.title,
                status=r.status,
                user_id=r.user_id,
                created_at=_present(r.created_at, f"created_at of job {r.id}"),
                started_at=r.started_at,
                completed_at=r.completed_at,
                failure_reason=r.failure_reason,
            )
            for r in rows
        ]

    async def list_agent_jobs(
        self, limit: int | None = None, offset: int = 0
    ) -> list[AgentJobRecord]:
        """Direct jobs of every user, newest first (`created_at` desc, then `id` desc).

        `status` is the raw stored string. Unbounded by default; `limit` (≥ 1) and `offset`
        (≥ 0) page through. `[]` when none. Raises InvalidInputError for bad paging values,
        CorruptDataError for an undecodable row (never skipped, on either backend). Read-only.
        """
        lim = None if limit is None else _limit(limit)
        return await self._fetch_agent_jobs(self._list_jobs(None, lim, _offset(offset)))

    async def list_agent_jobs_for_user(
        self, user_id: str, limit: int | None = None, offset: int = 0
    ) -> list[AgentJobRecord]:
        """As `list_agent_jobs`, restricted to `user_id` (exact).

        Raises InvalidInputError for a bad user or paging values, CorruptDataError for an
        undecodable row. Read-only.
        """
        uid = _text(user_id, "user_id")
        lim = None if limit is None else _limit(limit)
        return await self._fetch_agent_jobs(self._list_jobs(uid, lim, _offset(offset)))

    async def _job_summary(self, user_id: str | None) -> AgentJobSummary:
        j = agent_jobs.c
        stmt = select(j.status, func.count()).where(j.source == _DIRECT).group_by(j.status)
        if user_id is not None:
            stmt = stmt.where(j.user_id == user_id)
        async with self._read() as conn:
            return _summary((await conn.execute(stmt)).all())

    async def agent_job_summary(self) -> AgentJobSummary:
        """Counts of every user's direct jobs, folded into buckets.

        `completed` counts completed + submitted + accepted, `failed` counts failed + cancelled;
        `total` counts every direct job, also statuses outside the buckets. All zeros when
        there are none. One GROUP BY on both backends; raises nothing but backend errors.
        Read-only.
        """
        return await self._job_summary(None)

    async def agent_job_summary_for_user(self, user_id: str) -> AgentJobSummary:
        """As `agent_job_summary`, restricted to `user_id`. Raises InvalidInputError for a bad
        user. Read-only."""
        return await self._job_summary(_text(user_id, "user_id"))

    async def get_agent_job_failure_reason(self, id: uuid.UUID) -> str | None:
        """The failure reason of the direct job, or None (no reason, unknown id, sandbox job).

        Raises InvalidInputError for a bad id. Read-only.
        """
        job_id = coerce_uuid(id)
        j = agent_jobs.c
        stmt = select(j.failure_reason).where(j.id == job_id, j.source == _DIRECT)
        async with self._read() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else str(value)

    # ------------------------------------------------------------------ actions

    async def save_action(self, job_id: uuid.UUID, action: ActionRecord) -> None:
        """Append one action to a job (`job_actions` row keyed by `action.id`).

        `duration` is stored in whole milliseconds (truncated), `executed_at` at millisecond
        precision, `sanitization_warnings` as a JSON array (always written). Retrying the same
        action id for the same job and sequence is a no-op, so a retry after an ambiguous
        failure neither duplicates nor raises (idempotent). A different action on a taken
        (job, sequence), or the same id on another job or sequence, raises ConflictError; an
        unknown job raises IntegrityError (both backends; IronClaw's libSQL stored an orphan);
        bad fields raise InvalidInputError. Nothing is written on error.
        """
        jid = coerce_uuid(job_id, "job_id")
        if not isinstance(action, ActionRecord):
            raise InvalidInputError(f"action must be an ActionRecord, got {type(action).__name__}")
        warnings = action.sanitization_warnings
        if isinstance(warnings, (str, bytes)) or not isinstance(warnings, Sequence):
            raise InvalidInputError("sanitization_warnings must be a list of str")
        row = {
            "id": coerce_uuid(action.id, "action.id"),
            "job_id": jid,
            "sequence_num": _int(action.sequence, "sequence"),
            "tool_name": _text(action.tool_name, "tool_name"),
            "input": _json_bind(_json(action.input, "input")),
            "output_raw": _opt_text(action.output_raw, "output_raw"),
            "output_sanitized": _json(action.output_sanitized, "output_sanitized"),
            "sanitization_warnings": [_text(w, "sanitization warning") for w in warnings],
            "cost": _opt_dec(action.cost, "cost"),
            "duration_ms": _duration(action.duration, "duration", timedelta(milliseconds=1)),
            "success": _bool(action.success, "success"),
            "error_message": _opt_text(action.error, "error"),
            "created_at": _ts(action.executed_at, "executed_at"),
        }
        stmt = (
            self._insert(job_actions)
            .values(**row)
            .on_conflict_do_nothing(index_elements=[job_actions.c.id])
            .returning(job_actions.c.id)
        )
        a = job_actions.c
        # one INSERT; on a conflict only a read follows, so the statements need no shared transaction
        async with self._write(autocommit=True) as conn:
            if (await conn.execute(stmt)).first() is not None:
                return
            existing = (
                await conn.execute(select(a.job_id, a.sequence_num).where(a.id == row["id"]))
            ).first()
            if existing is None or (existing.job_id, existing.sequence_num) != (
                jid,
                row["sequence_num"],
            ):
                raise ConflictError(f"action {row['id']} already exists for another job or sequence")

    async def get_job_actions(self, job_id: uuid.UUID) -> list[ActionRecord]:
        """All actions of a job (any source), ordered by sequence number; `[]` for unknown jobs.

        NULL `duration_ms` reads as 0 and NULL `sanitization_warnings` as `[]` (rows written by
        older tools). Raises CorruptDataError for any undecodable stored value (on libSQL
        IronClaw substituted `[]` / null), InvalidInputError for a bad id. Read-only.
        """
        jid = coerce_uuid(job_id, "job_id")
        a = job_actions.c
        stmt = select(job_actions).where(a.job_id == jid).order_by(a.sequence_num.asc())
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        out: list[ActionRecord] = []
        for r in rows:
            warnings = r.sanitization_warnings
            if warnings is None:
                warnings = []
            elif not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
                raise CorruptDataError(f"action {r.id}: sanitization_warnings is not a list of str")
            out.append(
                ActionRecord(
                    id=r.id,
                    sequence=_present(r.sequence_num, f"sequence_num of action {r.id}"),
                    tool_name=r.tool_name,
                    input=r.input,
                    output_raw=r.output_raw,
                    output_sanitized=r.output_sanitized,
                    sanitization_warnings=list(warnings),
                    cost=r.cost,
                    duration=timedelta(milliseconds=r.duration_ms or 0),
                    success=_present(r.success, f"success of action {r.id}"),
                    error=r.error_message,
                    executed_at=_present(r.created_at, f"created_at of action {r.id}"),
                )
            )
        return out

    # ------------------------------------------------------------------ LLM calls, estimations

    async def record_llm_call(
        self, record: LlmCallRecord, id: uuid.UUID | None = None
    ) -> uuid.UUID:
        """Insert one `llm_calls` row and return its id; `created_at` is the clock's now.

        Without `id` a fresh one is generated (not idempotent). With a caller-supplied `id`
        a retry is a no-op that returns the same id (idempotent). Token counts must fit
        PostgreSQL's 32-bit columns (0 ≤ n < 2**31) and `cost` be a finite decimal
        (InvalidInputError otherwise); an unknown job or conversation raises IntegrityError on
        both backends. Nothing is written on error.
        """
        if not isinstance(record, LlmCallRecord):
            raise InvalidInputError(f"record must be an LlmCallRecord, got {type(record).__name__}")
        call_id = uuid.uuid4() if id is None else coerce_uuid(id)
        row = {
            "id": call_id,
            "job_id": _opt_uuid(record.job_id, "job_id"),
            "conversation_id": _opt_uuid(record.conversation_id, "conversation_id"),
            "provider": _text(record.provider, "provider"),
            "model": _text(record.model, "model"),
            "input_tokens": _int(record.input_tokens, "input_tokens"),
            "output_tokens": _int(record.output_tokens, "output_tokens"),
            "cost": _dec(record.cost, "cost"),
            "purpose": _opt_text(record.purpose, "purpose"),
            "created_at": self._now(),
        }
        stmt = (
            self._insert(llm_calls)
            .values(**row)
            .on_conflict_do_nothing(index_elements=[llm_calls.c.id])
        )
        async with self._write(autocommit=True) as conn:  # one statement
            await conn.execute(stmt)
        return call_id

    async def prune_llm_calls(self, older_than: datetime) -> int:
        """Delete every `llm_calls` row created before `older_than`; returns how many went.

        Retention for the append-only cost log (schema.md X17), one indexed DELETE on both
        backends. Raises InvalidInputError for a naive or non-datetime argument. Idempotent.
        """
        cutoff = _ts(older_than, "older_than")
        stmt = llm_calls.delete().where(llm_calls.c.created_at < cutoff)
        async with self._write() as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def save_estimation_snapshot(
        self,
        job_id: uuid.UUID,
        category: str,
        tool_names: list[str],
        estimated_cost: Decimal,
        estimated_time_secs: int,
        estimated_value: Decimal,
    ) -> uuid.UUID:
        """Insert an estimation snapshot with a fresh id and return it.

        `tool_names` keeps its order (text[] on PostgreSQL, a JSON array on libSQL); the
        `actual_*` columns stay NULL and `created_at` is the clock's now. Raises
        InvalidInputError for bad values (e.g. `estimated_time_secs` outside 0 ≤ n < 2**31,
        decimals beyond 28 digits), IntegrityError for an unknown job (both backends). Nothing
        is written on error. Not idempotent.
        """
        if isinstance(tool_names, (str, bytes)) or not isinstance(tool_names, Sequence):
            raise InvalidInputError("tool_names must be a list of str")
        snap_id = uuid.uuid4()
        row = {
            "id": snap_id,
            "job_id": coerce_uuid(job_id, "job_id"),
            "category": _text(category, "category"),
            "tool_names": [_text(t, "tool name") for t in tool_names],
            "estimated_cost": _dec(estimated_cost, "estimated_cost"),
            "estimated_time_secs": _int(estimated_time_secs, "estimated_time_secs"),
            "estimated_value": _dec(estimated_value, "estimated_value"),
            "created_at": self._now(),
        }
        async with self._write() as conn:
            await conn.execute(estimation_snapshots.insert().values(**row))
        return snap_id

    async def update_estimation_actuals(
        self,
        id: uuid.UUID,
        actual_cost: Decimal,
        actual_time_secs: int,
        actual_value: Decimal | None,
    ) -> bool:
        """Set a snapshot's actual cost, time and value; True if the snapshot exists.

        `actual_value=None` stores NULL on both backends (IronClaw's libSQL stored `''`, which
        reads back as None). Unknown ids change nothing and return False. Raises
        InvalidInputError for bad values. Idempotent.
        """
        snap_id = coerce_uuid(id)
        values = {
            "actual_cost": _dec(actual_cost, "actual_cost"),
            "actual_time_secs": _int(actual_time_secs, "actual_time_secs"),
            "actual_value": _opt_dec(actual_value, "actual_value"),
        }
        e = estimation_snapshots.c
        stmt = estimation_snapshots.update().where(e.id == snap_id).values(**values).returning(e.id)
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None
