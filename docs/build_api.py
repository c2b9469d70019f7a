"""Write docs/api.md from the docstrings: every public method of every store, grouped by Protocol.

    python docs/build_api.py          # rewrite docs/api.md
    python docs/build_api.py --check  # exit 1 if docs/api.md is stale (tests/test_api_docs.py runs this)
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import ironstore
from ironstore.stores.secrets import SecretsRepository
from ironstore.stores.wasm_channels import WasmChannelRepository
from ironstore.stores.wasm_tools import WasmToolRepository

OUT = Path(__file__).resolve().parent / "api.md"

FLAT_PROTOCOLS = [
    ironstore.ConversationStore, ironstore.JobStore, ironstore.SandboxStore, ironstore.RoutineStore,
    ironstore.ToolFailureStore, ironstore.SettingsStore, ironstore.WorkspaceStore, ironstore.SessionStore,
]
ATTRIBUTE_STORES = [("db.secrets", SecretsRepository), ("db.wasm_tools", WasmToolRepository),
                    ("db.wasm_channels", WasmChannelRepository)]
LIFECYCLE = ["run_migrations", "adopt", "current_revision", "close"]


def public_coroutines(cls: type) -> list[str]:
    return sorted(n for n, f in inspect.getmembers(cls, inspect.iscoroutinefunction) if not n.startswith("_"))


def protocol_methods(protocol: type) -> list[str]:
    return sorted(n for n, f in vars(protocol).items() if inspect.iscoroutinefunction(f) and not n.startswith("_"))


def protocol_context_managers(protocol: type) -> list[str]:
    """Methods used as `async with db.name(...)` (their implementation is an @asynccontextmanager)."""
    return sorted(
        n
        for n, f in vars(protocol).items()
        if inspect.isfunction(f) and not n.startswith("_")
        and inspect.isasyncgenfunction(getattr(getattr(ironstore.Database, n, None), "__wrapped__", None))
    )


def signature_of(function: Any) -> str:
    """The signature with annotations as written (they are strings under postponed evaluation)."""
    try:
        text = str(inspect.signature(function, eval_str=True))
    except NameError:  # an annotation imported only for type checking
        text = re.sub(r"'([^']*)'(?=[,)=\s]|$)", r"\1", str(inspect.signature(function)))
    text = text.replace("NoneType", "None")
    return text.replace("(self, ", "(").replace("(self)", "()")


def entry(owner: str, name: str, function: Any, *, context_manager: bool = False) -> list[str]:
    signature = signature_of(function)
    doc = inspect.getdoc(function) or "(undocumented)"
    if context_manager:  # the annotation is the generator's; the block itself yields None
        header = f"async with {owner}.{name}{signature.split(' -> ')[0]}:\n    ..."
    else:
        header = f"async def {name}{signature}"
    return [f"### `{owner}.{name}`", "", f"```python\n{header}\n```", "", doc, ""]


def render() -> str:
    lines = [
        "# ironstore API reference",
        "",
        "Generated from the docstrings by `python docs/build_api.py`; do not edit by hand.",
        "Every method is a coroutine (or, where shown, an async context manager) and behaves the same on libSQL and PostgreSQL unless its",
        "entry says otherwise. Errors are ironstore's (`ironstore.DatabaseError` and subclasses).",
        "",
        "## Opening and migrating",
        "",
        "### `ironstore.connect`",
        "",
        f"```python\nasync def connect{signature_of(ironstore.connect)}\n```",
        "",
        inspect.getdoc(ironstore.connect) or "",
        "",
    ]
    for name in LIFECYCLE:
        lines += entry("db", name, getattr(ironstore.Database, name))
    for protocol in FLAT_PROTOCOLS:
        lines += [f"## {protocol.__name__} (methods on `Database`)", "", inspect.getdoc(protocol) or "", ""]
        for name in protocol_methods(protocol):
            lines += entry("db", name, getattr(ironstore.Database, name))
        for name in protocol_context_managers(protocol):
            lines += entry("db", name, getattr(ironstore.Database, name), context_manager=True)
    for owner, cls in ATTRIBUTE_STORES:
        lines += [f"## `{owner}`", "", inspect.getdoc(cls) or "", ""]
        for name in public_coroutines(cls):
            lines += entry(owner, name, getattr(cls, name))
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print("docs/api.md is stale: run `python docs/build_api.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
