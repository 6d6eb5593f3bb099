"""How high can an honest churn classifier go on CDNOW master with the paper's dates?

Run ``python benchmarks/study_cdnow_churn_ceiling.py`` (about 40 seconds on one core;
``--quick``: 3 folds, 1 seed). Its figures are in ``docs/benchmarks.md``, "Churn model".

Protocol: the 23,570 customers of CDNOW master (first purchase in 1997-Q1). Features use
only purchases strictly before the cut-off 1997-10-01; the label is 1 when the customer
makes no purchase in [1997-10-01, 1998-07-01). 5-fold cross-validation stratified on the
label, one row per customer, so every prediction comes from a model that never saw that
customer; LightGBM stops early on a stratified 20% inner split of the training folds.
BG/NBD and Pareto/NBD are fitted by ``lifetimes`` without labels on the calibration-period
summary (frequency, recency, T in weeks) of all customers.

Features: recency, frequency, T, monetary and quantity statistics, gaps between purchase
days, purchase days and spend in the last 2-26 weeks, day of week, and the BG/NBD and
Pareto/NBD outputs (P(alive), expected purchases and P(no purchase) in the window).
Weekly and monthly count vectors, tried in the exploration, gave nothing (out-of-fold AUC
within 0.001) and are left out.

Models: LightGBM binary bagged over seeds; LightGBM Poisson on the window's purchase days,
its mu mapped to P(churn) by a logistic fit on inner out-of-fold mu of the training folds;
a logistic regression on log1p features; and their blend (mean probability). One thread.
"""

import argparse
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, ParetoNBDFitter
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from churnml.datasets import CDNOW_CALIBRATION_END, CDNOW_END, load_cdnow

ORIGIN = pd.Timestamp("1997-01-01")  # start of the cohort's first-purchase quarter
WINDOW_WEEKS = (CDNOW_END - CDNOW_CALIBRATION_END).days / 7
PROBABILITIES = ["bg_palive", "bg_pzero", "pn_palive", "pn_pzero"]


def build_features(tx: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features per customer from purchases before the cut-off; y = no purchase in the window."""
    cut, horizon = CDNOW_CALIBRATION_END, (CDNOW_CALIBRATION_END - ORIGIN).days
    customers = pd.Index(sorted(tx["customer_id"].unique(), key=int), name="customer_id")
    days = (  # one row per purchase day, the BTYD convention
        tx[tx["order_date"] < cut]
        .groupby(["customer_id", "order_date"], as_index=False)
        .agg(amount=("amount", "sum"), quantity=("quantity", "sum"), lines=("amount", "size"))
        .sort_values(["customer_id", "order_date"], ignore_index=True)
    )
    cid = days["customer_id"]
    days["day"] = (days["order_date"] - ORIGIN).dt.days
    days["back"] = horizon - days["day"]  # 1..273 days before the cut-off
    days["gap"] = days.groupby(cid)["day"].diff()
    days["repeat"] = days.groupby(cid).cumcount() > 0
    days["rep_amount"] = days["amount"].where(days["repeat"])
    days["dow"] = days["order_date"].dt.dayofweek
    days["weekend"], days["zero"] = days["dow"] >= 5, days["amount"] <= 0
    days["week"], days["month"] = np.minimum(days["day"] // 7, 38), days["order_date"].dt.month
    f = days.groupby(cid).agg(
        first_day=("day", "min"), last_day=("day", "max"), n_days=("day", "size"),
        n_lines=("lines", "sum"), amt_total=("amount", "sum"), amt_mean=("amount", "mean"),
        amt_max=("amount", "max"), amt_min=("amount", "min"), amt_std=("amount", "std"),
        amt_first=("amount", "first"), amt_last=("amount", "last"),
        q_total=("quantity", "sum"), q_mean=("quantity", "mean"), q_max=("quantity", "max"),
        q_first=("quantity", "first"), q_last=("quantity", "last"),
        n_zero_amt=("zero", "sum"), rep_amt_mean=("rep_amount", "mean"),
        rep_amt_total=("rep_amount", "sum"), gap_mean=("gap", "mean"), gap_std=("gap", "std"),
        gap_min=("gap", "min"), gap_max=("gap", "max"), gap_last=("gap", "last"),
        gap_first=("gap", "first"), gap_median=("gap", "median"), dow_last=("dow", "last"),
        dow_first=("dow", "first"), frac_weekend=("weekend", "mean"),
        n_active_weeks=("week", "nunique"), n_active_months=("month", "nunique"),
    )  # fmt: skip
    f = f.reindex(customers)
    f["T_days"] = horizon - f["first_day"]
    f["recency_days"] = horizon - f["last_day"]  # days since the last purchase
    f["frequency"] = f["n_days"] - 1  # repeat purchase days
    f["lt_recency"] = f["last_day"] - f["first_day"]  # lifetimes' recency
    f["price_per_cd"] = f["amt_total"] / f["q_total"].clip(lower=1)
    f["rec_over_gapmean"] = f["recency_days"] / f["gap_mean"]
    f["rec_over_gapmax"] = f["recency_days"] / f["gap_max"]
    f["rec_over_T"] = f["recency_days"] / f["T_days"]
    f["rate"] = f["frequency"] / f["T_days"]
    f["rate_alive"] = f["frequency"] / f["lt_recency"].replace(0, np.nan)
    f["rec_x_rate"] = f["recency_days"] * f["rate"]
    for weeks in (2, 4, 8, 13, 17, 26):
        recent = days["back"] <= 7 * weeks
        f[f"n_last{weeks}w"] = recent.groupby(cid).sum()
        f[f"amt_last{weeks}w"] = days["amount"].where(recent, 0.0).groupby(cid).sum()
    f["n_repeat_last13w"] = ((days["back"] <= 91) & days["repeat"]).groupby(cid).sum()
    midpoint = cid.map((f["first_day"] + horizon) / 2)  # middle of the customer's own tenure
    f["n_2nd_half"] = (days["day"] >= midpoint).groupby(cid).sum()
    f["trend_half"] = f["n_2nd_half"] / f["n_days"]
    f = f.join(btyd_features(f))
    y = (window_purchase_days(tx, customers) == 0).astype(int).rename("churned")
    return f.astype(float), y


def btyd_features(f: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD and Pareto/NBD fitted (no labels) on the calibration summary, in weeks."""
    x, t_x, T = f["frequency"], f["lt_recency"] / 7, f["T_days"] / 7
    summary = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    comp = summary.groupby(["frequency", "recency", "T"]).size().rename("w").reset_index()
    out, t = pd.DataFrame(index=f.index), WINDOW_WEEKS
    bg = BetaGeoFitter().fit(comp["frequency"], comp["recency"], comp["T"], weights=comp["w"])
    out["bg_palive"] = bg.conditional_probability_alive(x, t_x, T)
    out["bg_exp39"] = bg.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
    r, alpha = bg.params_["r"], bg.params_["alpha"]  # alive: lambda ~ Gamma(r + x, alpha + T)
    p0_alive = ((alpha + T) / (alpha + T + t)) ** (r + x)
    out["bg_pzero"] = 1 - out["bg_palive"] * (1 - p0_alive)
    pn = ParetoNBDFitter().fit(
        comp["frequency"], comp["recency"], comp["T"], weights=comp["w"], initial_params=np.ones(4)
    )  # lifetimes would draw the start at random
    out["pn_palive"] = pn.conditional_probability_alive(x, t_x, T)
    out["pn_exp39"] = pn.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
    # Alive at T: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T); average over draws.
    r, alpha, s, beta = (pn.params_[k] for k in ("r", "alpha", "s", "beta"))
    xs, Ts, rng = x.to_numpy()[:, None], T.to_numpy()[:, None], np.random.default_rng(0)
    lam = rng.gamma(r + xs, 1 / (alpha + Ts), size=(len(f), 400))
    mu = rng.gamma(s, 1 / (beta + Ts), size=(len(f), 400))
    p0 = (mu + lam * np.exp(-(lam + mu) * t)) / (lam + mu)
    out["pn_pzero"] = 1 - out["pn_palive"] * (1 - p0.mean(axis=1))
    return out


def window_purchase_days(tx: pd.DataFrame, customers: pd.Index) -> pd.Series:
    """Number of purchase days in [cut-off, end): the Poisson model's target."""
    window = tx[(tx["order_date"] >= CDNOW_CALIBRATION_END) & (tx["order_date"] < CDNOW_END)]
    counts = window.groupby("customer_id")["order_date"].nunique()
    return counts.reindex(customers, fill_value=0).astype(float)


def fit_predict_lightgbm(
    X: np.ndarray, target: np.ndarray, train: np.ndarray, test: np.ndarray,
    objective: str, seed: int, learning_rate: float,
) -> np.ndarray:  # fmt: skip
    """Fit on ``train`` with early stopping on a stratified 20% inner split; predict ``test``."""
    strata = target[train] > 0
    fit, stop = train_test_split(train, test_size=0.2, stratify=strata, random_state=seed)
    params = {
        "objective": objective, "learning_rate": learning_rate, "num_leaves": 7,
        "min_child_samples": 200, "feature_fraction": 0.8, "bagging_fraction": 0.8,
        "bagging_freq": 1, "lambda_l2": 1.0, "num_threads": 1, "verbose": -1, "seed": seed,
    }  # fmt: skip
    booster = lgb.train(
        params, lgb.Dataset(X[fit], target[fit]), num_boost_round=3000,
        valid_sets=[lgb.Dataset(X[stop], target[stop])],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )  # fmt: skip
    return booster.predict(X[test], num_iteration=booster.best_iteration)


def poisson_churn_probability(
    X: np.ndarray, count: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, fold: int
) -> np.ndarray:
    """P(churn) from a Poisson model of the window's purchase days: instead of exp(-mu), a
    logistic regression on log1p(mu) fitted to inner 4-fold out-of-fold mu of ``train``."""
    mu_train = np.zeros(len(train))
    inner = StratifiedKFold(4, shuffle=True, random_state=fold).split(train, y[train])
    for fit, held in inner:
        mu_train[held] = fit_predict_lightgbm(X, count, train[fit], train[held], "poisson", 0, 0.03)
    mu_test = fit_predict_lightgbm(X, count, train, test, "poisson", 0, 0.03)
    calibration = LogisticRegression().fit(np.log1p(mu_train)[:, None], y[train])
    return calibration.predict_proba(np.log1p(mu_test)[:, None])[:, 1]


def logistic_model() -> Pipeline:
    """Median imputation with missing-value indicators, standardisation, L2 logistic."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(C=0.05, max_iter=3000),
    )


def cross_validated(
    X: pd.DataFrame, y: pd.Series, count: pd.Series, folds: int, seeds: int
) -> pd.DataFrame:
    """Out-of-fold churn probabilities of the three models and of their blend."""
    Xt, yv, cv = X.to_numpy(np.float32), y.to_numpy(), count.to_numpy()
    logged = [c for c in X.columns if c not in PROBABILITIES and X[c].min() >= 0]
    Xl = X.assign(**{c: np.log1p(X[c]) for c in logged}).to_numpy()
    oof = {name: np.zeros(len(y)) for name in ("lightgbm", "poisson", "logistic")}
    splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(Xt, yv)
    for k, (train, test) in enumerate(splits):
        bag = [fit_predict_lightgbm(Xt, yv, train, test, "binary", s, 0.02) for s in range(seeds)]
        oof["lightgbm"][test] = np.mean(bag, axis=0)
        oof["poisson"][test] = poisson_churn_probability(Xt, cv, yv, train, test, k)
        logistic = logistic_model().fit(Xl[train], yv[train])
        oof["logistic"][test] = logistic.predict_proba(Xl[test])[:, 1]
    result = pd.DataFrame(oof, index=X.index)
    result["blend"] = result.mean(axis=1)
    return result


def main(argv: list[str] | None = None) -> int:
    """Build the features, cross-validate the models and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5, help="outer CV folds (default 5)")
    parser.add_argument("--seeds", type=int, default=3, help="LightGBM binary bag (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 folds, 1 seed")
    args = parser.parse_args(argv)
    folds, seeds = (3, 1) if args.quick else (args.folds, args.seeds)
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        tx = load_cdnow("master")
        X, y = build_features(tx)
        count = window_purchase_days(tx, X.index)
        oof = cross_validated(X, y, count, folds, seeds)
    print(f"CDNOW master: {len(y):,} customers, churn rate {y.mean():.3f}, {folds}-fold CV\n")
    print("| score (single features: no fitting on labels) | AUC | Brier |\n|---|---:|---:|")
    rows = [
        ("recency (days since last purchase)", X["recency_days"], False),
        ("-frequency (repeat purchase days)", -X["frequency"], False),
        ("-BG/NBD expected purchases in the window", -X["bg_exp39"], False),
        ("-Pareto/NBD expected purchases in the window", -X["pn_exp39"], False),
        ("BG/NBD P(no purchase in the window)", X["bg_pzero"], True),
        ("Pareto/NBD P(no purchase in the window)", X["pn_pzero"], True),
        (f"LightGBM binary, {seeds} seed(s), out-of-fold", oof["lightgbm"], True),
        ("LightGBM Poisson, calibrated, out-of-fold", oof["poisson"], True),
        ("logistic regression, out-of-fold", oof["logistic"], True),
        ("**blend** (mean of the three), out-of-fold", oof["blend"], True),
    ]
    for name, score, proba in rows:
        brier = f"{brier_score_loss(y, score):.4f}" if proba else ""
        print(f"| {name} | {roc_auc_score(y, score):.4f} | {brier} |")
    print("\n| blend within | customers | churn rate | AUC |\n|---|---:|---:|---:|")
    one_time = X["frequency"] == 0
    for name, mask in (("one-time buyers", one_time), ("repeat buyers", ~one_time)):
        auc = roc_auc_score(y[mask], oof["blend"][mask])
        print(f"| {name} | {mask.sum():,} | {y[mask].mean():.3f} | {auc:.4f} |")
    print(f"\n{time.perf_counter() - start:.0f} s on one thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
