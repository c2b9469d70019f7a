"""Timing and reporting helpers shared by the benchmarks (not part of the library)."""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Op = Callable[[], Awaitable[Any]]


@dataclass
class Pair:
    """One comparison: the same work done by a baseline side and by ironstore."""

    name: str
    base: Op
    ours: Op
    iters: int = 200
    alt: Op | None = None  # optional third side (e.g. the raw driver called inline)
    base_samples: list[float] = field(default_factory=list)  # µs per op, one per repetition
    ours_samples: list[float] = field(default_factory=list)
    alt_samples: list[float] = field(default_factory=list)

    @property
    def base_median(self) -> float:
        return statistics.median(self.base_samples)

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours_samples)

    @property
    def alt_median(self) -> float:
        return statistics.median(self.alt_samples) if self.alt_samples else float("nan")

    @property
    def ratio(self) -> float:
        """ironstore time / baseline time (lower is better for ironstore)."""
        return self.ours_median / self.base_median


async def _timed(op: Op, iters: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(iters):
        await op()
    return (time.perf_counter() - start) / iters * 1e6


async def run_interleaved(pairs: list[Pair], reps: int, warmup: int = 20) -> None:
    """Warm both sides, then `reps` rounds; each round times every pair's two sides
    back to back, alternating which side goes first, so machine noise hits both alike."""
    for p in pairs:
        for _ in range(warmup):
            await p.base()
            await p.ours()
            if p.alt is not None:
                await p.alt()
    for rep in range(reps):
        for p in pairs:
            sides: list[tuple[Op, list[float]]] = [(p.base, p.base_samples), (p.ours, p.ours_samples)]
            if p.alt is not None:
                sides.append((p.alt, p.alt_samples))
            if rep % 2:
                sides.reverse()
            for op, samples in sides:
                samples.append(await _timed(op, p.iters))


def fmt_us(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(pairs: list[Pair], base_label: str, alt_label: str | None = None) -> str:
    head = f"| operation | {base_label} µs | ironstore µs | ironstore / {base_label} |"
    rule = "|---|---:|---:|---:|"
    if alt_label:
        head += f" {alt_label} µs | ironstore / {alt_label} |"
        rule += "---:|---:|"
    lines = [head, rule]
    for p in pairs:
        line = f"| {p.name} | {fmt_us(p.base_median)} | {fmt_us(p.ours_median)} | {p.ratio:.2f}x |"
        if alt_label:
            line += f" {fmt_us(p.alt_median)} | {p.ours_median / p.alt_median:.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def machine_facts() -> dict[str, str]:
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }
    try:
        facts["load average (1/5/15 min) at start"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    return facts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]
