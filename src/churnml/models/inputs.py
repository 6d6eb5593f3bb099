"""The model inputs: behavioural features joined with the LTV model's predictions.

:func:`model_inputs` is the one place where :func:`churnml.features.build_features`
and :meth:`LTVModel.predict <churnml.models.ltv.LTVModel.predict>` are joined. Training
calls it at every rolling cut-off (with an LTV model fitted before that cut-off) and
the scorer calls it at serving time (with the LTV model fitted before the scoring
date), so a churn model always sees inputs computed by the same code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnml.data.contract import InputTables
from churnml.features import (
    FEATURE_COLUMNS,
    features_from_history,
    purchase_history,
    rfm_from_history,
)
from churnml.models.ltv import PREDICTION_COLUMNS

if TYPE_CHECKING:
    from churnml.models.ltv import LTVModel

#: Every column of ``LTVModel.predict`` (all of them are kept in the inputs: the scorer
#: reports them and segments use them).
LTV_COLUMNS: tuple[str, ...] = PREDICTION_COLUMNS

#: LTV outputs the churn model learns from. ``expected_order_value``, ``clv``,
#: ``expected_days_to_next_purchase`` and ``value_if_retained`` are left out: they are (near-)deterministic
#: functions of these three and of spend columns already among the features.
LTV_FEATURES: tuple[str, ...] = ("p_alive", "expected_purchases", "p_no_purchase")

#: Names and order of the churn model's feature columns.
CHURN_FEATURES: list[str] = [*FEATURE_COLUMNS, *LTV_FEATURES]


def model_inputs(
    tables: InputTables,
    as_of: pd.Timestamp | str,
    ltv: LTVModel,
    horizon_days: int,
    churn_window_days: int,
) -> pd.DataFrame:
    """Behavioural features and LTV predictions of every customer with history before ``as_of``.

    Parameters
    ----------
    tables
        Validated input tables; rows dated on or after ``as_of`` are ignored.
    as_of
        Exclusive cut-off.
    ltv
        A fitted :class:`~churnml.models.ltv.LTVModel`. Point-in-time correctness
        needs it fitted on data before ``as_of`` only (training does so at every
        cut-off; a scorer uses the model fitted at its training date).
    horizon_days, churn_window_days
        Passed to ``ltv.predict``: horizon of expected purchases and CLV, and the
        window of ``p_no_purchase`` (the churn label's window).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted), the columns of ``FEATURE_COLUMNS``
        followed by those of ``LTV_COLUMNS``; every column in ``CHURN_FEATURES`` is
        present. Empty (with these columns) when nobody has a purchase before ``as_of``.
    """
    # The transactions are encoded once and shared by the features and the RFM summary:
    # they are the same customers, and the encoding is most of the cost.
    history = purchase_history(tables.transactions, as_of)
    feats = features_from_history(tables, history)
    if feats.empty:
        return pd.DataFrame(
            columns=[*FEATURE_COLUMNS, *LTV_COLUMNS], index=feats.index, dtype=float
        )
    rfm = rfm_from_history(history, time_unit=ltv.time_unit)
    pred = ltv.predict(rfm, horizon_days=horizon_days, churn_window_days=churn_window_days)
    missing = [c for c in LTV_FEATURES if c not in pred.columns]
    if missing:
        raise ValueError(f"LTVModel.predict did not return {missing}")
    return _append_predictions(feats, pred)


def _append_predictions(feats: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    """``feats`` followed by the ``LTV_COLUMNS`` of ``pred`` (as float), aligned on the index.

    One matrix and one DataFrame instead of ``DataFrame.join``: the same result with a
    fraction of pandas' fixed cost, which matters when scoring one customer per request.
    """
    ltv_columns = [c for c in LTV_COLUMNS if c in pred.columns]
    if not pred.index.equals(feats.index):
        pred = pred.reindex(feats.index)
    # Column-major, like the block pandas stores: each column stays contiguous.
    values = np.empty((len(feats), feats.shape[1] + len(ltv_columns)), order="F")
    values[:, : feats.shape[1]] = feats.to_numpy(dtype=float)
    chosen = pred if list(pred.columns) == ltv_columns else pred[ltv_columns]
    values[:, feats.shape[1] :] = chosen.to_numpy(dtype=float)
    return pd.DataFrame(values, index=feats.index, columns=[*feats.columns, *ltv_columns])
