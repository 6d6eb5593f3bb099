"""Same data, same outputs? Run the main job with one build of churnml, compare two runs.

A refactoring must not change what churnml produces. This script runs, with the
churnml that ``PYTHONPATH`` selects, the demo (simulate, train, register, score in
process) and a batch-scoring job with two workers on the demo's files, and keeps the
simulated tables, both score files and the training metrics; ``compare`` then reports
the largest relative difference of every numeric output column and any other column
that differs.

    PYTHONPATH=/old/checkout/src python benchmarks/compare_outputs.py run /tmp/old 3000 11
    PYTHONPATH=src python benchmarks/compare_outputs.py run /tmp/new 3000 11
    python benchmarks/compare_outputs.py compare /tmp/old /tmp/new

Each run uses its own ``CHURNML_HOME`` and MLflow store below its output folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: Metrics that time the fit: they differ between any two runs.
_TIMINGS = "_seconds"
TABLES = ("transactions", "customers", "events", "campaigns", "truth")


def run(out: Path, n_customers: int, seed: int) -> None:
    """The demo and a two-worker batch job in ``out`` with the importable churnml."""
    out.mkdir(parents=True, exist_ok=True)
    os.environ["CHURNML_HOME"] = str(out / "home")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{out / 'mlflow.db'}"
    import churnml
    from churnml.demo import run_demo
    from churnml.scoring.batch import score_files

    print(f"churnml {churnml.__version__} from {churnml.__file__}")
    result = run_demo(n_customers, seed=seed, home=out / "home", show_progress=False)
    data = result.data_dir
    score_files(
        *(data / f"{t}.csv" for t in TABLES[:4]),
        as_of=result.training.as_of,
        output=out / "batch.parquet",
        bundle=result.training.bundle,
        progress=False,
        workers=2,
    )
    summary = {"truth_auc": result.truth_auc, "metrics": result.training.metrics}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=float))


def compare_frames(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, list[str]]:
    """The largest relative difference of the numeric columns both have, and what else differs."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    problems = [f"shape {a.shape} vs {b.shape}"] if a.shape != b.shape else []
    problems += [f"column {c} in one only" for c in sorted(set(a.columns) ^ set(b.columns))]
    worst = 0.0
    for c in (c for c in a.columns if c in b.columns):
        x, y = a[c], b[c]
        numeric = all(
            pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (x, y)
        )
        if numeric:
            u, v = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            if not np.array_equal(np.isnan(u), np.isnan(v)):
                problems.append(f"{c}: missing in different rows")
                continue
            both = ~np.isnan(u)
            rel = np.abs(u[both] - v[both]) / np.maximum(1.0, np.abs(v[both]))
            worst = max(worst, float(rel.max(initial=0.0)))
        elif not x.astype(str).equals(y.astype(str)):
            problems.append(f"{c}: {(x.astype(str) != y.astype(str)).sum()} rows differ")
    return worst, problems


def compare(a: Path, b: Path) -> int:
    """Print the comparison of two runs; exit status 1 if any output differs by more than 1e-9."""
    failed = False
    for name, left, right in (
        ("in-process scores", a / "home/demo/scores.parquet", b / "home/demo/scores.parquet"),
        ("batch scores (2 workers)", a / "batch.parquet", b / "batch.parquet"),
    ):
        worst, problems = compare_frames(pd.read_parquet(left), pd.read_parquet(right))
        failed |= worst > 1e-9 or bool(problems)
        print(f"{name}: max relative difference {worst:.3g}; {'; '.join(problems) or 'all equal'}")
    for t in TABLES:
        same = (a / f"home/demo/data/{t}.csv").read_bytes() == (
            b / f"home/demo/data/{t}.csv"
        ).read_bytes()
        failed |= not same
        print(f"simulated {t}.csv: {'identical bytes' if same else 'DIFFERS'}")
    ma, mb = (json.loads((d / "summary.json").read_text())["metrics"] for d in (a, b))
    changed = sorted(k for k in set(ma) & set(mb) if not k.endswith(_TIMINGS) and ma[k] != mb[k])
    failed |= bool(changed)
    print(f"training metrics (timings aside): {len(set(ma) & set(mb))} shared, changed: {changed}")
    print(
        f"metrics only in the first: {sorted(set(ma) - set(mb))}; second: {sorted(set(mb) - set(ma))}"
    )
    return int(failed)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "run":
        run(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
