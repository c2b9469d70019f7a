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


def signature_of(function: Any) -> str:
    """The signature with annotations as written (they are strings under postponed evaluation)."""
    try:
        text = str(inspect.signature(function, eval_str=True))
    except NameError:  # an annotation imported only for type checking
        text = re.sub(r"'([^']*)'(?=[,)=\s]|$)", r"\1", str(inspect.signature(function)))
    text = text.replace("NoneType", "None")
    return text.replace("(self, ", "(").replace("(self)", "()")


def entry(owner: str, name: str, function: Any) -> list[str]:
    signature = signature_of(function)
    doc = inspect.getdoc(function) or "(undocumented)"
    return [f"### `{owner}.{name}`", "", f"```python\nasync def {name}{signature}\n```", "", doc, ""]


def render() -> str:
    lines = [
        "# ironstore API reference",
        "",
        "Generated from the docstrings by `python docs/build_api.py`; do not edit by hand.",
        "Every method is a coroutine and behaves the same on libSQL and PostgreSQL unless its",
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
