"""Alembic environment for the libsql tree; the shared logic lives in ironstore.alembic_env."""

from ironstore.alembic_env import run_env

run_env("libsql")
