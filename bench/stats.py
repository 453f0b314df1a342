"""Figures and the table they are printed in; medians and percentiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One line of the table; ``met`` is ``None`` for a figure without a target."""

    benchmark: str
    figure: str
    target: str = ""
    met: bool | None = None
    value: float | None = None  # the number behind ``figure``, for tests


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def table(figures: Sequence[Figure]) -> str:
    rows = [("benchmark", "figure", "target", "met?")]
    rows += [
        (f.benchmark, f.figure, f.target or "-", "-" if f.met is None else ("yes" if f.met else "NO"))
        for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
