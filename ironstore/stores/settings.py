"""Per-user settings (spec: stores-routines-toolfailures-settings.md §4).

Keys are listed in byte order on both backends (`COLLATE "C"` on PostgreSQL); every write takes
"now" from the injectable clock; `set_all_settings` is one multi-row upsert in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import delete, exists, select

from ..errors import InvalidInputError
from ..records.settings import SettingRow
from ..schema import settings
from ..sql import byte_order
from ..types import check_text, dumps_json
from ._base import StoreBase

__all__ = ["SettingsRepository", "SettingsStore"]

_CHUNK = 500  # rows per multi-row INSERT (keeps libSQL under its bound-parameter limit)


# ---------------------------------------------------------------- dialect construct (→ sql.py later)


# ---------------------------------------------------------------- store


@runtime_checkable
class SettingsStore(Protocol):
    """Per-user settings (spec: stores-routines-toolfailures-settings.md)."""

    async def get_setting(self, user_id: str, key: str) -> Any:
        """The stored value, or None when missing (a stored JSON null is also None)."""
        ...

    async def get_setting_full(self, user_id: str, key: str) -> SettingRow | None:
        """The stored row with its `updated_at`, or None when missing."""
        ...

    async def set_setting(self, user_id: str, key: str, value: Any) -> None:
        """Insert or replace one setting."""
        ...

    async def delete_setting(self, user_id: str, key: str) -> bool:
        """Delete one setting; True if it existed."""
        ...

    async def list_settings(self, user_id: str) -> list[SettingRow]:
        """All of the user's settings, by key in byte order."""
        ...

    async def get_all_settings(self, user_id: str) -> dict[str, Any]:
        """All of the user's settings as a dict."""
        ...

    async def set_all_settings(
        self, user_id: str, settings: Mapping[str, Any], *, replace: bool = False
    ) -> None:
        """Upsert every entry atomically (merge; `replace=True` also deletes absent keys)."""
        ...

    async def has_settings(self, user_id: str) -> bool:
        """True if the user has at least one setting."""
        ...


def _check_value(value: Any) -> Any:
    dumps_json(value)  # refuses NaN/Infinity, NUL, non-JSON types on both backends
    return value


class SettingsRepository(StoreBase):
    """Repository mixin of `Database` for the SettingsStore."""

    async def get_setting(self, user_id: str, key: str) -> Any:
        """The stored value of `(user_id, key)`, or None if missing. Read-only.

        A stored JSON null also reads as None; use `get_setting_full` to tell them apart.
        Raises InvalidInputError for non-str arguments, CorruptDataError for undecodable JSON.
        """
        row = await self.get_setting_full(user_id, key)
        return None if row is None else row.value

    async def get_setting_full(self, user_id: str, key: str) -> SettingRow | None:
        """The row `(key, value, updated_at)` of `(user_id, key)`, or None. Read-only.

        Same on both backends. Raises InvalidInputError for non-str / NUL-containing arguments,
        CorruptDataError for an undecodable stored JSON value.
        """
        check_text(user_id, "user_id")
        check_text(key, "key")
        stmt = select(settings.c.key, settings.c.value, settings.c.updated_at).where(
            settings.c.user_id == user_id, settings.c.key == key
        )
        async with self._read(autocommit=True) as conn:  # one statement
            row = (await conn.execute(stmt)).first()
        return None if row is None else SettingRow(key=row.key, value=row.value, updated_at=row.updated_at)

    async def set_setting(self, user_id: str, key: str, value: Any) -> None:
        """Upsert one setting; `updated_at` moves to now on every call (idempotent otherwise).

        Raises InvalidInputError for non-str ids/keys, NUL characters, or values that are not JSON.
        """
        check_text(key, "key")  # before it becomes a dict key (an unhashable key is a TypeError)
        await self._upsert(user_id, {key: value}, replace=False)

    async def delete_setting(self, user_id: str, key: str) -> bool:
        """Delete `(user_id, key)`; returns True if a row was deleted (idempotent).

        Same on both backends. Raises InvalidInputError for non-str / NUL-containing arguments.
        """
        check_text(user_id, "user_id")
        check_text(key, "key")
        stmt = (
            delete(settings)
            .where(settings.c.user_id == user_id, settings.c.key == key)
            .returning(settings.c.key)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def list_settings(self, user_id: str) -> list[SettingRow]:
        """Every setting of the user, sorted by key in byte order on both backends. Read-only.

        Raises InvalidInputError for a non-str / NUL-containing user_id, CorruptDataError for an
        undecodable stored JSON value.
        """
        check_text(user_id, "user_id")
        stmt = (
            select(settings.c.key, settings.c.value, settings.c.updated_at)
            .where(settings.c.user_id == user_id)
            .order_by(byte_order(settings.c.key))
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [SettingRow(key=r.key, value=r.value, updated_at=r.updated_at) for r in rows]

    async def get_all_settings(self, user_id: str) -> dict[str, Any]:
        """`{key: value}` for every setting of the user (`{}` if none). Read-only.

        Same on both backends. Raises like list_settings (InvalidInputError, CorruptDataError).
        """
        return {row.key: row.value for row in await self.list_settings(user_id)}

    async def set_all_settings(
        self, user_id: str, settings: Mapping[str, Any], *, replace: bool = False
    ) -> None:
        """Upsert every entry in one transaction, all rows with the same `updated_at`.

        Merge semantics: stored keys absent from `settings` are kept, unless `replace=True`
        (then they are deleted in the same transaction). An empty mapping without `replace` is a
        no-op. All or nothing: raises InvalidInputError (checked before writing: non-mapping,
        non-str / NUL keys, non-JSON values); that or any database error leaves every row
        unchanged. Same on both backends. Idempotent in effect (a repeat only moves updated_at).
        """
        if not isinstance(settings, Mapping):
            raise InvalidInputError("settings must be a mapping of str keys to JSON values")
        if not settings and not replace:
            check_text(user_id, "user_id")
            return
        await self._upsert(user_id, settings, replace=replace)

    async def has_settings(self, user_id: str) -> bool:
        """True if the user has at least one setting (an EXISTS probe). Read-only.

        Same on both backends. Raises InvalidInputError for a non-str / NUL-containing user_id.
        """
        check_text(user_id, "user_id")
        stmt = select(exists().where(settings.c.user_id == user_id))
        async with self._read() as conn:
            return bool((await conn.execute(stmt)).scalar())

    async def _upsert(self, user_id: str, values: Mapping[str, Any], *, replace: bool) -> None:
        check_text(user_id, "user_id")
        rows: list[dict[str, Any]] = []
        for key, value in values.items():
            check_text(key, "setting key")
            rows.append({"user_id": user_id, "key": key, "value": _check_value(value)})
        now = self._now()
        for r in rows:
            r["updated_at"] = now
        single = len(rows) <= _CHUNK and not replace  # one INSERT: no BEGIN / COMMIT needed
        async with self._write(autocommit=single) as conn:
            if replace:
                # all of the user's rows go, then the new ones arrive: same transaction, so readers
                # see the old set or the new one, and no key survives whatever its timestamp
                await conn.execute(delete(settings).where(settings.c.user_id == user_id))
            for start in range(0, len(rows), _CHUNK):
                ins = self._insert(settings).values(rows[start : start + _CHUNK])
                ins = ins.on_conflict_do_update(
                    index_elements=[settings.c.user_id, settings.c.key],
                    set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
                )
                await conn.execute(ins)
