"""Churn model at scale: training on ~1M simulated customers, then prediction throughput.

Usage: python benchmarks/bench_churn.py [--customers 1000000] [--data DIR] [--repeats 3]

Everything runs through the real code path:

1. read the simulated tables (Parquet, cached in ``--data``; shared with
   ``bench_features.py``) and keep the history before the simulation's ``as_of``;
2. ``validate_tables``;
3. ``build_training_set``: 4 rolling cut-offs, each with its own LTV fit, behavioural
   features and labels (``TimeConfig()`` defaults: 90-day window, 45 days apart);
4. ``ChurnModel.fit`` with the ``ChurnConfig()`` defaults (held-out latest cut-off,
   early stopping, isotonic calibration);
5. serving inputs at ``as_of``: LTV fit + ``model_inputs`` for every customer;
6. ``predict_proba`` on all customers (best of ``--repeats``) with 2 and 1 LightGBM
   threads, next to the bare ``Booster.predict`` on the same matrix;
7. ``explain`` (TreeSHAP reason codes) on 20,000 customers;
8. AUC of the model and the baselines on the 90 days after ``as_of``.

Steps 4 and 6-8 run twice: with the ``ChurnConfig()`` hyperparameters and with the
previous defaults (15 leaves, learning rate 0.1, at most 300 trees).

Prints seconds per step, rows, throughput, peak RSS and the machine (cores, load
average); the figures go into the "Churn model" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
import warnings
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd


def _load(data: Path, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The simulated tables, history before ``as_of`` only."""
    out: dict[str, pd.DataFrame] = {}
    dates = {"transactions": "order_date", "events": "event_date", "campaigns": "sent_date"}
    for name in ("transactions", "customers", "events", "campaigns"):
        frame = pd.read_parquet(data / f"{name}.parquet")
        if name in dates:
            frame = frame[frame[dates[name]] < as_of]
        out[name] = frame
    return out


def _future_buyers(data: Path, as_of: pd.Timestamp, window: int) -> pd.Index:
    tx = pd.read_parquet(
        data / "transactions.parquet", columns=["customer_id", "order_date", "amount"]
    )
    end = as_of + pd.Timedelta(days=window)
    inside = (tx["order_date"] >= as_of) & (tx["order_date"] < end) & (tx["amount"] >= 0)
    return pd.Index(tx.loc[inside, "customer_id"].unique())


def _best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/churnml-bench-features"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # LTV fit notes on every cut-off

    from churnml.config import ChurnConfig, LTVConfig, TimeConfig
    from churnml.data.contract import validate_tables
    from churnml.evaluation.churn_report import evaluate_churn
    from churnml.features import rfm_summary
    from churnml.models.churn import ChurnModel
    from churnml.models.inputs import model_inputs
    from churnml.models.ltv import LTVModel
    from churnml.models.training_data import build_training_set

    data = args.data / str(args.customers)
    if not (data / "transactions.parquet").exists():
        from churnml.datasets import simulate

        start = time.perf_counter()
        simulate(args.customers, seed=0).write(data, fmt="parquet")
        print(
            f"simulated and wrote {args.customers:,} customers in {time.perf_counter() - start:.1f} s"
        )
    as_of = pd.Timestamp(json.loads((data / "params.json").read_text())["as_of"])
    load_start = os.getloadavg()[0]
    t: dict[str, float] = {}

    start = time.perf_counter()
    raw = _load(data, as_of)
    t["read_s"] = time.perf_counter() - start
    start = time.perf_counter()
    tables = validate_tables(raw["transactions"], raw["customers"], raw["events"], raw["campaigns"])
    t["validate_s"] = time.perf_counter() - start
    del raw

    time_cfg, ltv_cfg, churn_cfg = TimeConfig(), LTVConfig(), ChurnConfig()
    start = time.perf_counter()
    training = build_training_set(tables, as_of, time_cfg, ltv_cfg)
    t["training_set_s"] = time.perf_counter() - start

    # The configured hyperparameters (7 leaves, learning rate 0.2, at most 150 trees)
    # next to the previous defaults (15 leaves, 0.1, 300): the same AUC, and TreeSHAP
    # reason codes cost grows with leaves and depth (see docs/benchmarks.md).
    variants: dict[str, dict[str, Any]] = {
        f"config (num_leaves={churn_cfg.num_leaves}, learning_rate={churn_cfg.learning_rate}, "
        f"n_estimators={churn_cfg.n_estimators})": {},
        "num_leaves=15, learning_rate=0.1, n_estimators=300": {
            "num_leaves": 15,
            "learning_rate": 0.1,
            "n_estimators": 300,
        },
    }
    models = {}
    for name, overrides in variants.items():
        start = time.perf_counter()
        models[name] = ChurnModel.from_config(churn_cfg, **overrides).fit(
            training.X, training.y, training.cutoff
        )
        t[f"fit {name}"] = time.perf_counter() - start
    train_rows = len(training.X)
    del training

    start = time.perf_counter()
    ltv = LTVModel.from_config(ltv_cfg).fit(
        rfm_summary(tables.transactions, as_of, ltv_cfg.time_unit)
    )
    inputs = model_inputs(tables, as_of, ltv, time_cfg.horizon_days, time_cfg.churn_window_days)
    t["serving_inputs_s"] = time.perf_counter() - start
    n = len(inputs)
    buyers = _future_buyers(data, as_of, time_cfg.churn_window_days)
    labels = (~inputs.index.isin(buyers)).astype(float)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB RAM, "
        f"Python {platform.python_version()}, lightgbm {version('lightgbm')}, "
        f"pandas {version('pandas')}, numpy {version('numpy')}; "
        f"load average {load_start:.1f} at start"
    )
    print(
        f"customers at as_of {as_of.date()}: {n:,}; transactions before it: "
        f"{len(tables.transactions):,}; events: "
        f"{0 if tables.events is None else len(tables.events):,}; "
        f"training rows: {train_rows:,} ({time_cfg.n_cutoffs} cut-offs)"
    )
    for key, value in t.items():
        print(f"{key:>26}: {value:8.2f} s")
    first = next(iter(models.values()))
    matrix = first._matrix(inputs)  # column-major, as predict_proba builds it
    sample = inputs.iloc[:20_000]
    for name, model in models.items():
        tp: dict[str, float] = {}
        for threads in (2, 1):
            model.n_jobs = threads
            tp[f"predict_proba {threads} thread(s)"] = n / _best(
                partial(model.predict_proba, inputs), args.repeats
            )
            tp[f"Booster.predict {threads} thread(s)"] = n / _best(
                partial(model.booster_.predict, matrix, num_threads=threads), args.repeats
            )
        model.n_jobs = 2
        tp["explain (TreeSHAP) 2 threads"] = len(sample) / _best(partial(model.explain, sample), 1)
        m = evaluate_churn(labels, model.predict_proba(inputs), inputs).metrics
        print(
            f"{name}: best iteration {model.best_iteration_}, held-out rows "
            f"{model.validation_['rows']:,}, fit {t[f'fit {name}']:.1f} s"
        )
        for key, value in tp.items():
            print(f"{key + ' rows/s':>40}: {value:12,.0f}")
        print(
            f"{'AUC, 90 days after as_of':>40}: model {m['churn_roc_auc']:.4f}, "
            f"BG/NBD P(no purchase) {m['baseline_bgnbd_p_no_purchase_roc_auc']:.4f}, "
            f"BG/NBD expected purchases {m['baseline_bgnbd_expected_purchases_roc_auc']:.4f}, "
            f"recency {m['baseline_recency_roc_auc']:.4f}; ECE {m['churn_ece']:.4f}, "
            f"Brier {m['churn_brier']:.4f}"
        )
    print(f"{'load average at end':>26}: {os.getloadavg()[0]:.1f}")
    print(
        f"{'peak RSS':>26}: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB"
    )


if __name__ == "__main__":
    main()
