"""Cross-fitting by customer: score every row with a model that never saw its customer.

When the history holds only one labelled window, there is no earlier window to
train on and a later one to judge on. The rows of that window can still be scored
honestly *across customers*: customers are split into folds by a hash of their id,
and each fold is scored by a model trained on the other folds only. The estimate
answers "how well does the procedure rank customers it has not seen, in this
window"; it cannot see drift between windows, which a backtest on a later window
would (see ``docs/architecture.md``, *Time*).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

#: Folds of a cross-fitted evaluation.
N_FOLDS = 5


def customer_folds(ids: np.ndarray | pd.Index | pd.Series, n_folds: int = N_FOLDS) -> np.ndarray:
    """Fold number (0 .. n_folds-1) of each customer id, stable across runs and cut-offs."""
    hashed = pd.util.hash_array(np.asarray(ids).astype(str))
    return (hashed % np.uint64(n_folds)).astype(np.int64)


def cross_fit(
    train_ids: np.ndarray,
    score_ids: np.ndarray,
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_folds: int = N_FOLDS,
) -> np.ndarray:
    """Scores of the ``score_ids`` rows, each from a fit that excluded its customer's fold.

    Parameters
    ----------
    train_ids, score_ids
        The customer of each training row and of each row to score.
    fit_predict
        ``fit_predict(train_mask, score_mask)`` fits on the training rows of
        ``train_mask`` and returns the scores of the rows of ``score_mask``.
    n_folds
        Number of customer folds.
    """
    train_fold = customer_folds(train_ids, n_folds)
    score_fold = customer_folds(score_ids, n_folds)
    out = np.full(len(score_ids), np.nan)
    for k in range(n_folds):
        target = score_fold == k
        if target.any():
            out[target] = fit_predict(train_fold != k, target)
    return out
