"""Figures for RELIABILITY.md: the stress tests append JSON lines, `make stress` prints a summary.

`record(...)` does nothing unless IRONSTORE_STRESS_REPORT names a file, so `make test` writes
nothing. `python tests/stress_report.py FILE` prints each check's lines and, for the bad-input
fuzz, one count per backend and outcome (how many calls succeeded, how many raised which error).
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path
from typing import Any


def record(**fields: Any) -> None:
    report = os.environ.get("IRONSTORE_STRESS_REPORT")
    if report:
        with Path(report).open("a", encoding="utf-8") as out:
            out.write(json.dumps(fields) + "\n")


def summary(path: Path) -> str:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    shown = [json.dumps(line) for line in lines if line.get("check") != "fuzz"]
    calls: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    methods: dict[str, set[str]] = collections.defaultdict(set)
    for line in lines:
        if line.get("check") == "fuzz":
            calls[line["backend"]][line["outcome"]] += 1
            methods[line["backend"]].add(line["method"])
    for backend, outcomes in sorted(calls.items()):
        counts = ", ".join(f"{outcome} {n}" for outcome, n in outcomes.most_common())
        shown.append(f"fuzz {backend}: {len(methods[backend])} methods, {sum(outcomes.values())} calls: {counts}")
    return "\n".join(shown)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
