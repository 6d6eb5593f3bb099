"""The naive LightGBM baseline: what a quick model on RFM and event counts achieves.

A user asks first whether the shipped model earns its complexity (51 behavioural
features, BG/NBD inputs, rolling cut-offs, calibration). The yardstick is the model
anyone would write in twenty lines: LightGBM with default settings on recency,
frequency, tenure, spend and the 90-day count of each event type, trained at the
*single most recent labelled cut-off* before the evaluation cut-off, i.e. at
``cutoff - window`` with labels that end at ``cutoff``. It is fitted on the natural
class balance, so its output is a probability and its calibration is comparable.

When the history before the evaluation cut-off holds no labelled window, the
baseline is cross-fitted by customer at the evaluation cut-off itself, exactly like
the churn model in that case (:mod:`churnml.models.crossfit`).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from churnml.data.contract import EVENT_TYPES, InputTables
from churnml.features import build_features, churn_labels
from churnml.models.crossfit import cross_fit

#: RFM and event counts: the naive model's inputs (columns of ``build_features``).
NAIVE_FEATURES: tuple[str, ...] = (
    "n_orders",
    "frequency",
    "recency_days",
    "tenure_days",
    "total_spend",
    "monetary_value",
    *(f"{t}_90d" for t in EVENT_TYPES),
)
#: Fewer labelled rows than this (or one class only) and the baseline is cross-fitted.
MIN_TRAINING_ROWS = 100


def _fit_predict(X: np.ndarray, y: np.ndarray, X_new: np.ndarray, seed: int) -> np.ndarray:
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=100)
    return np.asarray(booster.predict(X_new))


def naive_lightgbm_proba(
    tables: InputTables,
    inputs: pd.DataFrame,
    labels: pd.Series | np.ndarray,
    cutoff: pd.Timestamp | str,
    window_days: int,
    seed: int = 0,
) -> np.ndarray:
    """Churn probabilities of the naive baseline for the evaluation rows ``inputs``.

    Parameters
    ----------
    tables
        Validated tables; only rows before ``cutoff`` are read (labels of the training
        cut-off end at ``cutoff``).
    inputs
        The evaluation rows (model inputs at ``cutoff``, indexed by ``customer_id``).
    labels
        Their observed churn labels; used only when the baseline is cross-fitted.
    cutoff
        Evaluation cut-off.
    window_days
        Churn window.
    seed
        LightGBM seed.
    """
    cut = pd.Timestamp(cutoff).normalize()
    train_cut = cut - pd.Timedelta(days=window_days)
    X_eval = inputs[list(NAIVE_FEATURES)].to_numpy(dtype=float)
    feats = build_features(tables, train_cut)
    y_train = churn_labels(tables.transactions, train_cut, window_days).reindex(feats.index)
    if len(feats) >= MIN_TRAINING_ROWS and y_train.nunique() == 2:
        X_train = feats[list(NAIVE_FEATURES)].to_numpy(dtype=float)
        return _fit_predict(X_train, y_train.to_numpy(dtype=float), X_eval, seed)
    y = np.asarray(labels, dtype=float)
    ids = inputs.index.to_numpy()
    return cross_fit(
        ids,
        ids,
        lambda train, score: _fit_predict(X_eval[train], y[train], X_eval[score], seed),
    )
