"""The `ironstore` loggers: statement and operation durations at DEBUG, slow-operation WARNING,
no credentials or bound values in any record, nothing printed. Runs on both backends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from ironstore import ConfigurationError, CreateSecretParams, Database, connect

Connect = Callable[..., Awaitable[Database]]

SECRET_VALUE = "sk-live-DO-NOT-LOG-7f3a9c"
SETTING_TOKEN = "ghp_DoNotLogThisToken12345"
PASSWORD = "pw-DO-NOT-LOG-91c2"
MASTER_KEY = "logging-test-master-key-0123456789abcdef"


def _ironstore_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ironstore" or r.name.startswith("ironstore.")]


async def test_debug_shows_each_statement_and_its_duration(
    db: Database, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="ironstore"):
        await db.set_setting("log-user", "theme", {"mode": "dark"})
        assert await db.get_setting("log-user", "theme") == {"mode": "dark"}
    sql = [r.getMessage() for r in caplog.records if r.name == "ironstore.sql"]
    assert any("INSERT INTO settings" in m and " ms" in m for m in sql), sql
    assert any(m.split(" ms", 1)[0].replace(".", "", 1).isdigit() and "FROM settings" in m for m in sql)
    ops = [r.getMessage() for r in caplog.records if r.name == "ironstore.operations"]
    assert any("get_setting_full took" in m and m.endswith(" ms") for m in ops), ops
    assert all(r.levelno == logging.DEBUG for r in _ironstore_records(caplog))
    assert capsys.readouterr().out == ""  # logging only, never print


async def test_no_statement_logging_when_debug_is_off(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ironstore"):
        await db.set_setting("log-user", "k", 1)
        await db.get_setting("log-user", "k")
    assert _ironstore_records(caplog) == []


async def test_slow_operations_warn_above_the_threshold(
    ironstore_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    slow = await ironstore_connect(slow_operation_ms=0)
    with caplog.at_level(logging.WARNING, logger="ironstore"):
        conv = await slow.create_conversation("cli", "log-user")
        await slow.add_conversation_message(conv, "user", "hello")
    warnings = [r for r in _ironstore_records(caplog) if r.levelno == logging.WARNING]
    messages = [r.getMessage() for r in warnings]
    assert any("slow operation: ConversationRepository.add_conversation_message took" in m for m in messages)
    assert all("threshold 0 ms" in m for m in messages)

    relaxed = await ironstore_connect(slow_operation_ms=60_000)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ironstore"):
        await relaxed.add_conversation_message(conv, "user", "hello again")
    assert _ironstore_records(caplog) == []


async def test_slow_threshold_from_the_environment(
    ironstore_connect: Connect, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRONSTORE_SLOW_OPERATION_MS", "0")
    slow = await ironstore_connect()
    with caplog.at_level(logging.WARNING, logger="ironstore"):
        await slow.get_setting("log-user", "missing")
    assert any("slow operation" in r.getMessage() for r in _ironstore_records(caplog))


@pytest.mark.parametrize("bad", ["-1", "fast"])
async def test_bad_slow_threshold_is_a_configuration_error(ironstore_url: str, bad: str) -> None:
    with pytest.raises(ConfigurationError):
        await connect(ironstore_url, slow_operation_ms=bad)


async def test_credentials_and_values_are_never_logged(
    ironstore_backend: str,
    ironstore_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = ironstore_url
    if ironstore_backend == "postgres":
        parsed = make_url(url)
        if parsed.password is None:  # trust / peer authentication ignores the password
            url = parsed.set(password=PASSWORD).render_as_string(hide_password=False)
    kwargs: dict[str, Any] = {"secrets_master_key": MASTER_KEY, "slow_operation_ms": 0}
    with caplog.at_level(logging.DEBUG, logger="ironstore"):
        db = await connect(url, **kwargs)
        try:
            await db.set_setting("log-user", "github", {"token": SETTING_TOKEN})
            await db.get_setting("log-user", "github")
            await db.secrets.create("log-user", CreateSecretParams(name="openai", value=SECRET_VALUE))
            await db.secrets.get_decrypted("log-user", "openai")
            await db.get_conversation_metadata(uuid.uuid4())
        finally:
            await db.close()
    records = _ironstore_records(caplog)
    assert any(r.name == "ironstore.sql" for r in records)
    assert any(r.levelno == logging.WARNING for r in records)  # threshold 0: every operation
    text = "\n".join(r.getMessage() for r in records) + capsys.readouterr().err
    for secret in (SECRET_VALUE, SETTING_TOKEN, PASSWORD, MASTER_KEY):
        assert secret not in text


def test_library_modules_never_print() -> None:
    """Diagnostics go through `logging`; only the command line and the demo write to stdout."""
    import ast
    from pathlib import Path

    import ironstore

    package = Path(ironstore.__file__).parent
    allowed = {"cli.py", "demo.py", "__main__.py"}
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name in allowed or "trees" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []
