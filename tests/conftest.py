"""Our own tests use the same fixtures users get from the `ironstore.testing` plugin."""

from __future__ import annotations

import pytest

from ironstore import Database

pytest_plugins = ["ironstore.testing"]


@pytest.fixture
async def db(ironstore_db: Database) -> Database:
    """A fresh migrated database; every test using it runs once per backend."""
    return ironstore_db
