"""Record dataclasses of the secrets, WASM tool and WASM channel stores."""

from __future__ import annotations

__all__: list[str] = []
