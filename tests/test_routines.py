"""RoutineStore on both backends (incl. the scheduler-safety extensions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ironstore import (
    ConflictError,
    CorruptDataError,
    CronTrigger,
    Database,
    DuplicateRoutineNameError,
    DuplicateWebhookPathError,
    EventTrigger,
    FullJobAction,
    IntegrityError,
    InvalidInputError,
    LightweightAction,
    ManualTrigger,
    NotifyConfig,
    Routine,
    RoutineGuardrails,
    RoutineRun,
    RoutineStore,
    RunStatus,
    SystemEventTrigger,
    WebhookTrigger,
)
from ironstore.schema import routine_runs, routines

T0 = datetime(2026, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
Connect = Callable[..., Awaitable[Database]]


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


def make_routine(name: str = "r", user_id: str = "alice", **kw: Any) -> Routine:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(), "name": name, "user_id": user_id,
        "trigger": CronTrigger(schedule="0 * * * *"),
        "action": LightweightAction(prompt="hi"),
        "created_at": T0, "updated_at": T0,
    }
    fields.update(kw)
    return Routine(**fields)


def make_run(routine_id: uuid.UUID, started_at: datetime = T0, **kw: Any) -> RoutineRun:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(), "routine_id": routine_id, "trigger_type": "cron",
        "started_at": started_at, "created_at": started_at,
    }
    fields.update(kw)
    return RoutineRun(**fields)


async def count(db: Database, table: Any) -> int:
    async with db._read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar() or 0)


async def raw_update(db: Database, table: Any, **values: Any) -> None:
    async with db._write() as conn:
        await conn.execute(update(table).values(**values))


async def test_protocol(db: Database) -> None:
    assert isinstance(db, RoutineStore)


# ----------------------------------------------------------------------------- round trips

VARIANTS = [
    (CronTrigger(schedule="0 9 * * 1-5", timezone="Europe/Berlin"), LightweightAction(prompt="p")),
    (CronTrigger(schedule="*/5 * * * * *"), FullJobAction(title="t", description="d", max_iterations=7)),
    (EventTrigger(pattern=r"^deploy\b", channel="telegram"),
     LightweightAction(prompt="p", context_paths=["a.md", "b/ü.md"], max_tokens=2**32 - 1,
                       use_tools=True, max_tool_rounds=20)),
    (EventTrigger(pattern="x"), LightweightAction(prompt="p", max_tool_rounds=1)),
    (SystemEventTrigger(source="github", event_type="issue.opened", filters={"repo": "a/b"}),
     FullJobAction(title="t", description="")),
    (SystemEventTrigger(source="s", event_type="e"), LightweightAction(prompt="")),
    (WebhookTrigger(path="hooks/x", secret="s3cret"), LightweightAction(prompt="p")),
    (WebhookTrigger(), LightweightAction(prompt="p")),
    (ManualTrigger(), FullJobAction(title="t", description="d")),
]


@pytest.mark.parametrize("trigger,action", VARIANTS)
async def test_round_trip_variants(db: Database, trigger: Any, action: Any) -> None:
    r = make_routine(
        trigger=trigger, action=action, description="desc", enabled=False,
        guardrails=RoutineGuardrails(cooldown=timedelta(seconds=90.9), max_concurrent=3,
                                     dedup_window=timedelta(hours=1)),
        notify=NotifyConfig(channel="slack", user="bob", on_success=True, on_failure=False,
                            on_attention=False),
        state={"cursor": [1, {"ü": None}]}, next_fire_at=T0 + timedelta(microseconds=1999),
        last_run_at=T0, run_count=2**53 + 1, consecutive_failures=4,
        created_at=T0, updated_at=T0 + timedelta(seconds=1),
    )
    await db.create_routine(r)
    got = await db.get_routine(r.id)
    expected = replace(
        r,
        guardrails=replace(r.guardrails, cooldown=timedelta(seconds=90)),
        next_fire_at=T0 + timedelta(milliseconds=1),
    )
    assert got == expected
    assert await db.get_routine_by_name("alice", r.name) == expected


async def test_webhook_secret_not_in_repr() -> None:
    assert "s3cret" not in repr(WebhookTrigger(path="p", secret="s3cret"))


async def test_missing_lookups(db: Database) -> None:
    assert await db.get_routine(uuid.uuid4()) is None
    assert await db.get_routine_by_name("alice", "nope") is None
    assert await db.list_routines("alice") == []
    assert await db.list_all_routines() == []
    assert await db.list_event_routines() == []
    assert await db.list_due_cron_routines() == []
    assert await db.get_webhook_routine_by_path("x") is None
    assert await db.list_dispatched_routine_runs() == []
    assert await db.list_routine_runs(uuid.uuid4(), 10) == []
    assert await db.count_running_routine_runs(uuid.uuid4()) == 0
    assert await db.delete_routine(uuid.uuid4()) is False
    assert await db.update_routine(make_routine()) is False
    assert await db.update_routine_runtime(uuid.uuid4(), T0, None, 1, 0, {}) is False
    assert await db.complete_routine_run(uuid.uuid4(), RunStatus.OK, None, None) is False
    assert await db.link_routine_run_to_job(uuid.uuid4(), uuid.uuid4()) is False
    assert await db.claim_cron_fire(uuid.uuid4(), T0, None) is False
    assert await db.finish_routine_run(uuid.uuid4(), RunStatus.OK, None, None, next_fire_at=None) is False
    assert await db.fail_orphaned_routine_runs(T0) == 0


async def test_get_routine_scoped_to_user(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    assert await db.get_routine(r.id, user_id="alice") is not None
    assert await db.get_routine(r.id, user_id="mallory") is None


async def test_lenient_decoding(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    async with db._write() as conn:
        await conn.execute(update(routines).values(
            trigger_type="system_event",
            trigger_config={"source": "s", "event_type": "e",
                            "filters": {"n": 42, "f": 1.5, "b": True, "c": False, "s": "x",
                                        "z": None, "l": [1], "o": {}}},
            action_config={"prompt": "p", "context_paths": ["a", 1, None], "max_tokens": 4096.0,
                           "use_tools": "yes", "max_tool_rounds": 9999},
            notify_user="  default  ",
        ))
    got = await db.get_routine(r.id)
    assert got is not None
    assert got.trigger == SystemEventTrigger(
        source="s", event_type="e",
        filters={"n": "42", "f": "1.5", "b": "true", "c": "false", "s": "x"},
    )
    assert got.action == LightweightAction(prompt="p", context_paths=["a"], max_tokens=4096,
                                           use_tools=False, max_tool_rounds=20)
    assert got.notify.user is None
    await raw_update(db, routines, trigger_type="cron",
                     trigger_config={"schedule": "x", "timezone": "Not/AZone"},
                     action_type="full_job",
                     action_config={"title": "t", "description": "d", "tool_permissions": ["a"],
                                    "max_iterations": -1})
    got = await db.get_routine(r.id)
    assert got is not None
    assert got.trigger == CronTrigger(schedule="x", timezone=None)
    assert got.action == FullJobAction(title="t", description="d", max_iterations=10)
    await raw_update(db, routines, action_type="lightweight", action_config={"prompt": "p", "max_tool_rounds": 0})
    got = await db.get_routine(r.id)
    assert got is not None and isinstance(got.action, LightweightAction)
    assert got.action.max_tool_rounds == 1


@pytest.mark.parametrize(
    "stored, expected", [("default", None), ("", None), ("  x  ", "x"), (None, None)]
)
async def test_notify_user_normalised(db: Database, stored: str | None, expected: str | None) -> None:
    r = make_routine(notify=NotifyConfig(user=stored))
    await db.create_routine(r)
    got = await db.get_routine(r.id)
    assert got is not None and got.notify.user == expected
    async with db._read() as conn:
        raw = (await conn.execute(select(routines.c.notify_user))).scalar()
    assert raw == expected  # normalised on write too
    await raw_update(db, routines, notify_user=stored)
    got = await db.get_routine(r.id)
    assert got is not None and got.notify.user == expected


async def test_corrupt_rows_raise_or_are_skipped(db: Database) -> None:
    good = make_routine("good", trigger=EventTrigger(pattern="x"))
    bad = make_routine("bad", trigger=EventTrigger(pattern="y"))
    good_cron = make_routine("good_cron", next_fire_at=T0)
    bad_cron = make_routine("bad_cron", next_fire_at=T0)
    for r in (good, bad, good_cron, bad_cron):
        await db.create_routine(r)
    async with db._write() as conn:
        await conn.execute(update(routines).where(routines.c.id == bad.id).values(trigger_config={"x": 1}))
        await conn.execute(update(routines).where(routines.c.id == bad_cron.id).values(action_type="teleport"))
    with pytest.raises(CorruptDataError, match=str(bad.id)):
        await db.get_routine(bad.id)
    with pytest.raises(CorruptDataError, match="teleport"):
        await db.get_routine(bad_cron.id)
    with pytest.raises(CorruptDataError):
        await db.list_routines("alice")
    with pytest.raises(CorruptDataError):
        await db.list_all_routines()
    assert [r.id for r in await db.list_event_routines()] == [good.id]
    assert [r.id for r in await db.list_due_cron_routines(T0)] == [good_cron.id]


async def test_duplicate_name_and_id(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    with pytest.raises(DuplicateRoutineNameError):
        await db.create_routine(make_routine())
    with pytest.raises(ConflictError) as info:
        await db.create_routine(replace(r, name="other"))
    assert not isinstance(info.value, DuplicateRoutineNameError)
    await db.create_routine(make_routine(user_id="bob"))  # other user: fine
    other = make_routine("two")
    await db.create_routine(other)
    with pytest.raises(DuplicateRoutineNameError):
        await db.update_routine(replace(other, name="r"))
    # update_routine never moves a routine to another user: the error names the stored owner
    with pytest.raises(DuplicateRoutineNameError) as renamed:
        await db.update_routine(replace(other, name="r", user_id="mallory"))
    assert renamed.value.user_id == "alice"
    assert await count(db, routines) == 3


BAD_ROUTINES: list[dict[str, Any]] = [
    {"name": ""},
    {"name": "   "},
    {"user_id": ""},
    {"name": "a\x00b"},
    {"created_at": datetime(2026, 1, 1)},
    {"next_fire_at": datetime(2026, 1, 1)},
    {"trigger": CronTrigger(schedule="")},
    {"trigger": CronTrigger(schedule="* * * * *", timezone="Mars/Olympus")},
    {"trigger": "cron"},
    {"trigger": SystemEventTrigger(source="s", event_type="e", filters={"k": 1})},  # type: ignore[dict-item]
    {"action": LightweightAction(prompt="p", max_tool_rounds=21)},
    {"action": LightweightAction(prompt="p", max_tool_rounds=0)},
    {"action": LightweightAction(prompt="p", max_tokens=0)},
    {"action": LightweightAction(prompt="p", max_tokens=2**32)},
    {"action": LightweightAction(prompt="p", context_paths="a.md")},  # type: ignore[arg-type]
    {"action": FullJobAction(title="t", description="d", max_iterations=0)},
    {"action": None},
    {"guardrails": RoutineGuardrails(max_concurrent=0)},
    {"guardrails": RoutineGuardrails(cooldown=timedelta(seconds=-1))},
    {"guardrails": RoutineGuardrails(cooldown=timedelta(seconds=2**31))},
    {"guardrails": RoutineGuardrails(dedup_window=5)},  # type: ignore[arg-type]
    {"state": {"x": float("nan")}},
    {"state": {"x": "\x00"}},
    {"state": {"x": object()}},
    {"run_count": -1},
    {"consecutive_failures": 2**31},
    {"enabled": 1},
    {"notify": NotifyConfig(on_success=None)},  # type: ignore[arg-type]
]


@pytest.mark.parametrize("kw", BAD_ROUTINES)
async def test_bad_routine_writes_nothing(db: Database, kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        await db.create_routine(make_routine(**kw))
    assert await count(db, routines) == 0


async def test_bad_update_changes_nothing(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    with pytest.raises(InvalidInputError):
        await db.update_routine(replace(r, trigger=CronTrigger(schedule="")))
    with pytest.raises(InvalidInputError):
        await db.create_routine("not a routine")  # type: ignore[arg-type]
    assert await db.get_routine(r.id) == r


async def test_blank_webhook_path_stored_as_none(db: Database) -> None:
    r = make_routine(trigger=WebhookTrigger(path="  ", secret="s"))
    await db.create_routine(r)
    got = await db.get_routine(r.id)
    assert got is not None and got.trigger == WebhookTrigger(path=None, secret="s")
    assert (await db.get_webhook_routine_by_path(str(r.id))) == got


# ----------------------------------------------------------------------------- listings


async def test_list_routines_bytewise(db: Database) -> None:
    names = ["beta", "Zeta", "alpha", "_x", "é", "Alpha"]
    for n in names:
        await db.create_routine(make_routine(n))
    await db.create_routine(make_routine("alpha", user_id="bob"))
    got = [r.name for r in await db.list_routines("alice")]
    assert got == sorted(names, key=str.encode)
    all_rows = await db.list_all_routines()
    assert [(r.name, r.user_id) for r in all_rows] == sorted(
        [(n, "alice") for n in names] + [("alpha", "bob")], key=lambda t: (t[0].encode(), t[1].encode())
    )


async def test_list_event_routines(db: Database) -> None:
    e1 = make_routine("e1", trigger=EventTrigger(pattern="a"), created_at=T0 + timedelta(seconds=2))
    e2 = make_routine("e2", user_id="bob", trigger=SystemEventTrigger(source="s", event_type="t"),
                      created_at=T0 + timedelta(seconds=1))
    off = make_routine("off", trigger=EventTrigger(pattern="a"), enabled=False)
    cron = make_routine("cron")
    for r in (e1, e2, off, cron):
        await db.create_routine(r)
    assert [r.id for r in await db.list_event_routines()] == [e2.id, e1.id]


async def test_due_cron_boundary(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    at = T0 + timedelta(minutes=5)
    due = make_routine("due", next_fire_at=at)
    earlier = make_routine("earlier", next_fire_at=at - timedelta(milliseconds=1))
    later = make_routine("later", next_fire_at=at + timedelta(milliseconds=1))
    disabled = make_routine("disabled", next_fire_at=at - timedelta(hours=1), enabled=False)
    null = make_routine("null", next_fire_at=None)
    manual = make_routine("manual", trigger=ManualTrigger(), next_fire_at=at - timedelta(hours=1))
    for r in (due, earlier, later, disabled, null, manual):
        await db.create_routine(r)
    clock.now = at - timedelta(milliseconds=2)
    assert await db.list_due_cron_routines() == []
    clock.now = at
    assert [r.name for r in await db.list_due_cron_routines()] == ["earlier", "due"]
    assert [r.name for r in await db.list_due_cron_routines(at + timedelta(microseconds=999))] == [
        "earlier", "due"]
    assert [r.name for r in await db.list_due_cron_routines(at + timedelta(milliseconds=1))] == [
        "earlier", "due", "later"]
    # a non-UTC aware "now" is converted
    tz = timezone(timedelta(hours=-5))
    assert len(await db.list_due_cron_routines(at.astimezone(tz))) == 2
    with pytest.raises(InvalidInputError):
        await db.list_due_cron_routines(datetime(2026, 1, 1))
    # same instant: tie broken by id
    a = make_routine("tie1", next_fire_at=at - timedelta(hours=2))
    b = make_routine("tie2", next_fire_at=at - timedelta(hours=2))
    await db.create_routine(a)
    await db.create_routine(b)
    first_two = [r.id for r in (await db.list_due_cron_routines())[:2]]
    assert first_two == sorted([a.id, b.id])


async def test_webhook_lookup(db: Database) -> None:
    with_path = make_routine("p", trigger=WebhookTrigger(path="Hook", secret="s"))
    no_path = make_routine("n", trigger=WebhookTrigger())
    disabled = make_routine("d", trigger=WebhookTrigger(path="off"), enabled=False)
    empty = make_routine("e", trigger=CronTrigger(schedule="x"))
    for r in (with_path, no_path, disabled, empty):
        await db.create_routine(r)
    got = await db.get_webhook_routine_by_path("Hook")
    assert got is not None and got.id == with_path.id
    assert await db.get_webhook_routine_by_path("hook") is None  # case-sensitive
    assert await db.get_webhook_routine_by_path(str(with_path.id)) is None  # has a path
    got = await db.get_webhook_routine_by_path(str(no_path.id))
    assert got is not None and got.id == no_path.id
    assert await db.get_webhook_routine_by_path(str(no_path.id).upper()) is None
    assert await db.get_webhook_routine_by_path("off") is None
    assert await db.get_webhook_routine_by_path(str(empty.id)) is None


async def test_webhook_paths_unique_among_enabled(db: Database) -> None:
    first = make_routine("a", trigger=WebhookTrigger(path="Hook", secret="s"))
    await db.create_routine(first)
    # another user, same path: refused, nothing written (paths are global)
    with pytest.raises(DuplicateWebhookPathError) as info:
        await db.create_routine(make_routine("b", "bob", trigger=WebhookTrigger(path="Hook")))
    assert isinstance(info.value, ConflictError) and info.value.path == "Hook"
    assert await count(db, routines) == 1
    # a disabled routine may share the path; enabling it while the first is enabled is refused
    spare = make_routine("c", trigger=WebhookTrigger(path="Hook"), enabled=False)
    await db.create_routine(spare)
    with pytest.raises(DuplicateWebhookPathError):
        await db.update_routine(replace(spare, enabled=True, description="changed"))
    stored = await db.get_routine(spare.id)
    assert stored is not None and not stored.enabled and stored.description == ""
    # renaming the path onto a free one, or disabling the first, lets it through
    await db.update_routine(replace(first, enabled=False))
    assert await db.update_routine(replace(spare, enabled=True))
    got = await db.get_webhook_routine_by_path("Hook")
    assert got is not None and got.id == spare.id
    # routines without a path are reached by id and never collide
    for name in ("n1", "n2"):
        await db.create_routine(make_routine(name, trigger=WebhookTrigger()))


# ----------------------------------------------------------------------------- updates


async def test_update_routine(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    db = await ironstore_connect(clock=clock)
    r = make_routine(last_run_at=T0, run_count=5, consecutive_failures=2)
    await db.create_routine(r)
    changed = replace(
        r, user_id="mallory", name="renamed", description="d", enabled=False,
        trigger=EventTrigger(pattern="p"), action=FullJobAction(title="t", description="d"),
        state={"s": 1}, next_fire_at=T0, run_count=0, consecutive_failures=0, last_run_at=None,
        created_at=T0 + timedelta(days=9), updated_at=T0 + timedelta(days=9),
    )
    assert await db.update_routine(changed) is True
    got = await db.get_routine(r.id)
    assert got == replace(
        changed, user_id="alice", run_count=5, consecutive_failures=2, last_run_at=T0,
        created_at=T0, updated_at=T0 + timedelta(hours=1),
    )
    # optimistic concurrency
    clock.tick(1)
    assert await db.update_routine(replace(changed, description="x"), expected_updated_at=T0) is False
    assert await db.update_routine(
        replace(changed, description="x"), expected_updated_at=T0 + timedelta(hours=1)) is True
    got = await db.get_routine(r.id)
    assert got is not None and got.description == "x"


async def test_update_routine_runtime(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0 + timedelta(minutes=1))
    db = await ironstore_connect(clock=clock)
    r = make_routine(next_fire_at=T0)
    await db.create_routine(r)
    assert await db.update_routine_runtime(r.id, T0, T0 + timedelta(hours=1), 7, 3, [1, 2]) is True
    got = await db.get_routine(r.id)
    assert got is not None
    assert (got.last_run_at, got.next_fire_at, got.run_count, got.consecutive_failures, got.state) == (
        T0, T0 + timedelta(hours=1), 7, 3, [1, 2])
    assert got.updated_at == T0 + timedelta(minutes=1)
    assert await db.update_routine_runtime(r.id, T0, None, 8, 0, None) is True
    got = await db.get_routine(r.id)
    assert got is not None and got.next_fire_at is None and got.state is None
    for args in [(T0, None, -1, 0, {}), (T0, None, 1, -1, {}), (datetime(2026, 1, 1), None, 1, 0, {}),
                 (T0, None, 1, 2**31, {}), (T0, None, 1, 0, {"x": float("inf")}), (T0, None, True, 0, {})]:
        with pytest.raises(InvalidInputError):
            await db.update_routine_runtime(r.id, *args)
    assert await db.get_routine(r.id) == got


async def test_delete_routine_removes_runs(db: Database) -> None:
    r = make_routine()
    keep = make_routine("keep")
    await db.create_routine(r)
    await db.create_routine(keep)
    for i in range(3):
        await db.create_routine_run(make_run(r.id, T0 + timedelta(seconds=i)))
    await db.create_routine_run(make_run(keep.id))
    assert await db.delete_routine(r.id) is True
    assert await db.delete_routine(r.id) is False
    assert await count(db, routine_runs) == 1
    assert await db.list_routine_runs(r.id, 10) == []
    assert await db.get_routine(keep.id) is not None


async def test_fk_cascade_without_store_help(db: Database) -> None:
    """Foreign keys are enforced on both backends: a plain DELETE cascades to the runs."""
    r = make_routine()
    await db.create_routine(r)
    await db.create_routine_run(make_run(r.id))
    async with db._write() as conn:
        await conn.execute(routines.delete())
    assert await count(db, routine_runs) == 0


# ----------------------------------------------------------------------------- runs


async def test_run_round_trip_and_fk(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    run = make_run(r.id, trigger_detail="a\x00b", status=RunStatus.ATTENTION, result_summary="s\x00",
                   tokens_used=12, completed_at=T0 + timedelta(seconds=3),
                   created_at=T0 + timedelta(microseconds=1500))
    await db.create_routine_run(run)
    (got,) = await db.list_routine_runs(r.id, 5)
    assert got == replace(run, trigger_detail="a\ufffdb", result_summary="s\ufffd",
                          created_at=T0 + timedelta(milliseconds=1))
    with pytest.raises(ConflictError):
        await db.create_routine_run(run)
    with pytest.raises(IntegrityError):
        await db.create_routine_run(make_run(uuid.uuid4()))
    with pytest.raises(IntegrityError):
        await db.create_routine_run(make_run(r.id, job_id=uuid.uuid4()))
    with pytest.raises(IntegrityError):
        await db.link_routine_run_to_job(run.id, uuid.uuid4())
    assert await count(db, routine_runs) == 1


@pytest.mark.parametrize(
    "kw",
    [{"status": "done"}, {"started_at": datetime(2026, 1, 1)}, {"tokens_used": -1},
     {"tokens_used": 2**31}, {"trigger_type": None}, {"job_id": "nope"}, {"id": 5}],
)
async def test_bad_run_writes_nothing(db: Database, kw: dict[str, Any]) -> None:
    r = make_routine()
    await db.create_routine(r)
    with pytest.raises(InvalidInputError):
        await db.create_routine_run(make_run(r.id, **kw))
    assert await count(db, routine_runs) == 0


async def test_complete_routine_run(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0 + timedelta(minutes=2))
    db = await ironstore_connect(clock=clock)
    r = make_routine()
    await db.create_routine(r)
    run = make_run(r.id)
    await db.create_routine_run(run)
    with pytest.raises(InvalidInputError):
        await db.complete_routine_run(run.id, RunStatus.RUNNING, None, None)
    with pytest.raises(InvalidInputError):
        await db.complete_routine_run(run.id, "bogus", None, None)  # type: ignore[arg-type]
    assert await db.count_running_routine_runs(r.id) == 1
    assert await db.complete_routine_run(run.id, RunStatus.OK, "fine", 42) is True
    clock.tick(5)
    assert await db.complete_routine_run(run.id, RunStatus.FAILED, "again", 1) is False
    (got,) = await db.list_routine_runs(r.id, 1)
    assert (got.status, got.result_summary, got.tokens_used, got.completed_at) == (
        RunStatus.OK, "fine", 42, T0 + timedelta(minutes=2))
    assert await db.count_running_routine_runs(r.id) == 0
    # the routine is untouched
    assert await db.get_routine(r.id) == r


async def test_list_routine_runs_order_and_limit(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    runs = [make_run(r.id, T0 + timedelta(seconds=s)) for s in (1, 3, 2)]
    tie = [make_run(r.id, T0 + timedelta(seconds=3), created_at=T0 + timedelta(seconds=3)) for _ in range(2)]
    for run in runs + tie:
        await db.create_routine_run(run)
    got = await db.list_routine_runs(r.id, 10)
    expected = sorted(runs + tie, key=lambda x: (x.started_at, x.created_at, x.id), reverse=True)
    assert [x.id for x in got] == [x.id for x in expected]
    assert [x.id for x in await db.list_routine_runs(r.id, 2)] == [x.id for x in expected[:2]]
    assert await db.list_routine_runs(r.id, 0) == []
    with pytest.raises(InvalidInputError):
        await db.list_routine_runs(r.id, -1)
    with pytest.raises(InvalidInputError):
        await db.list_routine_runs(r.id, "5")  # type: ignore[arg-type]
    await raw_update(db, routine_runs, status="weird")
    with pytest.raises(CorruptDataError):
        await db.list_routine_runs(r.id, 10)


async def test_batches(db: Database) -> None:
    a, b, c = make_routine("a"), make_routine("b"), make_routine("c")
    for r in (a, b, c):
        await db.create_routine(r)
    await db.create_routine_run(make_run(a.id, T0))
    await db.create_routine_run(make_run(a.id, T0 + timedelta(seconds=1)))
    await db.create_routine_run(make_run(a.id, T0 + timedelta(seconds=2), status=RunStatus.FAILED))
    await db.create_routine_run(make_run(b.id, T0 + timedelta(seconds=5), status=RunStatus.OK))
    await db.create_routine_run(make_run(b.id, T0, status=RunStatus.ATTENTION))
    unknown = uuid.uuid4()
    assert await db.count_running_routine_runs_batch([]) == {}
    assert await db.batch_get_last_run_status([]) == {}
    assert await db.count_running_routine_runs_batch([a.id, b.id, c.id, unknown, a.id]) == {
        a.id: 2, b.id: 0, c.id: 0, unknown: 0}
    assert await db.batch_get_last_run_status([a.id, b.id, c.id, unknown]) == {
        a.id: RunStatus.FAILED, b.id: RunStatus.OK}
    many = [uuid.uuid4() for _ in range(1200)] + [a.id]
    counts = await db.count_running_routine_runs_batch(many)
    assert len(counts) == 1201 and counts[a.id] == 2
    assert await db.batch_get_last_run_status(many) == {a.id: RunStatus.FAILED}
    # an unknown newest status is left out
    async with db._write() as conn:
        await conn.execute(update(routine_runs).where(routine_runs.c.routine_id == b.id,
                                                       routine_runs.c.status == "ok").values(status="zzz"))
    assert await db.batch_get_last_run_status([a.id, b.id]) == {a.id: RunStatus.FAILED}
    with pytest.raises(InvalidInputError):
        await db.count_running_routine_runs_batch(["nope"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        await db.batch_get_last_run_status(None)  # type: ignore[arg-type]


async def test_batch_last_status_tie_break(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    runs = [make_run(r.id, T0, status=s) for s in (RunStatus.OK, RunStatus.FAILED, RunStatus.ATTENTION)]
    for run in runs:
        await db.create_routine_run(run)
    newest = max(runs, key=lambda x: x.id)
    assert await db.batch_get_last_run_status([r.id]) == {r.id: newest.status}


async def _job(db: Database) -> uuid.UUID:
    """Insert a minimal agent_jobs row (the jobs store is someone else's) and return its id."""
    from ironstore.schema import agent_jobs

    job_id = uuid.uuid4()
    values: dict[str, Any] = {"id": job_id, "title": "t", "description": "d", "status": "pending",
                              "source": "routine", "created_at": T0}
    values = {k: v for k, v in values.items() if k in agent_jobs.c}
    async with db._write() as conn:
        await conn.execute(agent_jobs.insert().values(values))
    return job_id


async def test_link_and_dispatched(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    job = await _job(db)
    old = make_run(r.id, T0)
    new = make_run(r.id, T0 + timedelta(hours=1))
    plain = make_run(r.id, T0)
    done = make_run(r.id, T0, job_id=job, status=RunStatus.OK)
    for run in (old, new, plain, done):
        await db.create_routine_run(run)
    assert await db.link_routine_run_to_job(new.id, job) is True
    assert await db.link_routine_run_to_job(old.id, job) is True
    assert [x.id for x in await db.list_dispatched_routine_runs()] == [old.id, new.id]
    assert [x.id for x in await db.list_dispatched_routine_runs(T0 + timedelta(hours=1))] == [old.id]
    assert await db.list_dispatched_routine_runs(T0) == []


# ----------------------------------------------------------------------------- scheduler safety


async def test_claim_cron_fire(db: Database) -> None:
    r = make_routine(next_fire_at=T0)
    await db.create_routine(r)
    nxt = T0 + timedelta(hours=1)
    assert await db.claim_cron_fire(r.id, T0 - timedelta(milliseconds=1), nxt) is False
    assert await db.claim_cron_fire(r.id, T0, nxt) is True
    assert await db.claim_cron_fire(r.id, T0, nxt) is False
    got = await db.get_routine(r.id)
    assert got is not None and got.next_fire_at == nxt
    off = make_routine("off", next_fire_at=T0, enabled=False)
    await db.create_routine(off)
    assert await db.claim_cron_fire(off.id, T0, nxt) is False
    with pytest.raises(InvalidInputError):
        await db.claim_cron_fire(r.id, datetime(2026, 1, 1), None)


async def test_two_schedulers_claim_once(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0)
    s1 = await ironstore_connect(clock=clock)
    s2 = await ironstore_connect(clock=clock)
    routines_ = [make_routine(f"r{i}", next_fire_at=T0) for i in range(5)]
    for r in routines_:
        await s1.create_routine(r)
    due1, due2 = await asyncio.gather(s1.list_due_cron_routines(), s2.list_due_cron_routines())
    assert len(due1) == len(due2) == 5
    claims = await asyncio.gather(
        *(s.claim_cron_fire(r.id, r.next_fire_at, T0 + timedelta(hours=1))  # type: ignore[arg-type]
          for r in due1 for s in (s1, s2) for _ in range(2))
    )
    assert sum(claims) == 5
    assert await s1.list_due_cron_routines() == []


async def test_finish_routine_run(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0 + timedelta(minutes=3))
    db = await ironstore_connect(clock=clock)
    r = make_routine(run_count=10, consecutive_failures=2, state={"a": 1})
    await db.create_routine(r)
    runs = [make_run(r.id) for _ in range(3)]
    for run in runs:
        await db.create_routine_run(run)
    nxt = T0 + timedelta(hours=1)
    assert await db.finish_routine_run(runs[0].id, RunStatus.FAILED, "x", 5, next_fire_at=nxt) is True
    got = await db.get_routine(r.id)
    assert got is not None
    assert (got.run_count, got.consecutive_failures, got.state, got.last_run_at, got.next_fire_at) == (
        11, 3, {"a": 1}, T0 + timedelta(minutes=3), nxt)
    assert await db.finish_routine_run(runs[0].id, RunStatus.OK, None, None, next_fire_at=None) is False
    assert await db.complete_routine_run(runs[0].id, RunStatus.OK, None, None) is False
    results = await asyncio.gather(
        db.finish_routine_run(runs[1].id, RunStatus.OK, None, None, next_fire_at=None, state={"b": 2}),
        db.finish_routine_run(runs[1].id, RunStatus.OK, None, None, next_fire_at=None, state={"b": 2}),
        db.finish_routine_run(runs[2].id, RunStatus.ATTENTION, None, None, next_fire_at=None, state={"b": 2}),
    )
    assert sorted(results) == [False, True, True]
    got = await db.get_routine(r.id)
    assert got is not None
    assert (got.run_count, got.consecutive_failures, got.state, got.next_fire_at) == (13, 0, {"b": 2}, None)
    with pytest.raises(InvalidInputError):
        await db.finish_routine_run(runs[2].id, RunStatus.RUNNING, None, None, next_fire_at=None)


async def test_finish_bad_state_writes_nothing(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    run = make_run(r.id)
    await db.create_routine_run(run)
    with pytest.raises(InvalidInputError):
        await db.finish_routine_run(run.id, RunStatus.OK, None, None, next_fire_at=None,
                                    state={"x": float("nan")})
    assert await db.count_running_routine_runs(r.id) == 1
    assert await db.get_routine(r.id) == r


async def test_create_run_if_capacity(db: Database) -> None:
    r = make_routine()
    await db.create_routine(r)
    results = await asyncio.gather(*(db.create_routine_run_if_capacity(make_run(r.id), 2) for _ in range(6)))
    assert sum(results) == 2
    assert await db.count_running_routine_runs(r.id) == 2
    with pytest.raises(IntegrityError):
        await db.create_routine_run_if_capacity(make_run(uuid.uuid4()), 1)
    with pytest.raises(InvalidInputError):
        await db.create_routine_run_if_capacity(make_run(r.id), -1)
    assert await count(db, routine_runs) == 2


async def test_fail_orphaned_routine_runs(ironstore_connect: Connect) -> None:
    clock = FakeClock(T0 + timedelta(hours=2))
    db = await ironstore_connect(clock=clock)
    r = make_routine()
    await db.create_routine(r)
    job = await _job(db)
    stale = make_run(r.id, T0)
    fresh = make_run(r.id, T0 + timedelta(hours=1))
    dispatched = make_run(r.id, T0, job_id=job)
    done = make_run(r.id, T0, status=RunStatus.OK)
    for run in (stale, fresh, dispatched, done):
        await db.create_routine_run(run)
    boot = T0 + timedelta(hours=1)
    assert await db.fail_orphaned_routine_runs(boot) == 1
    assert await db.fail_orphaned_routine_runs(boot) == 0
    runs = {x.id: x for x in await db.list_routine_runs(r.id, 10)}
    assert runs[stale.id].status == RunStatus.FAILED
    assert runs[stale.id].result_summary == "Orphaned by process restart"
    assert runs[stale.id].completed_at == T0 + timedelta(hours=2)
    assert runs[fresh.id].status == RunStatus.RUNNING
    assert runs[dispatched.id].status == RunStatus.RUNNING
    assert await db.fail_orphaned_routine_runs(T0 + timedelta(days=1), summary="boot") == 1
    with pytest.raises(InvalidInputError):
        await db.fail_orphaned_routine_runs(datetime(2026, 1, 1))
