"""Alembic environment for the postgres tree; the shared logic lives in ironstore.alembic_env."""

from ironstore.alembic_env import run_env

run_env("postgres")
