"""The type layer: compilation against both dialects (no database) and round trips through both
real databases (hypothesis-generated values)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable, DropTable

import ironstore
from ironstore.errors import CorruptDataError, InvalidInputError
from ironstore.types import (
    BoolInt,
    Bytes,
    DecimalText,
    Embedding,
    Int32,
    Int64,
    JSONType,
    SafeText,
    TextArray,
    Timestamp,
    UUIDType,
    _vector_from_binary,
    _vector_to_binary,
    format_timestamp,
    parse_timestamp,
)

PG = postgresql.dialect()
LS = sqlite.dialect()

scratch_metadata = MetaData()
scratch = Table(
    "ironstore_type_roundtrip",
    scratch_metadata,
    Column("pk", Integer, primary_key=True),
    Column("u", UUIDType),
    Column("ts", Timestamp),
    Column("j", JSONType),
    Column("jn", JSONType(null_as_json=True)),
    Column("d", DecimalText),
    Column("arr", TextArray),
    Column("b", BoolInt),
    Column("vec", Embedding),
    Column("raw", Bytes),
    Column("t", SafeText),
    Column("i32", Int32),
    Column("i64", Int64),
)


# ----------------------------------------------------------------------------- no database


def test_ddl_compiles_to_each_dialects_stored_form() -> None:
    pg_ddl = str(CreateTable(scratch).compile(dialect=PG))
    ls_ddl = str(CreateTable(scratch).compile(dialect=LS))
    for fragment in ("u UUID", "ts TIMESTAMP WITH TIME ZONE", "j JSONB", "d NUMERIC", "arr TEXT[]",
                     "b BOOLEAN", "vec VECTOR", "raw BYTEA", "i64 BIGINT", "i32 INTEGER"):
        assert fragment in pg_ddl, fragment
    for fragment in ("u TEXT", "ts TEXT", "j TEXT", "d TEXT", "arr TEXT", "b INTEGER",
                     "vec BLOB", "raw BLOB", "i64 INTEGER"):
        assert fragment in ls_ddl, fragment


def test_every_decorator_is_cacheable() -> None:
    for column in scratch.columns:
        if column.name != "pk":
            assert type(column.type).cache_ok is True, column.name


def test_bind_forms_per_dialect() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert UUIDType().process_bind_param(u, LS) == "12345678-1234-5678-1234-567812345678"
    assert UUIDType().process_bind_param(str(u).upper(), PG) == u
    ts = datetime(2026, 3, 7, 12, 34, 56, 789999, tzinfo=timezone(timedelta(hours=2)))
    assert Timestamp().process_bind_param(ts, LS) == "2026-03-07T10:34:56.789Z"
    assert Timestamp().process_bind_param(ts, PG) == datetime(2026, 3, 7, 10, 34, 56, 789000, tzinfo=UTC)
    assert DecimalText().process_bind_param(Decimal("1E+2"), LS) == "100"
    assert DecimalText().process_bind_param(Decimal("1.50"), LS) == "1.50"
    assert JSONType().process_bind_param({"a": "é", "b": [1]}, LS) == '{"a":"é","b":[1]}'
    assert JSONType().process_bind_param(None, LS) is None
    assert JSONType(null_as_json=True).process_bind_param(None, LS) == "null"
    assert TextArray().process_bind_param(["shell", "http"], LS) == '["shell","http"]'
    assert BoolInt().process_bind_param(True, LS) == 1
    assert Embedding().process_bind_param([1.0, -2.5], LS) == b"\x00\x00\x80?\x00\x00 \xc0"
    pg_vec = Embedding().process_bind_param([1.0, -2.5, 0.1], PG)  # asyncpg encodes it (binary codec)
    assert pg_vec.dtype == np.float32 and pg_vec.tolist() == np.array([1.0, -2.5, 0.1], np.float32).tolist()
    # pgvector's binary wire form: int16 dimension, int16 unused, big-endian float32 values
    wire = _vector_to_binary(pg_vec)
    assert wire == b"\x00\x03\x00\x00" + np.array([1.0, -2.5, 0.1], ">f4").tobytes()
    assert _vector_from_binary(wire).tobytes() == pg_vec.tobytes()
    rendered = insert(scratch).values(vec=[1.0, -2.5]).compile(dialect=PG, compile_kwargs={"literal_binds": True})
    assert "'[1,-2.5]'" in str(rendered)


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (Timestamp(), datetime(2026, 1, 1)),  # naive
        (Timestamp(), "2026-01-01T00:00:00Z"),
        (UUIDType(), "not-a-uuid"),
        (UUIDType(), 12),
        (DecimalText(), Decimal("NaN")),
        (DecimalText(), Decimal("Infinity")),
        (DecimalText(), Decimal("1" * 29)),
        (DecimalText(), Decimal("0." + "1" * 29)),
        (DecimalText(), float("nan")),
        (DecimalText(), "1.5"),
        (JSONType(), {"x": float("nan")}),
        (JSONType(), {"x": "a\x00b"}),
        (JSONType(), {"x": object()}),
        (TextArray(), "not-a-list"),
        (TextArray(), ["ok", 3]),
        (TextArray(), ["a\x00"]),
        (BoolInt(), 1),
        (Embedding(), [1.0, float("nan")]),
        (Embedding(), [1.0, float("inf")]),
        (Embedding(), []),
        (Embedding(), [[1.0], [2.0]]),
        (Embedding(), "1,2"),
        (Bytes(), "text"),
        (SafeText(), "a\x00b"),
        (SafeText(), 5),
        (SafeText(max_length=3), "abcd"),
        (Int32(), 2**31),
        (Int32(), True),
        (Int32(), 1.5),
        (Int64(), 2**63),
    ],
)
@pytest.mark.parametrize("dialect", [LS, PG], ids=["libsql", "postgres"])
def test_bad_values_are_invalid_input(type_: Any, value: Any, dialect: Any) -> None:
    if isinstance(type_, JSONType) and dialect is PG:
        from ironstore.types import dumps_json  # PG serialises through the engine's json_serializer

        with pytest.raises(InvalidInputError):
            dumps_json(value)
        return
    with pytest.raises(InvalidInputError):
        type_.process_bind_param(value, dialect)


def test_escaped_backslash_u0000_text_is_not_a_nul() -> None:
    assert JSONType().process_bind_param({"x": "\\u0000"}, LS) == '{"x":"\\\\u0000"}'


def test_timestamp_reader_accepts_ironclaw_and_legacy_forms() -> None:
    utc = UTC
    assert parse_timestamp("2026-03-07T12:34:56.789Z") == datetime(2026, 3, 7, 12, 34, 56, 789000, utc)
    assert parse_timestamp("2026-03-07T14:34:56.789123+02:00") == datetime(2026, 3, 7, 12, 34, 56, 789000, utc)
    assert parse_timestamp("2026-03-07 12:34:56.5") == datetime(2026, 3, 7, 12, 34, 56, 500000, utc)
    assert parse_timestamp("2026-03-07 12:34:56") == datetime(2026, 3, 7, 12, 34, 56, tzinfo=utc)
    assert Timestamp().process_result_value("", LS) is None
    with pytest.raises(CorruptDataError):
        parse_timestamp("yesterday")


def test_corrupt_stored_values_raise_corrupt_data() -> None:
    with pytest.raises(CorruptDataError):
        UUIDType().process_result_value("zzz", LS)
    with pytest.raises(CorruptDataError):
        JSONType().process_result_value("{not json", LS)
    with pytest.raises(CorruptDataError):
        DecimalText().process_result_value("1.2.3", LS)
    with pytest.raises(CorruptDataError):
        TextArray().process_result_value('{"a":1}', LS)
    with pytest.raises(CorruptDataError):
        Embedding().process_result_value(b"\x00\x01\x02", LS)
    assert DecimalText().process_result_value("", LS) is None  # IronClaw wrote "" for absent


def test_canonical_timestamp_sorts_like_time() -> None:
    a = datetime(999, 1, 1, tzinfo=UTC)
    b = datetime(2026, 1, 1, tzinfo=UTC)
    assert format_timestamp(a) < format_timestamp(b)
    assert len(format_timestamp(a)) == 24


# ----------------------------------------------------------------------------- real databases


class _LoopThread:
    """A private event loop in a thread, so hypothesis (sync) can drive async database calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def roundtrip_db(ironstore_url: str) -> Iterator[tuple[_LoopThread, ironstore.Database]]:
    runner = _LoopThread()
    db: ironstore.Database = runner.run(ironstore.connect(ironstore_url))

    async def create() -> None:
        async with db._write() as conn:
            await conn.execute(CreateTable(scratch))

    runner.run(create())
    try:
        yield runner, db
    finally:
        async def drop() -> None:
            async with db._write() as conn:
                await conn.execute(DropTable(scratch))
            await db.close()

        runner.run(drop())
        runner.stop()


def _roundtrip(runner: _LoopThread, db: ironstore.Database, **values: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with db._write() as conn:
            pk = (await conn.execute(insert(scratch).values(**values).returning(scratch.c.pk))).scalar_one()
        async with db._read() as conn:
            row = (await conn.execute(select(scratch).where(scratch.c.pk == pk))).mappings().one()
        return dict(row)

    return runner.run(go())  # type: ignore[no-any-return]


text_st = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200)
json_st = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text_st
    # jsonb rewrites floats written in exponent form (>= 1e16) as integers: equal value, other type
    | st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, width=32),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text_st, children, max_size=4),
    max_leaves=12,
)
decimal_st = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: len(d.as_tuple().digits) <= 20 and -20 <= d.as_tuple().exponent <= 8  # type: ignore[operator]
)
aware_st = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    u=st.uuids(),
    ts=aware_st,
    j=json_st,
    d=decimal_st,
    arr=st.lists(text_st, max_size=5),
    b=st.booleans(),
    vec=st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=16),
    raw=st.binary(max_size=64),
    t=text_st,
    i32=st.integers(-(2**31), 2**31 - 1),
    i64=st.integers(-(2**63), 2**63 - 1),
)
def test_values_round_trip_through_the_real_database(
    roundtrip_db: tuple[_LoopThread, ironstore.Database], **values: Any
) -> None:
    runner, db = roundtrip_db
    row = _roundtrip(runner, db, jn=values["j"], **values)
    expected_ts = values["ts"].replace(microsecond=values["ts"].microsecond // 1000 * 1000)
    assert row["u"] == values["u"]
    assert row["ts"] == expected_ts and row["ts"].tzinfo is not None
    assert row["j"] == values["j"]
    assert row["jn"] == values["j"]
    assert row["d"] == values["d"]
    assert row["arr"] == values["arr"]
    assert row["b"] is values["b"]
    assert row["vec"] == pytest.approx(values["vec"], rel=1e-6)
    assert row["raw"] == values["raw"]
    assert row["t"] == values["t"]
    assert row["i32"] == values["i32"]
    assert row["i64"] == values["i64"]


def test_float32_embeddings_round_trip_exactly(roundtrip_db: tuple[_LoopThread, ironstore.Database]) -> None:
    """Every float32 comes back bit for bit (PostgreSQL: pgvector's binary form both ways)."""
    runner, db = roundtrip_db
    f32 = np.finfo(np.float32)
    edge = [float(f32.max), -float(f32.max), float(f32.tiny), float(f32.smallest_subnormal), -0.0, 0.1, 1 / 3]
    rng = np.random.default_rng(3)
    random = (rng.standard_normal(384) * 10.0 ** rng.integers(-30, 30, 384)).astype(np.float32).tolist()
    for vector in (edge, random):
        stored = _roundtrip(runner, db, vec=vector)["vec"]
        sent = np.asarray(vector, dtype=np.float32)
        assert np.asarray(stored, dtype=np.float32).tobytes() == sent.tobytes()


@pytest.mark.parametrize(
    "value",
    [2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63 - 1), -(2**63)],
    ids=["2^53+1", "-2^53-1", "2^63-1", "-(2^63-1)", "-2^63"],
)
def test_large_integers_are_exact(roundtrip_db: tuple[_LoopThread, ironstore.Database], value: int) -> None:
    runner, db = roundtrip_db
    row = _roundtrip(runner, db, i64=value)
    assert row["i64"] == value and isinstance(row["i64"], int)


def test_boundary_and_extreme_values(roundtrip_db: tuple[_LoopThread, ironstore.Database]) -> None:
    runner, db = roundtrip_db
    cases = [
        {"ts": datetime(1, 1, 1, tzinfo=UTC), "d": Decimal("0.0000000000000000000000000001")},
        {"ts": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "d": Decimal("-" + "9" * 28)},
        {"t": "emoji 🦀 and ünïcödé and 'quotes' and \"dq\" and \\", "d": Decimal(0)},
        {"j": {"nested": {"deep": [1, {"x": None}, "ü"]}, "empty": {}}, "d": Decimal("1.50")},
        {"arr": [], "raw": b"\x00\x01\xff", "vec": [0.0]},
    ]
    for case in cases:
        row = _roundtrip(runner, db, **case)
        for key, value in case.items():
            if key == "ts":
                value = value.replace(microsecond=value.microsecond // 1000 * 1000)
            assert row[key] == value, key
    assert _roundtrip(runner, db, d=Decimal("1.50"))["d"].as_tuple().exponent == -2  # scale kept
