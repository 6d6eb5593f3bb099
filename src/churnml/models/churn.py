"""LightGBM churn classifier with out-of-time early stopping, calibration and reason codes.

Training rows come from several rolling cut-offs
(:func:`churnml.models.training_data.build_training_set`). :meth:`ChurnModel.fit`
holds rows out *by time and by customer*: the held-out rows are the latest cut-off's
rows of a random 30 % of the customers, and the booster is trained on the earlier
cut-offs of the other 70 %. Early stopping and the calibrator (isotonic or sigmoid, on
the booster's raw score) both use the held-out rows, so the number of rounds and the
probability scale are chosen on a later period than the trees were grown on - the
situation of scoring. Holding out customers as well matters because rolling cut-offs
repeat each customer with overlapping label windows: a booster that recognises a
customer from one cut-off to the next looks better on a later cut-off of the *same*
customers than it is on a truly new window, and early stopping would reward that
memorisation (on CDNOW it was worth +0.03 AUC, 0.794 against 0.766 on unseen customers).

Why the booster is not refitted on all rows afterwards: the calibrator maps *this*
booster's held-out scores to churn rates. A booster refitted on more rows has another
score scale and no held-out rows would be left to calibrate it, so probabilities
would lose the "0.7 means 70 %" property the model is for.

Class imbalance: positive rows are weighted by ``n_negative / n_positive`` (LightGBM's
``scale_pos_weight``) so that neither class dominates the gradient; the calibrator then
restores the real base rate.

Isotonic calibration is *centred* (Oron & Flournoy, 2017): each flat block of the
isotonic fit is replaced by one knot at its mean score and the knots are joined
linearly, which keeps the isotonic fit's calibration but maps different raw scores
to different probabilities inside the knot range, so the ranking (and the AUC) of the
booster survives calibration.

Reason codes are LightGBM's own TreeSHAP values (``pred_contrib=True``): per customer
the contributions of all features plus the base value add up to the raw score
exactly; :meth:`ChurnModel.explain` reports the largest ones with readable text from
:mod:`churnml.models.reasons`.

References
----------
Lundberg, Erion & Lee (2018), Consistent individualized feature attribution for tree
ensembles. Oron & Flournoy (2017), Centered isotonic regression: point and interval
estimation for dose-response studies. Statistics in Biopharmaceutical Research 9(3).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score

from churnml.config import ChurnConfig
from churnml.evaluation.metrics import expected_calibration_error
from churnml.models.churn_fitting import apply_calibrator, fit_calibrator, split_rows
from churnml.models.reasons import ReasonCodes, top_reasons

logger = logging.getLogger(__name__)

FORMAT = "churnml.ChurnModel"
FORMAT_VERSION = 1
#: Rows per LightGBM thread when training and when predicting (see ``ChurnModel._threads``).
TRAIN_ROWS_PER_THREAD = 50_000
PREDICT_ROWS_PER_THREAD = 10_000
#: Calibrated probabilities are kept inside this margin from 0 and 1 (log loss stays finite).

_PARAM_NAMES: tuple[str, ...] = (
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "early_stopping_rounds",
    "calibration",
    "n_reasons",
    "optuna_trials",
    "n_jobs",
)


class ChurnModel(BaseEstimator):
    """Calibrated LightGBM churn classifier (scikit-learn estimator contract).

    Parameters
    ----------
    n_estimators
        Maximum boosting rounds; early stopping on the held-out cut-off picks fewer.
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda
        LightGBM hyperparameters (``subsample`` is bagging per round).
    early_stopping_rounds
        Stop when the held-out log loss (weighted like the training objective) has not
        improved for this many rounds.
    calibration
        ``"isotonic"`` (centred isotonic regression) or ``"sigmoid"`` (Platt scaling)
        of the raw score, fitted on the held-out cut-off(s).
    n_reasons
        Default number of reason codes per customer.
    optuna_trials
        Trials of an Optuna search over the tree hyperparameters (0 = off). The search
        maximises the held-out AUC; without ``optuna`` installed a warning is logged
        and the given hyperparameters are used.
    n_jobs
        Most LightGBM threads for training and prediction (small jobs use fewer:
        one per 50,000 training rows or 10,000 rows to predict).
    validation_cutoffs
        How many of the latest cut-offs are held out for early stopping and
        calibration.
    validation_share
        Share of the customers whose latest-cut-off rows are held out (when the
        customers are known, see :meth:`fit`); also the share of rows held out at
        random when there is neither a customer nor more than one cut-off.
    class_weight
        ``"balanced"`` sets ``scale_pos_weight = n_negative / n_positive``; ``None``
        leaves the classes unweighted.
    random_state
        Seed of LightGBM's bagging and of the random fallback split.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        Trees up to the best iteration.
    feature_names_ : list of str
    best_iteration_ : int
    calibrator_ : dict
        ``{"method": "isotonic", "x": [...], "y": [...]}`` (knots of the centred
        isotonic map) or ``{"method": "sigmoid", "coef": a, "intercept": b}``.
    scale_pos_weight_ : float
    best_params_ : dict
        The LightGBM parameters used (after an Optuna search, the best found).
    validation_ : dict
        Held-out cut-offs, rows, churn rate and AUC / Brier of the held-out rows.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.1,
        num_leaves: int = 7,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 50,
        calibration: Literal["isotonic", "sigmoid"] = "isotonic",
        n_reasons: int = 3,
        optuna_trials: int = 0,
        n_jobs: int = 2,
        validation_cutoffs: int = 1,
        validation_share: float = 0.3,
        class_weight: Literal["balanced"] | None = "balanced",
        random_state: int = 42,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.n_reasons = n_reasons
        self.optuna_trials = optuna_trials
        self.n_jobs = n_jobs
        self.validation_cutoffs = validation_cutoffs
        self.validation_share = validation_share
        self.class_weight = class_weight
        self.random_state = random_state

    @classmethod
    def from_config(cls, cfg: ChurnConfig, random_state: int = 42, **overrides: Any) -> ChurnModel:
        """Build from the ``churn`` section of the configuration."""
        params: dict[str, Any] = {name: getattr(cfg, name) for name in _PARAM_NAMES}
        params.update(overrides)
        return cls(random_state=random_state, **params)

    # ------------------------------------------------------------------ training

    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series | np.ndarray,
        cutoff: pd.Series | np.ndarray | None = None,
        groups: pd.Series | np.ndarray | None = None,
    ) -> ChurnModel:
        """Train on earlier cut-offs, stop early and calibrate on the latest one(s).

        Parameters
        ----------
        X
            Feature frame (e.g. ``TrainingSet.X``); its columns become ``feature_names_``.
        y
            1 = churned, 0 = purchased in the window.
        cutoff
            The cut-off of each row. The ``validation_cutoffs`` latest ones are held out
            by time; without cut-offs (or with only one), customers (or rows) are.
        groups
            The customer of each row (default: ``X.index`` when it is named
            ``customer_id``, as in ``TrainingSet.X``). With groups, the held-out rows are
            the latest cut-off(s) of a ``validation_share`` of the customers, and none of
            those customers' rows is trained on: rolling cut-offs repeat each customer
            with overlapping label windows, and a booster that recognises a customer
            from one cut-off to the next would look better on held-out rows of the same
            customers than it is on a future window.

        Returns
        -------
        ChurnModel
            ``self``.
        """
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame with named feature columns")
        target = np.asarray(y, dtype=float)
        if len(target) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(target)}")
        if not np.isin(target, (0.0, 1.0)).all():
            raise ValueError("y must be 0/1 (1 = churned)")
        if groups is None and X.index.name == "customer_id":
            groups = X.index.to_numpy()
        self.feature_names_ = [str(c) for c in X.columns]
        data = X.to_numpy(dtype=np.float64)
        train, valid, held = split_rows(
            target,
            cutoff,
            groups,
            self.validation_cutoffs,
            self.validation_share,
            self.random_state,
        )
        for part, name in ((train, "training"), (valid, "held-out")):
            if len(np.unique(target[part])) < 2:
                raise ValueError(f"the {name} rows need both churners and non-churners")
        n_pos = float(target[train].sum())
        self.scale_pos_weight_ = (
            (float(train.sum()) - n_pos) / n_pos if self.class_weight == "balanced" else 1.0
        )
        params = self._lgb_params(int(train.sum()))
        if self.optuna_trials > 0:
            params = self._search(params, data, target, train, valid)
        booster, best = self._train(params, data, target, train, valid)
        self.best_params_ = params
        self.best_iteration_ = best
        # Round-trip through the native text format: the fitted booster is exactly the
        # one to_dict() stores, trimmed to the best iteration.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        held_out_score = self.raw_score(data[valid])
        self.calibrator_ = fit_calibrator(self.calibration, held_out_score, target[valid])
        proba = apply_calibrator(self.calibrator_, held_out_score)
        self.validation_: dict[str, Any] = {
            "split": held,
            "training_rows": int(train.sum()),
            "rows": int(valid.sum()),
            "churn_rate": float(target[valid].mean()),
            "roc_auc": float(roc_auc_score(target[valid], held_out_score)),
            "brier": float(np.mean((proba - target[valid]) ** 2)),
            "ece": expected_calibration_error(target[valid], proba),
        }
        return self

    def _lgb_params(self, n_train_rows: int) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "scale_pos_weight": self.scale_pos_weight_,
            "metric": "binary_logloss",
            "num_threads": self._threads(n_train_rows, TRAIN_ROWS_PER_THREAD),
            "seed": self.random_state,
            "deterministic": True,
            "verbose": -1,
        }

    def _train(
        self,
        params: dict[str, Any],
        data: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
    ) -> tuple[lgb.Booster, int]:
        dtrain = lgb.Dataset(
            data[train], target[train], feature_name=self.feature_names_, free_raw_data=False
        )
        # The held-out log loss is weighted like the training objective, so that early
        # stopping looks for the optimum of what the booster is fitting.
        weight = np.where(target[valid] == 1.0, params["scale_pos_weight"], 1.0)
        dvalid = lgb.Dataset(data[valid], target[valid], weight=weight, reference=dtrain)
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=self.n_estimators,
            valid_sets=[dvalid],
            valid_names=["held_out"],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        best = int(booster.best_iteration) or booster.current_iteration()
        return booster, best

    def _search(
        self,
        params: dict[str, Any],
        data: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
    ) -> dict[str, Any]:
        """Optuna search over the tree hyperparameters, maximising the held-out AUC.

        The held-out rows serve the search, early stopping and calibration alike, so
        their AUC is optimistic after a search; judge the model on later rows (the
        pipeline's evaluation cut-off).
        """
        try:
            import optuna
        except ImportError:
            logger.warning(
                "optuna_trials=%d but optuna is not installed (pip install optuna): "
                "skipping the hyperparameter search",
                self.optuna_trials,
            )
            return params

        def objective(trial: Any) -> float:
            trial_params = dict(params)
            trial_params.update(
                learning_rate=trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
                num_leaves=trial.suggest_int("num_leaves", 4, 63, log=True),
                min_data_in_leaf=trial.suggest_int("min_data_in_leaf", 10, 1000, log=True),
                feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
                bagging_fraction=trial.suggest_float("bagging_fraction", 0.5, 1.0),
                bagging_freq=1,
                lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 100.0, log=True),
            )
            booster, best = self._train(trial_params, data, target, train, valid)
            score = booster.predict(data[valid], num_iteration=best, raw_score=True)
            return float(roc_auc_score(target[valid], score))

        sampler = optuna.samplers.TPESampler(seed=self.random_state)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial
        try:
            study.optimize(objective, n_trials=self.optuna_trials)
        finally:
            optuna.logging.set_verbosity(verbosity)
        best = dict(params)
        best.update(study.best_params, bagging_freq=1)
        logger.info("optuna: held-out AUC %.4f with %s", study.best_value, study.best_params)
        return best

    # ---------------------------------------------------------------- prediction

    def feature_matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's features of ``X`` as a float matrix, columns in training order.

        Compute it once and pass it to :meth:`predict_proba` and :meth:`reason_codes`
        when both are needed.
        """
        return self._matrix(X)

    def _matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        self._check_fitted()
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names_ if c not in X.columns]
            if missing:
                raise ValueError(f"missing feature columns: {', '.join(missing)}")
            # One selection: a copy of the feature columns in one block, which to_numpy
            # hands over as is when they are all floats (the model inputs are). A
            # pandas lookup per column would cost more than the copy for one customer.
            return X[self.feature_names_].to_numpy(dtype=np.float64)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.feature_names_):
            raise ValueError(
                f"expected a 2-D array with {len(self.feature_names_)} feature columns"
            )
        return arr

    def raw_score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The booster's margin (log-odds before calibration), one value per row."""
        data = self._matrix(X)
        if len(data) == 0:
            return np.empty(0)
        return np.asarray(
            self.booster_.predict(
                data, raw_score=True, num_threads=self._threads(len(data), PREDICT_ROWS_PER_THREAD)
            )
        )

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated churn probability, a 1-D array (one value per row).

        Unlike scikit-learn classifiers this returns P(churn) only, not an ``(n, 2)``
        array: the scorer and the reports need exactly this column.
        """
        return apply_calibrator(self.calibrator_, self.raw_score(X))

    def predict(self, X: pd.DataFrame | np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """1 where the churn probability is at least ``threshold``."""
        return (self.predict_proba(X) >= threshold).astype(np.int64)

    def contributions(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """TreeSHAP contribution of every feature to the raw score, plus ``base_value``.

        Each row sums to :meth:`raw_score` of that row (LightGBM's ``pred_contrib``).
        """
        data = self._matrix(X)
        contrib = np.asarray(
            self.booster_.predict(
                data,
                pred_contrib=True,
                num_threads=self._threads(len(data), PREDICT_ROWS_PER_THREAD),
            )
        )
        contrib = contrib.reshape(len(data), len(self.feature_names_) + 1)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(contrib, columns=[*self.feature_names_, "base_value"], index=index)

    def explain(
        self,
        X: pd.DataFrame,
        n_reasons: int | None = None,
        order: Literal["risk", "magnitude"] = "risk",
    ) -> list[list[dict[str, Any]]]:
        """Reason codes: the top contributing features of each customer.

        Parameters
        ----------
        X
            Model inputs (a frame with at least the model's features; other columns
            are ignored).
        n_reasons
            Reasons per customer (default ``self.n_reasons``).
        order
            ``"risk"``: the features that raise the churn score most (largest signed
            contribution first; the answer to "why is this customer at risk").
            ``"magnitude"``: largest absolute contribution first.

        Returns
        -------
        list of list of dict
            Per row of ``X``, ``n_reasons`` dicts with ``feature``, ``value`` (``None``
            when missing), ``contribution`` (log-odds; positive raises churn risk) and
            ``description``.
        """
        return self.reason_codes(X, n_reasons, order).to_records()

    def reason_codes(
        self,
        X: pd.DataFrame | np.ndarray,
        n_reasons: int | None = None,
        order: Literal["risk", "magnitude"] = "risk",
    ) -> ReasonCodes:
        """:meth:`explain` as arrays (:class:`~churnml.models.reasons.ReasonCodes`).

        Bulk scoring uses this form: its ``to_json`` writes the reasons of many
        customers without a dict per reason.
        """
        data = self._matrix(X)
        contrib = self.contributions(data).to_numpy()[:, :-1]
        return top_reasons(contrib, data, self.feature_names_, n_reasons or self.n_reasons, order)

    def feature_importance(self, importance_type: Literal["gain", "split"] = "gain") -> pd.Series:
        """Total gain (or split count) per feature, largest first."""
        self._check_fitted()
        values = self.booster_.feature_importance(importance_type=importance_type)
        return pd.Series(values, index=self.feature_names_, name=importance_type).sort_values(
            ascending=False
        )

    # ------------------------------------------------------------- persistence

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: hyperparameters, the booster as LightGBM text, calibrator numbers."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "feature_names": list(self.feature_names_),
            "best_iteration": int(self.best_iteration_),
            "best_params": {k: _plain(v) for k, v in self.best_params_.items()},
            "scale_pos_weight": float(self.scale_pos_weight_),
            "calibrator": self.calibrator_,
            "validation": self.validation_,
            "booster": self.booster_.model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChurnModel:
        """Rebuild a fitted model from :meth:`to_dict` output (predictions are identical)."""
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"not a {FORMAT} v{FORMAT_VERSION} dict (got {data.get('format')!r} "
                f"v{data.get('format_version')!r})"
            )
        model = cls(**data["params"])
        model.feature_names_ = list(data["feature_names"])
        model.best_iteration_ = int(data["best_iteration"])
        model.best_params_ = dict(data["best_params"])
        model.scale_pos_weight_ = float(data["scale_pos_weight"])
        model.calibrator_ = dict(data["calibrator"])
        model.validation_ = dict(data.get("validation", {}))
        model.booster_ = lgb.Booster(model_str=data["booster"])
        return model

    def _threads(self, n_rows: int, rows_per_thread: int) -> int:
        """LightGBM threads for ``n_rows``: one per ``rows_per_thread`` rows, at most ``n_jobs``.

        Small jobs run faster on one thread. Training is the sensitive case: its OpenMP
        threads meet at every tree, and when other processes share the cores they wait
        for each other (measured here: 10k rows took 0.7 s on one thread and 14 s on
        two). Prediction is one parallel loop over rows and degrades gracefully.
        """
        return max(1, min(int(self.n_jobs), n_rows // rows_per_thread))

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("ChurnModel is not fitted: call fit() or from_dict() first")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
