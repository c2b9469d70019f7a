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

    async def save_job(self, ctx: JobContext) -> None:
        """Insert or update a direct job from its context."""
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
_TERMINAL = sorted(s.value for s in TERMINAL_JOB_STATES)
_COMPLETING = {JobState.COMPLETED, JobState.ACCEPTED, JobState.FAILED, JobState.CANCELLED}

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

    async def save_job(self, ctx: JobContext) -> None:
        """Upsert a direct job (idempotent). Re-saves keep `created_at`, the budget fields,
        `conversation_id`, `failure_reason`, `stuck_since` and `job_mode`.

        Raises `InvalidInputError` for bad fields, `ConflictError` when the id belongs to a
        sandbox job, `IntegrityError` for an unknown conversation.
        """
        row = _job_row(ctx)
        stmt = self._insert(agent_jobs).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[agent_jobs.c.id],
            set_={name: getattr(stmt.excluded, name) for name in _UPDATED_ON_RESAVE},
            where=agent_jobs.c.source == _DIRECT,
        ).returning(agent_jobs.c.id)
        async with self._write() as conn:
            if (await conn.execute(stmt)).first() is None:
                raise ConflictError(f"job {row['id']} exists and is not a direct job")

    async def get_job(self, id: uuid.UUID) -> JobContext | None:
        """The direct job with that id as a `JobContext`, or None (sandbox jobs: None).

        Raises `CorruptDataError` for an unknown stored status or undecodable values.
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
        if r.created_at is None:
            raise CorruptDataError(f"job {job_id} has no created_at")
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
            created_at=r.created_at,
            started_at=r.started_at,
            completed_at=r.completed_at,
            repair_attempts=r.repair_attempts or 0,
        )

    async def update_job_status(
        self, id: uuid.UUID, status: JobState, failure_reason: str | None = None
    ) -> bool:
        """Set status and failure reason (`None` clears the reason) of a direct job.

        Also sets `started_at` on entering `in_progress` (if unset), `completed_at` on entering
        `completed`/`accepted`/`failed`/`cancelled` (if unset), and clears `stuck_since` when
        the new status is not `stuck`. A job in a terminal state only accepts the same status
        again. Returns True if a row changed; unknown ids and refused moves return False.
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
            .where(
                j.id == job_id,
                j.source == _DIRECT,
                or_(j.status == state.value, j.status.notin_(_TERMINAL)),
            )
            .values(**values)
            .returning(j.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def mark_job_stuck(self, id: uuid.UUID) -> bool:
        """Set a non-terminal direct job to `stuck`, keeping the first stuck time if it was
        already stuck. Returns True if a row changed (unknown or terminal jobs: False)."""
        job_id = coerce_uuid(id)
        now = self._now()
        j = agent_jobs.c
        stmt = (
            agent_jobs.update()
            .where(j.id == job_id, j.source == _DIRECT, j.status.notin_(_TERMINAL))
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
        """Ids of all stuck direct jobs, by `stuck_since` (unknown last), then id."""
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
                created_at=r.created_at,
                started_at=r.started_at,
                completed_at=r.completed_at,
                failure_reason=r.failure_reason,
            )
            for r in rows
        ]

    async def list_agent_jobs(
        self, limit: int | None = None, offset: int = 0
    ) -> list[AgentJobRecord]:
        """Direct jobs of every user, newest first (`created_at DESC, id DESC`).

        `limit` (≥ 1) and `offset` (≥ 0) are optional; unbounded by default.
        """
        lim = None if limit is None else _limit(limit)
        return await self._fetch_agent_jobs(self._list_jobs(None, lim, _offset(offset)))

    async def list_agent_jobs_for_user(
        self, user_id: str, limit: int | None = None, offset: int = 0
    ) -> list[AgentJobRecord]:
        """As `list_agent_jobs`, restricted to one user."""
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
        """Direct-job counts folded into buckets (§3.8); all zeros when there are none."""
        return await self._job_summary(None)

    async def agent_job_summary_for_user(self, user_id: str) -> AgentJobSummary:
        """As `agent_job_summary`, restricted to one user."""
        return await self._job_summary(_text(user_id, "user_id"))

    async def get_agent_job_failure_reason(self, id: uuid.UUID) -> str | None:
        """The failure reason of the direct job, None if unset or no such job."""
        job_id = coerce_uuid(id)
        j = agent_jobs.c
        stmt = select(j.failure_reason).where(j.id == job_id, j.source == _DIRECT)
        async with self._read() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else str(value)

    # ------------------------------------------------------------------ actions

    async def save_action(self, job_id: uuid.UUID, action: ActionRecord) -> None:
        """Insert an action of a job. Retrying the same action id for the same job and
        sequence is a no-op (idempotent); a different action on a taken (job, sequence), or the
        same action id on another job/sequence, raises `ConflictError`. Unknown job:
        `IntegrityError`."""
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
        """All actions of a job by sequence number ([] for unknown jobs)."""
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
                    sequence=r.sequence_num,
                    tool_name=r.tool_name,
                    input=r.input,
                    output_raw=r.output_raw,
                    output_sanitized=r.output_sanitized,
                    sanitization_warnings=list(warnings),
                    cost=r.cost,
                    duration=timedelta(milliseconds=r.duration_ms or 0),
                    success=bool(r.success),
                    error=r.error_message,
                    executed_at=r.created_at,
                )
            )
        return out

    # ------------------------------------------------------------------ LLM calls, estimations

    async def record_llm_call(
        self, record: LlmCallRecord, id: uuid.UUID | None = None
    ) -> uuid.UUID:
        """Insert an `llm_calls` row and return its id. With a caller-supplied `id`, a retry
        is a no-op (idempotent); without one, a fresh id is generated (not idempotent).
        Unknown job or conversation: `IntegrityError`."""
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

    async def save_estimation_snapshot(
        self,
        job_id: uuid.UUID,
        category: str,
        tool_names: list[str],
        estimated_cost: Decimal,
        estimated_time_secs: int,
        estimated_value: Decimal,
    ) -> uuid.UUID:
        """Insert an estimation snapshot with a fresh id and return it (not idempotent).
        Unknown job: `IntegrityError`."""
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
        """Set a snapshot's actuals (`None` value stores NULL on both backends). Returns True
        if the snapshot exists; unknown ids change nothing."""
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

