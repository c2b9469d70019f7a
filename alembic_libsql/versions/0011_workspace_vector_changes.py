"""workspace: a log of changed chunk rows, so the in-process vector copy is patched, not rebuilt (libSQL).

Until this revision every delete or re-embedding of a chunk bumped its user's `epoch`, and the next
vector search re-read the whole scope (about 1.3 s at 100k chunks, plus clustering). Now the delete
and re-embedding triggers write the chunk's `_rowid` to `ironstore_workspace_changes` and bump `appends`; a cached
copy reads the log from the last entry it applied, drops those rows and reads back the ones still
in the scope. Deleting a document logs the chunks it still has (before a cascade removes them,
for writers such as IronClaw that rely on it). Documents moved to another scope and chunks moved
between documents still bump `epoch`.
The log keeps its newest LOG_KEEP entries; a copy further behind is rebuilt. Additive: IronClaw
ignores the table.

Revision ID: ironstore_ls_0011
Revises: ironstore_ls_0010
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_ls_0011"
down_revision = "ironstore_ls_0010"
branch_labels = None
depends_on = None


LOG_KEEP = 100_000
"""Entries kept; each is ~20 bytes. A copy that has not searched for this many changes is rebuilt."""

_LOG_OLD = (  # nothing when the document is already gone (its delete trigger logged the chunks)
    "INSERT INTO ironstore_workspace_changes (user_id, chunk_rowid) "
    "SELECT user_id, OLD._rowid FROM memory_documents WHERE id = OLD.document_id"
)
_BUMP_APPENDS_OLD = (
    "INSERT INTO ironstore_workspace_epoch (user_id, appends) SELECT user_id, 1 FROM memory_documents "
    "WHERE id = OLD.document_id ON CONFLICT (user_id) DO UPDATE SET appends = appends + 1"
)
_BUMP_EPOCH = (
    "INSERT INTO ironstore_workspace_epoch (user_id, epoch) SELECT user_id, 1 FROM memory_documents "
    "WHERE id = {row}.document_id ON CONFLICT (user_id) DO UPDATE SET epoch = epoch + 1"
)
_LOG_DOCUMENT_CHUNKS = (
    "INSERT INTO ironstore_workspace_changes (user_id, chunk_rowid) "
    "SELECT OLD.user_id, _rowid FROM memory_chunks WHERE document_id = OLD.id"
)
_BUMP_APPENDS_DOCUMENT = (
    "INSERT INTO ironstore_workspace_epoch (user_id, appends) SELECT OLD.user_id, 1 WHERE true "
    "ON CONFLICT (user_id) DO UPDATE SET appends = appends + 1"
)
_BUMP_EPOCH_DOCUMENT = (
    "INSERT INTO ironstore_workspace_epoch (user_id, epoch) SELECT OLD.user_id, 1 "
    "ON CONFLICT (user_id) DO UPDATE SET epoch = epoch + 1"
)
_TRIM = (
    "DELETE FROM ironstore_workspace_changes WHERE seq <= (SELECT max(seq) FROM ironstore_workspace_changes) - "
    f"{LOG_KEEP}"
)

# (trigger, event, statements): the triggers of revision ls_0010 this one redefines, and one new
CHANGED = [
    ("ironstore_epoch_chunk_delete", "AFTER DELETE ON memory_chunks", [_LOG_OLD, _BUMP_APPENDS_OLD, _TRIM]),
    ("ironstore_epoch_chunk_embedding", "AFTER UPDATE OF embedding ON memory_chunks",
     [_LOG_OLD, _BUMP_APPENDS_OLD, _TRIM]),
    ("ironstore_epoch_chunk_update", "AFTER UPDATE OF document_id ON memory_chunks",
     [_BUMP_EPOCH.format(row="OLD"), _BUMP_EPOCH.format(row="NEW")]),
    ("ironstore_epoch_document_delete", "BEFORE DELETE ON memory_documents",
     [_LOG_DOCUMENT_CHUNKS, _BUMP_APPENDS_DOCUMENT, _TRIM]),
]
# ls_0010's definitions, restored by the downgrade
ORIGINAL = [
    ("ironstore_epoch_document_delete", "AFTER DELETE ON memory_documents",
     [_BUMP_EPOCH_DOCUMENT]),
    ("ironstore_epoch_chunk_delete", "AFTER DELETE ON memory_chunks", [_BUMP_EPOCH.format(row="OLD")]),
    ("ironstore_epoch_chunk_update", "AFTER UPDATE OF embedding, document_id ON memory_chunks",
     [_BUMP_EPOCH.format(row="OLD"), _BUMP_EPOCH.format(row="NEW")]),
]


def _create(triggers: list[tuple[str, str, list[str]]]) -> None:
    for name, event, statements in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        body = " ".join(f"{statement};" for statement in statements)
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {body} END")


def upgrade() -> None:
    op.execute(
        "CREATE TABLE IF NOT EXISTS ironstore_workspace_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "user_id TEXT NOT NULL, chunk_rowid INTEGER NOT NULL)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS idx_ironstore_workspace_changes_user ON ironstore_workspace_changes (user_id, seq)")
    _create(CHANGED)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ironstore_epoch_chunk_embedding")
    _create(ORIGINAL)
    op.execute("DROP TABLE IF EXISTS ironstore_workspace_changes")  # bookkeeping only: nothing to keep
    # every copy must be rebuilt: changes made from now on are no longer logged
    op.execute("UPDATE ironstore_workspace_epoch SET epoch = epoch + 1")
