"""Fresh labels: the shipped churn model against the old procedure and a naive LightGBM.

Usage: python benchmarks/study_fresh_labels.py [--customers 20000] [--seeds 0 1 2]
       [--window 182] [--months 18] [--scenarios default strong no_behaviour]

For each scenario and seed the simulator writes a shop with ``--months`` of history
before ``as_of`` and the year after it. Every model sees only the history before
``as_of``; all are judged on the customers at ``as_of`` against what they did in the
``--window`` days after it (the simulator's future, never seen in training):

``shipped``
    :func:`churnml.models.procedure.fit_churn`'s shipped model: refitted on the
    newest cut-offs, whose label windows end by ``as_of``.
``backtest model``
    The same procedure trained only on windows ending by ``as_of - window`` (what
    the product shipped before: the model of the backtest).
``naive``
    :func:`churnml.evaluation.naive.naive_lightgbm_proba`: default LightGBM on RFM and
    90-day event counts, trained at the single cut-off ``as_of - window``.
``recency``
    Days since the last purchase.

It also prints the backtest AUC that a training run logs (the procedure judged at
``as_of - window``) next to the shipped model's true AUC, which shows how well the
run's own estimate predicts the future. Scenarios: ``default`` (the simulator's
behavioural drivers), ``strong`` (``SimulationParams.strong_behaviour_signal()``),
``no_behaviour`` (dropout independent of behaviour: RFM is all there is, the naive
model should be as good). The figures go into ``docs/benchmarks.md``, *Fresh labels*.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "2")


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from churnml.config import Config
    from churnml.data.contract import validate_tables
    from churnml.datasets import simulate
    from churnml.datasets.simulator import SimulationParams
    from churnml.evaluation.metrics import expected_calibration_error
    from churnml.evaluation.naive import naive_lightgbm_proba
    from churnml.models.procedure import fit_churn
    from churnml.models.training_data import cutoff_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--window", type=int, default=182)
    ap.add_argument("--months", type=int, default=18)
    ap.add_argument("--scenarios", nargs="+", default=["default", "strong", "no_behaviour"])
    ap.add_argument("--learning-rate", type=float, default=None, help="churn.learning_rate")
    ap.add_argument("--n-estimators", type=int, default=None, help="churn.n_estimators")
    args = ap.parse_args()
    as_of = pd.Timestamp("2025-01-01")
    start = (as_of - pd.DateOffset(months=args.months)).date()
    scenarios = {
        "default": {},
        "strong": {"params": SimulationParams.strong_behaviour_signal()},
        "no_behaviour": {"behaviour_signal": False},
    }
    print(
        f"{args.customers:,} customers, {args.months} months before {as_of.date()}, "
        f"{args.window}-day window; cores {os.cpu_count()}"
    )
    header = (
        f"{'scenario':<13}{'seed':>5}{'shipped':>9}{'ECE':>7}{'backtest':>10}"
        f"{'naive':>8}{'recency':>9}{'gain':>7}{'run est.':>10}{'s':>6}"
    )
    print(header)
    rows = []
    for name in args.scenarios:
        for seed in args.seeds:
            t0 = time.perf_counter()
            sim = simulate(args.customers, seed=seed, start=start, **scenarios[name])
            past = sim.history()
            history = validate_tables(past.transactions, sim.customers, past.events, past.campaigns)
            full = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
            churn = {
                k: v
                for k, v in (
                    ("learning_rate", args.learning_rate),
                    ("n_estimators", args.n_estimators),
                )
                if v is not None
            }
            config = Config.from_dict(
                {
                    "time": {"as_of": str(as_of.date()), "churn_window_days": args.window},
                    "churn": churn,
                }
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_churn(history, as_of, config)
            truth = cutoff_rows(full, as_of, config.ltv, config.time.horizon_days, args.window)
            y = truth.labels.to_numpy()
            shipped = fit.shipped.predict_proba(truth.inputs)
            old = (
                fit.backtest_model.predict_proba(truth.inputs)
                if fit.backtest_model is not None
                else shipped * float("nan")
            )
            naive = naive_lightgbm_proba(full, truth.inputs, y, as_of, args.window, seed=0)
            run_est = roc_auc_score(fit.rows.labels, fit.backtest_proba)
            r = {
                "scenario": name,
                "seed": seed,
                "shipped": roc_auc_score(y, shipped),
                "ece": expected_calibration_error(y, shipped),
                "backtest_model": roc_auc_score(y, old) if fit.backtest_model else float("nan"),
                "naive": roc_auc_score(y, naive),
                "recency": roc_auc_score(y, truth.inputs["recency_days"]),
                "run_estimate": run_est,
                "seconds": time.perf_counter() - t0,
            }
            r["gain"] = r["shipped"] - r["naive"]
            rows.append(r)
            print(
                f"{name:<13}{seed:>5}{r['shipped']:>9.3f}{r['ece']:>7.3f}"
                f"{r['backtest_model']:>10.3f}{r['naive']:>8.3f}{r['recency']:>9.3f}"
                f"{r['gain']:>+7.3f}{run_est:>10.3f}{r['seconds']:>6.0f}",
                flush=True,
            )
    table = pd.DataFrame(rows)
    print(table.groupby("scenario")[["shipped", "backtest_model", "naive", "gain"]].mean())


if __name__ == "__main__":
    main()
