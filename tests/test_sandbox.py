"""SandboxStore: sandbox jobs, modes and job events — on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select

import ironstore
from ironstore import ConflictError, Database, IntegrityError, InvalidInputError
from ironstore.records.jobs import JobContext, JobState
from ironstore.records.sandbox import (
    CredentialGrant,
    JobEventRecord,
    SandboxJobMode,
    SandboxJobRecord,
    SandboxJobStatus,
    SandboxJobSummary,
)
from ironstore.schema import agent_jobs, job_events

T0 = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


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


def job(**kw: Any) -> SandboxJobRecord:
    base: dict[str, Any] = {
        "id": uuid.uuid4(), "task": "fix the bug", "status": "creating", "user_id": "alice",
        "project_dir": "/home/alice/p", "created_at": T0,
        "credential_grants_json": '[{"secret_name":"gh","env_var":"GH_TOKEN"}]',
    }
    base.update(kw)
    return SandboxJobRecord(**base)


async def direct_job(db: Database, user_id: str = "alice") -> uuid.UUID:
    jid = uuid.uuid4()
    await db.save_job(JobContext(job_id=jid, user_id=user_id, title="t", description="d", created_at=T0))
    return jid


async def test_protocol_and_exports(db: Database) -> None:
    assert isinstance(db, ironstore.SandboxStore)
    assert [s.value for s in SandboxJobStatus] == [
        "creating", "running", "completed", "failed", "interrupted"
    ]
    assert [m.value for m in SandboxJobMode] == ["worker", "claude_code"]
    grants = [CredentialGrant("gh", "GH_TOKEN")]
    assert CredentialGrant.from_json(CredentialGrant.to_json(grants)) == grants
    assert CredentialGrant.from_json("not json") == []


async def test_save_and_get_roundtrip(db: Database) -> None:
    j = job(started_at=T0 + timedelta(microseconds=1999), success=None)
    assert await db.save_sandbox_job(j) is True
    got = await db.get_sandbox_job(j.id)
    assert got == SandboxJobRecord(
        id=j.id, task="fix the bug", status="creating", user_id="alice",
        project_dir="/home/alice/p", created_at=T0,
        credential_grants_json='[{"secret_name":"gh","env_var":"GH_TOKEN"}]',
        success=None, failure_reason=None, started_at=T0 + timedelta(milliseconds=1),
        completed_at=None,
    )
    assert await db.get_sandbox_job_mode(j.id) == "worker"
    assert await db.get_sandbox_job(uuid.uuid4()) is None


async def test_save_with_mode_and_null_project_dir(db: Database) -> None:
    j = job()
    await db.save_sandbox_job(j, job_mode="claude_code")
    assert await db.get_sandbox_job_mode(j.id) == "claude_code"
    async with db._write() as conn:
        await conn.execute(agent_jobs.update().values(project_dir=None))
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.project_dir == ""


async def test_resave_overwrites_only_status_fields(db: Database) -> None:
    j = job(failure_reason="old")
    await db.save_sandbox_job(j, job_mode="claude_code")
    await db.save_sandbox_job(j)  # idempotent
    assert await count(db, agent_jobs) == 1
    j2 = job(
        id=j.id, task="other", status="running", user_id="bob", project_dir="/x",
        created_at=T0 + timedelta(days=1), credential_grants_json="[]", success=None,
        failure_reason=None, started_at=T0, completed_at=None,
    )
    assert await db.save_sandbox_job(j2) is True
    got = await db.get_sandbox_job(j.id)
    assert got is not None
    assert (got.task, got.user_id, got.project_dir, got.created_at) == (
        "fix the bug", "alice", "/home/alice/p", T0
    )
    assert got.credential_grants_json == j.credential_grants_json
    assert (got.status, got.failure_reason, got.started_at) == ("running", None, T0)
    assert await db.get_sandbox_job_mode(j.id) == "claude_code"  # mode kept
    # a stale re-save cannot move running back to creating or leave a terminal status
    assert await db.save_sandbox_job(j) is False
    assert await db.update_sandbox_job_status(j.id, "completed", True, completed_at=T0) is True
    assert await db.save_sandbox_job(j2) is False
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.status == "completed" and got.success is True


async def test_save_sandbox_cannot_clobber_direct_job(db: Database) -> None:
    jid = await direct_job(db)
    with pytest.raises(ConflictError):
        await db.save_sandbox_job(job(id=jid, status="failed"))
    got = await db.get_job(jid)
    assert got is not None and got.state.value == "pending"
    assert await db.get_sandbox_job(jid) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "cancelled"},
        {"status": "bogus"},
        {"task": "a\x00"},
        {"credential_grants_json": "\x00"},
        {"project_dir": None},
        {"created_at": datetime(2026, 1, 1)},
        {"completed_at": datetime(2026, 1, 1)},
        {"success": 1},
        {"user_id": None},
        {"id": "xyz"},
    ],
)
async def test_save_bad_input(db: Database, bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        await db.save_sandbox_job(job(**bad))
    assert await count(db, agent_jobs) == 0


async def test_save_bad_mode(db: Database) -> None:
    with pytest.raises(InvalidInputError):
        await db.save_sandbox_job(job(), job_mode="turbo")
    assert await count(db, agent_jobs) == 0


async def test_list_order_scope_paging(db: Database) -> None:
    assert await db.list_sandbox_jobs() == []
    same = [uuid.uuid4() for _ in range(3)]
    for i in same:
        await db.save_sandbox_job(job(id=i))
    newest = job(user_id="bob", created_at=T0 + timedelta(milliseconds=1))
    oldest = job(created_at=T0 - timedelta(hours=1))
    await db.save_sandbox_job(newest)
    await db.save_sandbox_job(oldest)
    await direct_job(db)
    expected = [newest.id, *sorted(same, reverse=True), oldest.id]
    assert [j.id for j in await db.list_sandbox_jobs()] == expected
    assert [j.id for j in await db.list_sandbox_jobs_for_user("alice")] == expected[1:]
    assert [j.id for j in await db.list_sandbox_jobs_for_user("bob")] == [newest.id]
    assert await db.list_sandbox_jobs_for_user("nobody") == []
    assert [j.id for j in await db.list_sandbox_jobs(limit=2, offset=2)] == expected[2:4]
    bad_paging: list[dict[str, Any]] = [{"limit": 0}, {"limit": -3}, {"offset": -1}, {"limit": "5"}]
    for kw in bad_paging:
        with pytest.raises(InvalidInputError):
            await db.list_sandbox_jobs(**kw)
    with pytest.raises(InvalidInputError):
        await db.list_sandbox_jobs_for_user(None)  # type: ignore[arg-type]


async def test_update_status_lifecycle(db: Database) -> None:
    j = job()
    await db.save_sandbox_job(j)
    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    assert await db.update_sandbox_job_status(j.id, "running", started_at=t1) is True
    got = await db.get_sandbox_job(j.id)
    assert got is not None and (got.status, got.started_at, got.success) == ("running", t1, None)
    # None keeps current values
    assert await db.update_sandbox_job_status(j.id, "running") is True
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.started_at == t1
    # running -> creating refused
    assert await db.update_sandbox_job_status(j.id, "creating") is False
    assert await db.update_sandbox_job_status(
        j.id, "failed", False, "Cancelled by user", completed_at=t2
    ) is True
    got = await db.get_sandbox_job(j.id)
    assert got is not None
    assert (got.status, got.success, got.failure_reason, got.completed_at) == (
        "failed", False, "Cancelled by user", t2
    )
    # terminal: a late "running" or "completed" cannot change it
    assert await db.update_sandbox_job_status(j.id, "running", started_at=t2) is False
    assert await db.update_sandbox_job_status(j.id, "completed", True) is False
    got = await db.get_sandbox_job(j.id)
    assert got is not None and (got.status, got.started_at) == ("failed", t1)


async def test_update_status_unknown_direct_and_bad_input(db: Database) -> None:
    assert await db.update_sandbox_job_status(uuid.uuid4(), "running") is False
    jid = await direct_job(db)
    assert await db.update_sandbox_job_status(jid, "running") is False
    got = await db.get_job(jid)
    assert got is not None and got.state.value == "pending"
    j = job()
    await db.save_sandbox_job(j)
    bad_calls: list[dict[str, Any]] = [
        {"status": "cancelled"},
        {"status": "running", "started_at": datetime(2026, 1, 1)},
        {"status": "failed", "message": "x\x00"},
        {"status": "completed", "success": "yes"},
    ]
    for kw in bad_calls:
        with pytest.raises(InvalidInputError):
            await db.update_sandbox_job_status(j.id, **kw)
    stored = await db.get_sandbox_job(j.id)
    assert stored is not None and stored.status == "creating"


async def test_cleanup_stale(db: Database, ironstore_connect: Any) -> None:
    clock = Clock()
    d = await ironstore_connect(clock=clock)
    assert await d.cleanup_stale_sandbox_jobs() == 0
    creating, running, done = job(), job(status="running", user_id="bob"), job(status="completed")
    for j in (creating, running, done):
        await d.save_sandbox_job(j)
    direct = await direct_job(d)
    await d.update_job_status(direct, JobState.IN_PROGRESS)
    clock.advance(60)
    assert await d.cleanup_stale_sandbox_jobs() == 2
    assert await d.cleanup_stale_sandbox_jobs() == 0
    for j in (creating, running):
        got = await d.get_sandbox_job(j.id)
        assert got is not None
        assert (got.status, got.failure_reason, got.completed_at, got.success) == (
            "interrupted", "Process restarted", T0 + timedelta(seconds=60), False
        )
    got = await d.get_sandbox_job(done.id)
    assert got is not None and got.status == "completed"
    direct_ctx = await d.get_job(direct)
    assert direct_ctx is not None and direct_ctx.state.value == "in_progress"


async def test_summaries(db: Database) -> None:
    assert await db.sandbox_job_summary() == SandboxJobSummary()
    for s in ["creating", "creating", "running", "completed", "failed", "interrupted"]:
        await db.save_sandbox_job(job(status=s))
    await db.save_sandbox_job(job(user_id="bob", status="running"))
    odd = job(user_id="bob")
    await db.save_sandbox_job(odd)
    async with db._write() as conn:
        await conn.execute(agent_jobs.update().where(agent_jobs.c.id == odd.id).values(status="legacy"))
    await direct_job(db)
    assert await db.sandbox_job_summary() == SandboxJobSummary(
        total=8, creating=2, running=2, completed=1, failed=1, interrupted=1
    )
    assert await db.sandbox_job_summary_for_user("alice") == SandboxJobSummary(
        total=6, creating=2, running=1, completed=1, failed=1, interrupted=1
    )
    assert await db.sandbox_job_summary_for_user("bob") == SandboxJobSummary(total=2, running=1)
    assert await db.sandbox_job_summary_for_user("nobody") == SandboxJobSummary()
    (legacy,) = [j for j in await db.list_sandbox_jobs_for_user("bob") if j.id == odd.id]
    assert legacy.status == "legacy"


async def test_belongs_to_user(db: Database) -> None:
    j = job()
    await db.save_sandbox_job(j)
    jid = await direct_job(db)
    assert await db.sandbox_job_belongs_to_user(j.id, "alice") is True
    assert await db.sandbox_job_belongs_to_user(j.id, "bob") is False
    assert await db.sandbox_job_belongs_to_user(jid, "alice") is False
    assert await db.sandbox_job_belongs_to_user(uuid.uuid4(), "alice") is False
    with pytest.raises(InvalidInputError):
        await db.sandbox_job_belongs_to_user(j.id, "a\x00")


async def test_mode(db: Database) -> None:
    j = job()
    await db.save_sandbox_job(j)
    jid = await direct_job(db)
    assert await db.update_sandbox_job_mode(j.id, "claude_code") is True
    assert await db.get_sandbox_job_mode(j.id) == "claude_code"
    assert await db.update_sandbox_job_mode(j.id, "claude_code") is True  # idempotent
    assert await db.update_sandbox_job_mode(jid, "claude_code") is False
    assert await db.get_sandbox_job_mode(jid) is None
    assert await db.update_sandbox_job_mode(uuid.uuid4(), "worker") is False
    assert await db.get_sandbox_job_mode(uuid.uuid4()) is None
    with pytest.raises(InvalidInputError):
        await db.update_sandbox_job_mode(j.id, "turbo")
    assert await db.get_sandbox_job_mode(j.id) == "claude_code"


async def test_events_roundtrip_limit_after(db: Database, ironstore_connect: Any) -> None:
    clock = Clock()
    d = await ironstore_connect(clock=clock)
    j = job()
    await d.save_sandbox_job(j)
    jid = await direct_job(d)
    assert await d.list_job_events(j.id) == []
    payloads: list[Any] = [
        {"role": "assistant", "content": "hé"}, "text", 3, None, [1, {"a": [True]}],
    ]
    ids = []
    for p in payloads:
        ids.append(await d.save_job_event(j.id, "message", p))
        clock.advance()
    other = await d.save_job_event(jid, "status", {"message": "direct jobs have events too"})
    assert ids == sorted(ids) and len(set(ids)) == 5 and other > ids[-1]
    events = await d.list_job_events(j.id)
    assert [e.id for e in events] == ids
    assert [e.data for e in events] == payloads
    assert events[0] == JobEventRecord(ids[0], j.id, "message", payloads[0], T0)
    assert events[4].created_at == T0 + timedelta(seconds=4)
    assert [e.id for e in await d.list_job_events(j.id, limit=2)] == ids[3:]
    assert [e.id for e in await d.list_job_events(j.id, limit=100)] == ids
    assert await d.list_job_events(j.id, limit=0) == []
    assert [e.id for e in await d.list_job_events(j.id, after_id=ids[1])] == ids[2:]
    assert [e.id for e in await d.list_job_events(j.id, limit=1, after_id=ids[1])] == ids[4:]
    assert await d.list_job_events(uuid.uuid4()) == []
    bad_args: list[dict[str, Any]] = [{"limit": -1}, {"after_id": -1}, {"limit": 1.5}]
    for kw in bad_args:
        with pytest.raises(InvalidInputError):
            await d.list_job_events(j.id, **kw)


async def test_events_bad_input_and_fk(db: Database) -> None:
    j = job()
    await db.save_sandbox_job(j)
    for args in [("a\x00", {}), ("m", {"k": "\x00"}), ("m", {1, 2}), (None, {}), ("m", float("nan"))]:
        with pytest.raises(InvalidInputError):
            await db.save_job_event(j.id, *args)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        await db.save_job_event(uuid.uuid4(), "status", {"message": "orphan"})
    assert await count(db, job_events) == 0


async def test_concurrent_events_and_updates(db: Database) -> None:
    j = job()
    await db.save_sandbox_job(j)
    ids = await asyncio.gather(*(db.save_job_event(j.id, "tool_use", {"i": i}) for i in range(25)))
    assert len(set(ids)) == 25
    events = await db.list_job_events(j.id)
    assert [e.id for e in events] == sorted(ids)
    assert sorted(e.data["i"] for e in events) == list(range(25))
    # reordered fire-and-forget status writes: the terminal state wins whatever the order
    results = await asyncio.gather(
        db.update_sandbox_job_status(j.id, "completed", True, completed_at=T0),
        db.update_sandbox_job_status(j.id, "running", started_at=T0),
    )
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.status == "completed" and got.success is True
    assert results[0] is True


# --------------------------------------------------------------------------- credential grants (X16)


async def test_credential_grants_column(db: Database) -> None:
    grants = '[{"secret_name": "gh", "env_var": "GH_TOKEN", "note": "é"}]'
    j = job(credential_grants_json=grants)
    await db.save_sandbox_job(j)
    async with db._read() as conn:
        row = (
            await conn.execute(
                select(agent_jobs.c.description, agent_jobs.c.credential_grants).where(agent_jobs.c.id == j.id)
            )
        ).one()
    assert row.description == grants  # verbatim, what IronClaw reads
    assert row.credential_grants == [{"secret_name": "gh", "env_var": "GH_TOKEN", "note": "é"}]
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.credential_grants_json == grants
    assert got.credential_grants == [CredentialGrant("gh", "GH_TOKEN")]
    empty = job(credential_grants_json="[]")
    await db.save_sandbox_job(empty)
    got = await db.get_sandbox_job(empty.id)
    assert got is not None and got.credential_grants == []


@pytest.mark.parametrize(
    "grants",
    [
        "not json",
        "",
        '{"secret_name": "gh", "env_var": "X"}',
        '[{"secret_name": "gh"}]',
        '[{"secret_name": 1, "env_var": "X"}]',
        '["gh"]',
        '[{"secret_name": "gh", "env_var": "X", "n": NaN}]',
        '[{"secret_name": "g\\u0000h", "env_var": "X"}]',
        None,
    ],
)
async def test_bad_credential_grants_rejected(db: Database, grants: Any) -> None:
    with pytest.raises(InvalidInputError):
        await db.save_sandbox_job(job(credential_grants_json=grants))
    assert await count(db, agent_jobs) == 0


# --------------------------------------------------------------------------- multi-instance cleanup (DB-17)


async def test_cleanup_scoped_by_instance(db: Database) -> None:
    mine, theirs, legacy = job(status="running"), job(status="running"), job()
    await db.save_sandbox_job(mine, instance_id="host-a")
    await db.save_sandbox_job(theirs, instance_id="host-b")
    await db.save_sandbox_job(legacy)  # no instance recorded (e.g. written by IronClaw)
    assert await db.cleanup_stale_sandbox_jobs(instance_id="host-a") == 1
    assert await db.cleanup_stale_sandbox_jobs(instance_id="host-a") == 0
    statuses = {
        jid: (await db.get_sandbox_job(jid)).status  # type: ignore[union-attr]
        for jid in (mine.id, theirs.id, legacy.id)
    }
    assert statuses == {mine.id: "interrupted", theirs.id: "running", legacy.id: "creating"}
    got = await db.get_sandbox_job(mine.id)
    assert got is not None and got.success is False and got.failure_reason == "Process restarted"
    assert await db.cleanup_stale_sandbox_jobs() == 2  # unscoped: every instance, as IronClaw
    with pytest.raises(InvalidInputError):
        await db.cleanup_stale_sandbox_jobs(instance_id="a\x00")
    with pytest.raises(InvalidInputError):
        await db.save_sandbox_job(job(), instance_id=5)  # type: ignore[arg-type]
    assert await count(db, agent_jobs) == 3


async def test_cleanup_keeps_an_explicit_success(db: Database) -> None:
    j = job(status="running", success=True)
    await db.save_sandbox_job(j)
    assert await db.cleanup_stale_sandbox_jobs() == 1
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.status == "interrupted" and got.success is True


# --------------------------------------------------------------------------- concurrency, stored values


async def test_concurrent_save_makes_one_row(db: Database) -> None:
    j = job()
    results = await asyncio.gather(*(db.save_sandbox_job(j, job_mode="claude_code") for _ in range(20)))
    assert results == [True] * 20
    assert await count(db, agent_jobs) == 1
    assert await db.get_sandbox_job_mode(j.id) == "claude_code"


async def test_legacy_libsql_timestamps_readable(db: Database) -> None:
    if db.backend == "postgres":
        pytest.skip("legacy naive text timestamps only exist in libSQL databases")
    from sqlalchemy import text

    j = job(status="running", started_at=T0)
    await db.save_sandbox_job(j)
    await db.save_job_event(j.id, "status", {"message": "m"})
    async with db._write() as conn:
        await conn.execute(text(
            "UPDATE agent_jobs SET created_at = '2024-05-06 07:08:09', started_at = '2024-05-06 07:08:10.5'"
        ))
        await conn.execute(text("UPDATE job_events SET created_at = '2024-05-06 07:08:11'"))
    got = await db.get_sandbox_job(j.id)
    assert got is not None and got.created_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert got.started_at == datetime(2024, 5, 6, 7, 8, 10, 500000, tzinfo=UTC)
    (listed,) = await db.list_sandbox_jobs()
    assert listed == got
    (event,) = await db.list_job_events(j.id)
    assert event.created_at == datetime(2024, 5, 6, 7, 8, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    "table,column,value,read",
    [
        ("agent_jobs", "id", "nil", "list"),
        ("agent_jobs", "created_at", "soon", "get"),
        ("agent_jobs", "created_at", "", "list"),
        ("agent_jobs", "success", "maybe", "get"),
        ("agent_jobs", "completed_at", "2024-02-30T00:00:00.000Z", "list"),
        ("job_events", "data", "{oops", "events"),
        ("job_events", "created_at", "", "events"),
    ],
)
async def test_corrupt_stored_values_raise(
    db: Database, table: str, column: str, value: str, read: str
) -> None:
    from sqlalchemy import text

    from ironstore import CorruptDataError, DatabaseError

    j = job()
    await db.save_sandbox_job(j)
    if table == "job_events":
        await db.save_job_event(j.id, "status", {"message": "m"})
    if db.backend == "postgres":  # typed columns refuse these values outright
        with pytest.raises(DatabaseError):
            async with db._write() as conn:
                await conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": value})
        return
    async with db._write() as conn:
        await conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": value})
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "list": lambda: db.list_sandbox_jobs(),
        "get": lambda: db.get_sandbox_job(j.id),
        "events": lambda: db.list_job_events(j.id),
    }
    with pytest.raises(CorruptDataError):
        await reads[read]()


# --------------------------------------------------------------------------- retention (X17)


async def test_prune_job_events(db: Database, ironstore_connect: Any) -> None:
    clock = Clock()
    d = await ironstore_connect(clock=clock)
    j = job()
    await d.save_sandbox_job(j)
    old = [await d.save_job_event(j.id, "message", {"i": i}) for i in range(3)]
    clock.advance(60)
    new = await d.save_job_event(j.id, "result", {"status": "ok"})
    assert await d.prune_job_events(T0 + timedelta(seconds=1)) == 3
    assert await d.prune_job_events(T0 + timedelta(seconds=1)) == 0
    assert [e.id for e in await d.list_job_events(j.id)] == [new]
    assert old and await d.get_sandbox_job(j.id) is not None  # the job itself stays
    with pytest.raises(InvalidInputError):
        await d.prune_job_events(datetime(2026, 1, 1))
    assert await count(d, job_events) == 1
