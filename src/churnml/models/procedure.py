"""The churn model for a scoring date: backtest the procedure, then refit on the freshest labels.

For ``as_of`` and a churn window ``W`` (see :mod:`churnml.models.sufficiency`):

1. **Backtest.** A model is trained on the cut-offs whose windows end by the
   evaluation cut-off ``as_of - W`` and judged on the customers at ``as_of - W``
   against what they did until ``as_of``: rows it never saw. Its metrics describe the
   *procedure* (features, cut-offs, settings), which is what a run can measure
   honestly.
2. **Refit.** The shipped model is fitted with the same settings on the newest
   cut-offs, whose windows end by ``as_of``; the newest of them is ``as_of - W``
   itself. With 18 months of data and a 6-month window, the backtest's newest
   training cut-off is a year before ``as_of`` and the shipped model's six months:
   it learns from the customers of today's base, not only from those of a year ago.

The price is that no labelled rows are left to measure the shipped model itself;
the backtest measures the procedure one window earlier. ``ChurnModel.fit`` still
holds out the newest cut-off's rows of a share of customers for early stopping and
calibration, so the shipped model's probabilities are calibrated on the freshest
labels (its ``validation_`` reports that check).

With a short history (no window ends by ``as_of - W``), the shipped model trains on
the windows ending by ``as_of`` and the evaluation is cross-fitted by customer on
the newest one (:mod:`churnml.models.crossfit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.config import Config
from churnml.data.contract import InputTables
from churnml.models.churn import ChurnModel
from churnml.models.crossfit import cross_fit
from churnml.models.sufficiency import HistoryCheck, check_history
from churnml.models.training_data import TrainingSet, build_training_set

ModelFactory = Callable[[], ChurnModel]


@dataclass
class EvaluationRows:
    """The rows every model of a run (and the champion) is judged on."""

    cutoff: pd.Timestamp
    inputs: pd.DataFrame
    labels: pd.Series


@dataclass
class ChurnFit:
    """The shipped churn model, the backtest of its procedure and the rows each saw.

    Attributes
    ----------
    check
        What the history allowed (cut-offs, mode, numbers).
    training
        Rows of every cut-off used (the shipped model's and the backtest's).
    shipped
        The model in the bundle, fitted on the cut-offs whose windows end by ``as_of``.
    backtest_model
        The model trained on windows ending by the evaluation cut-off (``None`` when
        the evaluation is cross-fitted: one model per customer fold, none kept).
    rows
        The evaluation rows (customers at ``as_of - window``, labels until ``as_of``).
    backtest_proba
        The procedure's out-of-sample probabilities on ``rows``.
    """

    check: HistoryCheck
    training: TrainingSet
    shipped: ChurnModel
    backtest_model: ChurnModel | None
    rows: EvaluationRows
    backtest_proba: np.ndarray

    def rows_seen(self) -> pd.DataFrame:
        """Per cut-off: label window end, rows, churn rate and which model trained on it.

        In cross-fitted mode the newest cut-off is also the evaluation cut-off; its
        rows are trained on by the fold models, each time without the scored fold.
        """
        table = self.training.summary()
        window = pd.Timedelta(days=self.check.window_days)
        cuts = pd.DatetimeIndex(table.index)
        table.insert(0, "label_window_end", (cuts + window).date)
        table["backtest_model"] = cuts.isin(self.check.backtest_cutoffs)
        table["shipped_model"] = cuts.isin(self.check.shipped_cutoffs)
        table["evaluation"] = cuts == self.rows.cutoff
        table.index = cuts.date
        table.index.name = "cutoff"
        return table

    def summary(self) -> dict[str, str | int]:
        """Flat, MLflow-param-ready description of the rows of each model."""
        seen = self.rows_seen()
        back = seen[seen["backtest_model"]]
        ship = seen[seen["shipped_model"]]
        return {
            **self.check.to_dict(),
            "churn.backtest.cutoffs": ",".join(map(str, back.index)) or "cross-fitted",
            "churn.backtest.rows": int(back["rows"].sum()),
            "churn.shipped.cutoffs": ",".join(map(str, ship.index)),
            "churn.shipped.rows": int(ship["rows"].sum()),
            "churn.evaluation.cutoff": str(self.rows.cutoff.date()),
            "churn.evaluation.rows": len(self.rows.labels),
        }


def backtest_proba(
    make_model: ModelFactory, training: TrainingSet, check: HistoryCheck, rows: EvaluationRows
) -> tuple[np.ndarray, ChurnModel | None]:
    """Out-of-sample probabilities of the procedure ``make_model`` on ``rows``.

    ``backtest`` mode: one model on the cut-offs of ``check.backtest_cutoffs``.
    ``cross_fitted`` mode: per customer fold, a model on the other folds' rows of
    every cut-off (the newest included) scores that fold's evaluation rows.
    """
    X, y, cutoff = training.X, training.y.to_numpy(), training.cutoff.to_numpy()
    if check.mode == "backtest":
        mask = np.isin(cutoff, pd.DatetimeIndex(check.backtest_cutoffs).to_numpy())
        model = make_model().fit(X[mask], y[mask], cutoff[mask])
        return model.predict_proba(rows.inputs), model

    def fit_predict(train: np.ndarray, score: np.ndarray) -> np.ndarray:
        fold_model = make_model().fit(X[train], y[train], cutoff[train])
        return fold_model.predict_proba(rows.inputs[score])

    ids = training.customer_id.to_numpy()
    return cross_fit(ids, rows.inputs.index.to_numpy(), fit_predict), None


def fit_churn(
    tables: InputTables, as_of: pd.Timestamp, config: Config, check: HistoryCheck | None = None
) -> ChurnFit:
    """Check the history, build the rows once, backtest the procedure and fit the shipped model.

    Every cut-off's rows are built once (the backtest's cut-offs are a subset of the
    schedule's, shifted back by one window) and each model selects its own. ``check``
    is the result of :func:`check_history` when the caller already ran it.
    """
    if check is None:
        check = check_history(tables, as_of, config.time)
    cutoffs = sorted({*check.backtest_cutoffs, *check.shipped_cutoffs})
    training = build_training_set(tables, as_of, config.time, config.ltv, cutoffs=cutoffs)
    newest = training.cutoff.to_numpy() == check.eval_cutoff.to_datetime64()
    rows = EvaluationRows(
        cutoff=check.eval_cutoff,
        inputs=training.X[newest],
        labels=pd.Series(training.y.to_numpy()[newest], index=training.X.index[newest]),
    )

    def make_model() -> ChurnModel:
        return ChurnModel.from_config(config.churn, random_state=config.seed)

    proba, backtest_model = backtest_proba(make_model, training, check, rows)
    shipping = np.isin(
        training.cutoff.to_numpy(), pd.DatetimeIndex(check.shipped_cutoffs).to_numpy()
    )
    shipped = make_model().fit(
        training.X[shipping], training.y.to_numpy()[shipping], training.cutoff.to_numpy()[shipping]
    )
    return ChurnFit(check, training, shipped, backtest_model, rows, proba)
