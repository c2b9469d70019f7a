"""Routines and their runs (spec: stores-routines-toolfailures-settings.md §2, §5, §8).

Besides IronClaw's 19 methods this store has the scheduler-safety extensions of §8:
`claim_cron_fire` (compare-and-set of a due fire), `finish_routine_run` (run completion and the
routine's counters in one transaction, counters incremented in SQL, at most once per run),
`create_routine_run_if_capacity` (atomic admission) and `fail_orphaned_routine_runs`.

Orderings are deterministic and identical on both backends (text in byte order). Scheduler-facing
lists (`list_event_routines`, `list_due_cron_routines`) skip and log a routine whose trigger,
action or JSON columns cannot be decoded; every other read raises `CorruptDataError` naming the
routine (or run) id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Row, and_, delete, func, literal, or_, select, type_coerce, update
from sqlalchemy.engine import Dialect

from ..errors import ConflictError, CorruptDataError, InvalidInputError
from ..records.routines import (
    MAX_TOOL_ROUNDS_LIMIT,
    UNCHANGED,
    CronTrigger,
    DuplicateRoutineNameError,
    DuplicateWebhookPathError,
    EventTrigger,
    FullJobAction,
    JSONValue,
    LightweightAction,
    ManualTrigger,
    NotifyConfig,
    Routine,
    RoutineAction,
    RoutineGuardrails,
    RoutineRun,
    RunStatus,
    SystemEventTrigger,
    Trigger,
    Unchanged,
    WebhookTrigger,
    _valid_zone,
    action_from_db,
    normalize_notify_user,
    trigger_from_db,
)
from ..schema import routine_runs, routines
from ..sql import byte_order, json_text
from ..types import INT32_MAX, INT64_MAX, JSONType, check_text, coerce_uuid, dumps_json, to_utc_ms
from ._base import StoreBase

__all__ = ["RoutineRepository", "RoutineStore"]

log = logging.getLogger("ironstore.routines")

_CHUNK = 500  # ids per IN (...) list
_U32_MAX = 2**32 - 1
_ORPHAN_SUMMARY = "Orphaned by process restart"


@runtime_checkable
class RoutineStore(Protocol):
    """Routines and their runs (spec: stores-routines-toolfailures-settings.md)."""

    async def create_routine(self, routine: Routine) -> None:
        """Insert a routine (DuplicateRoutineNameError / ConflictError on collisions)."""
        ...

    async def get_routine(self, id: uuid.UUID, *, user_id: str | None = None) -> Routine | None:
        """The routine with this id (optionally only if owned by `user_id`), or None."""
        ...

    async def get_routine_by_name(self, user_id: str, name: str) -> Routine | None:
        """The user's routine with exactly this name, or None."""
        ...

    async def list_routines(self, user_id: str) -> list[Routine]:
        """Every routine of the user, by name (byte order)."""
        ...

    async def list_all_routines(self) -> list[Routine]:
        """Every routine, by name, user_id (byte order), id."""
        ...

    async def list_event_routines(self) -> list[Routine]:
        """Enabled event and system_event routines of all users, by created_at, id."""
        ...

    async def list_due_cron_routines(self, now: datetime | None = None) -> list[Routine]:
        """Enabled cron routines with next_fire_at <= now, by next_fire_at, id."""
        ...

    async def update_routine(
        self, routine: Routine, *, expected_updated_at: datetime | None = None
    ) -> bool:
        """Rewrite a routine's definition columns; False if missing (or changed meanwhile)."""
        ...

    async def update_routine_runtime(
        self, id: uuid.UUID, last_run_at: datetime, next_fire_at: datetime | None,
        run_count: int, consecutive_failures: int, state: JSONValue,
    ) -> bool:
        """Write a routine's runtime columns (absolute values); False if missing."""
        ...

    async def delete_routine(self, id: uuid.UUID) -> bool:
        """Delete a routine and its runs; False if missing."""
        ...

    async def create_routine_run(self, run: RoutineRun) -> None:
        """Insert a run (IntegrityError for an unknown routine or job)."""
        ...

    async def complete_routine_run(
        self, id: uuid.UUID, status: RunStatus, result_summary: str | None, tokens_used: int | None,
    ) -> bool:
        """Complete a still-running run; False if missing or already completed."""
        ...

    async def list_routine_runs(self, routine_id: uuid.UUID, limit: int) -> list[RoutineRun]:
        """A routine's newest runs first, at most `limit`."""
        ...

    async def count_running_routine_runs(self, routine_id: uuid.UUID) -> int:
        """The routine's number of running runs."""
        ...

    async def count_running_routine_runs_batch(
        self, routine_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        """Running-run counts for every requested id (0 when none)."""
        ...

    async def batch_get_last_run_status(
        self, routine_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, RunStatus]:
        """Status of each routine's newest run; ids without runs are left out."""
        ...

    async def link_routine_run_to_job(self, run_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        """Set a run's job id; False if the run is missing."""
        ...

    async def get_webhook_routine_by_path(self, path: str) -> Routine | None:
        """The enabled webhook routine for this path (or id when it has no path), or None."""
        ...

    async def list_dispatched_routine_runs(
        self, started_before: datetime | None = None
    ) -> list[RoutineRun]:
        """Running runs that have a job id, by started_at, id."""
        ...

    async def claim_cron_fire(
        self, id: uuid.UUID, expected_next_fire_at: datetime, new_next_fire_at: datetime | None
    ) -> bool:
        """Compare-and-set next_fire_at; True if this caller won the fire."""
        ...

    async def finish_routine_run(
        self, run_id: uuid.UUID, status: RunStatus, result_summary: str | None,
        tokens_used: int | None, *, next_fire_at: datetime | None,
        state: JSONValue | Unchanged = UNCHANGED,
    ) -> bool:
        """Complete a running run and update its routine's counters atomically."""
        ...

    async def create_routine_run_if_capacity(self, run: RoutineRun, max_concurrent: int) -> bool:
        """Insert the run only if the routine has fewer than `max_concurrent` running runs."""
        ...

    async def fail_orphaned_routine_runs(
        self, started_before: datetime, summary: str = _ORPHAN_SUMMARY
    ) -> int:
        """Fail running runs without a job started before `started_before`; the count."""
        ...


# --------------------------------------------------------------------------- JSON read leniency
# (a TypeDecorator rather than a @compiles construct; could move to types.py later)

_BAD_JSON = object()


class _LenientJSON(JSONType):
    """JSONType whose undecodable stored text reads as `_BAD_JSON`, so errors can name the row."""

    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        try:
            return super().process_result_value(value, dialect)
        except CorruptDataError:
            return _BAD_JSON


def _routine_columns() -> list[Any]:
    lenient = {"trigger_config", "action_config", "state"}
    return [
        type_coerce(c, _LenientJSON()).label(c.name) if c.name in lenient else c
        for c in routines.c
    ]


_ROUTINE_COLUMNS = _routine_columns()


# --------------------------------------------------------------------------- validation


def _text(value: object, what: str, *, nonempty: bool = False) -> str:
    s = check_text(value, what)
    if nonempty and not s.strip():
        raise InvalidInputError(f"{what} must not be empty")
    return s


def _opt_text(value: object, what: str) -> str | None:
    return None if value is None else check_text(value, what)


def _free_text(value: object, what: str) -> str | None:
    """Untrusted free text: NUL becomes U+FFFD instead of being refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str or None, got {type(value).__name__}")
    return value.replace("\x00", "\ufffd")


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a bool, got {type(value).__name__}")
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInputError(f"{what} must be between {low} and {high}, got {value}")
    return value


def _opt_ts(value: object, what: str) -> datetime | None:
    return None if value is None else to_utc_ms(value, what)


def _seconds(value: object, what: str) -> int:
    if not isinstance(value, timedelta):
        raise InvalidInputError(f"{what} must be a timedelta, got {type(value).__name__}")
    secs = value // timedelta(seconds=1)
    if value < timedelta(0) or secs > INT32_MAX:
        raise InvalidInputError(f"{what} must be between 0 and {INT32_MAX} seconds")
    return secs


_STATE_TYPE = JSONType(null_as_json=True)


def _state(value: object) -> Any:
    """`state` is NOT NULL: a Python None is stored as the JSON literal null."""
    return literal(_json(value, "state"), _STATE_TYPE)


def _json(value: object, what: str) -> Any:
    try:
        dumps_json(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from None
    return value


def _trigger_columns(trigger: object) -> tuple[str, dict[str, Any]]:
    if isinstance(trigger, CronTrigger):
        _text(trigger.schedule, "cron schedule", nonempty=True)
        if trigger.timezone is not None:
            tz = check_text(trigger.timezone, "cron timezone")
            if not _valid_zone(tz):
                raise InvalidInputError(f"cron timezone {tz!r} is not a known IANA zone")
    elif isinstance(trigger, EventTrigger):
        _text(trigger.pattern, "event pattern")
        _opt_text(trigger.channel, "event channel")
    elif isinstance(trigger, SystemEventTrigger):
        _text(trigger.source, "system_event source")
        _text(trigger.event_type, "system_event event_type")
        if not isinstance(trigger.filters, dict):
            raise InvalidInputError("system_event filters must be a dict of str to str")
        for k, v in trigger.filters.items():
            check_text(k, "system_event filter key")
            check_text(v, "system_event filter value")
    elif isinstance(trigger, WebhookTrigger):
        path = _opt_text(trigger.path, "webhook path")
        _opt_text(trigger.secret, "webhook secret")
        if path is not None and not path.strip():
            return WebhookTrigger.TYPE_TAG, {"path": None, "secret": trigger.secret}
    elif not isinstance(trigger, ManualTrigger):
        raise InvalidInputError(f"unknown trigger type {type(trigger).__name__}")
    return trigger.TYPE_TAG, _json(trigger.to_config(), "trigger config")


def _action_columns(action: object) -> tuple[str, dict[str, Any]]:
    if isinstance(action, LightweightAction):
        _text(action.prompt, "lightweight prompt")
        if isinstance(action.context_paths, (str, bytes)) or not isinstance(action.context_paths, (list, tuple)):
            raise InvalidInputError("context_paths must be a list of str")
        for p in action.context_paths:
            check_text(p, "context path")
        _int(action.max_tokens, "max_tokens", 1, _U32_MAX)
        _bool(action.use_tools, "use_tools")
        _int(action.max_tool_rounds, "max_tool_rounds", 1, MAX_TOOL_ROUNDS_LIMIT)
    elif isinstance(action, FullJobAction):
        _text(action.title, "full_job title")
        _text(action.description, "full_job description")
        _int(action.max_iterations, "max_iterations", 1, _U32_MAX)
    else:
        raise InvalidInputError(f"unknown action type {type(action).__name__}")
    return action.TYPE_TAG, _json(action.to_config(), "action config")


def _definition_values(r: object) -> dict[str, Any]:
    """The definition columns of a routine, validated (InvalidInputError before any write)."""
    if not isinstance(r, Routine):
        raise InvalidInputError(f"expected a Routine, got {type(r).__name__}")
    trigger_type, trigger_config = _trigger_columns(r.trigger)
    action_type, action_config = _action_columns(r.action)
    g = r.guardrails
    if not isinstance(g, RoutineGuardrails):
        raise InvalidInputError("guardrails must be a RoutineGuardrails")
    n = r.notify
    if not isinstance(n, NotifyConfig):
        raise InvalidInputError("notify must be a NotifyConfig")
    return {
        "name": _text(r.name, "name", nonempty=True),
        "description": _text(r.description, "description"),
        "enabled": _bool(r.enabled, "enabled"),
        "trigger_type": trigger_type,
        "trigger_config": trigger_config,
        "action_type": action_type,
        "action_config": action_config,
        "cooldown_secs": _seconds(g.cooldown, "cooldown"),
        "max_concurrent": _int(g.max_concurrent, "max_concurrent", 1, INT32_MAX),
        "dedup_window_secs": None if g.dedup_window is None else _seconds(g.dedup_window, "dedup_window"),
        "notify_channel": _opt_text(n.channel, "notify channel"),
        "notify_user": normalize_notify_user(_opt_text(n.user, "notify user")),
        "notify_on_success": _bool(n.on_success, "notify on_success"),
        "notify_on_failure": _bool(n.on_failure, "notify on_failure"),
        "notify_on_attention": _bool(n.on_attention, "notify on_attention"),
        "state": _state(r.state),
        "next_fire_at": _opt_ts(r.next_fire_at, "next_fire_at"),
    }


def _status(value: object, *, allow_running: bool = True) -> RunStatus:
    try:
        status = RunStatus(value) if isinstance(value, str) else None
    except ValueError:
        status = None
    if status is None:
        raise InvalidInputError(f"unknown run status {value!r:.40}")
    if not allow_running and status is RunStatus.RUNNING:
        raise InvalidInputError("a run cannot be completed with status RUNNING")
    return status


def _run_values(run: object) -> dict[str, Any]:
    if not isinstance(run, RoutineRun):
        raise InvalidInputError(f"expected a RoutineRun, got {type(run).__name__}")
    tokens = run.tokens_used
    return {
        "id": coerce_uuid(run.id, "run id"),
        "routine_id": coerce_uuid(run.routine_id, "routine_id"),
        "trigger_type": _text(run.trigger_type, "trigger_type"),
        "trigger_detail": _free_text(run.trigger_detail, "trigger_detail"),
        "started_at": to_utc_ms(run.started_at, "started_at"),
        "completed_at": _opt_ts(run.completed_at, "completed_at"),
        "status": _status(run.status).value,
        "result_summary": _free_text(run.result_summary, "result_summary"),
        "tokens_used": None if tokens is None else _int(tokens, "tokens_used", 0, INT32_MAX),
        "job_id": None if run.job_id is None else coerce_uuid(run.job_id, "job_id"),
        "created_at": to_utc_ms(run.created_at, "created_at"),
    }


def _uuids(values: object, what: str) -> list[uuid.UUID]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInputError(f"{what} must be a sequence of UUIDs")
    return list(dict.fromkeys(coerce_uuid(v, what) for v in values))


def _chunks(ids: list[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# --------------------------------------------------------------------------- decoding


def _decode_routine(row: Row[Any]) -> Routine:
    rid = row.id
    try:
        for col in ("trigger_config", "action_config", "state"):
            if getattr(row, col) is _BAD_JSON:
                raise CorruptDataError(f"{col} is not valid JSON")
        trigger: Trigger = trigger_from_db(row.trigger_type, row.trigger_config)
        action: RoutineAction = action_from_db(row.action_type, row.action_config)
        return Routine(
            id=rid,
            name=row.name,
            description=row.description,
            user_id=row.user_id,
            enabled=bool(row.enabled),
            trigger=trigger,
            action=action,
            guardrails=RoutineGuardrails(
                cooldown=timedelta(seconds=row.cooldown_secs),
                max_concurrent=row.max_concurrent,
                dedup_window=None if row.dedup_window_secs is None else timedelta(seconds=row.dedup_window_secs),
            ),
            notify=NotifyConfig(
                channel=row.notify_channel,
                user=normalize_notify_user(row.notify_user),
                on_attention=bool(row.notify_on_attention),
                on_failure=bool(row.notify_on_failure),
                on_success=bool(row.notify_on_success),
            ),
            last_run_at=row.last_run_at,
            next_fire_at=row.next_fire_at,
            run_count=row.run_count,
            consecutive_failures=row.consecutive_failures,
            state=row.state,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    except CorruptDataError as exc:
        raise CorruptDataError(f"routines row {rid}: {exc}") from None


def _decode_run(row: Row[Any]) -> RoutineRun:
    try:
        status = RunStatus(row.status)
    except ValueError:
        raise CorruptDataError(f"routine_runs row {row.id}: unknown run status {row.status!r:.40}") from None
    return RoutineRun(
        id=row.id,
        routine_id=row.routine_id,
        trigger_type=row.trigger_type,
        trigger_detail=row.trigger_detail,
        started_at=row.started_at,
        completed_at=row.completed_at,
        status=status,
        result_summary=row.result_summary,
        tokens_used=row.tokens_used,
        job_id=row.job_id,
        created_at=row.created_at,
    )


def _decode_lenient(rows: Iterable[Row[Any]]) -> list[Routine]:
    out: list[Routine] = []
    for row in rows:
        try:
            out.append(_decode_routine(row))
        except CorruptDataError as exc:
            log.error("skipping routine that cannot be decoded: %s", exc)
    return out


def _is_name_conflict(exc: ConflictError) -> bool:
    text = str(exc)
    return "routines_user_id_name_key" in text or "routines.name" in text


def _raise_specific_conflict(exc: ConflictError, user_id: str, values: dict[str, Any]) -> None:
    """Re-raise a unique violation on routines as the error naming the colliding field."""
    if _is_name_conflict(exc):
        raise DuplicateRoutineNameError(user_id, values["name"]) from None
    if "uq_routines_webhook_path" in str(exc):
        raise DuplicateWebhookPathError(str(values["trigger_config"].get("path"))) from None


_RUNNING = RunStatus.RUNNING.value
_ENABLED = routines.c.enabled != False


class RoutineRepository(StoreBase):
    """Repository mixin of `Database` for the RoutineStore."""

    # ------------------------------------------------------------------ routines

    async def create_routine(self, routine: Routine) -> None:
        """Insert a routine, all fields (including runtime counters) taken from the object.

        Not idempotent. Validates first (InvalidInputError, nothing written): non-empty name and
        user_id, guardrail and action ranges, valid cron timezone, JSON-able state. notify.user is
        normalised and a blank webhook path stored as None. Raises DuplicateRoutineNameError
        (a ConflictError) if the user already has that name, DuplicateWebhookPathError (a
        ConflictError) if an enabled webhook routine already listens on that path, ConflictError
        for a duplicate id.
        """
        values = _definition_values(routine)
        values.update(
            id=coerce_uuid(routine.id, "routine id"),
            user_id=_text(routine.user_id, "user_id", nonempty=True),
            last_run_at=_opt_ts(routine.last_run_at, "last_run_at"),
            run_count=_int(routine.run_count, "run_count", 0, INT64_MAX),
            consecutive_failures=_int(routine.consecutive_failures, "consecutive_failures", 0, INT32_MAX),
            created_at=to_utc_ms(routine.created_at, "created_at"),
            updated_at=to_utc_ms(routine.updated_at, "updated_at"),
        )
        try:
            async with self._write() as conn:
                await conn.execute(routines.insert().values(values))
        except ConflictError as exc:
            _raise_specific_conflict(exc, values["user_id"], values)
            raise

    async def get_routine(self, id: uuid.UUID, *, user_id: str | None = None) -> Routine | None:
        """The routine with this id, or None; with `user_id`, only if that user owns it.

        Read-only. Raises CorruptDataError (naming the id) if the row cannot be decoded.
        """
        stmt = select(*_ROUTINE_COLUMNS).where(routines.c.id == coerce_uuid(id))
        if user_id is not None:
            stmt = stmt.where(routines.c.user_id == check_text(user_id, "user_id"))
        async with self._read() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _decode_routine(row)

    async def get_routine_by_name(self, user_id: str, name: str) -> Routine | None:
        """The user's routine with exactly this name (case-sensitive), or None. Read-only.

        Same on both backends. Raises InvalidInputError for a non-str or NUL-containing
        argument, CorruptDataError (naming the id) if the row cannot be decoded.
        """
        stmt = select(*_ROUTINE_COLUMNS).where(
            routines.c.user_id == check_text(user_id, "user_id"),
            routines.c.name == check_text(name, "name"),
        )
        async with self._read() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _decode_routine(row)

    async def list_routines(self, user_id: str) -> list[Routine]:
        """Every routine of the user (enabled or not) by name in byte order, then id. Read-only.

        Raises CorruptDataError if any row cannot be decoded.
        """
        stmt = (
            select(*_ROUTINE_COLUMNS)
            .where(routines.c.user_id == check_text(user_id, "user_id"))
            .order_by(byte_order(routines.c.name), routines.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_decode_routine(r) for r in rows]

    async def list_all_routines(self) -> list[Routine]:
        """Every routine of every user, by name, user_id (byte order), id. Read-only.

        Same order on both backends. Raises CorruptDataError (naming the id) if any row cannot
        be decoded.
        """
        stmt = select(*_ROUTINE_COLUMNS).order_by(
            byte_order(routines.c.name), byte_order(routines.c.user_id), routines.c.id
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_decode_routine(r) for r in rows]

    async def list_event_routines(self) -> list[Routine]:
        """Enabled `event` and `system_event` routines of all users, by created_at, id.

        Read-only. A routine that cannot be decoded is skipped and logged, not raised.
        """
        stmt = (
            select(*_ROUTINE_COLUMNS)
            .where(_ENABLED, routines.c.trigger_type.in_(["event", "system_event"]))
            .order_by(routines.c.created_at, routines.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return _decode_lenient(rows)

    async def list_due_cron_routines(self, now: datetime | None = None) -> list[Routine]:
        """Enabled cron routines with `next_fire_at <= now` (inclusive), by next_fire_at, id.

        `now` defaults to the injected clock. Read-only. Undecodable rows are skipped and
        logged. Raises InvalidInputError for a naive `now`.
        """
        at = self._now() if now is None else to_utc_ms(now, "now")
        stmt = (
            select(*_ROUTINE_COLUMNS)
            .where(
                _ENABLED,
                routines.c.trigger_type == "cron",
                routines.c.next_fire_at.is_not(None),
                routines.c.next_fire_at <= at,
            )
            .order_by(routines.c.next_fire_at, routines.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return _decode_lenient(rows)

    async def update_routine(
        self, routine: Routine, *, expected_updated_at: datetime | None = None
    ) -> bool:
        """Rewrite the definition columns (incl. state and next_fire_at); updated_at = now.

        Leaves id, user_id, created_at, last_run_at, run_count, consecutive_failures alone.
        Returns False if no routine has that id, or (optimistic concurrency) if
        `expected_updated_at` is given and no longer matches. Same on both backends. Raises
        InvalidInputError like create_routine (nothing written), DuplicateRoutineNameError /
        DuplicateWebhookPathError (ConflictErrors) on a name or enabled-webhook-path collision.
        Idempotent in effect (a repeat only moves updated_at, so a repeat with the same
        `expected_updated_at` returns False).
        """
        values = _definition_values(routine)
        rid = coerce_uuid(routine.id, "routine id")
        expected = _opt_ts(expected_updated_at, "expected_updated_at")
        values["updated_at"] = self._now()
        stmt = update(routines).where(routines.c.id == rid).values(values).returning(routines.c.id)
        if expected is not None:
            stmt = stmt.where(routines.c.updated_at == expected)
        try:
            async with self._write() as conn:
                row = (await conn.execute(stmt)).first()
        except ConflictError as exc:
            # the UPDATE leaves user_id alone: name the owner the row really has
            async with self._read() as conn:
                owner = (await conn.execute(select(routines.c.user_id).where(routines.c.id == rid))).scalar()
            _raise_specific_conflict(exc, str(owner if owner is not None else routine.user_id), values)
            raise
        return row is not None

    async def update_routine_runtime(
        self, id: uuid.UUID, last_run_at: datetime, next_fire_at: datetime | None,
        run_count: int, consecutive_failures: int, state: JSONValue,
    ) -> bool:
        """Write the runtime columns with absolute values; updated_at = now. False if missing.

        `next_fire_at=None` clears it. Prefer `finish_routine_run`, which increments in SQL.
        Raises InvalidInputError for a bad id, negative / out-of-range counters, naive
        datetimes, bad JSON. Same on both backends. Idempotent (absolute values; a repeat only
        moves updated_at).
        """
        values = {
            "last_run_at": to_utc_ms(last_run_at, "last_run_at"),
            "next_fire_at": _opt_ts(next_fire_at, "next_fire_at"),
            "run_count": _int(run_count, "run_count", 0, INT64_MAX),
            "consecutive_failures": _int(consecutive_failures, "consecutive_failures", 0, INT32_MAX),
            "state": _state(state),
        }
        rid = coerce_uuid(id)
        values["updated_at"] = self._now()
        stmt = update(routines).where(routines.c.id == rid).values(values).returning(routines.c.id)
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def delete_routine(self, id: uuid.UUID) -> bool:
        """Delete the routine and all of its runs in one transaction; False if it did not exist.

        Same on both backends. Raises InvalidInputError for a non-UUID id. Idempotent (a repeat
        returns False).
        """
        rid = coerce_uuid(id)
        async with self._write() as conn:
            await conn.execute(delete(routine_runs).where(routine_runs.c.routine_id == rid))
            row = (
                await conn.execute(delete(routines).where(routines.c.id == rid).returning(routines.c.id))
            ).first()
        return row is not None

    # ------------------------------------------------------------------ runs

    async def create_routine_run(self, run: RoutineRun) -> None:
        """Insert a run with every field as given. Not idempotent.

        NUL in trigger_detail / result_summary becomes U+FFFD. Raises InvalidInputError for bad
        fields, IntegrityError for an unknown routine_id or job_id, ConflictError for a dup id.
        """
        values = _run_values(run)
        async with self._write() as conn:
            await conn.execute(routine_runs.insert().values(values))

    async def complete_routine_run(
        self, id: uuid.UUID, status: RunStatus, result_summary: str | None, tokens_used: int | None,
    ) -> bool:
        """Complete a run that is still running (completed_at = now). Idempotent: a second call
        returns False, as does an unknown id. Does not touch the routine (see finish_routine_run).

        Raises InvalidInputError for RUNNING or an unknown status, bad tokens_used.
        """
        values = self._completion(status, result_summary, tokens_used)
        stmt = (
            update(routine_runs)
            .where(routine_runs.c.id == coerce_uuid(id), routine_runs.c.status == _RUNNING)
            .values(values)
            .returning(routine_runs.c.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    def _completion(self, status: object, summary: object, tokens: object) -> dict[str, Any]:
        return {
            "status": _status(status, allow_running=False).value,
            "result_summary": _free_text(summary, "result_summary"),
            "tokens_used": None if tokens is None else _int(tokens, "tokens_used", 0, INT32_MAX),
            "completed_at": self._now(),
        }

    async def list_routine_runs(self, routine_id: uuid.UUID, limit: int) -> list[RoutineRun]:
        """The routine's runs, newest first (started_at, created_at, id DESC), at most `limit`.

        `limit=0` → []. Read-only. Raises InvalidInputError for a negative or non-int limit,
        CorruptDataError (naming the run) for an unknown stored status.
        """
        rid = coerce_uuid(routine_id, "routine_id")
        limit = _int(limit, "limit", 0, INT64_MAX)
        if limit == 0:
            return []
        r = routine_runs.c
        stmt = (
            select(routine_runs)
            .where(r.routine_id == rid)
            .order_by(r.started_at.desc(), r.created_at.desc(), r.id.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_decode_run(row) for row in rows]

    async def count_running_routine_runs(self, routine_id: uuid.UUID) -> int:
        """Number of the routine's runs with status `running` (0 for an unknown id). Read-only.

        Same on both backends. Raises InvalidInputError for a non-UUID id.
        """
        stmt = select(func.count()).where(
            routine_runs.c.routine_id == coerce_uuid(routine_id, "routine_id"),
            routine_runs.c.status == _RUNNING,
        )
        async with self._read() as conn:
            return int((await conn.execute(stmt)).scalar() or 0)

    async def count_running_routine_runs_batch(
        self, routine_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        """`{id: running runs}` with a key for every distinct requested id (0 when none).

        Empty input → {} without a query. One grouped query per 500 ids. Read-only. Same on
        both backends. Raises InvalidInputError for a str / non-iterable or a non-UUID item.
        """
        ids = _uuids(routine_ids, "routine_ids")
        result = dict.fromkeys(ids, 0)
        if not ids:
            return result
        r = routine_runs.c
        async with self._read() as conn:
            for chunk in _chunks(ids):
                stmt = (
                    select(r.routine_id, func.count())
                    .where(r.routine_id.in_(chunk), r.status == _RUNNING)
                    .group_by(r.routine_id)
                )
                for rid, count in (await conn.execute(stmt)).all():
                    result[rid] = int(count)
        return result

    async def batch_get_last_run_status(
        self, routine_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, RunStatus]:
        """Status of each requested routine's newest run (started_at, created_at, id DESC).

        Ids without runs are left out; a newest run with an unknown status is logged and its
        routine left out. Empty input → {} without a query. One query per 500 ids. Read-only.
        Same on both backends. Raises InvalidInputError for a str / non-iterable or a non-UUID
        item (never CorruptDataError).
        """
        ids = _uuids(routine_ids, "routine_ids")
        if not ids:
            return {}
        r = routine_runs.c
        result: dict[uuid.UUID, RunStatus] = {}
        async with self._read() as conn:
            for chunk in _chunks(ids):
                ranked = (
                    select(
                        r.id, r.routine_id, r.status,
                        func.row_number().over(
                            partition_by=r.routine_id,
                            order_by=(r.started_at.desc(), r.created_at.desc(), r.id.desc()),
                        ).label("rn"),
                    )
                    .where(r.routine_id.in_(chunk))
                    .subquery()
                )
                stmt = select(ranked.c.id, ranked.c.routine_id, ranked.c.status).where(ranked.c.rn == 1)
                for run_id, rid, status in (await conn.execute(stmt)).all():
                    try:
                        result[rid] = RunStatus(status)
                    except ValueError:
                        log.warning("routine_runs row %s has unknown status %r; left out", run_id, status)
        return result

    async def link_routine_run_to_job(self, run_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        """Set (overwrite) a run's job_id; False for an unknown run.

        Same on both backends. Raises InvalidInputError for a non-UUID id, IntegrityError if
        the job does not exist in agent_jobs. Idempotent (linking the same job again is a no-op).
        """
        stmt = (
            update(routine_runs)
            .where(routine_runs.c.id == coerce_uuid(run_id, "run_id"))
            .values(job_id=coerce_uuid(job_id, "job_id"))
            .returning(routine_runs.c.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def get_webhook_routine_by_path(self, path: str) -> Routine | None:
        """The enabled webhook routine whose config `path` equals `path` exactly, or — for a
        routine without a path — whose canonical lowercase id equals `path`. None otherwise.

        Paths are not unique: with several matches the oldest (created_at, id) wins and a
        warning is logged. Read-only. Same on both backends. Raises InvalidInputError for a
        non-str or NUL-containing path, CorruptDataError if the chosen row cannot be decoded.
        """
        path = check_text(path, "path")
        cfg_path = json_text(routines.c.trigger_config, "path")
        match = cfg_path == path
        try:
            as_id = uuid.UUID(path)
        except ValueError:
            as_id = None
        if as_id is not None and str(as_id) == path:
            match = or_(match, and_(cfg_path.is_(None), routines.c.id == as_id))
        stmt = (
            select(*_ROUTINE_COLUMNS)
            .where(_ENABLED, routines.c.trigger_type == "webhook", match)
            .order_by(routines.c.created_at, routines.c.id)
            .limit(2)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return None
        if len(rows) > 1:
            log.warning("several webhook routines match path %r; using %s", path, rows[0].id)
        return _decode_routine(rows[0])

    async def list_dispatched_routine_runs(
        self, started_before: datetime | None = None
    ) -> list[RoutineRun]:
        """Running runs that have a job_id (optionally started before a time), by started_at, id.

        Read-only. Same on both backends. Raises InvalidInputError for a naive or non-datetime
        `started_before`, CorruptDataError (naming the run) for an unknown stored status.
        """
        r = routine_runs.c
        stmt = select(routine_runs).where(r.status == _RUNNING, r.job_id.is_not(None))
        if started_before is not None:
            stmt = stmt.where(r.started_at < to_utc_ms(started_before, "started_before"))
        stmt = stmt.order_by(r.started_at, r.id)
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_decode_run(row) for row in rows]

    # ------------------------------------------------------------------ scheduler safety (§8)

    async def claim_cron_fire(
        self, id: uuid.UUID, expected_next_fire_at: datetime, new_next_fire_at: datetime | None
    ) -> bool:
        """Compare-and-set: move next_fire_at from `expected_next_fire_at` (as listed by
        list_due_cron_routines) to `new_next_fire_at` on an enabled cron routine.

        True means this caller won the fire; exactly one of several concurrent claims wins
        (same on both backends). False for an unknown, disabled or non-cron routine or a stale
        expectation. Raises InvalidInputError for a bad id or naive datetimes. Idempotent in
        effect: a repeat changes nothing and returns False (a retry cannot tell it had won).
        """
        rid = coerce_uuid(id)
        expected = to_utc_ms(expected_next_fire_at, "expected_next_fire_at")
        new = _opt_ts(new_next_fire_at, "new_next_fire_at")
        stmt = (
            update(routines)
            .where(
                routines.c.id == rid,
                _ENABLED,
                routines.c.trigger_type == "cron",
                routines.c.next_fire_at == expected,
            )
            .values(next_fire_at=new, updated_at=self._now())
            .returning(routines.c.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def finish_routine_run(
        self, run_id: uuid.UUID, status: RunStatus, result_summary: str | None,
        tokens_used: int | None, *, next_fire_at: datetime | None,
        state: JSONValue | Unchanged = UNCHANGED,
    ) -> bool:
        """Complete a running run and update its routine in one transaction.

        Run: completed_at = now, status, summary, tokens — only if still running, else return
        False and change nothing (so a run is finished at most once). Routine: last_run_at = now,
        next_fire_at as given, run_count + 1 and consecutive_failures + 1 (failed) or 0, in SQL;
        `state` only if given; updated_at = now. Same on both backends. Raises
        InvalidInputError for RUNNING or an unknown status, bad tokens_used, a naive
        next_fire_at or non-JSON state. Idempotent: a repeat returns False and changes nothing.
        """
        values = self._completion(status, result_summary, tokens_used)
        nxt = _opt_ts(next_fire_at, "next_fire_at")
        rid = coerce_uuid(run_id, "run_id")
        now = values["completed_at"]
        routine_values: dict[str, Any] = {
            "last_run_at": now,
            "next_fire_at": nxt,
            "run_count": routines.c.run_count + 1,
            "consecutive_failures": (
                routines.c.consecutive_failures + 1
                if values["status"] == RunStatus.FAILED.value
                else literal(0, routines.c.consecutive_failures.type)
            ),
            "updated_at": now,
        }
        if state is not UNCHANGED:
            routine_values["state"] = _state(state)
        run_stmt = (
            update(routine_runs)
            .where(routine_runs.c.id == rid, routine_runs.c.status == _RUNNING)
            .values(values)
            .returning(routine_runs.c.routine_id)
        )
        async with self._write() as conn:
            row = (await conn.execute(run_stmt)).first()
            if row is None:
                return False
            await conn.execute(
                update(routines).where(routines.c.id == row.routine_id).values(routine_values)
            )
        return True

    async def create_routine_run_if_capacity(self, run: RoutineRun, max_concurrent: int) -> bool:
        """Insert `run` only if its routine has fewer than `max_concurrent` running runs.

        One transaction; the parent routine row is locked (FOR UPDATE on PostgreSQL, the
        serialised writer on libSQL) so concurrent admissions queue up. Raises InvalidInputError
        for bad fields, IntegrityError for an unknown routine or job, ConflictError for a
        duplicate run id. Not idempotent (a retry after success raises ConflictError or, at
        capacity, returns False).
        """
        values = _run_values(run)
        limit = _int(max_concurrent, "max_concurrent", 0, INT32_MAX)
        lock = select(routines.c.id).where(routines.c.id == values["routine_id"]).with_for_update()
        count = select(func.count()).where(
            routine_runs.c.routine_id == values["routine_id"], routine_runs.c.status == _RUNNING
        )
        async with self._write() as conn:
            await conn.execute(lock)
            if int((await conn.execute(count)).scalar() or 0) >= limit:
                return False
            await conn.execute(routine_runs.insert().values(values))
        return True

    async def fail_orphaned_routine_runs(
        self, started_before: datetime, summary: str = _ORPHAN_SUMMARY
    ) -> int:
        """Fail every running run without a job_id started before `started_before`
        (completed_at = now, result_summary = summary). Returns how many. Idempotent.

        Same on both backends (NUL in summary becomes U+FFFD). Raises InvalidInputError for a
        naive or non-datetime `started_before` or a non-str summary.
        """
        before = to_utc_ms(started_before, "started_before")
        text = _free_text(summary, "summary")
        r = routine_runs.c
        stmt = (
            update(routine_runs)
            .where(r.status == _RUNNING, r.job_id.is_(None), r.started_at < before)
            .values(status=RunStatus.FAILED.value, completed_at=self._now(), result_summary=text)
            .returning(r.id)
        )
        async with self._write() as conn:
            return len((await conn.execute(stmt)).all())
