"""Hypothesis-generated arguments for every public store method, on both backends.

Each method gets arguments drawn from its own type hints, mixed with hostile values: wrong types,
naive datetimes, NaN/inf and wrong-length embeddings, negative and huge numbers, NUL bytes,
lone surrogates, a 10 MB string, SQL and FTS syntax, path traversal. The database is populated
first (tests/populated.py) and the ids and names that exist are drawn often, so calls reach the
real code paths rather than stopping at "not found".

Two rules, checked for every example:
- whatever comes out is either a result or one of ironstore's typed errors (`DatabaseError`);
- when an error comes out, the database is exactly as before: a raw dump of every table
  (FTS shadow tables included) is compared before and after.

Examples per method: IRONSTORE_FUZZ_EXAMPLES (make test: a few, derandomized so CI is
repeatable; make stress: many, random).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import math
import os
import random
import re
import sys
import types
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from populated import populate, raw_dump
from stress_report import record

import ironstore
from ironstore import Database, DatabaseError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))
from build_api import ATTRIBUTE_STORES, FLAT_PROTOCOLS, protocol_methods, public_coroutines

MASTER_KEY = "fuzz-master-key-0123456789abcdef0123"
DIMENSION = 8  # populate() writes the demo's 8-dimension toy embeddings
EXAMPLES = int(os.environ.get("IRONSTORE_FUZZ_EXAMPLES", "4"))
STRESS = "IRONSTORE_FUZZ_EXAMPLES" in os.environ

# Only these are left out, and why: they change the whole database's state by design
# (migrations, adoption, closing the connection) and have their own tests.
NOT_FUZZED = {"run_migrations", "adopt", "close", "current_revision"}


def _methods() -> list[tuple[str, str]]:
    found = [("db", name) for protocol in FLAT_PROTOCOLS for name in protocol_methods(protocol)]
    found += [(owner.removeprefix("db."), name) for owner, cls in ATTRIBUTE_STORES for name in public_coroutines(cls)]
    return sorted(set(found) - {("db", n) for n in NOT_FUZZED})


def _function(owner: str, name: str) -> Any:
    cls = ironstore.Database if owner == "db" else {o.removeprefix("db."): c for o, c in ATTRIBUTE_STORES}[owner]
    return getattr(cls, name)


# ------------------------------------------------------------------------------ values


TEN_MB = "x" * (10 * 1024 * 1024)
HOSTILE_TEXT = [
    "", " ", "\x00", "a\x00b", "\ud800", "what's", "dark-mode", "?", '"', "*", "NEAR", "NEAR(a b)",
    "a OR b", "-a", "^", "'; DROP TABLE conversations; --", "%_%", "\\", "../../etc/passwd",
    "/abs/path", "a//b/../c", "a_b", "🦀 emoji", "ǅ", "\n\t", "x" * 5000,
]


class NotAnything:
    """A value of no type any method accepts."""

    def __repr__(self) -> str:
        return "NotAnything()"


WRONG_TYPES: list[Any] = [
    None, 0, -1, 2**63, -(2**63) - 1, 2**70, 1.5, math.nan, math.inf, True, b"\x00bytes", bytearray(b"b"),
    [], {}, [1, "a"], {"k": object}, (1, 2), NotAnything(), datetime(2026, 1, 1), uuid.uuid4(),
    Decimal("NaN"), timedelta(-1), "not-a-uuid",
]
HUGE_INTS = [2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]


# A parameter whose name is not its column's: where to look for real values.
ALIASES = {"mode": ["job_mode"], "credential_grants_json": ["credential_grants"]}
# Method words that name a table differently (sandbox jobs are agent_jobs rows).
WORD_TABLES = {"sandbox": "agent_job"}


class Pools:
    """Rows that exist in the populated database, so generated calls find real data.

    A careful call picks one row of the table its method is about (`touch_conversation`: a
    conversation; `secrets.get`: a secret) and takes its parameters from that row by name, so
    `(user_id, name)` pairs match. Other parameters draw from every value of a column with their
    name (`routine_id` from routines.id and routine_runs.routine_id).
    """

    def __init__(self) -> None:
        self.uuids: list[uuid.UUID] = []
        self.names: list[str] = ["alice", "bob", "default", "cli", "web", "user", "assistant", "notes"]
        self.by_column: dict[str, list[Any]] = collections.defaultdict(list)
        self.rows: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)

    async def fill(self, db: Database) -> None:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            for table in tables:
                result = await conn.exec_driver_sql(f'SELECT * FROM "{table}"')
                columns = list(result.keys())
                for row in result.all():
                    keyed: dict[str, Any] = {}
                    for column, value in zip(columns, row, strict=True):
                        keyed.update(self._add(table, column, value))
                    self.rows[table].append(keyed)

    def _add(self, table: str, column: str, value: Any) -> dict[str, Any]:
        parsed = _as_uuid(value)
        if parsed is not None:
            if parsed not in self.uuids:
                self.uuids.append(parsed)
            value = parsed
        elif not (isinstance(value, str) and len(value) < 100) or _looks_like_time(value):
            return {}
        keys = [column]
        if column == "id":  # agent_jobs.id is what a `job_id` parameter wants, routine_runs.id a `run_id`
            words = table.removesuffix("s").split("_")
            keys += [f"{'_'.join(words[i:])}_id" for i in range(len(words))]
        for key in keys:
            if value not in self.by_column[key]:
                self.by_column[key].append(value)
        if isinstance(value, str) and value not in self.names:
            self.names.append(value)
        return dict.fromkeys(keys, value)

    def tables_about(self, owner: str, method: str) -> list[str]:
        """The tables a method most likely acts on: most words shared with its name, fewest extra."""
        wanted = {WORD_TABLES.get(w, w).removesuffix("s") for w in f"{owner}_{method}".split("_")}
        wanted = {part for w in wanted for part in w.split("_")}
        scores = {}
        for table in self.rows:
            words = {w.removesuffix("s") for w in table.split("_")}
            if shared := len(words & wanted):
                scores[table] = shared - 0.1 * len(words - wanted)
        best = max(scores.values(), default=None)
        return sorted(t for t, score in scores.items() if score == best)


def _keys(parameter: str) -> list[str]:
    bare = parameter.removesuffix("s")
    return [parameter, bare, f"{bare}_id", *ALIASES.get(parameter, [])]


def _as_uuid(value: Any) -> uuid.UUID | None:
    """A UUID however the backend stored it (native, 36-char text, 16 bytes), else None."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and len(value) == 36:
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    if isinstance(value, bytes) and len(value) == 16:
        return uuid.UUID(bytes=value)
    return None


def _looks_like_time(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d\d-\d\d[ T].*", value))


class Drawer:
    """Draws one argument for a type hint: a plausible value, or (at `bad_rate`) a hostile one.

    At bad_rate 0 every value is one a careful caller would pass (real ids, aware datetimes,
    finite embeddings of the right length), so those examples exercise the success paths and
    the "nothing written" rule is checked against writes that really happen.
    """

    def __init__(self, data: st.DataObject, pools: Pools, bad_rate: float, owner: str, method: str) -> None:
        self.data, self.pools, self.bad_rate = data, pools, bad_rate
        self.careful = bad_rate == 0
        tables = pools.tables_about(owner, method)
        rows = [row for t in tables for row in pools.rows[t]]
        self.row: dict[str, Any] = data.draw(st.sampled_from(rows), label="row") if rows else {}

    def draw(self, hint: Any, depth: int = 0, name: str | None = None) -> Any:
        if self.bad_rate and self.data.draw(st.floats(0, 1)) < self.bad_rate:
            return self.data.draw(st.sampled_from(WRONG_TYPES + HOSTILE_TEXT + [TEN_MB]))
        return self.plausible(hint, depth, name)

    def _one_of(self, careful: st.SearchStrategy[Any], *careless: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(careful if self.careful else st.one_of(careful, *careless))

    def plausible(self, hint: Any, depth: int, name: str | None) -> Any:
        d = self.data.draw
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any or depth > 3:
            return d(_json_values(self.careful))
        if origin in (typing.Union, types.UnionType):
            return self.draw(d(st.sampled_from(args)), depth + 1, name)
        if origin is typing.Literal:
            return d(st.sampled_from(args))
        if hint is type(None):
            return None
        if hint is bool:
            return d(st.booleans())
        if hint is int:
            return self._one_of(st.integers(0, 60), st.integers(-3, -1), st.sampled_from(HUGE_INTS))
        if hint is float:
            return self._one_of(st.floats(0, 1e6), st.floats(allow_nan=True, allow_infinity=True))
        if hint in (str, uuid.UUID):
            return self._existing_or_new(hint, name)
        if hint is bytes:
            return d(st.binary(max_size=64))
        if hint is datetime:
            aware = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11))]))
            return self._one_of(aware, st.datetimes(), st.sampled_from([datetime.min, datetime.max]))
        if hint is timedelta:
            return self._one_of(st.timedeltas(timedelta(0), timedelta(days=30)), st.timedeltas())
        if hint is Decimal:
            return self._one_of(st.decimals(0, 1000, places=4), st.decimals(allow_nan=True, allow_infinity=True))
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return d(st.sampled_from(list(hint)))
        if origin in (list, collections.abc.Sequence):
            (item,) = args
            if item is float:  # an embedding: the right length usually, with NaN/inf and other lengths sometimes
                size = self._one_of(st.just(DIMENSION), st.sampled_from([0, 1, DIMENSION + 1, 4096]))
                return self._one_of(st.lists(st.floats(-1, 1, width=32), min_size=size, max_size=size),
                                    st.lists(st.floats(width=32), min_size=size, max_size=size))
            return [self.draw(item, depth + 1, name) for _ in range(d(st.integers(0, 3)))]
        if origin is tuple:
            return tuple(self.draw(a, depth + 1, name) for a in args)
        if origin in (dict, collections.abc.Mapping):
            return d(st.dictionaries(st.text(max_size=6), _json_values(self.careful), max_size=4))
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self.dataclass_value(hint, depth)
        return d(st.sampled_from(WRONG_TYPES))

    def _existing_or_new(self, kind: type, name: str | None) -> Any:
        d = self.data.draw
        keys = _keys(name) if name else []
        from_row = [self.row[k] for k in keys if isinstance(self.row.get(k), kind)]
        existing = from_row or [v for k in keys for v in self.pools.by_column.get(k, []) if isinstance(v, kind)]
        anything = st.sampled_from(self.pools.uuids) | st.uuids() if kind is uuid.UUID else (
            st.sampled_from(self.pools.names) | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12))
        if self.careful:
            return d(st.sampled_from(existing) if existing and d(st.integers(0, 3)) else anything)
        hostile = st.sampled_from(HOSTILE_TEXT) | st.text(max_size=12) if kind is str else st.uuids()
        return d(st.one_of(*([st.sampled_from(existing)] if existing else []), anything, hostile))

    def dataclass_value(self, cls: type, depth: int) -> Any:
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            optional = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if optional and self.data.draw(st.booleans()):
                continue
            kwargs[f.name] = self.draw(hints[f.name], depth + 1, f.name)
        return Build(cls, kwargs)


@dataclasses.dataclass
class Build:
    """A record to construct inside the checked call (its own validation is part of the API)."""

    cls: type
    kwargs: dict[str, Any]

    def make(self) -> Any:
        return self.cls(**{k: _built(v) for k, v in self.kwargs.items()})


def _built(value: Any) -> Any:
    if isinstance(value, Build):
        return value.make()
    if isinstance(value, list):
        return [_built(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_built(v) for v in value)
    return value


def _json_values(careful: bool) -> st.SearchStrategy[Any]:
    """JSON-like values; careless ones include NaN, inf, NUL and lone surrogates."""
    text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
    leaves = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | text
    if not careful:
        leaves |= st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(["\x00", "\ud800"])
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=6)


# ------------------------------------------------------------------------------ the test


@pytest.fixture
async def fuzz_db(ironstore_connect: Any) -> tuple[Database, Pools]:
    db: Database = await ironstore_connect(embedding_dimension=DIMENSION, secrets_master_key=MASTER_KEY)
    await populate(db)
    pools = Pools()
    await pools.fill(db)
    return db, pools


def _call_arguments(function: Any, drawer: Drawer) -> tuple[list[Any], dict[str, Any]]:
    hints = typing.get_type_hints(function)
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        has_default = parameter.default is not inspect.Parameter.empty
        if has_default and drawer.data.draw(st.booleans()):
            continue
        value = drawer.draw(hints.get(name, Any), name=name)
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY or has_default:
            keywords[name] = value
        else:
            positional.append(value)
    return positional, keywords


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + f"... ({len(text)} chars)"


@pytest.mark.parametrize(("owner", "name"), _methods(), ids=[f"{o}.{n}" for o, n in _methods()])
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=not STRESS, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_every_method_survives_hostile_arguments(
    fuzz_db: tuple[Database, Pools], owner: str, name: str, data: st.DataObject
) -> None:
    db, pools = fuzz_db
    function = _function(owner, name)
    bad_rate = data.draw(st.sampled_from([0.0, 0.1, 0.3, 1.0]), label="bad_rate")
    positional, keywords = _call_arguments(function, Drawer(data, pools, bad_rate, owner, name))
    target = db if owner == "db" else getattr(db, owner)
    before = await raw_dump(db)
    try:
        args = [_built(v) for v in positional]
        kwargs = {k: _built(v) for k, v in keywords.items()}
        await getattr(target, name)(*args, **kwargs)
        record(check="fuzz", backend=db.backend, method=f"{owner}.{name}", bad_rate=bad_rate, outcome="ok")
    except DatabaseError as exc:
        record(
            check="fuzz", backend=db.backend, method=f"{owner}.{name}", bad_rate=bad_rate,
            outcome=type(exc).__name__, message=str(exc)[:160],
        )
        after = await raw_dump(db)
        changed = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
        assert not changed, f"{owner}.{name} raised but changed {changed}"
    except Exception as exc:  # noqa: BLE001 - anything else is a bug in ironstore's validation
        shown = ", ".join([_describe(a) for a in positional] + [f"{k}={_describe(v)}" for k, v in keywords.items()])
        pytest.fail(f"{owner}.{name}({shown}) raised {type(exc).__name__}: {exc}"[:3000])


@pytest.mark.parametrize("bad_text", ["a\ud800b", "\udfff"], ids=["lone-high-surrogate", "lone-low-surrogate"])
async def test_text_that_is_not_utf8_is_invalid_input_on_both_backends(fuzz_db: tuple[Database, Pools], bad_text: str) -> None:
    """A lone surrogate cannot be stored by either driver: the same typed error, nothing written."""
    db, _ = fuzz_db
    before = await raw_dump(db)
    with pytest.raises(ironstore.InvalidInputError, match="invalid input"):
        await db.set_setting(bad_text, "theme", "dark")
    with pytest.raises(ironstore.InvalidInputError, match="invalid input"):
        await db.get_setting("alice", bad_text)
    assert await raw_dump(db) == before


async def test_value_too_large_for_a_postgres_index_is_invalid_input(fuzz_db: tuple[Database, Pools]) -> None:
    """PostgreSQL's B-tree entries hold at most ~2.7 kB, so a huge indexed value (here a user id)
    is refused there as bad input with nothing written; libSQL has no such limit and stores it."""
    db, _ = fuzz_db
    rng = random.Random(5)
    huge_user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20_000))  # incompressible
    before = await raw_dump(db)
    if db.backend == "postgres":
        with pytest.raises(ironstore.InvalidInputError, match="index row"):
            await db.get_or_create_assistant_conversation(huge_user, "cli")
        assert await raw_dump(db) == before
    else:
        conversation = await db.get_or_create_assistant_conversation(huge_user, "cli")
        assert await db.get_or_create_assistant_conversation(huge_user, "cli") == conversation
