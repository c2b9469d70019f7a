"""One TypeDecorator per logical type; every dialect difference in stored forms lives here.

Each decorator validates what it binds against what *both* backends can hold (so a value that
one backend would accept and the other reject is refused everywhere with `InvalidInputError`),
writes IronClaw's stored form, and normalises what it reads (`CorruptDataError` when a stored
value cannot be decoded).
"""

from __future__ import annotations

import json
import math
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from .errors import CorruptDataError, InvalidInputError

__all__ = [
    "BoolInt",
    "Bytes",
    "DecimalText",
    "Embedding",
    "Int32",
    "Int64",
    "JSONType",
    "SafeText",
    "TextArray",
    "Timestamp",
    "UUIDType",
    "check_text",
    "coerce_uuid",
    "dumps_json",
    "format_timestamp",
    "parse_timestamp",
    "to_utc_ms",
]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DECIMAL_DIGITS = 28


def _is_pg(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


# --------------------------------------------------------------------------- text


def check_text(value: object, what: str = "text") -> str:
    """Text both backends store unchanged: PostgreSQL rejects NUL, the libSQL driver truncates at it."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidInputError(f"{what} must not contain NUL characters")
    return value


class SafeText(TypeDecorator[str]):
    """TEXT (or VARCHAR(n)) that refuses NUL characters and over-long values."""

    impl = Text
    cache_ok = True

    def __init__(self, max_length: int | None = None) -> None:
        super().__init__()
        self.max_length = max_length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if self.max_length is not None and _is_pg(dialect):
            return dialect.type_descriptor(String(self.max_length))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        check_text(value)
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidInputError(f"text longer than {self.max_length} characters")
        return value  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- integers


class _CheckedInt(TypeDecorator[int]):
    impl = Integer
    cache_ok = True
    low = INT32_MIN
    high = INT32_MAX
    label = "32-bit"

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"expected an int, got {type(value).__name__}")
        if not self.low <= value <= self.high:
            raise InvalidInputError(f"{value} does not fit a {self.label} integer column")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        # libSQL keeps text or a real that does not convert losslessly as-is in an INTEGER column
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise CorruptDataError(f"stored value {value!r:.60} is not an integer")


class Int32(_CheckedInt):
    """PostgreSQL `integer`; checked so libSQL's 64-bit INTEGER never holds what PG could not."""

    impl = Integer
    cache_ok = True


class Int64(_CheckedInt):
    """PostgreSQL `bigint` / libSQL INTEGER (always 64-bit there)."""

    impl = BigInteger
    cache_ok = True
    low = INT64_MIN
    high = INT64_MAX
    label = "64-bit"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(BigInteger() if _is_pg(dialect) else Integer())


# --------------------------------------------------------------------------- UUID


def coerce_uuid(value: object, what: str = "id") -> uuid.UUID:
    """Accept a `uuid.UUID` or its text form; anything else is invalid input."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidInputError(f"{what} must be a UUID, got {value!r:.60}")


class UUIDType(TypeDecorator[uuid.UUID]):
    """PG `uuid`; libSQL TEXT in the 36-char lowercase hyphenated form IronClaw compares on."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        u = coerce_uuid(value)
        return u if _is_pg(dialect) else str(u)

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        return read_uuid(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        # one plain function per value instead of TypeDecorator's two-level dispatch
        return read_uuid


_new_object = object.__new__
_set_attribute = object.__setattr__
_UUID_UNKNOWN = uuid.SafeUUID.unknown


def read_uuid(value: Any) -> uuid.UUID | None:
    """A stored UUID: driver UUID objects pass; canonical text is parsed on a fast path."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    if (
        type(value) is str
        and len(value) == 36
        and value[8] == value[13] == value[18] == value[23] == "-"
    ):
        digits = value.replace("-", "")
        if len(digits) == 32 and digits.isascii() and digits.isalnum():
            try:
                number = int(digits, 16)
            except ValueError:
                pass
            else:
                u: uuid.UUID = _new_object(uuid.UUID)
                _set_attribute(u, "int", number)
                _set_attribute(u, "is_safe", _UUID_UNKNOWN)
                return u
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise CorruptDataError(f"stored value {value!r:.60} is not a UUID") from None


# --------------------------------------------------------------------------- timestamps


def to_utc_ms(value: object, what: str = "timestamp") -> datetime:
    """Aware datetime → UTC truncated to milliseconds; naive or non-datetimes are refused."""
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{what} must be timezone-aware (got a naive datetime)")
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInputError(f"{what} {value!r} is out of range in UTC") from None
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def format_timestamp(value: datetime) -> str:
    """IronClaw's libSQL form `YYYY-MM-DDTHH:MM:SS.mmmZ` (sorts lexically = chronologically)."""
    v = to_utc_ms(value)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
        f"{v.second:02d}.{v.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    """Read canonical, RFC 3339 with any offset, and legacy naive (assumed UTC) forms."""
    try:
        if len(text) == 24 and text[10] == "T" and text[19] == "." and text[23] == "Z":
            # canonical form: C-level parse (Python >= 3.11 reads the `Z`), aware UTC, ms
            return datetime.fromisoformat(text)
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CorruptDataError(f"stored value {text!r:.60} is not a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return to_utc_ms(parsed)
    except InvalidInputError:
        raise CorruptDataError(f"stored value {text!r:.60} is out of range") from None


class Timestamp(TypeDecorator[datetime]):
    """PG `timestamptz`; libSQL TEXT. Millisecond precision on both so values read back equal."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if _is_pg(dialect):
            return to_utc_ms(value)
        return format_timestamp(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return read_timestamp(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        # one plain function per value instead of TypeDecorator's two-level dispatch
        return read_timestamp


def read_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (None for NULL and IronClaw's "")."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment: datetime = value
        if moment.tzinfo is UTC:
            return moment  # asyncpg's timestamptz values
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    if value == "":
        return None  # IronClaw's libSQL readers treat "" as absent
    return parse_timestamp(str(value))


# --------------------------------------------------------------------------- JSON

_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def dumps_json(value: object) -> str:
    """Compact JSON as IronClaw writes it; refuses what PostgreSQL's jsonb cannot hold."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"value is not JSON-serialisable: {exc}") from None
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise InvalidInputError("JSON strings must not contain NUL characters")
    return text


def loads_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        raise CorruptDataError(f"stored value {text!r:.60} is not valid JSON") from None


class JSONType(TypeDecorator[Any]):
    """PG `jsonb`; libSQL compact TEXT.

    `null_as_json=True` stores Python `None` as JSON `null`; every NOT NULL JSON column in the
    schema uses it, so a caller's `None` is the JSON value null there, never a constraint error.
    Otherwise `None` is SQL NULL.
    """

    impl = Text
    cache_ok = True

    def __init__(self, null_as_json: bool = False) -> None:
        super().__init__()
        self.null_as_json = null_as_json

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(postgresql.JSONB(none_as_null=not self.null_as_json))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if _is_pg(dialect):
            return value  # serialised (and validated) by the engine's json_serializer
        if value is None:
            return "null" if self.null_as_json else None
        return dumps_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or _is_pg(dialect):
            return value
        return loads_json(value)


# --------------------------------------------------------------------------- decimals


def check_decimal(value: object, what: str = "decimal") -> Decimal:
    """Decimal (or int, or finite float via its repr) within rust_decimal's 28 digits."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a Decimal, got bool")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{what} must be finite")
        value = Decimal(repr(value))
    elif not isinstance(value, Decimal):
        raise InvalidInputError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise InvalidInputError(f"{what} must be finite (no NaN or Infinity)")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    significant = max(len(digits), scale) if exponent < 0 else len(digits) + exponent
    if scale > MAX_DECIMAL_DIGITS or significant > MAX_DECIMAL_DIGITS:
        raise InvalidInputError(f"{what} {value} has more than {MAX_DECIMAL_DIGITS} digits")
    return value


class DecimalText(TypeDecorator[Decimal]):
    """PG `numeric`; libSQL plain decimal TEXT (`format(d, 'f')`, never exponent notation)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = check_decimal(value)
        return d if _is_pg(dialect) else format(d, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        if value == "":
            return None  # IronClaw bug B2: "" written for an absent decimal
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise CorruptDataError(f"stored value {value!r:.60} is not a decimal") from None


# --------------------------------------------------------------------------- text arrays


class TextArray(TypeDecorator[list[str]]):
    """PG `text[]`; libSQL JSON array text."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(postgresql.ARRAY(Text()))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise InvalidInputError("text array must be a list of str")
        items = [check_text(v, "text array item") for v in value]
        return items if _is_pg(dialect) else dumps_json(items)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, list):
            return value
        items = loads_json(value)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise CorruptDataError(f"stored value {value!r:.60} is not a JSON array of strings")
        return items


# --------------------------------------------------------------------------- booleans


class BoolInt(TypeDecorator[bool]):
    """PG `boolean`; libSQL INTEGER 0/1 (read as `value != 0`)."""

    impl = Integer
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(Boolean())
        return dialect.type_descriptor(Integer())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise InvalidInputError(f"expected a bool, got {type(value).__name__}")
        return value if _is_pg(dialect) else int(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0  # IronClaw reads any non-zero integer as true
        raise CorruptDataError(f"stored value {value!r:.60} is not a boolean")


# --------------------------------------------------------------------------- vectors


def check_vector(value: object, dimension: int | None = None) -> np.ndarray:
    """A finite float32 vector, optionally of an exact dimension."""
    if isinstance(value, (str, bytes)):
        raise InvalidInputError("embedding must be a sequence of floats")
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError("embedding must be a sequence of floats") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError("embedding must be a non-empty one-dimensional sequence")
    if not np.isfinite(arr).all():
        raise InvalidInputError("embedding values must be finite (no NaN or infinity)")
    if dimension is not None and arr.size != dimension:
        raise InvalidInputError(f"embedding has {arr.size} dimensions, expected {dimension}")
    return arr


def pgvector_text(arr: np.ndarray) -> str:
    """pgvector's text form of a float32 vector, 9 significant digits (every float32 survives
    exactly: FLT_DECIMAL_DIG). Only for SQL literals: parameters are sent in binary."""
    return "[" + ",".join([f"{v:.9g}" for v in arr.tolist()]) + "]"


# pgvector's binary form (vector_send / vector_recv): int16 dimension, int16 unused, then the
# values as big-endian float32.
_VECTOR_HEADER = struct.Struct(">HH")
_FIND_VECTOR_SCHEMA = (
    "SELECT n.nspname FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace "
    "WHERE t.oid = to_regtype('vector')"
)


def _vector_to_binary(value: Any) -> bytes:
    arr = np.asarray(value, dtype=np.float32)
    return _VECTOR_HEADER.pack(arr.size, 0) + arr.astype(">f4").tobytes()


def _vector_from_binary(data: bytes) -> np.ndarray:
    dim, _ = _VECTOR_HEADER.unpack_from(data)
    return np.frombuffer(data, dtype=">f4", count=dim, offset=_VECTOR_HEADER.size).astype(np.float32)


async def register_vector_codec(conn: Any) -> bool:
    """Exchange pgvector `vector` values with this asyncpg connection in binary; False when the
    type does not exist (yet). Why: without a codec asyncpg sends the text form, and formatting
    it was ~70 % of the client's time in a 384-dimension ingest (~120 µs a vector, ~2 µs in
    binary); the server also skips parsing 384 decimal numbers per row."""
    schema = await conn.fetchval(_FIND_VECTOR_SCHEMA)
    if schema is None:
        return False
    await conn.set_type_codec(
        "vector", schema=schema, encoder=_vector_to_binary, decoder=_vector_from_binary, format="binary"
    )
    return True


class _PgVector(VECTOR):
    """pgvector's `vector`, handed to asyncpg as a float32 array (see register_vector_codec)."""

    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        def to_array(value: Any) -> Any:
            if value is None or isinstance(value, np.ndarray):
                return value  # decoded by the binary codec
            return np.asarray(value[1:-1].split(","), dtype=np.float32)  # text '[1,2,3]'

        return to_array

    def literal_processor(self, dialect: Dialect) -> Any:
        def quoted(value: np.ndarray) -> str:
            return f"'{pgvector_text(value)}'"  # digits, signs, '.', 'e', ',' and brackets only

        return quoted


class Embedding(TypeDecorator[list[float]]):
    """PG unbounded pgvector `vector`; libSQL BLOB of little-endian float32 values."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_pg(dialect):
            return dialect.type_descriptor(_PgVector())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        arr = check_vector(value)
        return arr if _is_pg(dialect) else arr.astype("<f4").tobytes()  # PG: register_vector_codec

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float] | None:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) % 4:
                raise CorruptDataError("stored embedding length is not a multiple of 4 bytes")
            stored: list[float] = np.frombuffer(value, dtype="<f4").tolist()
            return stored
        # PG: a float32 array (_PgVector), so both backends return the very same Python floats
        rounded: list[float] = np.asarray(value, dtype=np.float32).tolist()
        return rounded


class Bytes(TypeDecorator[bytes]):
    """PG `bytea`; libSQL BLOB."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidInputError(f"expected bytes, got {type(value).__name__}")
        return bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else bytes(value)
