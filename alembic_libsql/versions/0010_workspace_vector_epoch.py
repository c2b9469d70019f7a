"""workspace: a change counter for the in-process vector cache (libSQL).

`ironstore_workspace_epoch` holds, per user, counters that triggers bump on every change to what
vector search reads in that user's documents (`appends` for new chunks, `epoch` for the rest) — so writes by any process (IronClaw included)
invalidate the NumPy copy of a scope's vectors that `ironstore.search.vector` keeps. Additive:
IronClaw ignores the table and its triggers.

Revision ID: ironstore_ls_0010
Revises: ironstore_ls_0009
"""

from __future__ import annotations

from alembic import op
from ironstore.parking import park_or_drop_tables, unpark_tables

revision = "ironstore_ls_0010"
down_revision = "ironstore_ls_0009"
branch_labels = None
depends_on = None

def _bump(counter: str, user_expression: str) -> str:
    return (
        f"INSERT INTO ironstore_workspace_epoch (user_id, {counter}) {user_expression} "
        f"ON CONFLICT (user_id) DO UPDATE SET {counter} = {counter} + 1"
    )


def _new_chunk(counter: str) -> str:
    return _bump(counter, "SELECT user_id, 1 FROM memory_documents WHERE id = NEW.document_id")


_OLD_CHUNK = _bump("epoch", "SELECT user_id, 1 FROM memory_documents WHERE id = OLD.document_id")
_OLD_DOCUMENT = _bump("epoch", "SELECT OLD.user_id, 1")
_NEW_DOCUMENT = _bump("epoch", "SELECT NEW.user_id, 1")

# (trigger, event, statements). An insert only bumps `appends` (a cached copy then reads just the
# rows with a higher _rowid, which AUTOINCREMENT makes monotonic); everything else that changes
# what vector search reads bumps `epoch` (the copy is rebuilt).
TRIGGERS = [
    ("ironstore_epoch_chunk_insert", "AFTER INSERT ON memory_chunks", [_new_chunk("appends")]),
    ("ironstore_epoch_chunk_delete", "AFTER DELETE ON memory_chunks", [_OLD_CHUNK]),
    ("ironstore_epoch_chunk_update", "AFTER UPDATE OF embedding, document_id ON memory_chunks",
     [_OLD_CHUNK, _new_chunk("epoch")]),
    # a cascade deletes the chunks after their document is gone: bump by the document's own user
    ("ironstore_epoch_document_delete", "AFTER DELETE ON memory_documents", [_OLD_DOCUMENT]),
    ("ironstore_epoch_document_update", "AFTER UPDATE OF user_id, agent_id ON memory_documents",
     [_OLD_DOCUMENT, _NEW_DOCUMENT]),
]


# Back from a downgrade, the counters missed every change made meanwhile (no triggers then):
# bump every user's epoch so no cached copy is trusted, and keep the counters growing.
_INVALIDATE_ALL = (
    "INSERT INTO ironstore_workspace_epoch (user_id, epoch) "
    "SELECT DISTINCT user_id, 1 FROM memory_documents WHERE true "
    "ON CONFLICT (user_id) DO UPDATE SET epoch = epoch + 1"
)


def upgrade() -> None:
    if unpark_tables("ironstore_workspace_epoch"):
        op.execute("UPDATE ironstore_workspace_epoch SET epoch = epoch + 1")
        op.execute(_INVALIDATE_ALL)
    else:
        op.execute(
            "CREATE TABLE ironstore_workspace_epoch (user_id TEXT PRIMARY KEY, "
            "epoch INTEGER NOT NULL DEFAULT 0, appends INTEGER NOT NULL DEFAULT 0)"
        )
    for name, event, statements in TRIGGERS:
        body = " ".join(f"{statement};" for statement in statements)
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {body} END")


def downgrade() -> None:
    for name, _event, _statements in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    park_or_drop_tables("ironstore_workspace_epoch")  # counters must never go back (ironstore.parking)
