"""``python -m bench [NAME ...] [--quick] [--latency MS]``: run benchmarks and print the table."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    activity,
    bulk,
    cluster,
    connections,
    first_open,
    memory,
    page,
    ratelimit,
    schedules,
    storm,
    switch,
    throughput,
)
from bench.stack import Options
from bench.stats import Figure, table

BENCHMARKS: dict[str, Callable[[Options], list[Figure]]] = {
    switch.NAME: switch.run,
    page.NAME: page.run,
    storm.NAME: storm.run,
    throughput.NAME: throughput.run,
    ratelimit.NAME: ratelimit.run,
    connections.NAME: connections.run,
    first_open.NAME: first_open.run,
    bulk.NAME: bulk.run,
    activity.NAME: activity.run,
    schedules.NAME: schedules.run,
    cluster.NAME: cluster.run,
    memory.NAME: memory.run,
}


def run_benchmarks(names: Sequence[str], options: Options) -> list[Figure]:
    """Run ``names`` (all when empty) in order; a benchmark that crashes gives a failed line."""
    figures: list[Figure] = []
    for name in names or BENCHMARKS:
        started = time.monotonic()
        print(f"running {name}...", file=sys.stderr, flush=True)
        try:
            figures += BENCHMARKS[name](options)
        except Exception as exc:
            traceback.print_exc()
            figures.append(Figure(name, f"crashed: {type(exc).__name__}: {exc}"[:160], "runs", False))
        print(f"  {name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument(
        "--latency", type=float, default=100.0, metavar="MS", help="added ms per portal call (default 100)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    with tempfile.TemporaryDirectory(prefix="flow-switch-bench-") as workdir:
        options = Options(latency=args.latency / 1000, quick=args.quick, workdir=Path(workdir))
        figures = run_benchmarks(args.names, options)
    print(table(figures))
    return 1 if any(f.figure.startswith("crashed") for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
