"""Benchmark of :func:`churnml.datasets.simulate`: wall time, table sizes and peak memory.

Run ``python benchmarks/bench_simulate.py [--customers N] [--seed S] [--write DIR
[--format csv|parquet]]``.
The target is one million customers in under a minute on a 2-core machine; the figures
printed here go into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

from churnml.datasets.simulator import simulate


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write", type=Path, default=None, help="also time writing the tables here"
    )
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    # Wall time depends on what else runs on the machine; CPU time (user + system) less so.
    print(f"load average before {os.getloadavg()[0]:.2f}")
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    data = simulate(args.customers, args.seed)
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    user, system = cpu1.ru_utime - cpu0.ru_utime, cpu1.ru_stime - cpu0.ru_stime
    print(f"n_customers      {args.customers:>12,}")
    print(f"simulate seconds {seconds:>12.1f}  (CPU: user {user:.1f} s, system {system:.1f} s)")
    for name in ("transactions", "customers", "events", "campaigns", "truth"):
        print(f"rows {name:<12}{len(getattr(data, name)):>12,}")
    truth = data.truth
    print(f"churned_in_window_90 share {truth['churned_in_window_90'].mean():.3f}")
    print(f"alive_at_as_of share       {truth['alive_at_as_of'].mean():.3f}")
    if args.write is not None:
        t1 = time.perf_counter()
        data.write(args.write, fmt=args.format)
        print(f"write {args.format:<7} seconds {time.perf_counter() - t1:>8.1f}")
    print(f"peak RSS MB      {_peak_rss_mb():>12,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
