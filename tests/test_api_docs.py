"""Every public coroutine says what it raises and whether it is idempotent; docs/api.md is current."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from ironstore import Database
from ironstore.stores.secrets import SecretsRepository
from ironstore.stores.wasm_channels import WasmChannelRepository
from ironstore.stores.wasm_tools import WasmToolRepository

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE = {"close", "current_revision"}  # no store semantics to state beyond their summary

METHODS = [
    (cls.__name__, name, function)
    for cls in (Database, SecretsRepository, WasmToolRepository, WasmChannelRepository)
    for name, function in inspect.getmembers(cls, inspect.iscoroutinefunction)
    if not name.startswith("_")
]


def test_there_are_methods_to_check() -> None:
    assert len(METHODS) > 130


@pytest.mark.parametrize(("owner", "name", "function"), METHODS, ids=[f"{o}.{n}" for o, n, _ in METHODS])
def test_docstring_states_errors_and_idempotency(owner: str, name: str, function: object) -> None:
    doc = (inspect.getdoc(function) or "").lower()
    assert doc, f"{owner}.{name} has no docstring"
    if name in LIFECYCLE:
        return
    assert "raise" in doc, f"{owner}.{name}: say what it raises"
    assert any(word in doc for word in ("idempotent", "read-only")), f"{owner}.{name}: idempotent or read-only?"


def test_api_reference_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_api.py"), "--check"],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
