"""Scope filter shared by the candidate queries (textual SQL, both dialects)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.sql.elements import BindParameter

from ..types import UUIDType

CANDIDATE_COLUMNS = (
    "c.id AS chunk_id, c.document_id AS document_id, d.path AS document_path, "
    "c.content AS content, d.user_id AS user_id, d.agent_id AS agent_id, "
    "c.chunk_index AS chunk_index"
)


def scope_sql(user_ids: Sequence[str], agent_id: uuid.UUID | None) -> tuple[str, list[BindParameter[Any]]]:
    """`d.user_id IN (…) AND d.agent_id IS NULL | = :agent` plus its bind parameters."""
    params: list[BindParameter[Any]] = [bindparam("scope_uids", list(user_ids), expanding=True)]
    if agent_id is None:
        return "d.user_id IN :scope_uids AND d.agent_id IS NULL", params
    params.append(bindparam("scope_agent", agent_id, type_=UUIDType()))
    return "d.user_id IN :scope_uids AND d.agent_id = :scope_agent", params
