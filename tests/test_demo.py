"""`make demo` keeps working: it runs every store on a libSQL file.

libSQL only, by design: the demo is the zero-setup tour and never needs a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ironstore import demo


async def test_demo_tours_every_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await demo.main(tmp_path / "demo.db")
    out = capsys.readouterr().out
    assert "2 messages" in out
    assert "2 actions (calendar.read, calendar.book)" in out
    assert "routines of alice: ['morning-brief']" in out
    assert "'mode': 'dark'" in out
    first_hit = out.split("(toy embeddings):\n", 1)[1].splitlines()[0]
    assert "notes/dentist.md" in first_hit and "fts rank 1" in first_hit
    assert "2 checkpoints, active one has 2 messages" in out
    assert out.rstrip().endswith("done.")


def test_toy_embedding_is_deterministic_and_normalised() -> None:
    vec = demo.toy_embedding("dentist appointment tomorrow")
    assert vec == demo.toy_embedding("dentist appointment tomorrow")
    assert len(vec) == demo.DIMENSION
    assert abs(sum(v * v for v in vec) - 1.0) < 1e-9
