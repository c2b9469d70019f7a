"""Our own tests use the same fixtures users get from the `ironstore.testing` plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ironstore import Database

pytest_plugins = ["ironstore.testing"]

collect_ignore = ["sample_project"]  # a user's project, run as a subprocess by test_plugin.py


@pytest.fixture
async def db(ironstore_db: Database) -> Database:
    """A fresh migrated database; every test using it runs once per backend."""
    return ironstore_db


@pytest.fixture
def blank_url(ironstore_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, never-migrated database of the current backend."""
    import os

    from ironstore.testing import _pg_admin, _run_aside, _with_database

    if ironstore_backend == "libsql":
        yield f"sqlite+libsql:///{tmp_path}/blank.db"
        return
    server: str = request.getfixturevalue("ironstore_postgres_server")
    name = f"ironstore_blank_{os.getpid()}_{id(request)}"
    _run_aside(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(server, name)
    finally:
        _run_aside(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
