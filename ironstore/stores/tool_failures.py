"""Broken-tool tracking (spec: stores-routines-toolfailures-settings.md §3).

The table is global (no user id). Every write is a single atomic statement, so concurrent
failures never lose an increment. Deliberate deviation from IronClaw: a failure of a repaired
tool starts a new failure episode (count 1, repair state cleared) so it can be detected again.
"""

from __future__ import annotations

import uuid
from typing import Protocol, runtime_checkable

from sqlalchemy import case, func, literal, select, update

from ..errors import CorruptDataError, InvalidInputError
from ..records.tool_failures import BrokenTool
from ..schema import tool_failures
from ..sql import byte_order
from ..types import INT32_MAX, INT32_MIN, check_text
from ._base import StoreBase

__all__ = ["MAX_ERROR_MESSAGE_LENGTH", "ToolFailureRepository", "ToolFailureStore"]

MAX_ERROR_MESSAGE_LENGTH = 4096
"""Longer error messages are cut to their first 4096 characters."""

MAX_TOOL_NAME_LENGTH = 255


@runtime_checkable
class ToolFailureStore(Protocol):
    """Broken-tool tracking (spec: stores-routines-toolfailures-settings.md)."""

    async def record_tool_failure(self, tool_name: str, error_message: str) -> None:
        """Count one failure of a tool (atomic upsert)."""
        ...

    async def get_broken_tools(self, threshold: int) -> list[BrokenTool]:
        """Unrepaired tools with at least `threshold` failures, most failures first."""
        ...

    async def mark_tool_repaired(self, tool_name: str) -> bool:
        """Mark a tool repaired and reset its count; False if unknown."""
        ...

    async def increment_repair_attempts(self, tool_name: str) -> int | None:
        """Add one repair attempt; the new count, or None if unknown."""
        ...


def _tool_name(value: object) -> str:
    name = check_text(value, "tool_name")
    if not name:
        raise InvalidInputError("tool_name must not be empty")
    if len(name) > MAX_TOOL_NAME_LENGTH:
        raise InvalidInputError(f"tool_name longer than {MAX_TOOL_NAME_LENGTH} characters")
    return name


def _free_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, got {type(value).__name__}")
    return value.replace("\x00", "\ufffd")


class ToolFailureRepository(StoreBase):
    """Repository mixin of `Database` for the ToolFailureStore."""

    async def record_tool_failure(self, tool_name: str, error_message: str) -> None:
        """Record one failure: insert with count 1, or add 1 and keep only the latest message.

        A tool marked repaired starts a new episode instead (count 1, first_failure = now,
        repair_attempts 0, repaired_at cleared). One atomic statement; not idempotent.
        NUL in `error_message` becomes U+FFFD and it is cut to 4096 characters.
        Raises InvalidInputError for an empty, over-long (> 255) or non-str tool name.
        """
        name = _tool_name(tool_name)
        message = _free_text(error_message, "error_message")[:MAX_ERROR_MESSAGE_LENGTH]
        now = self._now()
        t = tool_failures.c
        ins = self._insert(tool_failures).values(
            id=uuid.uuid4(), tool_name=name, error_message=message, error_count=1,
            first_failure=now, last_failure=now, last_build_result=None,
            repaired_at=None, repair_attempts=0,
        )
        repaired = t.repaired_at.is_not(None)
        ins = ins.on_conflict_do_update(
            index_elements=[t.tool_name],
            set_={
                "error_message": ins.excluded.error_message,
                "error_count": case(
                    (repaired, literal(1, tool_failures.c.error_count.type)),
                    else_=func.coalesce(t.error_count, 0) + 1,
                ),
                "first_failure": case(
                    (repaired, ins.excluded.first_failure),
                    else_=func.coalesce(t.first_failure, t.last_failure, ins.excluded.first_failure),
                ),
                "last_failure": ins.excluded.last_failure,
                "repair_attempts": case(
                    (repaired, literal(0, tool_failures.c.repair_attempts.type)),
                    else_=func.coalesce(t.repair_attempts, 0),
                ),
                "repaired_at": None,
            },
        )
        async with self._write() as conn:
            await conn.execute(ins)

    async def get_broken_tools(self, threshold: int) -> list[BrokenTool]:
        """Tools with `error_count >= threshold` (inclusive) that are not repaired. Read-only.

        Sorted by error_count DESC, last_failure DESC, tool_name (byte order). NULL counts read
        as 0 and NULL timestamps fall back to the other timestamp. Raises InvalidInputError for a
        non-int threshold, CorruptDataError for an undecodable stored value.
        """
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise InvalidInputError("threshold must be an int")
        if threshold > INT32_MAX:
            return []  # no 32-bit count can reach it
        threshold = max(INT32_MIN, threshold)
        t = tool_failures.c
        count = func.coalesce(t.error_count, 0)
        stmt = (
            select(tool_failures)
            .where(count >= threshold, t.repaired_at.is_(None))
            .order_by(
                count.desc(),
                func.coalesce(t.last_failure, t.first_failure).desc().nulls_last(),
                byte_order(t.tool_name),
            )
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        result: list[BrokenTool] = []
        for r in rows:
            first = r.first_failure or r.last_failure
            last = r.last_failure or r.first_failure
            if first is None or last is None:
                raise CorruptDataError(f"tool_failures row {r.id}: no failure timestamps")
            result.append(
                BrokenTool(
                    name=r.tool_name,
                    failure_count=r.error_count or 0,
                    last_error=r.error_message,
                    first_failure=first,
                    last_failure=last,
                    last_build_result=r.last_build_result,
                    repair_attempts=r.repair_attempts or 0,
                )
            )
        return result

    async def mark_tool_repaired(self, tool_name: str) -> bool:
        """Set repaired_at = now and error_count = 0; False for an unknown tool.

        Calling it again moves repaired_at forward. Raises InvalidInputError for a bad name.
        Same on both backends. Idempotent in effect (a repeat only moves repaired_at).
        """
        name = _tool_name(tool_name)
        stmt = (
            update(tool_failures)
            .where(tool_failures.c.tool_name == name)
            .values(repaired_at=self._now(), error_count=0)
            .returning(tool_failures.c.id)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def increment_repair_attempts(self, tool_name: str) -> int | None:
        """Atomically add 1 to repair_attempts; returns the new value, or None if unknown.

        Not idempotent. Raises InvalidInputError for a bad name.
        """
        name = _tool_name(tool_name)
        t = tool_failures.c
        stmt = (
            update(tool_failures)
            .where(t.tool_name == name)
            .values(repair_attempts=func.coalesce(t.repair_attempts, 0) + 1)
            .returning(t.repair_attempts)
        )
        async with self._write() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else int(row[0])
