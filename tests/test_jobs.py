"""JobStore: direct jobs, actions, LLM calls, estimation snapshots — on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, func, select

import ironstore
from ironstore import (
    ConflictError,
    CorruptDataError,
    Database,
    IntegrityError,
    InvalidInputError,
)
from ironstore.records import jobs as job_records
from ironstore.records import sandbox as sandbox_records
from ironstore.records.jobs import (
    ActionRecord,
    AgentJobSummary,
    JobContext,
    JobState,
    LlmCallRecord,
)
from ironstore.records.sandbox import SandboxJobRecord
from ironstore.schema import agent_jobs, conversations, estimation_snapshots, job_actions, llm_calls

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)


async def count(db: Database, table: Table) -> int:
    async with db._read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def make_conversation(db: Database, user_id: str = "alice") -> uuid.UUID:
    cid = uuid.uuid4()
    async with db._write() as conn:
        await conn.execute(
            conversations.insert().values(
                id=cid, channel="gateway", user_id=user_id, thread_id=None,
                started_at=T0, last_activity=T0, metadata={},
            )
        )
    return cid


def ctx(**kw: Any) -> JobContext:
    base: dict[str, Any] = {
        "job_id": uuid.uuid4(), "user_id": "alice", "title": "Build", "description": "desc", "created_at": T0
    }
    base.update(kw)
    return JobContext(**base)


def action(seq: int, **kw: Any) -> ActionRecord:
    base: dict[str, Any] = {
        "id": uuid.uuid4(), "sequence": seq, "tool_name": "shell", "input": {"cmd": "ls"}, "executed_at": T0
    }
    base.update(kw)
    return ActionRecord(**base)


async def test_protocol_and_exports(db: Database) -> None:
    assert isinstance(db, ironstore.JobStore)
    for name in [*job_records.__all__, *sandbox_records.__all__]:
        assert getattr(ironstore, name) is getattr(
            job_records if name in job_records.__all__ else sandbox_records, name
        )
    assert [s.value for s in JobState] == [
        "pending", "in_progress", "completed", "submitted", "accepted", "failed", "stuck",
        "cancelled",
    ]


async def test_save_and_get_job_roundtrip(db: Database) -> None:
    conv = await make_conversation(db)
    c = ctx(
        state=JobState.IN_PROGRESS, conversation_id=conv, category="code",
        budget=Decimal("12.50"), budget_token="USDC", bid_amount=Decimal(10),
        estimated_cost=Decimal("3.3333"), estimated_duration=timedelta(seconds=90, milliseconds=999),
        actual_cost=Decimal("1.25"), total_tokens_used=2**40, max_tokens=2**62,
        started_at=T0 + timedelta(seconds=1, microseconds=123456), repair_attempts=2,
        metadata={"x": 1}, requester_id="bob", user_timezone="Europe/Paris",
    )
    await db.save_job(c)
    got = await db.get_job(c.job_id)
    assert got is not None
    assert got.state is JobState.IN_PROGRESS
    assert got.conversation_id == conv and got.category == "code"
    assert got.budget == Decimal("12.50") and got.budget_token == "USDC"
    assert got.bid_amount == Decimal(10) and got.estimated_cost == Decimal("3.3333")
    assert got.estimated_duration == timedelta(seconds=90)  # truncated to whole seconds
    assert got.actual_cost == Decimal("1.25")
    assert (got.total_tokens_used, got.max_tokens, got.repair_attempts) == (2**40, 2**62, 2)
    assert got.created_at == T0
    assert got.started_at == T0 + timedelta(seconds=1, microseconds=123000)
    assert got.completed_at is None
    # not persisted: defaults
    assert got.metadata is None and got.requester_id is None and got.user_timezone == "UTC"


async def test_get_job_unknown_and_sandbox_is_none(db: Database) -> None:
    assert await db.get_job(uuid.uuid4()) is None
    sid = uuid.uuid4()
    await db.save_sandbox_job(
        SandboxJobRecord(sid, "task", "creating", "alice", "/p", T0)
    )
    assert await db.get_job(sid) is None


async def test_save_job_resave_rules(db: Database) -> None:
    conv = await make_conversation(db)
    c = ctx(conversation_id=conv, budget=Decimal(5), budget_token="T", bid_amount=Decimal(4),
            category="a", estimated_cost=Decimal(1))
    await db.save_job(c)
    await db.save_job(c)  # idempotent
    assert await count(db, agent_jobs) == 1
    await db.update_job_status(c.job_id, JobState.IN_PROGRESS, "some reason")
    await db.mark_job_stuck(c.job_id)
    c2 = ctx(
        job_id=c.job_id, user_id="bob", title="T2", description="D2", category=None,
        state=JobState.IN_PROGRESS, conversation_id=None, budget=None, budget_token=None,
        bid_amount=None, estimated_cost=None, created_at=T0 + timedelta(days=1),
    )
    assert await db.save_job(c2) is True  # stuck -> in_progress: allowed
    got = await db.get_job(c.job_id)
    assert got is not None
    assert (got.user_id, got.title, got.description, got.category) == ("bob", "T2", "D2", None)
    assert got.estimated_cost is None and got.state is JobState.IN_PROGRESS
    # insert-only columns kept
    assert got.conversation_id == conv and got.budget == Decimal(5)
    assert got.budget_token == "T" and got.bid_amount == Decimal(4) and got.created_at == T0
    assert await db.get_agent_job_failure_reason(c.job_id) == "some reason"
    async with db._read() as conn:
        row = (await conn.execute(select(agent_jobs).where(agent_jobs.c.id == c.job_id))).one()
    assert row.stuck_since is not None and row.job_mode == "worker" and row.source == "direct"


async def test_save_job_cannot_clobber_sandbox_job(db: Database) -> None:
    sid = uuid.uuid4()
    await db.save_sandbox_job(SandboxJobRecord(sid, "task", "creating", "u", "/p", T0))
    with pytest.raises(ConflictError):
        await db.save_job(ctx(job_id=sid, title="evil"))
    job = await db.get_sandbox_job(sid)
    assert job is not None and job.task == "task"


async def test_save_job_unknown_conversation_is_integrity_error(db: Database) -> None:
    with pytest.raises(IntegrityError):
        await db.save_job(ctx(conversation_id=uuid.uuid4()))
    assert await count(db, agent_jobs) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"title": "a\x00b"},
        {"user_id": 5},
        {"created_at": datetime(2026, 1, 1)},
        {"started_at": datetime(2026, 1, 1)},
        {"estimated_duration": timedelta(seconds=-1)},
        {"estimated_duration": timedelta(seconds=2**31)},
        {"repair_attempts": -1},
        {"repair_attempts": 2**31},
        {"max_tokens": 2**63},
        {"total_tokens_used": -5},
        {"state": "bogus"},
        {"actual_cost": "1.0"},
        {"budget": Decimal("NaN")},
        {"job_id": "not-a-uuid"},
    ],
)
async def test_save_job_bad_input(db: Database, bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        await db.save_job(ctx(**bad))
    assert await count(db, agent_jobs) == 0


async def test_save_job_rejects_non_context(db: Database) -> None:
    with pytest.raises(InvalidInputError):
        await db.save_job({"job_id": uuid.uuid4()})  # type: ignore[arg-type]


async def test_get_job_corrupt_status_raises(db: Database) -> None:
    c = ctx()
    await db.save_job(c)
    async with db._write() as conn:
        await conn.execute(agent_jobs.update().values(status="weird"))
    with pytest.raises(CorruptDataError):
        await db.get_job(c.job_id)
    (rec,) = await db.list_agent_jobs()
    assert rec.status == "weird"  # listings return the raw string


async def test_update_job_status_timestamps_and_guards(db: Database, ironstore_connect: Any) -> None:
    clock = Clock()
    d = await ironstore_connect(clock=clock)
    c = ctx()
    await d.save_job(c)
    assert await d.update_job_status(c.job_id, JobState.IN_PROGRESS) is True
    clock.advance()
    assert await d.update_job_status(c.job_id, JobState.IN_PROGRESS) is True  # started_at kept
    got = await d.get_job(c.job_id)
    assert got is not None and got.started_at == T0 and got.completed_at is None
    assert await d.update_job_status(c.job_id, JobState.STUCK, "hung") is True
    assert await d.get_agent_job_failure_reason(c.job_id) == "hung"
    assert await d.update_job_status(c.job_id, JobState.IN_PROGRESS) is True  # None clears
    assert await d.get_agent_job_failure_reason(c.job_id) is None
    async with d._read() as conn:
        stuck = (await conn.execute(select(agent_jobs.c.stuck_since))).scalar_one()
    assert stuck is None  # cleared when leaving stuck
    clock.advance()
    assert await d.update_job_status(c.job_id, JobState.FAILED, "boom") is True
    got = await d.get_job(c.job_id)
    assert got is not None and got.state is JobState.FAILED
    assert got.completed_at == T0 + timedelta(seconds=2)
    # terminal: cannot be resurrected by a late write
    assert await d.update_job_status(c.job_id, JobState.IN_PROGRESS) is False
    got = await d.get_job(c.job_id)
    assert got is not None and got.state is JobState.FAILED
    assert await d.get_agent_job_failure_reason(c.job_id) == "boom"
    # same terminal status may be re-written (e.g. another reason)
    assert await d.update_job_status(c.job_id, JobState.FAILED, "boom2") is True
    assert await d.get_agent_job_failure_reason(c.job_id) == "boom2"


async def test_update_job_status_unknown_and_bad_input(db: Database) -> None:
    assert await db.update_job_status(uuid.uuid4(), JobState.COMPLETED) is False
    c = ctx()
    await db.save_job(c)
    for args in [("nope", None), (JobState.FAILED, "x\x00"), (JobState.FAILED, 3)]:
        with pytest.raises(InvalidInputError):
            await db.update_job_status(c.job_id, *args)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.update_job_status("zzz", JobState.FAILED)  # type: ignore[arg-type]
    got = await db.get_job(c.job_id)
    assert got is not None and got.state is JobState.PENDING
    # accepts the stored string form too
    assert await db.update_job_status(c.job_id, "in_progress") is True  # type: ignore[arg-type]


async def test_update_job_status_ignores_sandbox_jobs(db: Database) -> None:
    sid = uuid.uuid4()
    await db.save_sandbox_job(SandboxJobRecord(sid, "t", "running", "u", "/p", T0))
    assert await db.update_job_status(sid, JobState.CANCELLED) is False
    assert await db.mark_job_stuck(sid) is False
    job = await db.get_sandbox_job(sid)
    assert job is not None and job.status == "running"


async def test_mark_job_stuck_keeps_first_time(db: Database, ironstore_connect: Any) -> None:
    clock = Clock()
    d = await ironstore_connect(clock=clock)
    a, b, done = ctx(), ctx(), ctx(state=JobState.CANCELLED)
    for c in (a, b, done):
        await d.save_job(c)
    assert await d.get_stuck_jobs() == []
    clock.advance(10)
    assert await d.mark_job_stuck(b.job_id) is True
    clock.advance(10)
    assert await d.mark_job_stuck(a.job_id) is True
    clock.advance(10)
    assert await d.mark_job_stuck(b.job_id) is True  # keeps its first stuck time
    assert await d.mark_job_stuck(done.job_id) is False  # terminal
    assert await d.mark_job_stuck(uuid.uuid4()) is False
    assert await d.get_stuck_jobs() == [b.job_id, a.job_id]
    async with d._read() as conn:
        since = (
            await conn.execute(select(agent_jobs.c.stuck_since).where(agent_jobs.c.id == b.job_id))
        ).scalar_one()
    assert since == T0 + timedelta(seconds=10)
    got = await d.get_job(done.job_id)
    assert got is not None and got.state is JobState.CANCELLED


async def test_get_stuck_jobs_tie_break_by_id(db: Database, ironstore_connect: Any) -> None:
    d = await ironstore_connect(clock=Clock())
    ids = [uuid.uuid4() for _ in range(5)]
    for i in ids:
        await d.save_job(ctx(job_id=i))
        await d.mark_job_stuck(i)
    assert await d.get_stuck_jobs() == sorted(ids, key=str)
    assert sorted(ids, key=str) == sorted(ids)


async def test_list_agent_jobs_order_scope_and_paging(db: Database) -> None:
    assert await db.list_agent_jobs() == []
    assert await db.list_agent_jobs_for_user("alice") == []
    same = [uuid.uuid4() for _ in range(3)]
    for i in same:
        await db.save_job(ctx(job_id=i, created_at=T0))
    newer = ctx(user_id="bob", created_at=T0 + timedelta(milliseconds=1), title="new")
    older = ctx(created_at=T0 - timedelta(days=1))
    await db.save_job(newer)
    await db.save_job(older)
    await db.save_sandbox_job(SandboxJobRecord(uuid.uuid4(), "t", "creating", "alice", "", T0))
    expected = [newer.job_id, *sorted(same, reverse=True), older.job_id]
    all_jobs = await db.list_agent_jobs()
    assert [j.id for j in all_jobs] == expected
    assert all_jobs[0].title == "new" and all_jobs[0].status == "pending"
    assert all_jobs[0].user_id == "bob" and all_jobs[0].failure_reason is None
    alice = await db.list_agent_jobs_for_user("alice")
    assert [j.id for j in alice] == expected[1:]
    assert await db.list_agent_jobs_for_user("nobody") == []
    assert [j.id for j in await db.list_agent_jobs(limit=2, offset=1)] == expected[1:3]
    assert [j.id for j in await db.list_agent_jobs_for_user("alice", limit=10, offset=3)] == [
        older.job_id
    ]
    bad_paging: list[dict[str, Any]] = [{"limit": 0}, {"limit": -1}, {"offset": -1}, {"limit": True}]
    for kw in bad_paging:
        with pytest.raises(InvalidInputError):
            await db.list_agent_jobs(**kw)
    with pytest.raises(InvalidInputError):
        await db.list_agent_jobs_for_user("a\x00")


async def test_agent_job_summaries(db: Database) -> None:
    assert await db.agent_job_summary() == AgentJobSummary()
    states = [
        JobState.PENDING, JobState.PENDING, JobState.IN_PROGRESS, JobState.COMPLETED,
        JobState.SUBMITTED, JobState.ACCEPTED, JobState.FAILED, JobState.CANCELLED, JobState.STUCK,
    ]
    for s in states:
        await db.save_job(ctx(state=s))
    await db.save_job(ctx(user_id="bob", state=JobState.FAILED))
    odd = ctx(user_id="bob")
    await db.save_job(odd)
    async with db._write() as conn:
        await conn.execute(agent_jobs.update().where(agent_jobs.c.id == odd.job_id).values(status="odd"))
    await db.save_sandbox_job(SandboxJobRecord(uuid.uuid4(), "t", "running", "alice", "", T0))
    assert await db.agent_job_summary() == AgentJobSummary(
        total=11, pending=2, in_progress=1, completed=3, failed=3, stuck=1
    )
    assert await db.agent_job_summary_for_user("alice") == AgentJobSummary(
        total=9, pending=2, in_progress=1, completed=3, failed=2, stuck=1
    )
    assert await db.agent_job_summary_for_user("bob") == AgentJobSummary(total=2, failed=1)
    assert await db.agent_job_summary_for_user("nobody") == AgentJobSummary()


async def test_failure_reason(db: Database) -> None:
    assert await db.get_agent_job_failure_reason(uuid.uuid4()) is None
    c = ctx()
    await db.save_job(c)
    assert await db.get_agent_job_failure_reason(c.job_id) is None
    await db.update_job_status(c.job_id, JobState.FAILED, "Stopped by scheduler")
    assert await db.get_agent_job_failure_reason(c.job_id) == "Stopped by scheduler"


async def test_actions_roundtrip_order_and_idempotency(db: Database) -> None:
    c = ctx()
    await db.save_job(c)
    assert await db.get_job_actions(c.job_id) == []
    a2 = action(
        2, output_raw='{\n  "ok": true\n}', output_sanitized="ok", sanitization_warnings=["w1", "w2"],
        cost=Decimal("0.000001"), duration=timedelta(seconds=1, microseconds=2500), success=True,
        error=None, input=None,
    )
    a1 = action(1, success=False, error="failed", input=[1, "two", {"3": None}])
    a0 = action(0, executed_at=T0 + timedelta(microseconds=999))
    for a in (a2, a1, a0):
        await db.save_action(c.job_id, a)
    await db.save_action(c.job_id, a2)  # exact retry: no-op
    got = await db.get_job_actions(c.job_id)
    assert [a.sequence for a in got] == [0, 1, 2]
    assert got[2] == ActionRecord(
        id=a2.id, sequence=2, tool_name="shell", input=None, output_raw='{\n  "ok": true\n}',
        output_sanitized="ok", sanitization_warnings=["w1", "w2"], cost=Decimal("0.000001"),
        duration=timedelta(milliseconds=1002), success=True, error=None, executed_at=T0,
    )
    assert got[1].input == [1, "two", {"3": None}] and got[1].error == "failed"
    assert got[1].output_sanitized is None and got[1].sanitization_warnings == []
    assert got[0].executed_at == T0
    assert await count(db, job_actions) == 3
    # a different action on a taken sequence, or a reused id elsewhere: conflict
    with pytest.raises(ConflictError):
        await db.save_action(c.job_id, action(1))
    other = ctx()
    await db.save_job(other)
    with pytest.raises(ConflictError):
        await db.save_action(other.job_id, a1)
    assert await count(db, job_actions) == 3


async def test_actions_legacy_null_fields(db: Database) -> None:
    c = ctx()
    await db.save_job(c)
    a = action(0)
    await db.save_action(c.job_id, a)
    async with db._write() as conn:
        await conn.execute(job_actions.update().values(duration_ms=None, sanitization_warnings=None))
    (got,) = await db.get_job_actions(c.job_id)
    assert got.duration == timedelta(0) and got.sanitization_warnings == []


@pytest.mark.parametrize(
    "bad",
    [
        {"sequence": -1},
        {"sequence": 2**31},
        {"duration": timedelta(milliseconds=-1)},
        {"duration": timedelta(days=25)},
        {"executed_at": datetime(2026, 1, 1)},
        {"tool_name": "a\x00"},
        {"input": {"k": "v\x00"}},
        {"input": {1, 2}},
        {"sanitization_warnings": "w"},
        {"sanitization_warnings": ["ok", 3]},
        {"success": 1},
        {"cost": float("inf")},
    ],
)
async def test_save_action_bad_input(db: Database, bad: dict[str, Any]) -> None:
    c = ctx()
    await db.save_job(c)
    with pytest.raises(InvalidInputError):
        await db.save_action(c.job_id, action(0, **bad))
    assert await count(db, job_actions) == 0


async def test_save_action_unknown_job(db: Database) -> None:
    with pytest.raises(IntegrityError):
        await db.save_action(uuid.uuid4(), action(0))
    assert await count(db, job_actions) == 0


async def test_concurrent_actions(db: Database) -> None:
    c = ctx()
    await db.save_job(c)
    await asyncio.gather(*(db.save_action(c.job_id, action(i)) for i in range(20)))
    assert [a.sequence for a in await db.get_job_actions(c.job_id)] == list(range(20))


async def test_record_llm_call(db: Database, ironstore_connect: Any) -> None:
    d = await ironstore_connect(clock=Clock())
    conv = await make_conversation(d)
    c = ctx()
    await d.save_job(c)
    rec = LlmCallRecord("openai", "gpt", 10, 20, Decimal("0.0123"), c.job_id, conv, "chat")
    new_id = await d.record_llm_call(rec)
    assert isinstance(new_id, uuid.UUID)
    assert await d.record_llm_call(LlmCallRecord("p", "m", 0, 0, Decimal(0))) != new_id
    fixed = uuid.uuid4()
    assert await d.record_llm_call(rec, id=fixed) == fixed
    assert await d.record_llm_call(rec, id=fixed) == fixed  # retry: no duplicate
    assert await count(d, llm_calls) == 3
    async with d._read() as conn:
        row = (await conn.execute(select(llm_calls).where(llm_calls.c.id == new_id))).one()
    assert (row.job_id, row.conversation_id, row.provider, row.model) == (c.job_id, conv, "openai", "gpt")
    assert (row.input_tokens, row.output_tokens, row.cost, row.purpose) == (10, 20, Decimal("0.0123"), "chat")
    assert row.created_at == T0


async def test_record_llm_call_bad_input_and_fk(db: Database) -> None:
    bads = [
        LlmCallRecord("p", "m", -1, 0, Decimal(1)),
        LlmCallRecord("p", "m", 0, 2**31, Decimal(1)),
        LlmCallRecord("p\x00", "m", 0, 0, Decimal(1)),
        LlmCallRecord("p", "m", 0, 0, None),  # type: ignore[arg-type]
    ]
    for b in bads:
        with pytest.raises(InvalidInputError):
            await db.record_llm_call(b)
    with pytest.raises(IntegrityError):
        await db.record_llm_call(LlmCallRecord("p", "m", 0, 0, Decimal(1), job_id=uuid.uuid4()))
    with pytest.raises(IntegrityError):
        await db.record_llm_call(
            LlmCallRecord("p", "m", 0, 0, Decimal(1), conversation_id=uuid.uuid4())
        )
    assert await count(db, llm_calls) == 0


async def test_estimation_snapshots(db: Database, ironstore_connect: Any) -> None:
    d = await ironstore_connect(clock=Clock())
    c = ctx()
    await d.save_job(c)
    sid = await d.save_estimation_snapshot(
        c.job_id, "code", ["b", "a", "b"], Decimal("1.5"), 60, Decimal("2E+1")
    )
    e = estimation_snapshots.c
    async with d._read() as conn:
        row = (await conn.execute(select(estimation_snapshots).where(e.id == sid))).one()
    assert row.tool_names == ["b", "a", "b"] and row.estimated_value == Decimal(20)
    assert row.actual_cost is None and row.actual_value is None and row.created_at == T0
    assert await d.update_estimation_actuals(sid, Decimal("1.7"), 61, None) is True
    async with d._read() as conn:
        row = (await conn.execute(select(estimation_snapshots).where(e.id == sid))).one()
        raw = (
            await conn.execute(
                select(func.count()).select_from(estimation_snapshots).where(e.actual_value.is_(None))
            )
        ).scalar_one()
    assert (row.actual_cost, row.actual_time_secs, row.actual_value) == (Decimal("1.7"), 61, None)
    assert raw == 1  # NULL on both backends, never ''
    assert await d.update_estimation_actuals(sid, Decimal("1.7"), 61, Decimal(3)) is True
    assert await d.update_estimation_actuals(uuid.uuid4(), Decimal(1), 1, None) is False


async def test_estimation_bad_input_and_fk(db: Database) -> None:
    c = ctx()
    await db.save_job(c)
    bad_calls: list[tuple[Any, ...]] = [
        (c.job_id, "c", "ab", Decimal(1), 1, Decimal(1)),
        (c.job_id, "c", ["a\x00"], Decimal(1), 1, Decimal(1)),
        (c.job_id, "c", [], Decimal(1), -1, Decimal(1)),
        (c.job_id, "c", [], Decimal(1), 2**31, Decimal(1)),
        (c.job_id, "c", [], Decimal("1e40"), 1, Decimal(1)),
        ("nope", "c", [], Decimal(1), 1, Decimal(1)),
    ]
    for args in bad_calls:
        with pytest.raises(InvalidInputError):
            await db.save_estimation_snapshot(*args)
    with pytest.raises(IntegrityError):
        await db.save_estimation_snapshot(uuid.uuid4(), "c", [], Decimal(1), 1, Decimal(1))
    assert await count(db, estimation_snapshots) == 0
    sid = await db.save_estimation_snapshot(c.job_id, "c", [], Decimal(1), 1, Decimal(1))
    with pytest.raises(InvalidInputError):
        await db.update_estimation_actuals(sid, Decimal(1), -1, None)
    async with db._read() as conn:
        cost = (await conn.execute(select(estimation_snapshots.c.actual_cost))).scalar_one()
    assert cost is None


async def test_legacy_empty_decimal_reads_as_none(db: Database, ironstore_backend: str) -> None:
    c = ctx()
    await db.save_job(c)
    sid = await db.save_estimation_snapshot(c.job_id, "c", [], Decimal(1), 1, Decimal(1))
    if ironstore_backend == "libsql":  # IronClaw's libSQL wrote '' for an absent actual_value
        from sqlalchemy import text

        async with db._write() as conn:
            await conn.execute(text("UPDATE estimation_snapshots SET actual_value = ''"))
    async with db._read() as conn:
        value = (await conn.execute(select(estimation_snapshots.c.actual_value))).scalar_one()
    assert value is None
    assert sid


# --------------------------------------------------------------------------- reordered writes


async def test_stale_resave_is_ignored(db: Database) -> None:
    c = ctx(title="v1")
    assert await db.save_job(c) is True
    assert await db.update_job_status(c.job_id, JobState.IN_PROGRESS) is True
    # a late re-save of the creation-time context (pending) must not undo progress
    assert await db.save_job(ctx(job_id=c.job_id, title="stale")) is False
    got = await db.get_job(c.job_id)
    assert got is not None and got.state is JobState.IN_PROGRESS and got.title == "v1"
    assert await db.save_job(ctx(job_id=c.job_id, title="v2", state=JobState.IN_PROGRESS)) is True
    assert await db.update_job_status(c.job_id, JobState.CANCELLED, "Cancelled by user") is True
    assert await db.save_job(ctx(job_id=c.job_id, title="v3", state=JobState.IN_PROGRESS)) is False
    got = await db.get_job(c.job_id)
    assert got is not None and got.state is JobState.CANCELLED and got.title == "v2"
    assert await count(db, agent_jobs) == 1


_S = JobState


@pytest.mark.parametrize(
    "stored,new,allowed",
    [
        (_S.PENDING, _S.IN_PROGRESS, True),
        (_S.PENDING, _S.CANCELLED, True),
        (_S.PENDING, _S.COMPLETED, True),  # skipping ahead is not a regression
        (_S.IN_PROGRESS, _S.PENDING, False),
        (_S.IN_PROGRESS, _S.STUCK, True),
        (_S.STUCK, _S.IN_PROGRESS, True),  # a stuck job may resume
        (_S.STUCK, _S.PENDING, False),
        (_S.COMPLETED, _S.IN_PROGRESS, False),
        (_S.COMPLETED, _S.STUCK, False),
        (_S.COMPLETED, _S.SUBMITTED, True),
        (_S.COMPLETED, _S.FAILED, True),
        (_S.COMPLETED, _S.COMPLETED, True),
        (_S.SUBMITTED, _S.COMPLETED, False),
        (_S.SUBMITTED, _S.ACCEPTED, True),
        (_S.ACCEPTED, _S.FAILED, False),
        (_S.FAILED, _S.CANCELLED, False),
        (_S.CANCELLED, _S.PENDING, False),
        (_S.CANCELLED, _S.CANCELLED, True),
    ],
)
async def test_update_job_status_never_moves_back(
    db: Database, stored: JobState, new: JobState, allowed: bool
) -> None:
    c = ctx(state=stored)
    await db.save_job(c)
    assert await db.update_job_status(c.job_id, new, "why") is allowed
    got = await db.get_job(c.job_id)
    assert got is not None and got.state is (new if allowed else stored)
    assert await db.get_agent_job_failure_reason(c.job_id) == ("why" if allowed else None)


async def test_update_job_status_from_unknown_stored_status(db: Database) -> None:
    c = ctx()
    await db.save_job(c)
    async with db._write() as conn:
        await conn.execute(agent_jobs.update().values(status="legacy"))
    assert await db.update_job_status(c.job_id, JobState.FAILED) is True  # can be repaired
    got = await db.get_job(c.job_id)
    assert got is not None and got.state is JobState.FAILED


async def test_mark_stuck_refuses_later_stages(db: Database) -> None:
    for state in (JobState.COMPLETED, JobState.SUBMITTED, JobState.ACCEPTED):
        c = ctx(state=state)
        await db.save_job(c)
        assert await db.mark_job_stuck(c.job_id) is False
    assert await db.get_stuck_jobs() == []


async def test_concurrent_save_job_makes_one_row(db: Database) -> None:
    c = ctx()
    results = await asyncio.gather(*(db.save_job(c) for _ in range(20)))
    assert results == [True] * 20
    assert await count(db, agent_jobs) == 1
    got = await db.get_job(c.job_id)
    assert got is not None and got.title == c.title


# --------------------------------------------------------------------------- stored values


async def test_legacy_libsql_timestamps_readable(db: Database) -> None:
    if db.backend == "postgres":
        pytest.skip("legacy naive text timestamps only exist in libSQL databases")
    from sqlalchemy import text

    c = ctx()
    await db.save_job(c)
    await db.mark_job_stuck(c.job_id)
    await db.save_action(c.job_id, action(0))
    async with db._write() as conn:  # older IronClaw releases defaulted to datetime('now')
        await conn.execute(text(
            "UPDATE agent_jobs SET created_at = '2024-01-02 03:04:05', "
            "started_at = '2024-01-02 03:04:06.789', stuck_since = '2024-01-02T05:04:07+02:00'"
        ))
        await conn.execute(text("UPDATE job_actions SET created_at = '2024-01-02 03:04:08'"))
    got = await db.get_job(c.job_id)
    assert got is not None
    assert got.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert got.started_at == datetime(2024, 1, 2, 3, 4, 6, 789000, tzinfo=UTC)
    (rec,) = await db.list_agent_jobs()
    assert rec.created_at == got.created_at
    (act,) = await db.get_job_actions(c.job_id)
    assert act.executed_at == datetime(2024, 1, 2, 3, 4, 8, tzinfo=UTC)
    assert await db.get_stuck_jobs() == [c.job_id]


@pytest.mark.parametrize(
    "table,column,value,read",
    [
        ("agent_jobs", "id", "not-a-uuid", "list"),
        ("agent_jobs", "id", "not-a-uuid", "stuck"),
        ("agent_jobs", "created_at", "yesterday", "list"),
        ("agent_jobs", "created_at", "", "get"),
        ("agent_jobs", "actual_cost", "1,5", "get"),
        ("agent_jobs", "repair_attempts", "two", "get"),
        ("agent_jobs", "started_at", "3pm", "get"),
        ("job_actions", "input", "{not json", "actions"),
        ("job_actions", "sequence_num", "first", "actions"),
        ("job_actions", "success", "yes", "actions"),
        ("job_actions", "cost", "free", "actions"),
        ("job_actions", "sanitization_warnings", '{"a": 1}', "actions"),
        ("job_actions", "sanitization_warnings", "[1, 2]", "actions"),
    ],
)
async def test_corrupt_stored_values_raise(
    db: Database, table: str, column: str, value: str, read: str
) -> None:
    from sqlalchemy import text

    c = ctx()
    await db.save_job(c)
    await db.mark_job_stuck(c.job_id)
    if table == "job_actions":  # (a child row would make rewriting the job's id an FK error)
        await db.save_action(c.job_id, action(0))
    typed = db.backend == "postgres" and not column.startswith("sanitization")
    if typed:  # PostgreSQL's typed columns refuse these values outright
        with pytest.raises(ironstore.DatabaseError):
            async with db._write() as conn:
                await conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": value})
        return
    async with db._write() as conn:
        await conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": value})
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "list": lambda: db.list_agent_jobs(),
        "stuck": lambda: db.get_stuck_jobs(),
        "get": lambda: db.get_job(c.job_id),
        "actions": lambda: db.get_job_actions(c.job_id),
    }
    with pytest.raises(CorruptDataError):
        await reads[read]()


async def test_decimals_stored_in_plain_notation(db: Database) -> None:
    from sqlalchemy import text

    c = ctx(actual_cost=Decimal("1E+3"), budget=Decimal("0.0000001"))
    await db.save_job(c)
    async with db._read() as conn:
        row = (await conn.execute(text("SELECT actual_cost, budget_amount FROM agent_jobs"))).one()
    # libSQL TEXT holds exactly what was written (never exponent notation); PG numeric is exact
    assert [format(v, "f") if isinstance(v, Decimal) else v for v in row] == ["1000", "0.0000001"]
    if db.backend == "libsql":
        assert all(isinstance(v, str) for v in row)
    got = await db.get_job(c.job_id)
    assert got is not None and got.actual_cost == Decimal(1000) and got.budget == Decimal("1E-7")


async def test_large_text_round_trips(db: Database) -> None:
    big = "x" * 2_000_000
    c = ctx(description=big)
    await db.save_job(c)
    got = await db.get_job(c.job_id)
    assert got is not None and got.description == big


# --------------------------------------------------------------------------- retention, FK hygiene


async def test_prune_llm_calls(db: Database, ironstore_connect: Any) -> None:
    clock = Clock()
    d = await ironstore_connect(clock=clock)
    old = await d.record_llm_call(LlmCallRecord("p", "m", 1, 1, Decimal(1)))
    clock.advance(3600)
    new = await d.record_llm_call(LlmCallRecord("p", "m", 1, 1, Decimal(1)))
    assert await d.prune_llm_calls(T0) == 0  # strictly older only
    assert await d.prune_llm_calls(T0 + timedelta(seconds=1)) == 1
    assert await d.prune_llm_calls(T0 + timedelta(seconds=1)) == 0  # idempotent
    async with d._read() as conn:
        left = [r.id for r in await conn.execute(select(llm_calls.c.id))]
    assert left == [new] and old not in left
    with pytest.raises(InvalidInputError):
        await d.prune_llm_calls(datetime(2026, 1, 1))
    assert await count(d, llm_calls) == 1


async def test_deleting_parents_follows_the_fk_actions(db: Database) -> None:
    """Migration 0007 (X8): deleting a conversation detaches its jobs and LLM calls; deleting
    a job removes its actions, events, LLM calls and snapshots — identically on both backends."""
    conv = await make_conversation(db)
    c = ctx(conversation_id=conv)
    await db.save_job(c)
    await db.save_action(c.job_id, action(0))
    await db.save_job_event(c.job_id, "status", {"message": "hi"})
    await db.save_estimation_snapshot(c.job_id, "c", [], Decimal(1), 1, Decimal(1))
    await db.record_llm_call(LlmCallRecord("p", "m", 1, 1, Decimal(1), c.job_id))
    chat_call = await db.record_llm_call(LlmCallRecord("p", "m", 1, 1, Decimal(1), None, conv))
    async with db._write() as conn:
        await conn.execute(conversations.delete())
    got = await db.get_job(c.job_id)
    assert got is not None and got.conversation_id is None
    async with db._read() as conn:
        detached = (
            await conn.execute(select(llm_calls.c.conversation_id).where(llm_calls.c.id == chat_call))
        ).scalar_one()
    assert detached is None
    async with db._write() as conn:
        await conn.execute(agent_jobs.delete())
    from ironstore.schema import job_events

    for table in (job_actions, job_events, estimation_snapshots):
        assert await count(db, table) == 0
    assert await count(db, llm_calls) == 1  # the conversation-only call has no job


def test_public_coroutines_are_documented() -> None:
    """Every public coroutine of the three stores says what it raises and whether it is
    idempotent (or read-only); the API reference is generated from these docstrings."""
    import inspect

    from ironstore.stores.conversations import ConversationRepository
    from ironstore.stores.jobs import JobRepository
    from ironstore.stores.sandbox import SandboxRepository

    missing = []
    count_methods = 0
    for cls in (ConversationRepository, JobRepository, SandboxRepository):
        for name, fn in vars(cls).items():
            if name.startswith("_") or not inspect.iscoroutinefunction(fn):
                continue
            count_methods += 1
            doc = (fn.__doc__ or "").lower()
            if "raise" not in doc or not ("idempotent" in doc or "read-only" in doc):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []
    assert count_methods == 43 + 2  # the spec's 43 plus prune_llm_calls / prune_job_events
