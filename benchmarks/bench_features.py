"""Feature building at scale: validate + RFM + behavioural features for ~1M customers.

Usage: python benchmarks/bench_features.py [--customers 1000000] [--data DIR]

Simulates the data once (Parquet, cached in --data), then measures, in a fresh
child process so that peak memory is the feature job's own: reading, validation,
``rfm_summary`` and ``build_features`` (transactions, customers, events and
campaigns). Prints seconds per step, rows, the resident memory before the feature
step (the loaded, validated tables) and the peak RSS.

``--source simulated`` (default) uses ``churnml.datasets.simulate`` (about 16
transactions and 28 events per customer); ``--source batch`` uses the batch
benchmark's generator, which has the issue's shape (10 transactions and 5 events
per customer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import pandas as pd
from churnml.data import validate_tables
from churnml.features import build_features, rfm_summary
d = sys.argv[1]
t = {}
s = time.perf_counter()
raw = {k: pd.read_parquet(f"{d}/{k}.parquet") for k in ("transactions", "customers", "events", "campaigns")}
t["read_s"] = time.perf_counter() - s
s = time.perf_counter()
tables = validate_tables(raw["transactions"], raw["customers"], raw["events"], raw["campaigns"])
t["validate_s"] = time.perf_counter() - s
del raw
as_of = pd.Timestamp(json.load(open(f"{d}/params.json"))["as_of"])
with open("/proc/self/statm") as fh:
    t["rss_before_features_gb"] = int(fh.read().split()[1]) * 4096 / 1024**3
s = time.perf_counter()
rfm = rfm_summary(tables.transactions, as_of, "W")
t["rfm_summary_s"] = time.perf_counter() - s
s = time.perf_counter()
feats = build_features(tables, as_of)
t["build_features_s"] = time.perf_counter() - s
t["customers"] = len(feats)
t["transactions"] = len(tables.transactions)
t["events"] = len(tables.events)
t["features"] = feats.shape[1]
t["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps(t))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/churnml-bench-features"))
    parser.add_argument("--source", choices=("simulated", "batch"), default="simulated")
    args = parser.parse_args()
    suffix = "" if args.source == "simulated" else "-batch"
    data = args.data / f"{args.customers}{suffix}"
    if args.source == "batch" and not (data / "transactions.parquet").exists():
        import bench_batch

        start = time.perf_counter()
        data.mkdir(parents=True, exist_ok=True)
        bench_batch.generate(args.customers, data)
        (data / "params.json").write_text(json.dumps({"as_of": bench_batch.AS_OF}))
        print(f"generated {args.customers:,} customers in {time.perf_counter() - start:.1f} s")
    elif not (data / "transactions.parquet").exists():
        from churnml.datasets import simulate

        start = time.perf_counter()
        simulate(args.customers, seed=0).write(data, fmt="parquet")
        print(
            f"simulated and wrote {args.customers:,} customers in {time.perf_counter() - start:.1f} s"
        )
    params = json.loads((data / "params.json").read_text())
    print(f"data as of {params.get('as_of')}")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data)],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_version()}, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB RAM"
    )
    for key, value in result.items():
        print(f"{key:>20}: {value:,.2f}" if isinstance(value, float) else f"{key:>20}: {value:,}")
    features_total = result["rfm_summary_s"] + result["build_features_s"]
    print(
        f"{'features total_s':>20}: {features_total:.2f}  (validate + features: "
        f"{features_total + result['validate_s']:.2f})"
    )


if __name__ == "__main__":
    main()
