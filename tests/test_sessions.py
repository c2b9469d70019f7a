"""SessionStore: agent sessions and checkpoints (spec: stores-sessions-checkpoints.md §8).

Every test using `db` (or `blank_url` / `ironstore_backend`) runs on libSQL and PostgreSQL;
58 and 59 are SQLite-only scenarios (skipped on PostgreSQL), 85 is libSQL-only (`:memory:`),
the value-type tests (34-49) are dialect-independent.

Scenario -> test map (spec §8; `test_scenario_map_is_complete` checks it covers 1-85 and that
every name exists):

   1  test_create_session_returns_ids_and_initial_checkpoint
   2  test_create_session_with_cwd_and_public
   3  test_create_session_with_cwd_and_public
   4  test_get_session_defaults_and_active_checkpoint
   5  test_get_session_unknown_is_not_found
   6  test_update_session_title_only_and_visibility_only
   7  test_update_session_title_only_and_visibility_only
   8  test_delete_session_keeps_it_readable  -- via include_deleted=True (issue #6 hides deleted sessions from get)
   9  test_list_sessions_empty
  10  test_list_sessions_three
  11  test_list_sessions_all_limit_offset_total
  12  test_list_sessions_all_limit_offset_total
  13  test_list_sessions_search
  14  test_summary_fields
  15  test_summary_fields
  16  test_summary_counts_messages_of_active_checkpoint
  17  test_create_checkpoint_with_and_without_parent
  18  test_create_checkpoint_with_and_without_parent
  19  test_get_checkpoint_initial_and_unknown
  20  test_get_checkpoint_initial_and_unknown
  21  test_list_checkpoints_three_oldest_first
  22  test_list_checkpoints_order_limit_offset_total
  23  test_active_checkpoint_chain
  24  test_active_checkpoint_chain
  25  test_session_stats_default
  26  test_empty_messages_session
  27  test_message_roles_round_trip
  28  test_active_checkpoint_chain
  29  test_checkpoint_bumps_session_updated_at
  30  test_checkpoints_of_sessions_are_isolated
  31  test_delete_session_keeps_it_readable
  32  test_state_decoder_null_and_empty  -- the schema forbids NULL state, so the decoder is tested directly
  33  test_corrupt_state_raises, test_lenient_decoding_reads_empty_and_logs
  34  test_error_variants_map_onto_the_hierarchy  -- str() is the bare message (one hierarchy, design §10)
  35  test_storage_error_from_a_plain_message_is_internal
  36  test_request_and_query_helpers
  37  test_request_and_query_helpers
  38  test_request_and_query_helpers
  39  test_request_and_query_helpers
  40  test_request_and_query_helpers
  41  test_enum_spellings_and_defaults
  42  test_enum_spellings_and_defaults, test_get_session_defaults_and_active_checkpoint
  43  test_checkpoint_state_json
  44  test_checkpoint_state_json
  45  test_state_decoder_null_and_empty, test_legacy_state_forms_decode
  46  test_checkpoint_state_json
  47  test_checkpoint_state_json, test_legacy_state_forms_decode
  48  test_request_and_query_helpers
  49  test_session_stats_and_backend_info_values
  50  test_metadata_resume_flow
  51  test_metadata_resume_flow
  52  test_metadata_resume_flow
  53  test_chain_keeps_each_checkpoints_metadata
  54  test_empty_metadata_object_round_trips
  55  test_migrated_database_is_at_head_with_nothing_pending  -- Alembic is the runner (design §4)
  56  test_step_down_to_base_and_back_up_in_order
  57  test_downgrade_to_a_revision_removes_exactly_those_above, test_upgrade_downgrade_upgrade_keeps_other_tables
  58  test_every_libsql_connection_is_configured
  59  test_custom_busy_timeout_reaches_every_connection  -- the timeout is a URL parameter (?busy_timeout=ms)
  60  test_concurrent_create_sessions
  61  test_create_session_waits_for_a_held_write_lock
  62  test_opening_waits_for_a_held_lock
  63  test_create_session_is_atomic_when_checkpoint_insert_fails
  64  test_update_session_is_one_statement_and_atomic, test_update_session_both_fields_one_write
  65  test_create_checkpoint_unknown_session
  66  test_create_checkpoint_bad_parent
  67  test_driver_error_during_read_is_not_not_found
  68  test_list_sessions_survives_corrupt_state, test_corrupt_state_raises
  69  test_unknown_role_and_extra_keys_round_trip
  70  test_same_instant_and_backwards_clock
  71  test_list_sessions_hides_deleted_by_default
  72  test_delete_unknown_and_idempotent
  73  test_writes_to_deleted_session_rejected
  74  test_list_sessions_all_limit_offset_total, test_list_checkpoints_order_limit_offset_total, test_list_sessions_search
  75  test_list_checkpoints_include_state, test_list_checkpoints_order_limit_offset_total
  76  test_list_checkpoints_unknown_session_and_bad_query
  77  test_list_sessions_search, test_list_sessions_search_wildcards_are_literal
  78  test_list_sessions_bad_query, test_list_checkpoints_unknown_session_and_bad_query  -- limit=0 raises (design §11)
  79  test_indexes_exist_after_migrating, test_checkpoint_lookups_use_the_session_id_index
  80  test_failed_migration_leaves_no_partial_tables, test_two_processes_open_a_fresh_database_at_once
  81  test_ledger_coexists_with_ironclaws_migrations_table
  82  test_unicode_nul_and_emoji_state, test_create_checkpoint_bad_input_writes_nothing, test_checkpoint_state_json
  83  test_returned_values_equal_reads  -- millisecond precision (design §10)
  84  test_stored_enum_outside_domain_is_refused_by_schema, test_stored_enum_decoder_rejects_unknown
  85  test_memory_databases_are_private_shared_and_leave_no_files

Issue #6 acceptance points beyond the list: 20 concurrent checkpoint writers
(test_concurrent_checkpoint_writers_get_gap_free_seq); bad input -> typed error and nothing
written (test_create_session_bad_input_writes_nothing, test_create_checkpoint_bad_input_writes_nothing,
test_update_session_unknown_and_bad_input, test_list_sessions_bad_query,
test_naive_clock_is_rejected_before_writing); checkpoint + updated_at atomic
(test_create_checkpoint_is_atomic_when_insert_fails); bound LIMIT/OFFSET/filters
(test_listing_values_are_bound_parameters); upgrade -> downgrade -> upgrade keeps other tables'
rows (test_upgrade_downgrade_upgrade_keeps_other_tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import re
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event, func, insert, inspect, select, text, update
from sqlalchemy.engine import make_url

import ironstore
from ironstore import Database, migrations
from ironstore.errors import (
    BackendUnavailableError,
    CorruptDataError,
    DatabaseError,
    IntegrityError,
    InvalidInputError,
    MigrationError,
    NotFoundError,
    QueryError,
)
from ironstore.records.sessions import (
    BackendInfo,
    BackendKind,
    Checkpoint,
    CheckpointState,
    CreateCheckpointRequest,
    CreateSessionRequest,
    InternalStorageError,
    InvalidRequestError,
    ListCheckpointsQuery,
    ListSessionsQuery,
    SessionStats,
    SessionStatus,
    SessionVisibility,
    StorageConnectionError,
    UpdateSessionRequest,
)
from ironstore.schema import checkpoints, sessions, settings
from ironstore.stores import sessions as sessions_module
from ironstore.testing import _asyncpg_dsn

Connect = Callable[..., Awaitable[Database]]

HELLO = [{"role": "user", "content": "hello"}]


def msgs(n: int) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(n)]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, ms: int = 1) -> None:
        self.now += timedelta(milliseconds=ms)


async def counts(db: Database) -> tuple[int, int]:
    async with db._read() as conn:
        s = (await conn.execute(select(func.count()).select_from(sessions))).scalar_one()
        c = (await conn.execute(select(func.count()).select_from(checkpoints))).scalar_one()
    return int(s), int(c)


async def new_session(db: Database, title: str = "t", messages: list[dict[str, Any]] | None = None) -> uuid.UUID:
    result = await db.create_session(CreateSessionRequest.new(title, HELLO if messages is None else messages))
    return result.session_id


async def corrupt_state(db: Database, checkpoint_id: uuid.UUID, state: str) -> None:
    async with db._write() as conn:
        await conn.execute(update(checkpoints).where(checkpoints.c.id == checkpoint_id).values(state=state))


# =========================================================================== sessions (1-8)


async def test_create_session_returns_ids_and_initial_checkpoint(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("First", HELLO))
    assert result.session_id.int != 0 and result.checkpoint.id.int != 0
    cp = result.checkpoint
    assert cp.session_id == result.session_id
    assert cp.parent_id is None
    assert cp.state.messages == HELLO and cp.state.messages[0]["content"] == "hello"
    assert cp.created_at == cp.updated_at and cp.created_at.tzinfo is not None


async def test_create_session_with_cwd_and_public(db: Database) -> None:
    req = CreateSessionRequest.new("cwd", HELLO).with_cwd("/home/me/project").with_visibility(SessionVisibility.PUBLIC)
    sid = (await db.create_session(req)).session_id
    session = await db.get_session(sid)
    assert session.cwd == "/home/me/project"
    assert session.visibility is SessionVisibility.PUBLIC


async def test_get_session_defaults_and_active_checkpoint(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("Title", HELLO))
    session = await db.get_session(result.session_id)
    assert session.id == result.session_id
    assert session.title == "Title"
    assert session.visibility is SessionVisibility.PRIVATE
    assert session.status is SessionStatus.ACTIVE
    assert session.cwd is None and session.deleted_at is None
    assert session.active_checkpoint == result.checkpoint
    assert session.created_at == session.updated_at == result.checkpoint.created_at


async def test_get_session_unknown_is_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        await db.get_session(uuid.uuid4())


async def test_update_session_title_only_and_visibility_only(db: Database) -> None:
    sid = await new_session(db, "old")
    s1 = await db.update_session(sid, UpdateSessionRequest().with_title("new"))
    assert s1.title == "new" and s1.visibility is SessionVisibility.PRIVATE
    s2 = await db.update_session(sid, UpdateSessionRequest().with_visibility(SessionVisibility.PUBLIC))
    assert s2.title == "new" and s2.visibility is SessionVisibility.PUBLIC
    assert await db.get_session(sid) == s2


async def test_update_session_both_fields_one_write(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    sid = await new_session(db)
    clock.advance(5)
    s = await db.update_session(sid, UpdateSessionRequest(title="both", visibility=SessionVisibility.PUBLIC))
    assert (s.title, s.visibility, s.updated_at) == ("both", SessionVisibility.PUBLIC, clock.now)
    assert s.created_at == clock.now - timedelta(milliseconds=5)


async def test_update_session_empty_request_writes_nothing(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    sid = await new_session(db)
    before = await db.get_session(sid)
    clock.advance(100)
    after = await db.update_session(sid, UpdateSessionRequest())
    assert after == before


async def test_update_session_unknown_and_bad_input(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await db.update_session(uuid.uuid4(), UpdateSessionRequest(title="x"))
    sid = await new_session(db, "keep")
    before = await db.get_session(sid)
    for bad in (
        UpdateSessionRequest(title="a\x00b"),
        UpdateSessionRequest(title=5),  # type: ignore[arg-type]
        UpdateSessionRequest(title="ok", visibility="SECRET"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInputError):
            await db.update_session(sid, bad)
    with pytest.raises(InvalidInputError):
        await db.update_session(sid, {"title": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.update_session("not-a-uuid", UpdateSessionRequest(title="x"))  # type: ignore[arg-type]
    assert await db.get_session(sid) == before


async def test_update_session_accepts_enum_string(db: Database) -> None:
    sid = await new_session(db)
    s = await db.update_session(sid, UpdateSessionRequest(visibility="PUBLIC"))  # type: ignore[arg-type]
    assert s.visibility is SessionVisibility.PUBLIC


async def test_delete_session_keeps_it_readable(db: Database) -> None:
    """Scenarios 8 and 31. Issue #6 hides deleted sessions from `get`: `include_deleted=True` reads them."""
    result = await db.create_session(CreateSessionRequest.new("gone", HELLO))
    await db.delete_session(result.session_id)
    with pytest.raises(NotFoundError, match="deleted"):
        await db.get_session(result.session_id)
    with pytest.raises(NotFoundError, match="deleted"):
        await db.get_active_checkpoint(result.session_id)
    session = await db.get_session(result.session_id, include_deleted=True)
    assert session.status is SessionStatus.DELETED
    assert session.deleted_at is not None and session.deleted_at == session.updated_at
    assert session.active_checkpoint == result.checkpoint
    cp = await db.get_checkpoint(result.checkpoint.id)  # 31
    assert cp.session_id == result.session_id
    assert (await db.get_active_checkpoint(result.session_id, include_deleted=True)) == result.checkpoint
    assert [c.id for c in (await db.list_checkpoints(result.session_id)).checkpoints] == [result.checkpoint.id]
    with pytest.raises(InvalidInputError):
        await db.get_session(result.session_id, include_deleted="yes")  # type: ignore[arg-type]


# =========================================================================== listing (9-16, 71, 74, 77, 78)


async def test_list_sessions_empty(db: Database) -> None:
    result = await db.list_sessions()
    assert result.sessions == [] and result.total == 0


async def test_list_sessions_all_limit_offset_total(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    ids = []
    for i in range(5):
        ids.append(await new_session(db, f"s{i}"))
        clock.advance()
    all_ = await db.list_sessions()
    assert [s.id for s in all_.sessions] == ids[::-1]  # newest activity first
    assert all_.total == 5
    page = await db.list_sessions(ListSessionsQuery().with_limit(2))
    assert len(page.sessions) == 2 and page.total == 5
    rest = await db.list_sessions(ListSessionsQuery().with_offset(3))
    assert [s.id for s in rest.sessions] == ids[1::-1] and rest.total == 5
    past_end = await db.list_sessions(ListSessionsQuery(limit=10, offset=50))
    assert past_end.sessions == [] and past_end.total == 5


async def test_list_sessions_three(db: Database) -> None:
    for i in range(3):
        await new_session(db, f"x{i}")
    result = await db.list_sessions()
    assert len(result.sessions) == 3 and result.total == 3


async def test_list_sessions_search(db: Database) -> None:
    for title in ("Rust project", "Python script", "Rust CLI"):
        await new_session(db, title)
    result = await db.list_sessions(ListSessionsQuery().with_search("Rust"))
    assert sorted(s.title for s in result.sessions) == ["Rust CLI", "Rust project"]
    assert result.total == 2
    lower = await db.list_sessions(ListSessionsQuery(search="rUsT"))
    assert lower.total == 2
    assert (await db.list_sessions(ListSessionsQuery(search=""))).total == 3


async def test_list_sessions_search_wildcards_are_literal(db: Database) -> None:
    for title in ("100% done", "1000 done", "snake_case", "snakeXcase", "back\\slash"):
        await new_session(db, title)
    assert [s.title for s in (await db.list_sessions(ListSessionsQuery(search="0%"))).sessions] == ["100% done"]
    assert [s.title for s in (await db.list_sessions(ListSessionsQuery(search="e_c"))).sessions] == ["snake_case"]
    assert [s.title for s in (await db.list_sessions(ListSessionsQuery(search="k\\s"))).sessions] == ["back\\slash"]
    assert (await db.list_sessions(ListSessionsQuery(search="/"))).total == 0


async def test_summary_fields(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("Summary", HELLO).with_cwd("/w"))
    (summary,) = (await db.list_sessions()).sessions
    assert summary.id == result.session_id
    assert summary.title == "Summary" and summary.cwd == "/w"
    assert summary.active_checkpoint_id == result.checkpoint.id
    assert summary.message_count == 1
    assert summary.last_message_at == result.checkpoint.created_at
    assert summary.deleted_at is None
    fetched = await db.get_session(summary.id)
    assert (fetched.id, fetched.title) == (summary.id, summary.title)


async def test_summary_counts_messages_of_active_checkpoint(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("m", HELLO))
    cp = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(3)).with_parent(result.checkpoint.id))
    (summary,) = (await db.list_sessions()).sessions
    assert summary.active_checkpoint_id == cp.id
    assert summary.message_count == 3
    assert summary.last_message_at == cp.created_at


async def test_list_sessions_hides_deleted_by_default(db: Database) -> None:
    keep = await new_session(db, "keep")
    gone = await new_session(db, "gone")
    await db.delete_session(gone)
    default = await db.list_sessions()
    assert [s.id for s in default.sessions] == [keep] and default.total == 1
    everything = await db.list_sessions(ListSessionsQuery().with_deleted())
    assert {s.id for s in everything.sessions} == {keep, gone} and everything.total == 2
    only_deleted = await db.list_sessions(ListSessionsQuery().with_status(SessionStatus.DELETED))
    assert [s.id for s in only_deleted.sessions] == [gone]
    assert only_deleted.sessions[0].deleted_at is not None
    only_active = await db.list_sessions(ListSessionsQuery(status=SessionStatus.ACTIVE, include_deleted=True))
    assert [s.id for s in only_active.sessions] == [keep]


async def test_list_sessions_visibility_filter(db: Database) -> None:
    pub = (await db.create_session(CreateSessionRequest.new("p", HELLO).with_visibility(SessionVisibility.PUBLIC))).session_id
    await new_session(db, "private")
    result = await db.list_sessions(ListSessionsQuery().with_visibility(SessionVisibility.PUBLIC))
    assert [s.id for s in result.sessions] == [pub] and result.total == 1


async def test_list_sessions_ties_broken_by_id_desc(ironstore_connect: Connect) -> None:
    clock = FakeClock()  # never advances: every session has the same updated_at
    db = await ironstore_connect(clock=clock)
    ids = [await new_session(db, f"t{i}") for i in range(6)]
    listed = [s.id for s in (await db.list_sessions()).sessions]
    assert listed == sorted(ids, key=lambda u: u.bytes, reverse=True)
    paged = []
    for offset in range(0, 6, 2):
        paged += [s.id for s in (await db.list_sessions(ListSessionsQuery(limit=2, offset=offset))).sessions]
    assert paged == listed


async def test_list_sessions_activity_order(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    a = await new_session(db, "a")
    clock.advance()
    b = await new_session(db, "b")
    clock.advance()
    await db.create_checkpoint(a, CreateCheckpointRequest.new(HELLO))
    assert [s.id for s in (await db.list_sessions()).sessions] == [a, b]


BAD_SESSION_QUERIES: list[Any] = [
    ListSessionsQuery(limit=-1),
    ListSessionsQuery(limit=0),
    ListSessionsQuery(offset=-1),
    ListSessionsQuery(limit=True),
    ListSessionsQuery(limit=1.5),  # type: ignore[arg-type]
    ListSessionsQuery(limit=2**60),
    ListSessionsQuery(status="GONE"),  # type: ignore[arg-type]
    ListSessionsQuery(visibility="secret"),  # type: ignore[arg-type]
    ListSessionsQuery(search="a\x00"),
    ListSessionsQuery(search=3),  # type: ignore[arg-type]
    ListSessionsQuery(include_deleted=None),  # type: ignore[arg-type]
    {"limit": 1},
]


async def test_list_sessions_bad_query(db: Database) -> None:
    await new_session(db)
    for query in BAD_SESSION_QUERIES:
        with pytest.raises(InvalidInputError):
            await db.list_sessions(query)


async def test_list_largest_page_values(db: Database) -> None:
    sid = await new_session(db)
    big = 2**31 - 1
    assert (await db.list_sessions(ListSessionsQuery(limit=big))).total == 1
    assert (await db.list_sessions(ListSessionsQuery(limit=1, offset=big))).sessions == []
    assert len((await db.list_checkpoints(sid, ListCheckpointsQuery(limit=big, offset=0))).checkpoints) == 1
    for bad in (ListSessionsQuery(limit=big + 1), ListSessionsQuery(offset=big + 1)):
        with pytest.raises(InvalidInputError):
            await db.list_sessions(bad)


async def test_list_sessions_enum_strings_accepted(db: Database) -> None:
    await new_session(db)
    assert (await db.list_sessions(ListSessionsQuery(status="ACTIVE"))).total == 1  # type: ignore[arg-type]


# =========================================================================== checkpoints (17-31)


async def test_create_checkpoint_with_and_without_parent(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("c", HELLO))
    with_parent = await db.create_checkpoint(
        result.session_id, CreateCheckpointRequest.new(msgs(3)).with_parent(result.checkpoint.id)
    )
    assert with_parent.session_id == result.session_id
    assert with_parent.parent_id == result.checkpoint.id
    assert len(with_parent.state.messages) == 3
    no_parent = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(1)))
    assert no_parent.parent_id is None
    assert await db.get_checkpoint(with_parent.id) == with_parent
    assert await db.get_checkpoint(no_parent.id) == no_parent


async def test_get_checkpoint_initial_and_unknown(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("g", HELLO))
    cp = await db.get_checkpoint(result.checkpoint.id)
    assert (cp.id, cp.session_id, len(cp.state.messages)) == (result.checkpoint.id, result.session_id, 1)
    with pytest.raises(NotFoundError, match="Checkpoint .* not found"):
        await db.get_checkpoint(uuid.uuid4())
    with pytest.raises(InvalidInputError):
        await db.get_checkpoint(42)  # type: ignore[arg-type]


async def test_list_checkpoints_order_limit_offset_total(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("l", HELLO))
    created = [result.checkpoint.id]
    for i in range(4):
        created.append((await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(i + 2)))).id)
    listed = await db.list_checkpoints(result.session_id)
    assert [c.id for c in listed.checkpoints] == created and listed.total == 5
    assert [c.message_count for c in listed.checkpoints] == [1, 2, 3, 4, 5]
    assert all(c.state is None for c in listed.checkpoints)
    two = await db.list_checkpoints(result.session_id, ListCheckpointsQuery().with_limit(2))
    assert [c.id for c in two.checkpoints] == created[:2] and two.total == 5
    tail = await db.list_checkpoints(result.session_id, ListCheckpointsQuery(limit=2).with_offset(3))
    assert [c.id for c in tail.checkpoints] == created[3:] and tail.total == 5


async def test_list_checkpoints_three_oldest_first(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("l3", HELLO))
    a = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(2)))
    b = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(3)))
    ids = [c.id for c in (await db.list_checkpoints(result.session_id)).checkpoints]
    assert ids == [result.checkpoint.id, a.id, b.id]


async def test_list_checkpoints_include_state(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("s", HELLO))
    cp = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(2)).with_metadata({"k": 1}))
    listed = await db.list_checkpoints(result.session_id, ListCheckpointsQuery().with_state())
    assert [c.state for c in listed.checkpoints] == [
        (await db.get_checkpoint(result.checkpoint.id)).state,
        (await db.get_checkpoint(cp.id)).state,
    ]


async def test_list_checkpoints_unknown_session_and_bad_query(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await db.list_checkpoints(uuid.uuid4())
    sid = await new_session(db)
    for bad in (
        ListCheckpointsQuery(limit=0),
        ListCheckpointsQuery(limit=-5),
        ListCheckpointsQuery(offset=-1),
        ListCheckpointsQuery(include_state="yes"),  # type: ignore[arg-type]
        ListSessionsQuery(),
    ):
        with pytest.raises(InvalidInputError):
            await db.list_checkpoints(sid, bad)  # type: ignore[arg-type]


async def test_checkpoints_of_sessions_are_isolated(db: Database) -> None:
    a = await new_session(db, "a")
    b = await new_session(db, "b")
    await db.create_checkpoint(a, CreateCheckpointRequest.new(msgs(2)))
    assert (await db.list_checkpoints(a)).total == 2
    assert len((await db.list_checkpoints(b)).checkpoints) == 1


async def test_active_checkpoint_chain(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("chain", HELLO))
    assert await db.get_active_checkpoint(result.session_id) == result.checkpoint
    cp1 = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(1)))
    cp2 = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(2)).with_parent(cp1.id))
    cp3 = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(3)).with_parent(cp2.id))
    active = await db.get_active_checkpoint(result.session_id)
    assert active == cp3 and len(active.state.messages) == 3
    parents = [(await db.get_checkpoint(c.id)).parent_id for c in (cp1, cp2, cp3)]
    assert parents == [None, cp1.id, cp2.id]
    with pytest.raises(NotFoundError):
        await db.get_active_checkpoint(uuid.uuid4())


async def test_active_checkpoint_ignores_branches(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("branch", HELLO))
    a = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(2)))
    rewind = await db.create_checkpoint(
        result.session_id, CreateCheckpointRequest.new(HELLO).with_parent(result.checkpoint.id)
    )
    assert (await db.get_active_checkpoint(result.session_id)).id == rewind.id
    assert (await db.get_session(result.session_id)).active_checkpoint == rewind
    assert a.id != rewind.id


async def test_session_stats_default(db: Database) -> None:
    sid = await new_session(db)
    assert await db.get_session_stats(sid) == SessionStats()
    assert await db.get_session_stats(uuid.uuid4()) == SessionStats()
    with pytest.raises(InvalidInputError):
        await db.get_session_stats("nope")  # type: ignore[arg-type]


async def test_empty_messages_session(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("empty", []))
    assert result.checkpoint.state.messages == []
    assert (await db.get_checkpoint(result.checkpoint.id)).state == CheckpointState()
    (summary,) = (await db.list_sessions()).sessions
    assert summary.message_count == 0


async def test_message_roles_round_trip(db: Database) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "run it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "tc_123", "type": "function", "function": {"name": "run", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "ok", "tool_call_id": "tc_123"},
    ]
    sid = await new_session(db, "roles", messages)
    state = (await db.get_active_checkpoint(sid)).state
    assert [m["role"] for m in state.messages] == ["user", "assistant", "tool"]
    assert state.messages[2]["tool_call_id"] == "tc_123"
    assert state.messages == messages


async def test_checkpoint_bumps_session_updated_at(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    sid = await new_session(db)
    before = (await db.get_session(sid)).updated_at
    clock.advance(10)
    cp = await db.create_checkpoint(sid, CreateCheckpointRequest.new(HELLO))
    after = (await db.get_session(sid)).updated_at
    assert after > before and after == cp.created_at == clock.now


# =========================================================================== corrupt / legacy (32, 33, 68)


async def test_corrupt_state_raises(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("bad", HELLO))
    await corrupt_state(db, result.checkpoint.id, "not valid json")
    with pytest.raises(CorruptDataError, match=str(result.checkpoint.id)):
        await db.get_checkpoint(result.checkpoint.id)
    with pytest.raises(CorruptDataError):
        await db.get_session(result.session_id)
    with pytest.raises(CorruptDataError):
        await db.get_active_checkpoint(result.session_id)
    with pytest.raises(CorruptDataError):
        await db.list_checkpoints(result.session_id, ListCheckpointsQuery(include_state=True))
    assert (await db.list_checkpoints(result.session_id)).total == 1  # no state parsed


async def test_corrupt_state_shapes(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("bad", HELLO))
    for stored in ('"a string"', "[]", '{"messages":null}', '{"messages":{}}', '{"messages":[1]}', '{"messages":["x"]}'):
        await corrupt_state(db, result.checkpoint.id, stored)
        with pytest.raises(CorruptDataError):
            await db.get_checkpoint(result.checkpoint.id)


async def test_list_sessions_survives_corrupt_state(db: Database) -> None:
    good = await new_session(db, "good", msgs(2))
    bad = await db.create_session(CreateSessionRequest.new("bad", msgs(4)))
    await corrupt_state(db, bad.checkpoint.id, "{oops")
    listed = {s.id: s.message_count for s in (await db.list_sessions()).sessions}
    assert listed == {good: 2, bad.session_id: 4}
    with pytest.raises(CorruptDataError):
        await db.get_session(bad.session_id)


async def test_lenient_decoding_reads_empty_and_logs(
    ironstore_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    strict = await ironstore_connect()
    result = await strict.create_session(CreateSessionRequest.new("bad", HELLO))
    await corrupt_state(strict, result.checkpoint.id, "not valid json")
    lenient = await ironstore_connect(lenient_session_decoding=True)
    with caplog.at_level(logging.WARNING, logger="ironstore.sessions"):
        cp = await lenient.get_checkpoint(result.checkpoint.id)
    assert cp.state == CheckpointState()
    assert str(result.checkpoint.id) in caplog.text
    assert (await lenient.get_session(result.session_id)).active_checkpoint == cp
    with pytest.raises(CorruptDataError):
        await strict.get_checkpoint(result.checkpoint.id)


async def test_legacy_state_forms_decode(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("legacy", HELLO))
    await corrupt_state(db, result.checkpoint.id, '{"messages":[{"role":"user","content":"test"}],"extra":1}')
    state = (await db.get_checkpoint(result.checkpoint.id)).state
    assert state == CheckpointState(messages=[{"role": "user", "content": "test"}], metadata=None)
    await corrupt_state(db, result.checkpoint.id, "{}")
    assert (await db.get_checkpoint(result.checkpoint.id)).state == CheckpointState()


def test_state_decoder_null_and_empty() -> None:
    assert CheckpointState.from_json(None) == CheckpointState()
    assert CheckpointState.from_json("{}") == CheckpointState()
    assert CheckpointState.from_json('{"messages":[],"metadata":null}').metadata is None


async def test_stored_enum_outside_domain_is_refused_by_schema(db: Database) -> None:
    sid = await new_session(db)
    with pytest.raises(IntegrityError):
        async with db._write() as conn:
            await conn.execute(update(sessions).where(sessions.c.id == sid).values(visibility="public"))
    with pytest.raises(IntegrityError):
        async with db._write() as conn:
            await conn.execute(update(sessions).where(sessions.c.id == sid).values(status="DELETED"))
    assert (await db.get_session(sid)).status is SessionStatus.ACTIVE


def test_stored_enum_decoder_rejects_unknown() -> None:
    with pytest.raises(CorruptDataError):
        sessions_module._stored_enum("public", SessionVisibility, "visibility")
    assert sessions_module._stored_enum("PUBLIC", SessionVisibility, "visibility") is SessionVisibility.PUBLIC


# =========================================================================== errors (34, 35)


def test_error_variants_map_onto_the_hierarchy() -> None:
    """Scenario 34, decided differently: one hierarchy (design §10), `str()` is the bare message.

    The reference's `Not found: missing` prefixes are not added: every store shares these classes
    and the class itself names the variant.
    """
    cases: list[tuple[DatabaseError, type[DatabaseError], str]] = [
        (NotFoundError("missing"), NotFoundError, "missing"),
        (InternalStorageError("broken"), QueryError, "broken"),
        (StorageConnectionError("timeout"), BackendUnavailableError, "timeout"),
        (InvalidRequestError("bad"), InvalidInputError, "bad"),
    ]
    for err, cls, message in cases:
        assert type(err) is cls and isinstance(err, ironstore.StorageError)
        assert str(err) == message
    assert issubclass(NotFoundError, LookupError) and issubclass(InvalidRequestError, ValueError)
    assert issubclass(CorruptDataError, DatabaseError) and not issubclass(CorruptDataError, NotFoundError)


def test_storage_error_from_a_plain_message_is_internal() -> None:
    """Scenario 35: `StorageError.from_message(text)` builds the Internal variant (`QueryError`)."""
    err = ironstore.StorageError.from_message("boom")
    assert type(err) is InternalStorageError is QueryError
    assert str(err) == "boom"
    assert type(DatabaseError.from_message("x")) is QueryError


# =========================================================================== value types (36-49)


def test_request_and_query_helpers() -> None:
    req = CreateSessionRequest.new("T", HELLO).with_cwd("/c").with_visibility(SessionVisibility.PUBLIC)
    assert (req.title, req.cwd, req.visibility, len(req.initial_state.messages)) == (
        "T", "/c", SessionVisibility.PUBLIC, 1,
    )
    base = CreateSessionRequest.new("T", HELLO)
    assert base.with_cwd("/x") is not base and base.cwd is None
    upd = UpdateSessionRequest().with_title("n").with_visibility(SessionVisibility.PUBLIC)
    assert (upd.title, upd.visibility) == ("n", SessionVisibility.PUBLIC)
    parent = uuid.uuid4()
    cp = CreateCheckpointRequest.new(HELLO).with_parent(parent)
    assert cp.parent_id == parent and len(cp.state.messages) == 1
    with_meta = CreateCheckpointRequest.new(HELLO).with_metadata({"trimmed_up_to_index": 10})
    assert with_meta.state.metadata == {"trimmed_up_to_index": 10} and with_meta.state.messages == HELLO
    assert CreateCheckpointRequest.new(HELLO).state.metadata is None
    q = ListSessionsQuery().with_limit(10).with_offset(5).with_search("test")
    assert (q.limit, q.offset, q.search) == (10, 5, "test")
    q2 = ListSessionsQuery().with_status(SessionStatus.DELETED).with_visibility(SessionVisibility.PUBLIC).with_deleted()
    assert (q2.status, q2.visibility, q2.include_deleted) == (SessionStatus.DELETED, SessionVisibility.PUBLIC, True)
    cq = ListCheckpointsQuery().with_limit(5).with_state().with_offset(2)
    assert (cq.limit, cq.include_state, cq.offset) == (5, True, 2)


def test_enum_spellings_and_defaults() -> None:
    assert [str(v) for v in SessionVisibility] == ["PRIVATE", "PUBLIC"]
    assert [str(v) for v in SessionStatus] == ["ACTIVE", "DELETED"]
    assert [str(v) for v in BackendKind] == ["stakpak-api", "local", "postgres"]
    assert CreateSessionRequest("t").visibility is SessionVisibility.PRIVATE
    assert ListSessionsQuery().status is None


def test_checkpoint_state_json() -> None:
    assert CheckpointState().messages == [] and CheckpointState().message_count == 0
    assert CheckpointState().to_json() == '{"messages":[]}'
    two = CheckpointState(messages=msgs(2))
    back = CheckpointState.from_json(two.to_json())
    assert back == two and back.metadata is None
    meta = CheckpointState(messages=[], metadata={"trimmed_up_to_index": 5})
    assert meta.to_json() == '{"messages":[],"metadata":{"trimmed_up_to_index":5}}'
    assert CheckpointState.from_json(meta.to_json()).metadata == {"trimmed_up_to_index": 5}
    assert CheckpointState.from_json('{"messages":[{"role":"user","content":"test"}]}').message_count == 1
    assert CheckpointState(metadata={}).to_json() == '{"messages":[],"metadata":{}}'
    assert CheckpointState.from_json('{"messages":[],"metadata":{}}').metadata == {}
    for bad in (
        CheckpointState(metadata={"x": math.nan}),
        CheckpointState(metadata=float("inf")),
        CheckpointState(metadata={"s": "\ud800"}),
        CheckpointState(metadata=object()),
        CheckpointState(messages=["not a mapping"]),  # type: ignore[list-item]
        CheckpointState(messages="abc"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInputError):
            bad.to_json()


def test_session_stats_and_backend_info_values() -> None:
    stats = SessionStats()
    counters = (
        stats.total_sessions, stats.total_tool_calls, stats.successful_tool_calls, stats.failed_tool_calls,
        stats.aborted_tool_calls, stats.sessions_with_activity,
    )
    assert counters == (0, 0, 0, 0, 0, 0)
    assert stats.total_time_saved_seconds is None and stats.tools_usage == []
    info = BackendInfo(kind=BackendKind.LOCAL, store_path="/x.db")
    assert info.to_dict() == {"kind": "local", "store_path": "/x.db"}


def test_records_are_frozen_and_exported() -> None:
    cp = CheckpointState()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cp.metadata = 1  # type: ignore[misc]
    assert ironstore.Session is not None and ironstore.Checkpoint is Checkpoint  # type: ignore[attr-defined]
    assert isinstance(ironstore.Database, type)


async def test_database_satisfies_protocol(db: Database) -> None:
    assert isinstance(db, ironstore.SessionStore)
    info = db.backend_info()
    if db.backend == "postgres":
        assert info.kind is BackendKind.POSTGRES and info.endpoint and "***" not in (info.store_path or "")
    else:
        assert info.kind is BackendKind.LOCAL and info.store_path


# =========================================================================== metadata through the store (50-54)


async def test_metadata_resume_flow(db: Database) -> None:
    result = await db.create_session(CreateSessionRequest.new("meta", HELLO))
    assert (await db.get_active_checkpoint(result.session_id)).state.metadata is None
    c5 = await db.create_checkpoint(
        result.session_id,
        CreateCheckpointRequest.new(msgs(6)).with_parent(result.checkpoint.id).with_metadata({"trimmed_up_to_message_index": 5}),
    )
    resumed = await db.get_active_checkpoint(result.session_id)
    assert resumed.id == c5.id and resumed.state.metadata == {"trimmed_up_to_message_index": 5}
    c8 = await db.create_checkpoint(
        result.session_id,
        CreateCheckpointRequest.new([*resumed.state.messages, *msgs(3)])
        .with_parent(resumed.id)
        .with_metadata({"trimmed_up_to_message_index": 8}),
    )
    assert (await db.get_active_checkpoint(result.session_id)).state.metadata == {"trimmed_up_to_message_index": 8}
    mid = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(1)).with_parent(c8.id))
    listed = await db.list_checkpoints(result.session_id, ListCheckpointsQuery().with_state())
    assert listed.total == 4
    assert [c.state.metadata if c.state else "missing" for c in listed.checkpoints] == [
        None, {"trimmed_up_to_message_index": 5}, {"trimmed_up_to_message_index": 8}, None,
    ]
    assert listed.checkpoints[-1].id == mid.id


async def test_chain_keeps_each_checkpoints_metadata(db: Database) -> None:
    """Scenario 53: chain (no metadata, index 5, index 8); the active one has 8; 4 listed with state."""
    result = await db.create_session(CreateSessionRequest.new("chain-meta", HELLO))
    plain = await db.create_checkpoint(
        result.session_id, CreateCheckpointRequest.new(msgs(2)).with_parent(result.checkpoint.id)
    )
    five = await db.create_checkpoint(
        result.session_id, CreateCheckpointRequest.new(msgs(6)).with_parent(plain.id).with_metadata({"trimmed_up_to_message_index": 5})
    )
    eight = await db.create_checkpoint(
        result.session_id, CreateCheckpointRequest.new(msgs(9)).with_parent(five.id).with_metadata({"trimmed_up_to_message_index": 8})
    )
    assert [(await db.get_checkpoint(c.id)).state.metadata for c in (plain, five, eight)] == [
        None, {"trimmed_up_to_message_index": 5}, {"trimmed_up_to_message_index": 8},
    ]
    active = await db.get_active_checkpoint(result.session_id)
    assert active.id == eight.id and active.state.metadata == {"trimmed_up_to_message_index": 8}
    listed = await db.list_checkpoints(result.session_id, ListCheckpointsQuery().with_state())
    assert listed.total == 4 and len(listed.checkpoints) == 4
    assert [c.id for c in listed.checkpoints] == [result.checkpoint.id, plain.id, five.id, eight.id]
    assert [c.state.metadata if c.state else "missing" for c in listed.checkpoints] == [
        None, None, {"trimmed_up_to_message_index": 5}, {"trimmed_up_to_message_index": 8},
    ]


async def test_empty_metadata_object_round_trips(db: Database) -> None:
    sid = await new_session(db)
    cp = await db.create_checkpoint(sid, CreateCheckpointRequest.new(HELLO).with_metadata({}))
    assert cp.state.metadata == {}
    assert (await db.get_checkpoint(cp.id)).state.metadata == {}
    scalar = await db.create_checkpoint(sid, CreateCheckpointRequest.new(HELLO).with_metadata(0))
    assert (await db.get_checkpoint(scalar.id)).state.metadata == 0


# =========================================================================== atomicity / integrity (63-67, 73)


async def test_create_session_is_atomic_when_checkpoint_insert_fails(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = await db.create_session(CreateSessionRequest.new("existing", HELLO))
    before = await counts(db)
    ids = iter([uuid.uuid4(), existing.checkpoint.id])  # session id, then a colliding checkpoint id
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
    with pytest.raises(DatabaseError) as info:
        await db.create_session(CreateSessionRequest.new("doomed", HELLO))
    monkeypatch.undo()
    assert not isinstance(info.value, NotFoundError)
    assert await counts(db) == before
    assert [s.title for s in (await db.list_sessions()).sessions] == ["existing"]


@contextlib.contextmanager
def captured_statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every (SQL text, parameters) the driver receives while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_update_session_is_one_statement_and_atomic(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 64: title + visibility in ONE UPDATE; a failure after it leaves both unchanged."""
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    sid = await new_session(db, "before")
    clock.advance(5)
    with captured_statements(db) as seen:
        updated = await db.update_session(sid, UpdateSessionRequest(title="after", visibility=SessionVisibility.PUBLIC))
    writes = [sql for sql, _ in seen if sql.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("UPDATE SESSIONS")
    assert "title" in writes[0] and "visibility" in writes[0] and "updated_at" in writes[0]
    assert (updated.title, updated.visibility, updated.updated_at) == ("after", SessionVisibility.PUBLIC, clock.now)

    other = await new_session(db, "untouched")
    before = await db.get_session(other)
    clock.advance(5)

    async def failing_reread(self: Any, conn: Any, session_id: uuid.UUID, *, include_deleted: bool) -> Any:
        raise QueryError("injected failure after the UPDATE")

    monkeypatch.setattr(sessions_module.SessionRepository, "_load_session", failing_reread)
    with pytest.raises(QueryError, match="injected"):
        await db.update_session(other, UpdateSessionRequest(title="lost", visibility=SessionVisibility.PUBLIC))
    monkeypatch.undo()
    assert await db.get_session(other) == before  # title, visibility and updated_at all unchanged


async def test_create_checkpoint_is_atomic_when_insert_fails(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D1: the session's updated_at bump and the checkpoint insert commit together or not at all."""
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    result = await db.create_session(CreateSessionRequest.new("atomic", HELLO))
    before_session = await db.get_session(result.session_id)
    before = await counts(db)
    clock.advance(50)
    monkeypatch.setattr(uuid, "uuid4", lambda: result.checkpoint.id)  # the insert collides
    with pytest.raises(IntegrityError):
        await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(2)))
    monkeypatch.undo()
    assert await counts(db) == before
    assert await db.get_session(result.session_id) == before_session


async def test_listing_values_are_bound_parameters(db: Database) -> None:
    """D11 / issue: filters, LIMIT and OFFSET reach the driver as parameters, never as SQL text."""
    sid = await new_session(db, "zqmarker title")
    with captured_statements(db) as seen:
        await db.list_sessions(
            ListSessionsQuery(limit=4321, offset=8765, search="zqmarker", visibility=SessionVisibility.PUBLIC)
        )
        await db.list_sessions(ListSessionsQuery(limit=4322))
        await db.list_checkpoints(sid, ListCheckpointsQuery(limit=4323, offset=8766))
    assert seen
    text_sql = " ".join(sql for sql, _ in seen)
    for literal in ("4321", "8765", "4322", "4323", "8766", "zqmarker", "'PUBLIC'", "'ACTIVE'", str(sid)):
        assert literal not in text_sql
    params = [repr(p) for _, p in seen]
    for value in ("4321", "8765", "4322", "4323", "8766", "zqmarker", "PUBLIC", "ACTIVE"):
        assert any(value in p for p in params), value
    assert any("LIMIT" in sql.upper() and "OFFSET" in sql.upper() for sql, _ in seen)


async def test_checkpoint_lookups_use_the_session_id_index(db: Database) -> None:
    """Issue: an index on checkpoints.session_id (the unique (session_id, seq) index) serves lookups."""
    sid = await new_session(db)
    for i in range(3):
        await db.create_checkpoint(sid, CreateCheckpointRequest.new(msgs(i + 1)))
    queries = [
        "SELECT id FROM checkpoints WHERE session_id = :sid ORDER BY seq DESC LIMIT 1",  # active checkpoint
        "SELECT id, message_count FROM checkpoints WHERE session_id = :sid ORDER BY seq",  # listing
        "SELECT count(*) FROM checkpoints WHERE session_id = :sid",  # total
    ]
    async with db._read() as conn:
        for query in queries:
            if db.backend == "postgres":
                await conn.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join(r[0] for r in (await conn.execute(text("EXPLAIN " + query), {"sid": sid})).all())
            else:
                rows = (await conn.execute(text("EXPLAIN QUERY PLAN " + query), {"sid": str(sid)})).all()
                plan = "\n".join(str(r[-1]) for r in rows)
                assert "TEMP B-TREE" not in plan.upper(), plan  # ordered by the index, no sort
            assert "uq_checkpoints_session_seq" in plan, plan


async def test_create_checkpoint_unknown_session(db: Database) -> None:
    await new_session(db)
    before = await counts(db)
    with pytest.raises(NotFoundError, match="Session .* not found"):
        await db.create_checkpoint(uuid.uuid4(), CreateCheckpointRequest.new(HELLO))
    assert await counts(db) == before


async def test_create_checkpoint_bad_parent(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    a = await db.create_session(CreateSessionRequest.new("a", HELLO))
    b = await db.create_session(CreateSessionRequest.new("b", HELLO))
    before = await counts(db)
    b_updated = (await db.get_session(b.session_id)).updated_at
    clock.advance(50)
    for parent in (uuid.uuid4(), a.checkpoint.id):
        with pytest.raises(InvalidInputError, match="parent"):
            await db.create_checkpoint(b.session_id, CreateCheckpointRequest.new(HELLO).with_parent(parent))
    assert await counts(db) == before
    assert (await db.get_session(b.session_id)).updated_at == b_updated  # the bump was rolled back


async def test_create_checkpoint_bad_input_writes_nothing(db: Database) -> None:
    sid = await new_session(db)
    before = await counts(db)
    bad_requests: list[Any] = [
        CreateCheckpointRequest.new(HELLO).with_metadata({"x": math.nan}),
        CreateCheckpointRequest.new(HELLO).with_metadata({"s": "\udc00"}),
        CreateCheckpointRequest(state=CheckpointState(messages=[["role", "user"]])),  # type: ignore[list-item]
        CreateCheckpointRequest(state={"messages": []}),  # type: ignore[arg-type]
        CreateCheckpointRequest(state=CheckpointState(), parent_id="zzz"),  # type: ignore[arg-type]
        {"state": CheckpointState()},
    ]
    for bad in bad_requests:
        with pytest.raises(InvalidInputError):
            await db.create_checkpoint(sid, bad)
    with pytest.raises(InvalidInputError):
        await db.create_checkpoint("nope", CreateCheckpointRequest.new(HELLO))  # type: ignore[arg-type]
    assert await counts(db) == before


async def test_create_session_bad_input_writes_nothing(db: Database) -> None:
    bad_requests: list[Any] = [
        CreateSessionRequest(title="a\x00b"),
        CreateSessionRequest(title=None),  # type: ignore[arg-type]
        CreateSessionRequest(title="t", visibility="hidden"),  # type: ignore[arg-type]
        CreateSessionRequest(title="t", cwd=b"/bytes"),  # type: ignore[arg-type]
        CreateSessionRequest(title="t", cwd="/nul\x00"),
        CreateSessionRequest(title="t", initial_state=CheckpointState(metadata={"n": math.inf})),
        CreateSessionRequest(title="t", initial_state=[]),  # type: ignore[arg-type]
        {"title": "t"},
    ]
    for bad in bad_requests:
        with pytest.raises(InvalidInputError):
            await db.create_session(bad)
    assert await counts(db) == (0, 0)


async def test_empty_title_and_cwd_stored_as_given(db: Database) -> None:
    sid = (await db.create_session(CreateSessionRequest(title="", cwd=""))).session_id
    session = await db.get_session(sid)
    assert (session.title, session.cwd) == ("", "")


async def test_writes_to_deleted_session_rejected(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    sid = await new_session(db)
    await db.delete_session(sid)
    deleted = await db.get_session(sid, include_deleted=True)
    before = await counts(db)
    clock.advance(100)
    with pytest.raises(InvalidInputError, match="deleted"):
        await db.create_checkpoint(sid, CreateCheckpointRequest.new(HELLO))
    with pytest.raises(InvalidInputError, match="deleted"):
        await db.update_session(sid, UpdateSessionRequest(title="x"))
    with pytest.raises(InvalidInputError, match="deleted"):
        await db.update_session(sid, UpdateSessionRequest())  # an empty update too
    assert await counts(db) == before
    assert await db.get_session(sid, include_deleted=True) == deleted
    assert (await db.list_checkpoints(sid)).total == 1
    assert (await db.get_checkpoint(deleted.active_checkpoint.id)).session_id == sid  # type: ignore[union-attr]


async def test_delete_unknown_and_idempotent(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    with pytest.raises(NotFoundError):
        await db.delete_session(uuid.uuid4())
    sid = await new_session(db)
    clock.advance(10)
    await db.delete_session(sid)
    first = await db.get_session(sid, include_deleted=True)
    assert first.deleted_at == first.updated_at == clock.now
    clock.advance(10)
    await db.delete_session(sid)
    assert await db.get_session(sid, include_deleted=True) == first
    with pytest.raises(InvalidInputError):
        await db.delete_session(None)  # type: ignore[arg-type]


async def test_driver_error_during_read_is_not_not_found(db: Database) -> None:
    sid = await new_session(db)
    async with db._write() as conn:
        await conn.execute(text("DROP TABLE checkpoints"))
    with pytest.raises(DatabaseError) as info:
        await db.get_session(sid)
    assert not isinstance(info.value, NotFoundError)


# =========================================================================== values (69, 70, 82, 83)


async def test_unknown_role_and_extra_keys_round_trip(db: Database) -> None:
    messages = [{"role": "critic", "content": [{"type": "text", "text": "hi"}], "x-plugin": {"a": [1, 2.5, None]}}]
    sid = await new_session(db, "verbatim", messages)
    assert (await db.get_active_checkpoint(sid)).state.messages == messages


async def test_same_instant_and_backwards_clock(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    result = await db.create_session(CreateSessionRequest.new("clock", HELLO))
    same = [await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(i + 1))) for i in range(3)]
    assert (await db.get_active_checkpoint(result.session_id)).id == same[-1].id
    clock.now -= timedelta(hours=1)
    back = await db.create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(7)))
    assert (await db.get_active_checkpoint(result.session_id)).id == back.id
    listed = await db.list_checkpoints(result.session_id)
    assert [c.id for c in listed.checkpoints] == [result.checkpoint.id, *(c.id for c in same), back.id]
    (summary,) = (await db.list_sessions()).sessions
    assert summary.active_checkpoint_id == back.id and summary.message_count == 7


async def test_unicode_nul_and_emoji_state(db: Database) -> None:
    messages = [{"role": "user", "content": "nul:\x00 ünïcödé 日本語 🚀"}, {"role": "user", "content": "\u2028\t\n"}]
    result = await db.create_session(CreateSessionRequest("🚀 émoji title", initial_state=CheckpointState(messages, {"k\x00": "v"})))
    cp = await db.get_checkpoint(result.checkpoint.id)
    assert cp.state.messages == messages and cp.state.metadata == {"k\x00": "v"}
    assert (await db.get_session(result.session_id)).title == "🚀 émoji title"


async def test_returned_values_equal_reads(db: Database) -> None:
    clockless = await db.create_session(
        CreateSessionRequest("eq", initial_state=CheckpointState([{"role": "user", "t": (1, 2), 3: "k"}]))  # type: ignore[dict-item]
    )
    stored = await db.get_checkpoint(clockless.checkpoint.id)
    assert clockless.checkpoint == stored
    assert stored.state.messages == [{"role": "user", "t": [1, 2], "3": "k"}]
    assert stored.created_at.tzinfo == UTC and stored.created_at.microsecond % 1000 == 0
    cp = await db.create_checkpoint(clockless.session_id, CreateCheckpointRequest.new(HELLO).with_metadata((1, 2)))
    assert await db.get_checkpoint(cp.id) == cp and cp.state.metadata == [1, 2]
    session = await db.get_session(clockless.session_id)
    assert session.updated_at == cp.created_at


async def test_naive_clock_is_rejected_before_writing(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(clock=lambda: datetime(2030, 1, 1))
    with pytest.raises(InvalidInputError):
        await db.create_session(CreateSessionRequest.new("naive", HELLO))
    assert await counts(db) == (0, 0)


# =========================================================================== concurrency (60, 61, issue)


async def test_concurrent_checkpoint_writers_get_gap_free_seq(db: Database, ironstore_connect: Connect) -> None:
    result = await db.create_session(CreateSessionRequest.new("race", HELLO))
    other = await ironstore_connect()
    created = await asyncio.gather(
        *(
            (db if i % 2 else other).create_checkpoint(result.session_id, CreateCheckpointRequest.new(msgs(i + 1)))
            for i in range(20)
        )
    )
    async with db._read() as conn:
        rows = (
            await conn.execute(
                select(checkpoints.c.id, checkpoints.c.seq)
                .where(checkpoints.c.session_id == result.session_id)
                .order_by(checkpoints.c.seq)
            )
        ).all()
    assert [r.seq for r in rows] == list(range(1, 22))
    assert {r.id for r in rows} == {result.checkpoint.id, *(c.id for c in created)}
    last = rows[-1].id
    assert (await db.get_active_checkpoint(result.session_id)).id == last
    listed = await db.list_checkpoints(result.session_id)
    assert [c.id for c in listed.checkpoints] == [r.id for r in rows] and listed.total == 21


async def test_concurrent_create_sessions(db: Database) -> None:
    results = await asyncio.gather(*(db.create_session(CreateSessionRequest.new(f"c{i}", HELLO)) for i in range(20)))
    assert len({r.session_id for r in results}) == 20
    assert (await db.list_sessions()).total == 20
    assert await counts(db) == (20, 20)


_LOCK_HOLDER = """
import sys
import libsql_experimental as libsql
conn = libsql.connect(sys.argv[1], isolation_level=None)
for statement in sys.argv[2:]:
    conn.execute(statement)
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""

_OPEN_AND_WRITE = """
import asyncio, sys, ironstore
from ironstore.records.sessions import CreateSessionRequest
async def main():
    db = await ironstore.connect(sys.argv[1])
    try:
        if sys.argv[2] == "migrate":
            await db.run_migrations()
        result = await db.create_session(CreateSessionRequest.new(sys.argv[3], []))
        print(result.session_id, await db.current_revision(), flush=True)
    finally:
        await db.close()
asyncio.run(main())
"""


async def _python(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _wait_behind_a_libsql_lock(path: str, hold: list[str], waiter_args: list[str]) -> str:
    """Run a writer (another process) while a third process holds an exclusive lock on `path`.

    Both sides are separate processes because the libSQL driver keeps the GIL while it waits on
    `busy_timeout`: a lock holder in the waiter's own process could not release it meanwhile.
    Returns the waiter's output once the holder has released the lock.
    """
    holder = await _python(_LOCK_HOLDER, path, *hold)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert (await holder.stdout.readline()).strip() == b"locked"
        waiter = await _python(_OPEN_AND_WRITE, *waiter_args)
        await asyncio.sleep(0.3)
        assert waiter.returncode is None  # still waiting for the lock
        holder.stdin.write(b"go\n")
        await holder.stdin.drain()
        out, err = await waiter.communicate()
        assert waiter.returncode == 0, err.decode()[-2000:]
        assert (await holder.stdout.readline()).strip() == b"released"
        return out.decode()
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()


async def test_create_session_waits_for_a_held_write_lock(
    db: Database, ironstore_connect: Connect, ironstore_url: str
) -> None:
    """Scenario 61: a create_session issued while another connection holds the write lock waits.

    libSQL: another process holds `BEGIN EXCLUSIVE` + an insert; PostgreSQL: another connection
    holds `LOCK TABLE sessions IN EXCLUSIVE MODE` + an insert. Then the waiter succeeds.
    """
    if db.backend == "postgres":
        other = await ironstore_connect()
        async with db._write() as conn:
            await conn.execute(text("LOCK TABLE sessions IN EXCLUSIVE MODE"))
            stamp = datetime(2030, 1, 1, tzinfo=UTC)
            await conn.execute(
                insert(sessions).values(id=uuid.uuid4(), title="holder", visibility="PRIVATE", status="ACTIVE",
                                        created_at=stamp, updated_at=stamp)
            )
            waiting = asyncio.create_task(other.create_session(CreateSessionRequest.new("waiter", HELLO)))
            await asyncio.sleep(0.2)
            assert not waiting.done()
        waiter_id = (await waiting).session_id
    else:
        now = "2030-01-01T00:00:00.000Z"
        hold = [
            "BEGIN EXCLUSIVE",
            (
                "INSERT INTO sessions (id, title, visibility, status, created_at, updated_at) "
                f"VALUES ('{uuid.uuid4()}', 'holder', 'PRIVATE', 'ACTIVE', '{now}', '{now}')"
            ),
        ]
        out = await _wait_behind_a_libsql_lock(str(db.config.path), hold, [ironstore_url, "-", "waiter"])
        waiter_id = uuid.UUID(out.split()[0])
    assert (await db.get_session(waiter_id)).title == "waiter"
    listed = await db.list_sessions()
    assert listed.total == 2 and {s.title for s in listed.sessions} == {"holder", "waiter"}


PRAGMAS = ("busy_timeout", "synchronous", "journal_mode", "foreign_keys")


async def _pragmas_of_pooled_connections(db: Database, n: int = 3) -> list[list[Any]]:
    """PRAGMA values of `n` read connections and one write connection, all checked out at once."""
    async with contextlib.AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(db.engine.connect()) for _ in range(n)]
        conns.append(await stack.enter_async_context(db._write_engine.connect()))
        raw = {id((await c.get_raw_connection()).dbapi_connection) for c in conns}
        assert len(raw) == n + 1  # really distinct pooled connections
        return [[(await c.exec_driver_sql(f"PRAGMA {p}")).scalar() for p in PRAGMAS] for c in conns]


async def test_every_libsql_connection_is_configured(db: Database) -> None:
    """Scenario 58 (SQLite only): busy_timeout 5000, synchronous NORMAL, WAL, foreign keys on."""
    if db.backend != "libsql":
        pytest.skip("SQLite/libSQL connection setup; PostgreSQL has no PRAGMAs")
    for values in await _pragmas_of_pooled_connections(db):
        assert [values[0], values[1], str(values[2]).lower(), values[3]] == [5000, 1, "wal", 1]


async def test_custom_busy_timeout_reaches_every_connection(
    ironstore_backend: str, request: pytest.FixtureRequest
) -> None:
    """Scenario 59 (SQLite only): the store sets the timeout itself; a custom one is on every connection."""
    if ironstore_backend != "libsql":
        pytest.skip("SQLite/libSQL busy timeout")
    url: str = request.getfixturevalue("ironstore_url")
    db = await ironstore.connect(url + "?busy_timeout=1234")
    try:
        assert {values[0] for values in await _pragmas_of_pooled_connections(db)} == {1234}
        sid = await new_session(db)  # and it is a working store
        assert (await db.get_session(sid)).id == sid
    finally:
        await db.close()


async def _open_and_migrate(url: str) -> Database:
    db = await ironstore.connect(url)
    try:
        await db.run_migrations()
    except BaseException:
        await db.close()
        raise
    return db


async def test_opening_waits_for_a_held_lock(blank_url: str, ironstore_backend: str) -> None:
    """Scenario 62: opening (connect + migrate) waits while another connection holds the lock.

    libSQL: another process holds an exclusive lock on the (new) file; PostgreSQL: another
    session holds the migration advisory lock. Opening then succeeds and the store works.
    """
    if ironstore_backend == "libsql":
        hold = ["CREATE TABLE lock_holder (x INTEGER)", "BEGIN EXCLUSIVE", "INSERT INTO lock_holder VALUES (1)"]
        await _wait_behind_a_libsql_lock(str(make_url(blank_url).database), hold, [blank_url, "migrate", "opened"])
        db = await ironstore.connect(blank_url)
    else:
        import asyncpg  # type: ignore[import-untyped]

        holder = await asyncpg.connect(_asyncpg_dsn(blank_url))
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", migrations.ADVISORY_LOCK_KEY)
            opening = asyncio.create_task(_open_and_migrate(blank_url))
            await asyncio.sleep(0.3)
            assert not opening.done()
            await holder.execute("SELECT pg_advisory_unlock($1)", migrations.ADVISORY_LOCK_KEY)
        finally:
            await holder.close()
        db = await opening
    try:
        assert await db.current_revision() == migrations.head_revision(db.backend)
        sid = await new_session(db, "after the lock")
        assert (await db.get_session(sid)).title == "after the lock"
    finally:
        await db.close()


# =========================================================================== migrations (55-57, 79-81)


async def test_indexes_exist_after_migrating(db: Database) -> None:
    def names(sync: Any) -> tuple[set[str], set[str], list[Any]]:
        insp = inspect(sync)
        return (
            {i["name"] for i in insp.get_indexes("sessions")},
            {i["name"] for i in insp.get_indexes("checkpoints")},
            [i for i in insp.get_indexes("checkpoints") if i["name"] == "uq_checkpoints_session_seq"],
        )

    async with db._read() as conn:
        s_idx, c_idx, uq = await conn.run_sync(names)
    assert {"ix_sessions_status_updated", "ix_sessions_updated"} <= s_idx
    assert {"uq_checkpoints_session_seq", "ix_checkpoints_parent"} <= c_idx
    assert uq[0]["unique"] and uq[0]["column_names"] == ["session_id", "seq"]


async def test_schema_has_no_drift_for_session_tables(db: Database) -> None:
    async with db._write_engine.connect() as conn:
        diffs = await conn.run_sync(migrations.schema_drift, db.backend)
        head = await conn.run_sync(migrations.current_revision)
    assert head == migrations.head_revision(db.backend)
    ours = [d for d in diffs if "sessions" in repr(d) or "checkpoints" in repr(d)]
    assert ours == []


async def _migrate(db: Database, direction: str, revision: str) -> None:
    async with migrations.in_process_lock(), db._write_engine.connect() as conn:
        fn = migrations.upgrade if direction == "up" else migrations.downgrade
        await conn.run_sync(fn, db.backend, revision)
        await conn.commit()


def _chain(backend: str) -> list[str]:
    """The backend's revisions, oldest (IronClaw baseline) first."""
    script = ScriptDirectory.from_config(migrations.alembic_config(backend))
    return [r.revision for r in script.walk_revisions()][::-1]


def _sessions_revision(backend: str) -> str:
    return "ironstore_0006" if backend == "postgres" else "ironstore_ls_0006"


def _before_sessions(backend: str) -> str:
    chain = _chain(backend)
    return chain[chain.index(_sessions_revision(backend)) - 1]


async def _table_names(db: Database) -> set[str]:
    async with db._read() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def _rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    async with db._read() as conn:
        return [tuple(r) for r in (await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))).all()]


async def test_upgrade_downgrade_upgrade_keeps_other_tables(db: Database) -> None:
    previous = "ironstore_0005" if db.backend == "postgres" else "ironstore_ls_0005"
    now = datetime(2030, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    async with db._write() as conn:
        await conn.execute(insert(settings).values(user_id="u", key="k", value={"a": 1}, updated_at=now))
    # IronClaw's own ledgers (libSQL `_migrations`, PostgreSQL `refinery_schema_history`), if the
    # baseline has them, coexist with ours (alembic_version) and are left untouched
    ledgers = {name: await _rows(db, name) for name in ("_migrations", "refinery_schema_history")
               if name in await _table_names(db)}
    await new_session(db, "lost on downgrade")

    await _migrate(db, "down", previous)
    tables = await _table_names(db)
    assert "sessions" not in tables and "checkpoints" not in tables and "settings" in tables
    async with db._read() as conn:
        assert (await conn.run_sync(migrations.current_revision)) == previous

    await _migrate(db, "up", "head")
    await _migrate(db, "down", previous)
    await _migrate(db, "up", "head")
    assert {"sessions", "checkpoints", "alembic_version"} <= await _table_names(db)
    async with db._read() as conn:
        rows = (await conn.execute(select(settings))).all()
        assert (await conn.run_sync(migrations.current_revision)) == migrations.head_revision(db.backend)
    assert [(r.user_id, r.key, r.value, r.updated_at) for r in rows] == [("u", "k", {"a": 1}, now)]
    assert {name: await _rows(db, name) for name in ledgers} == ledgers
    assert await counts(db) == (1, 1)  # parked by the downgrade, restored by the upgrade (ironstore.parking)
    sid = await new_session(db, "after")
    assert (await db.get_session(sid)).title == "after"


async def test_migrated_database_is_at_head_with_nothing_pending(db: Database) -> None:
    """Scenario 55: after opening, the current revision is the latest, all applied, none pending."""
    chain = _chain(db.backend)
    current = await db.current_revision()
    assert current == chain[-1] == migrations.head_revision(db.backend)
    script = ScriptDirectory.from_config(migrations.alembic_config(db.backend))
    assert [r.revision for r in script.iterate_revisions("heads", current)] == []  # pending
    applied = [r.revision for r in script.iterate_revisions(current, "base")][::-1]
    assert applied == chain and _sessions_revision(db.backend) in applied


async def test_step_down_to_base_and_back_up_in_order(db: Database) -> None:
    """Scenario 56: rolling back one at a time goes head -> ... -> base, then all re-apply in order."""
    chain = _chain(db.backend)
    removed: list[str] = []
    while (current := await db.current_revision()) is not None:
        await _migrate(db, "down", "-1")
        position = chain.index(current)
        assert await db.current_revision() == (chain[position - 1] if position else None)
        removed.append(current)
    assert removed == chain[::-1]
    assert await _table_names(db) <= {"alembic_version", "sqlite_sequence"}
    applied: list[str] = []
    while (current := await db.current_revision()) != chain[-1]:
        await _migrate(db, "up", "+1")
        applied.append(str(await db.current_revision()))
    assert applied == chain
    async with db._write_engine.connect() as conn:
        assert await conn.run_sync(migrations.schema_drift, db.backend) == []
    sid = await new_session(db, "rebuilt")
    assert (await db.get_session(sid)).title == "rebuilt"


async def test_downgrade_to_a_revision_removes_exactly_those_above(db: Database) -> None:
    """Scenario 57: downgrading to k removes exactly the revisions above k, newest first; current = k."""
    chain = _chain(db.backend)
    target = _before_sessions(db.backend)
    with captured_statements(db) as seen:
        await _migrate(db, "down", target)
    steps = [
        m.group(1)
        for sql, _ in seen
        if (m := re.search(r"UPDATE alembic_version SET version_num='([^']+)'", sql))
    ]
    above = chain[chain.index(target) + 1:]
    assert steps == chain[chain.index(target):-1][::-1]  # each step lands one revision lower
    assert len(steps) == len(above) and _sessions_revision(db.backend) in above
    assert await db.current_revision() == target
    tables = await _table_names(db)
    assert "sessions" not in tables and "checkpoints" not in tables
    assert {"conversations", "settings", "memory_documents"} <= tables  # revisions <= k kept


async def test_failed_migration_leaves_no_partial_tables(db: Database) -> None:
    """Scenario 80 (first half): a failure inside the sessions revision rolls all of it back.

    The fault is injected after `sessions` and its indexes were created, at `CREATE TABLE
    checkpoints`; afterwards neither table exists and alembic_version still names the previous
    revision, so the next run applies the revision again, cleanly.
    """
    previous = _before_sessions(db.backend)
    await _migrate(db, "down", previous)

    def fail(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if "CREATE TABLE checkpoints" in statement:
            raise RuntimeError("injected failure in the middle of the sessions revision")

    event.listen(db.engine.sync_engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(MigrationError, match="injected"):
            await db.run_migrations()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", fail)
    tables = await _table_names(db)
    assert "sessions" not in tables and "checkpoints" not in tables
    assert await db.current_revision() == previous
    await db.run_migrations()
    assert await db.current_revision() == migrations.head_revision(db.backend)
    assert (await db.list_sessions()).total == 0


async def test_two_processes_open_a_fresh_database_at_once(blank_url: str) -> None:
    """Scenario 80 (second half): two concurrent opens of a fresh database both succeed, applied once."""
    procs = [await _python(_OPEN_AND_WRITE, blank_url, "migrate", f"proc{i}") for i in range(2)]
    outputs = [await p.communicate() for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    db = await ironstore.connect(blank_url)
    try:
        head = migrations.head_revision(db.backend)
        assert {out.decode().split()[1] for out, _ in outputs} == {head}
        assert await _rows(db, "alembic_version") == [(head,)]  # one ledger row: applied once
        listed = await db.list_sessions()
        assert listed.total == 2 and {s.title for s in listed.sessions} == {"proc0", "proc1"}
        async with db._write_engine.connect() as conn:
            assert await conn.run_sync(migrations.schema_drift, db.backend) == []
    finally:
        await db.close()


async def test_ledger_coexists_with_ironclaws_migrations_table(db: Database) -> None:
    """Scenario 81: our ledger (Alembic's alembic_version) never touches IronClaw's `_migrations`.

    libSQL: the baseline has IronClaw's `_migrations(version, name, applied_at)`; PostgreSQL:
    an IronClaw-style `_migrations` is created for the test. Its rows and columns survive the
    sessions revision going down and up again.
    """
    if db.backend == "postgres":
        async with db._write() as conn:
            await conn.execute(text(
                "CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            ))
            await conn.execute(text("INSERT INTO _migrations VALUES (1, 'initial', '2024-01-01 00:00:00')"))

    async def columns() -> list[str]:
        async with db._read() as conn:
            return await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("_migrations")])

    before_rows, before_columns = await _rows(db, "_migrations"), await columns()
    assert before_rows and "version" in before_columns and "component" not in before_columns
    await _migrate(db, "down", _before_sessions(db.backend))
    await _migrate(db, "up", "head")
    assert await _rows(db, "_migrations") == before_rows
    assert await columns() == before_columns
    assert await _rows(db, "alembic_version") == [(migrations.head_revision(db.backend),)]
    sid = await new_session(db)
    assert (await db.get_session(sid)).id == sid


async def test_run_migrations_again_is_a_no_op(db: Database) -> None:
    sid = await new_session(db)
    await db.run_migrations()
    assert (await db.get_session(sid)).id == sid


async def test_hard_delete_cascades_to_checkpoints(db: Database) -> None:
    """Schema-level: ON DELETE CASCADE from sessions to checkpoints (for a future purge)."""
    sid = await new_session(db)
    await db.create_checkpoint(sid, CreateCheckpointRequest.new(HELLO))
    async with db._write() as conn:
        await conn.execute(sessions.delete().where(sessions.c.id == sid))
    assert await counts(db) == (0, 0)


async def test_unique_session_seq_enforced(db: Database) -> None:
    sid = await new_session(db)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(ironstore.errors.ConflictError):
        async with db._write() as conn:
            await conn.execute(
                insert(checkpoints).values(id=uuid.uuid4(), session_id=sid, parent_id=None, seq=1,
                                           state='{"messages":[]}', message_count=0, created_at=now, updated_at=now)
            )
    assert await counts(db) == (1, 1)


# =========================================================================== in-memory stores (85)


async def test_memory_databases_are_private_shared_and_leave_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 85 (libSQL): `:memory:` stores are isolated from each other, one database for all
    pooled connections of a store (concurrent transactions stay separate), no files after close()."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    a = await ironstore.connect("sqlite+libsql:///:memory:")
    b = await ironstore.connect("sqlite+libsql:///:memory:")
    try:
        await a.run_migrations()
        await b.run_migrations()
        assert a.backend_info() == BackendInfo(kind=BackendKind.LOCAL, store_path=":memory:")
        first = await a.create_session(CreateSessionRequest.new("only in a", HELLO))
        assert (await b.list_sessions()).total == 0
        with pytest.raises(NotFoundError):
            await b.get_session(first.session_id)

        async with a.engine.connect() as c1, a.engine.connect() as c2:  # two pooled connections
            raw = {id((await c.get_raw_connection()).dbapi_connection) for c in (c1, c2)}
            assert len(raw) == 2
            for conn in (c1, c2):
                assert (await conn.execute(select(func.count()).select_from(sessions))).scalar_one() == 1

        created: list[Any] = await asyncio.gather(
            *(a.create_session(CreateSessionRequest.new(f"c{i}", HELLO)) for i in range(10)),
            *(a.create_checkpoint(first.session_id, CreateCheckpointRequest.new(msgs(i + 1))) for i in range(10)),
            *(a.list_sessions() for _ in range(10)),
        )
        for result in created[:10]:
            assert (await a.get_session(result.session_id)).id == result.session_id  # no write lost
        listed = await a.list_checkpoints(first.session_id)
        assert listed.total == 11 and {c.id for c in listed.checkpoints} >= {c.id for c in created[10:20]}
        assert listed.checkpoints[0].message_count == 1  # the initial checkpoint, seq 1
        assert (await a.list_sessions()).total == 11
        assert (await b.list_sessions()).total == 0
    finally:
        await a.close()
        await b.close()
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


# =========================================================================== the map above


def test_scenario_map_is_complete() -> None:
    """The module docstring maps every spec scenario 1-85 to tests that exist in this file."""
    assert __doc__ is not None
    mapped: dict[int, list[str]] = {}
    for line in __doc__.splitlines():
        m = re.match(r"^\s+(\d+)\s+(test_\w+(?:, test_\w+)*)", line)
        if m:
            mapped[int(m.group(1))] = m.group(2).split(", ")
    assert sorted(mapped) == list(range(1, 86))
    defined = {name for name, value in globals().items() if name.startswith("test_") and callable(value)}
    named = {name for names in mapped.values() for name in names}
    assert named <= defined, sorted(named - defined)
