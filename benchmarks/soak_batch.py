"""Soak test of batch scoring: the same input scored again and again in one process.

A scheduler that keeps one Python process alive (an Airflow worker, a notebook) calls
:func:`churnml.scoring.batch.score_files` many times; its memory must not grow from one
run to the next. This trains a bundle, generates ``--customers`` simulated customers,
then scores them with ``--workers`` pool workers for ``--duration`` seconds (10 minutes
by default), printing after every run the RSS of this process and of its whole tree
(the pool workers are reused across runs), and at the end the last RSS against the one
at minute 2.

    python benchmarks/soak_batch.py                    # 10 minutes
    python benchmarks/soak_batch.py --duration 120 --customers 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import AS_OF, generate, train_bundle


def rss_mb(proc: psutil.Process, tree: bool) -> float:
    procs = [proc, *proc.children(recursive=True)] if tree else [proc]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from churnml.scoring.batch import score_files
    from churnml.scoring.bundle import ModelBundle

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle = ModelBundle.load(train_bundle(root), model_version="soak")
        generate(args.customers, root / "data")
        paths = [root / "data" / f"{t}.parquet" for t in ("transactions", "customers", "events", "campaigns")]  # fmt: skip
        me = psutil.Process()
        start = time.monotonic()
        rows: list[tuple[float, float, float]] = []
        print(f"{'minute':>6} {'run s':>6} {'own RSS MB':>10} {'tree RSS MB':>11}")
        while time.monotonic() - start < args.duration:
            t0 = time.perf_counter()
            score_files(*paths, as_of=AS_OF, output=root / "scores.parquet", bundle=bundle,
                        workers=args.workers, progress=False, work_dir=root / "work")  # fmt: skip
            minute = (time.monotonic() - start) / 60
            row = (minute, rss_mb(me, tree=False), rss_mb(me, tree=True))
            rows.append(row)
            print(f"{minute:6.1f} {time.perf_counter() - t0:6.1f} {row[1]:10.0f} {row[2]:11.0f}", flush=True)  # fmt: skip
    at_two = min(rows, key=lambda r: abs(r[0] - 2.0))
    last = rows[-1]
    print(
        f"{len(rows)} runs; own RSS {at_two[1]:.0f} -> {last[1]:.0f} MB ({last[1] / at_two[1] - 1:+.1%}), "
        f"tree {at_two[2]:.0f} -> {last[2]:.0f} MB ({last[2] / at_two[2] - 1:+.1%}) "
        f"from minute {at_two[0]:.1f} to {last[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
