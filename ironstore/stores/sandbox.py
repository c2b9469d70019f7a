"""Sandbox jobs and their event streams (spec: stores-conversations-jobs-sandbox.md §4).

Choices beyond IronClaw v0.22.0 (the spec's "do better" items):

- Source scoping (DB-8): every method acts on `source = 'sandbox'` rows only, the mode methods
  included; `save_sandbox_job` on the id of a direct job raises `ConflictError`.
- Reorder-tolerant status writes (DB-9): `save_sandbox_job` takes the `job_mode` (written on
  insert, so creation is one statement); neither it nor `update_sandbox_job_status` leaves a
  terminal status (`completed`, `failed`, `interrupted`) or moves `running` back to
  `creating`. Updates return whether a row changed, so callers can see "row not there yet".
- Statuses and modes are validated against §6.2 / §6.4 on write (`InvalidInputError`);
  stored values outside them are still returned verbatim.
- Credential grants (schema.md X16): the grants JSON text is validated and kept verbatim in
  `description` (what IronClaw reads) and also stored as JSON in `credential_grants`.
- Multi-instance cleanup (DB-17): jobs record the `instance_id` that created them, and
  `cleanup_stale_sandbox_jobs(instance_id=…)` interrupts only that instance's jobs.
- `save_job_event` returns the new event id; `list_job_events` rejects negative limits and takes
  `after_id` for incremental polling; `prune_job_events` drops old events (X17). Timestamps come
  from the injectable clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Select, false, func, or_, select

from ..errors import ConflictError, InvalidInputError
from ..records.jobs import JobSource
from ..records.sandbox import (
    TERMINAL_SANDBOX_STATUSES,
    JobEventRecord,
    SandboxJobMode,
    SandboxJobRecord,
    SandboxJobStatus,
    SandboxJobSummary,
)
from ..schema import agent_jobs, job_events
from ..types import INT64_MAX, coerce_uuid
from ._base import StoreBase
from .jobs import (
    _int,
    _json,
    _json_bind,
    _limit,
    _offset,
    _opt_text,
    _opt_ts,
    _present,
    _text,
    _ts,
)

__all__ = ["SandboxRepository", "SandboxStore"]


@runtime_checkable
class SandboxStore(Protocol):
    """Sandbox jobs and their event streams (spec: stores-conversations-jobs-sandbox.md)."""

    async def save_sandbox_job(
        self, job: SandboxJobRecord, job_mode: str = "worker", *, instance_id: str | None = None
    ) -> bool:
        """Insert or update a sandbox job; False if a stale update was ignored."""
        ...

    async def get_sandbox_job(self, id: uuid.UUID) -> SandboxJobRecord | None:
        """The sandbox job, or None."""
        ...

    async def list_sandbox_jobs(
        self, limit: int | None = None, offset: int = 0
    ) -> list[SandboxJobRecord]:
        """Sandbox jobs of every user, newest first."""
        ...

    async def update_sandbox_job_status(
        self,
        id: uuid.UUID,
        status: str,
        success: bool | None = None,
        message: str | None = None,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> bool:
        """Move a sandbox job to a status; True if a row changed."""
        ...

    async def cleanup_stale_sandbox_jobs(self, *, instance_id: str | None = None) -> int:
        """Mark creating/running sandbox jobs interrupted; returns the count."""
        ...

    async def sandbox_job_summary(self) -> SandboxJobSummary:
        """Counts of sandbox jobs per status."""
        ...

    async def list_sandbox_jobs_for_user(
        self, user_id: str, limit: int | None = None, offset: int = 0
    ) -> list[SandboxJobRecord]:
        """One user's sandbox jobs, newest first."""
        ...

    async def sandbox_job_summary_for_user(self, user_id: str) -> SandboxJobSummary:
        """Counts of one user's sandbox jobs per status."""
        ...

    async def sandbox_job_belongs_to_user(self, job_id: uuid.UUID, user_id: str) -> bool:
        """True if the sandbox job exists and belongs to the user."""
        ...

    async def update_sandbox_job_mode(self, id: uuid.UUID, mode: str) -> bool:
        """Set a sandbox job's mode; True if a row changed."""
        ...

    async def get_sandbox_job_mode(self, id: uuid.UUID) -> str | None:
        """A sandbox job's mode, or None."""
        ...

    async def save_job_event(self, job_id: uuid.UUID, event_type: str, data: Any) -> int:
        """Append an event to a job; returns its id."""
        ...

    async def list_job_events(
        self, job_id: uuid.UUID, limit: int | None = None, after_id: int | None = None
    ) -> list[JobEventRecord]:
        """A job's events in id order (the most recent `limit` if given)."""
        ...

    async def prune_job_events(self, older_than: datetime) -> int:
        """Delete job events created before `older_than`; returns how many."""
        ...


_SANDBOX = JobSource.SANDBOX.value
_TERMINAL = sorted(s.value for s in TERMINAL_SANDBOX_STATUSES)
_STALE = (SandboxJobStatus.CREATING.value, SandboxJobStatus.RUNNING.value)
_RESTARTED = "Process restarted"

_RECORD_COLUMNS = (
    agent_jobs.c.id,
    agent_jobs.c.title,
    agent_jobs.c.status,
    agent_jobs.c.user_id,
    agent_jobs.c.project_dir,
    agent_jobs.c.created_at,
    agent_jobs.c.description,
    agent_jobs.c.success,
    agent_jobs.c.failure_reason,
    agent_jobs.c.started_at,
    agent_jobs.c.completed_at,
)


def _status(value: object) -> str:
    if isinstance(value, str):
        try:
            return SandboxJobStatus(value).value
        except ValueError:
            pass
    raise InvalidInputError(f"unknown sandbox job status {value!r:.60}")


def _mode(value: object) -> str:
    if isinstance(value, str):
        try:
            return SandboxJobMode(value).value
        except ValueError:
            pass
    raise InvalidInputError(f"unknown sandbox job mode {value!r:.60}")


def _opt_bool(value: object, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a bool or None, got {type(value).__name__}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _grants(value: object) -> list[Any]:
    """The parsed grants: a JSON array of `{"secret_name": str, "env_var": str, …}` objects.

    IronClaw silently runs a restarted job without grants it cannot parse, so malformed grants
    are refused up front instead of being stored.
    """
    text = _text(value, "credential_grants_json")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        raise InvalidInputError("credential_grants_json is not valid JSON") from None
    if not isinstance(doc, list) or not all(
        isinstance(g, dict) and isinstance(g.get("secret_name"), str) and isinstance(g.get("env_var"), str)
        for g in doc
    ):
        raise InvalidInputError(
            'credential_grants_json must be a JSON array of {"secret_name": str, "env_var": str} objects'
        )
    return list(_json(doc, "credential_grants_json"))


def _status_guard(new: str) -> Any:
    """Rows a move to `new` may touch: not terminal (unless already `new`), and no
    `running` → `creating`."""
    s = agent_jobs.c.status
    guard = or_(s == new, s.notin_(_TERMINAL))
    if new == SandboxJobStatus.CREATING.value:
        guard = guard & (s != SandboxJobStatus.RUNNING.value)
    return guard


def _record(r: Any) -> SandboxJobRecord:
    return SandboxJobRecord(
        id=r.id,
        task=r.title,
        status=r.status,
        user_id=r.user_id,
        project_dir=r.project_dir if r.project_dir is not None else "",
        created_at=_present(r.created_at, f"created_at of sandbox job {r.id}"),
        credential_grants_json=r.description,
        success=r.success,
        failure_reason=r.failure_reason,
        started_at=r.started_at,
        completed_at=r.completed_at,
    )


def _summary(rows: Sequence[Any]) -> SandboxJobSummary:
    counts = {"total": 0, "creating": 0, "running": 0, "completed": 0, "failed": 0, "interrupted": 0}
    for status, n in rows:
        counts["total"] += int(n)
        if status in counts and status != "total":
            counts[status] += int(n)
    return SandboxJobSummary(**counts)


class SandboxRepository(StoreBase):
    """Repository mixin of `Database` for the SandboxStore."""

    async def save_sandbox_job(
        self, job: SandboxJobRecord, job_mode: str = "worker", *, instance_id: str | None = None
    ) -> bool:
        """Insert a sandbox job, or update its status fields; True if the row was written.

        One upsert keyed on `job.id` (`source = 'sandbox'`), the same on both backends. The
        insert writes every record field plus `job_mode` (`worker` | `claude_code`, so a job
        and its mode appear in one statement) and `instance_id` (the creating instance, used
        by `cleanup_stale_sandbox_jobs`). `task` goes to `title`; `credential_grants_json`
        goes verbatim to `description` (what IronClaw reads) and parsed to the JSON column
        `credential_grants`. A re-save overwrites only status, success, failure_reason,
        started_at and completed_at (None included); it is ignored and returns False when it
        would leave a terminal status (`completed`, `failed`, `interrupted`) or move `running`
        back to `creating` (a stale, reordered write).

        Raises InvalidInputError for bad fields (a status outside creating / running /
        completed / failed / interrupted, an unknown mode, grants that are not a JSON array of
        `{"secret_name", "env_var"}` objects, naive datetimes, NUL characters), ConflictError
        when the id belongs to a direct job. Nothing is written on error. Idempotent.
        """
        if not isinstance(job, SandboxJobRecord):
            raise InvalidInputError(f"job must be a SandboxJobRecord, got {type(job).__name__}")
        status = _status(job.status)
        row = {
            "id": coerce_uuid(job.id),
            "title": _text(job.task, "task"),
            "description": _text(job.credential_grants_json, "credential_grants_json"),
            "credential_grants": _grants(job.credential_grants_json),
            "status": status,
            "source": _SANDBOX,
            "user_id": _text(job.user_id, "user_id"),
            "project_dir": _text(job.project_dir, "project_dir"),
            "success": _opt_bool(job.success, "success"),
            "failure_reason": _opt_text(job.failure_reason, "failure_reason"),
            "created_at": _ts(job.created_at, "created_at"),
            "started_at": _opt_ts(job.started_at, "started_at"),
            "completed_at": _opt_ts(job.completed_at, "completed_at"),
            "job_mode": _mode(job_mode),
            "instance_id": _opt_text(instance_id, "instance_id"),
            "repair_attempts": 0,
            "max_tokens": 0,
            "total_tokens_used": 0,
        }
        stmt = self._insert(agent_jobs).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[agent_jobs.c.id],
            set_={
                name: getattr(stmt.excluded, name)
                for name in ("status", "success", "failure_reason", "started_at", "completed_at")
            },
            where=(agent_jobs.c.source == _SANDBOX) & _status_guard(status),
        ).returning(agent_jobs.c.id)
        async with self._write() as conn:
            if (await conn.execute(stmt)).first() is not None:
                return True
            source = (
                await conn.execute(select(agent_jobs.c.source).where(agent_jobs.c.id == row["id"]))
            ).scalar_one_or_none()
        if source != _SANDBOX:
            raise ConflictError(f"job {row['id']} exists and is not a sandbox job")
        return False

    async def get_sandbox_job(self, id: uuid.UUID) -> SandboxJobRecord | None:
        """The sandbox job with that id, or None (also when the id is a direct job's).

        `project_dir` reads as "" when NULL; `success` is decoded from BOOLEAN (PostgreSQL) or
        0/1 (libSQL); `job_mode` is not part of the record (`get_sandbox_job_mode`). Raises
        CorruptDataError for an undecodable stored value, InvalidInputError for a bad id.
        Read-only.
        """
        job_id = coerce_uuid(id)
        j = agent_jobs.c
        stmt = select(*_RECORD_COLUMNS).where(j.id == job_id, j.source == _SANDBOX)
        async with self._read() as conn:
            r = (await conn.execute(stmt)).first()
        return None if r is None else _record(r)

    def _list(self, user_id: str | None, limit: int | None, offset: int) -> Select[Any]:
        j = agent_jobs.c
        stmt = select(*_RECORD_COLUMNS).where(j.source == _SANDBOX)
        if user_id is not None:
            stmt = stmt.where(j.user_id == user_id)
        stmt = stmt.order_by(j.created_at.desc(), j.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return stmt

    async def _fetch(self, stmt: Select[Any]) -> list[SandboxJobRecord]:
        async with self._read() as conn:
            return [_record(r) for r in (await conn.execute(stmt)).all()]

    async def list_sandbox_jobs(
        self, limit: int | None = None, offset: int = 0
    ) -> list[SandboxJobRecord]:
        """Sandbox jobs of every user, newest first (`created_at` desc, then `id` desc).

        Unbounded by default; `limit` (≥ 1) and `offset` (≥ 0) page through. `[]` when none.
        Raises InvalidInputError for bad paging values, CorruptDataError for an undecodable
        row (IronClaw's libSQL turned a bad id into the nil UUID). Read-only.
        """
        lim = None if limit is None else _limit(limit)
        return await self._fetch(self._list(None, lim, _offset(offset)))

    async def list_sandbox_jobs_for_user(
        self, user_id: str, limit: int | None = None, offset: int = 0
    ) -> list[SandboxJobRecord]:
        """As `list_sandbox_jobs`, restricted to `user_id` (exact).

        Raises InvalidInputError for a bad user or paging values, CorruptDataError for an
        undecodable row. Read-only.
        """
        uid = _text(user_id, "user_id")
        lim = None if limit is None else _limit(limit)
        return await self._fetch(self._list(uid, lim, _offset(offset)))

    async def update_sandbox_job_status(
        self,
        id: uuid.UUID,
        status: str,
        success: bool | None = None,
        message: str | None = None,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> bool:
        """Set a sandbox job's status; True if the row changed.

        `success`, `message` (stored as `failure_reason`, whatever the status), `started_at`
        and `completed_at` are written only when not None (None keeps the stored value).
        Refused — returns False and changes nothing — when the job is in a terminal status
        (`completed`, `failed`, `interrupted`) other than `status`, when it would move `running`
        back to `creating`, for unknown ids (e.g. the insert has not landed yet) and for direct
        jobs. One guarded UPDATE on both backends. Raises InvalidInputError for a status
        outside §6.2 (cancellation is stored as `failed` + "Cancelled by user") or bad
        arguments. Idempotent.
        """
        job_id = coerce_uuid(id)
        new = _status(status)
        values: dict[str, Any] = {"status": new}
        if (ok := _opt_bool(success, "success")) is not None:
            values["success"] = ok
        if (reason := _opt_text(message, "message")) is not None:
            values["failure_reason"] = reason
        if (started := _opt_ts(started_at, "started_at")) is not None:
            values["started_at"] = started
        if (completed := _opt_ts(completed_at, "completed_at")) is not None:
            values["completed_at"] = completed
        j = agent_jobs.c
        stmt = (
            agent_jobs.update()
            .where(j.id == job_id, j.source == _SANDBOX, _status_guard(new))
            .values(**values)
            .returning(j.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def cleanup_stale_sandbox_jobs(self, *, instance_id: str | None = None) -> int:
        """Start-up recovery: mark `creating` / `running` sandbox jobs `interrupted`.

        Each such job gets `failure_reason = 'Process restarted'`, `completed_at = now` and,
        when unset, `success = false` (an interrupted job did not succeed). Without
        `instance_id` every user's and every instance's jobs are interrupted, as IronClaw does;
        with it only the jobs saved with that `instance_id`, so processes sharing one database
        do not interrupt each other's live jobs. Returns the number of jobs changed (0 on an
        immediate second call). One UPDATE on both backends. Raises InvalidInputError for a
        bad `instance_id`. Idempotent.
        """
        owner = _opt_text(instance_id, "instance_id")
        now = self._now()
        j = agent_jobs.c
        stmt = agent_jobs.update().where(j.source == _SANDBOX, j.status.in_(_STALE))
        if owner is not None:
            stmt = stmt.where(j.instance_id == owner)
        stmt = stmt.values(
            status=SandboxJobStatus.INTERRUPTED.value,
            failure_reason=_RESTARTED,
            completed_at=now,
            success=func.coalesce(j.success, false()),
        ).returning(j.id)
        async with self._write() as conn:
            return len((await conn.execute(stmt)).all())

    async def _summary(self, user_id: str | None) -> SandboxJobSummary:
        j = agent_jobs.c
        stmt = select(j.status, func.count()).where(j.source == _SANDBOX).group_by(j.status)
        if user_id is not None:
            stmt = stmt.where(j.user_id == user_id)
        async with self._read() as conn:
            return _summary((await conn.execute(stmt)).all())

    async def sandbox_job_summary(self) -> SandboxJobSummary:
        """Counts of every user's sandbox jobs per exact status.

        `creating`, `running`, `completed`, `failed` and `interrupted` each count their own
        status; `total` counts every sandbox job, also other statuses. All zeros when there
        are none. One GROUP BY on both backends; raises nothing but backend errors.
        Read-only.
        """
        return await self._summary(None)

    async def sandbox_job_summary_for_user(self, user_id: str) -> SandboxJobSummary:
        """As `sandbox_job_summary`, restricted to `user_id`. Raises InvalidInputError for a
        bad user. Read-only."""
        return await self._summary(_text(user_id, "user_id"))

    async def sandbox_job_belongs_to_user(self, job_id: uuid.UUID, user_id: str) -> bool:
        """True iff a sandbox job with that id exists and belongs to `user_id` (exact).

        False for unknown ids and for direct jobs. Raises InvalidInputError for bad
        arguments. Read-only.
        """
        jid = coerce_uuid(job_id, "job_id")
        uid = _text(user_id, "user_id")
        j = agent_jobs.c
        stmt = select(j.id).where(j.id == jid, j.user_id == uid, j.source == _SANDBOX)
        async with self._read() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def update_sandbox_job_mode(self, id: uuid.UUID, mode: str) -> bool:
        """Set a sandbox job's mode (`worker` | `claude_code`); True if the job exists.

        Unknown ids and direct jobs change nothing and return False (IronClaw also changed
        direct jobs). Prefer passing the mode to `save_sandbox_job`, which cannot race the
        insert. Raises InvalidInputError for another mode. Idempotent.
        """
        job_id = coerce_uuid(id)
        value = _mode(mode)
        j = agent_jobs.c
        stmt = (
            agent_jobs.update()
            .where(j.id == job_id, j.source == _SANDBOX)
            .values(job_mode=value)
            .returning(j.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def get_sandbox_job_mode(self, id: uuid.UUID) -> str | None:
        """The stored mode of a sandbox job, or None when there is no such sandbox job.

        The stored string is returned verbatim (callers treat anything but `claude_code` as
        worker mode). Raises InvalidInputError for a bad id. Read-only.
        """
        job_id = coerce_uuid(id)
        j = agent_jobs.c
        stmt = select(j.job_mode).where(j.id == job_id, j.source == _SANDBOX)
        async with self._read() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else str(value)

    async def save_job_event(self, job_id: uuid.UUID, event_type: str, data: Any) -> int:
        """Append an event to a job (sandbox or direct) and return its id.

        `event_type` is free text (`message`, `tool_use`, `tool_result`, `status`, `result`,
        `reasoning`, …); `data` any JSON value; `created_at` the clock's now. Ids increase per
        table (gaps possible; under concurrent PostgreSQL writers they may commit out of
        order). Raises IntegrityError for an unknown job on both backends (IronClaw's libSQL
        stored an orphan), InvalidInputError for NUL characters or non-JSON data. Nothing is
        written on error. Not idempotent.
        """
        row = {
            "job_id": coerce_uuid(job_id, "job_id"),
            "event_type": _text(event_type, "event_type"),
            "data": _json_bind(_json(data, "data")),
            "created_at": self._now(),
        }
        stmt = job_events.insert().values(**row).returning(job_events.c.id)
        async with self._write() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def list_job_events(
        self, job_id: uuid.UUID, limit: int | None = None, after_id: int | None = None
    ) -> list[JobEventRecord]:
        """A job's events in ascending id order.

        `limit=None`: all of them; `limit=n`: the n most recent, still ascending; `limit=0`:
        `[]`. `after_id` keeps only events with a larger id (incremental polling; poll with a
        small overlap, as PostgreSQL ids can commit out of order). Unknown job → `[]`. Raises
        InvalidInputError for a negative or non-int limit / after_id (IronClaw's libSQL treated a
        negative limit as unlimited), CorruptDataError for an undecodable row. Read-only.
        """
        jid = coerce_uuid(job_id, "job_id")
        lim = None if limit is None else _limit(limit, "limit", 0)
        after = None if after_id is None else _int(after_id, "after_id", INT64_MAX)
        if lim == 0:
            return []
        e = job_events.c
        stmt = select(e.id, e.job_id, e.event_type, e.data, e.created_at).where(e.job_id == jid)
        if after is not None:
            stmt = stmt.where(e.id > after)
        if lim is None:
            stmt = stmt.order_by(e.id.asc())
        else:
            stmt = stmt.order_by(e.id.desc()).limit(lim)
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        if lim is not None:
            rows = rows[::-1]
        return [
            JobEventRecord(
                id=int(r.id),
                job_id=r.job_id,
                event_type=r.event_type,
                data=r.data,
                created_at=_present(r.created_at, f"created_at of event {r.id}"),
            )
            for r in rows
        ]

    async def prune_job_events(self, older_than: datetime) -> int:
        """Delete every job event created before `older_than`; returns how many went.

        Retention for the append-only event log (schema.md X17), one indexed DELETE on both
        backends; jobs themselves are untouched. Raises InvalidInputError for a naive or
        non-datetime argument. Idempotent.
        """
        cutoff = _ts(older_than, "older_than")
        stmt = job_events.delete().where(job_events.c.created_at < cutoff)
        async with self._write() as conn:
            return int((await conn.execute(stmt)).rowcount)
