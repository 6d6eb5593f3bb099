"""Uplift per action: how much an action raises a customer's chance to buy, or their spend.

Learned from campaign history with a held-out control group (treated vs
control), by a meta-learner on LightGBM classifiers (Künzel et al., 2019):

- **T-learner** (default): one model of the response of the shared control
  group, ``mu_c(x)``, and one per action, ``mu_a(x)``;
  ``uplift_a(x) = mu_a(x) - mu_c(x)``. Simple and unbiased on average when
  arms are randomised, which our deterministic control group guarantees.
  Each action's model is boosted *from* the control model's log-odds with
  smaller trees, so it only learns how the action shifts the response. Two
  independent models would each carry their own noise into the difference;
  on the Hillstrom test this warm start ranks customers by uplift clearly
  better (higher held-out Qini) at the same average effect.
- **X-learner**: adds a second stage that regresses imputed individual effects
  (``y - mu_c(x)`` on the treated, ``mu_a(x) - y`` on the controls) and blends
  the two by the share of each arm. It helps when one arm is much smaller than
  the other, the usual case for a 10% control group.

The outcome is a conversion by default (``outcome="conversion"``: LightGBM
classifiers, effects in probability). Where campaigns record what customers spent
in the response window, ``outcome="revenue"`` learns the incremental revenue with
the same learners on LightGBM regressions (identity link instead of log-odds), so
that the policy can value a contact by what it is measured to bring in rather
than by ``uplift x expected order value``.

Features must describe each customer *as of the campaign's send date*;
:func:`uplift_training_set` builds them from any point-in-time feature function.

Without history the model runs in **prior** mode (:meth:`UpliftModel.prior`):
each action's uplift is the configured prior response rate, the same for every
customer, and the ``uplift_source`` column of the output says ``"prior"`` so
that no one mistakes an assumption for a measurement.

Only measured effects are used: :func:`churnml.actions.trust.check_uplift` judges
each learned action on held-out customers and records its verdict in ``trust_``;
after that, :meth:`UpliftModel.predict` returns columns only for the actions whose
effect was shown, and :meth:`UpliftModel.policy_priors` gives the (capped) priors
of the others. A model that was never checked returns every learned action.

Models are saved as LightGBM's native text plus JSON (:meth:`to_dict`), never
as pickles.

References
----------
Künzel, Sekhon, Bickel & Yu (2019), "Metalearners for estimating heterogeneous
treatment effects using machine learning", PNAS 116(10).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from churnml.actions.catalogue import CONTROL
from churnml.actions.columns import REVENUE_PREFIX, SOURCE_COLUMN
from churnml.frames import is_plain_number

if TYPE_CHECKING:  # imported where used: LightGBM pulls in scikit-learn and SciPy (~0.5 s)
    import lightgbm as lgb

logger = logging.getLogger(__name__)


#: Tables with fewer rows are scored by LightGBM on one thread: waking OpenMP
#: threads costs more than they save on a handful of rows (about five times the
#: work itself for the one customer of an HTTP request), while from a few dozen
#: rows on they pay off. Every thread count gives the same predictions.
SINGLE_THREAD_ROWS = 10

_FORMAT_VERSION = 1


class UpliftModel(BaseEstimator):
    """Per-action uplift on purchase probability (or revenue), learned (T/X-learner) or prior.

    Parameters
    ----------
    learner
        ``"t"`` or ``"x"`` (see the module docstring).
    outcome
        ``"conversion"`` (binary ``y``, effects in probability) or ``"revenue"``
        (non-negative ``y`` such as spend in the response window, effects in money).
    control_label
        Value of ``action`` that marks held-out customers.
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample,
    colsample_bytree, reg_lambda
        LightGBM settings shared by every model.
    effect_num_leaves, effect_min_child_samples
        Tree size of the models of the *effect* (the action models boosted from
        the control model, and the X-learner's second stage). An effect is a few
        points of probability, much smoother than the response itself, so these
        trees are smaller and need more customers per leaf.
    min_treated
        Actions with fewer treated customers than this are not learned (a warning
        is logged); the policy then falls back to their prior.
    random_state, n_jobs
        Seed and threads of LightGBM.

    Attributes
    ----------
    actions_ : list[str]
        Actions with a learned (or prior) uplift.
    feature_names_ : list[str]
    categories_ : dict[str, list[str]]
        Categories of each non-numeric feature seen in ``fit``; unseen values
        become missing at prediction time.
    source_ : {"learned", "prior"}
    n_treated_, n_control_ : dict[str, int] / int
        Training counts per action and of the shared control group.
    trust_ : dict[str, dict]
        Hold-out verdict per learned action (``verdict``: ``learned``, ``prior``
        or ``harmful``; ``effect``: average held-out effect), set by
        :func:`churnml.actions.trust.check_uplift`; empty until checked.
    """

    # Learned state (set by fit, prior or from_dict).
    source_: str
    actions_: list[str]
    feature_names_: list[str]
    categories_: dict[str, list[str]]
    priors_: dict[str, float]
    models_: dict[str, lgb.Booster]
    n_control_: int
    n_treated_: dict[str, int]
    propensity_: dict[str, float]
    mean_outcome_: dict[str, float]
    trust_: dict[str, dict[str, Any]]

    def __init__(
        self,
        learner: Literal["t", "x"] = "t",
        control_label: str = CONTROL,
        outcome: Literal["conversion", "revenue"] = "conversion",
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        min_child_samples: int = 300,
        subsample: float = 0.8,
        colsample_bytree: float = 1.0,
        reg_lambda: float = 1.0,
        effect_num_leaves: int = 3,
        effect_min_child_samples: int = 500,
        min_treated: int = 200,
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.learner = learner
        self.control_label = control_label
        self.outcome = outcome
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.effect_num_leaves = effect_num_leaves
        self.effect_min_child_samples = effect_min_child_samples
        self.min_treated = min_treated
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _lgb_params(self, objective: str, effect: bool) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.effect_num_leaves if effect else self.num_leaves,
            "min_data_in_leaf": self.effect_min_child_samples if effect else self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    # --------------------------------------------------------------- features
    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        """Features as a float matrix: numbers as they are, categories as stable codes.

        Columns already held as NumPy numbers or booleans are converted together in
        one step (the same floats ``pd.to_numeric`` gives, without its fixed cost per
        column, which dominates for a single customer); anything else goes through
        ``pd.to_numeric`` column by column.
        """
        names = self.feature_names_
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"features missing from X: {', '.join(missing)}")
        out = np.empty((len(X), len(names)), dtype=np.float64)
        numeric = [j for j, name in enumerate(names) if name not in self.categories_]
        if numeric and X.columns.is_unique:
            dtype_of = dict(zip(X.columns, X.dtypes, strict=True))
            plain = [j for j in numeric if is_plain_number(dtype_of[names[j]])]
            if plain:
                out[:, plain] = X[[names[j] for j in plain]].to_numpy(dtype=np.float64)
                done = set(plain)
                numeric = [j for j in numeric if j not in done]
        for j in numeric:
            out[:, j] = pd.to_numeric(X[names[j]], errors="coerce").to_numpy(dtype=np.float64)
        for j, name in enumerate(names):
            if name in self.categories_:
                col = X[name]
                text = col.astype(str).where(col.notna(), None)
                codes = pd.Categorical(text, categories=self.categories_[name]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
        return out

    def _learn_categories(self, X: pd.DataFrame) -> None:
        self.feature_names_ = [str(c) for c in X.columns]
        self.categories_ = {}
        for name in self.feature_names_:
            col = X[name]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                values = col.dropna().astype(str).unique().tolist()
                self.categories_[name] = sorted(values)

    def _train(
        self,
        matrix: np.ndarray,
        label: np.ndarray,
        objective: str,
        effect: bool = False,
        init_score: np.ndarray | None = None,
    ) -> lgb.Booster:
        import lightgbm as lgb

        cat_idx = [j for j, n in enumerate(self.feature_names_) if n in self.categories_]
        data = lgb.Dataset(
            matrix,
            label=label,
            init_score=init_score,
            feature_name=self.feature_names_,
            categorical_feature=cat_idx or "auto",
            free_raw_data=True,
        )
        return lgb.train(
            self._lgb_params(objective, effect), data, num_boost_round=self.n_estimators
        )

    # -------------------------------------------------------------------- fit
    def fit(
        self,
        X: pd.DataFrame,
        action: pd.Series,
        y: pd.Series,
        treated: pd.Series | None = None,
    ) -> Self:
        """Learn each action's uplift against the shared control group.

        Parameters
        ----------
        X
            Features of each contact as of its send date (numeric, boolean or
            categorical/string columns).
        action
            Action id of each row; ``control_label`` marks held-out rows.
        y
            Binary outcome (converted, visited, ...), or with ``outcome="revenue"``
            a non-negative amount (revenue in the response window).
        treated
            Optional: rows where this is false are control whatever ``action`` says
            (the campaigns contract stores the would-be action of control rows).
        """
        if self.learner not in ("t", "x"):
            raise ValueError(f"learner must be 't' or 'x', got {self.learner!r}")
        if self.outcome not in ("conversion", "revenue"):
            raise ValueError(f"outcome must be 'conversion' or 'revenue', got {self.outcome!r}")
        if not (len(X) == len(action) == len(y)):
            raise ValueError("X, action and y must have the same length")
        arm = pd.Series(action, dtype=object).astype(str).to_numpy()
        if treated is not None:
            arm = np.where(np.asarray(treated, dtype=bool), arm, self.control_label)
        outcome = np.asarray(y, dtype=float)
        revenue = self.outcome == "revenue"
        if revenue and not (np.isfinite(outcome).all() and (outcome >= 0).all()):
            raise ValueError("y must be finite and non-negative for outcome='revenue'")
        if not revenue and not np.isin(outcome, (0.0, 1.0)).all():
            raise ValueError("y must be binary (0/1 or booleans)")
        objective, link = ("regression", _identity) if revenue else ("binary", _sigmoid)

        self._learn_categories(X)
        matrix = self._encode(X)
        is_control = arm == self.control_label
        self.n_control_ = int(is_control.sum())
        if self.n_control_ < self.min_treated:
            raise ValueError(
                f"only {self.n_control_} control rows: uplift cannot be learned without a "
                "held-out group; use UpliftModel.prior(...) instead"
            )
        self.models_ = {}
        self.trust_ = {}
        self.models_[self.control_label] = self._train(
            matrix[is_control], outcome[is_control], objective
        )
        logit_c = _score(self.models_[self.control_label], matrix, raw=True)
        mu_c_all = link(logit_c)

        self.actions_ = []
        self.n_treated_ = {}
        self.propensity_ = {}
        self.mean_outcome_ = {self.control_label: float(outcome[is_control].mean())}
        self.offsets_: dict[str, float] = {}
        for a in sorted(set(arm) - {self.control_label}):
            mine = arm == a
            n = int(mine.sum())
            if n < self.min_treated:
                logger.warning(
                    "action %s: %d treated rows < min_treated=%d, not learned",
                    a,
                    n,
                    self.min_treated,
                )
                continue
            self.actions_.append(a)
            self.n_treated_[a] = n
            self.propensity_[a] = n / (n + self.n_control_)
            self.mean_outcome_[a] = float(outcome[mine].mean())
            # The action's model starts from the control model's log-odds (or amount)
            # plus the action's average shift (solved exactly, so the average effect is
            # learned even when the regularised effect trees find no split); trees add
            # how the shift varies between customers.
            self.offsets_[a] = (
                float((outcome[mine] - logit_c[mine]).mean())
                if revenue
                else _average_shift(logit_c[mine], outcome[mine])
            )
            self.models_[a] = self._train(
                matrix[mine],
                outcome[mine],
                objective,
                effect=True,
                init_score=logit_c[mine] + self.offsets_[a],
            )
            if self.learner == "x":
                shift = self.offsets_[a] + _score(self.models_[a], matrix[is_control], raw=True)
                mu_a_control = link(logit_c[is_control] + shift)
                d1 = outcome[mine] - mu_c_all[mine]
                d0 = mu_a_control - outcome[is_control]
                self.models_[f"tau1:{a}"] = self._train(matrix[mine], d1, "regression", effect=True)
                self.models_[f"tau0:{a}"] = self._train(
                    matrix[is_control], d0, "regression", effect=True
                )
        if not self.actions_:
            raise ValueError(f"no action has at least min_treated={self.min_treated} treated rows")
        self.source_ = "learned"
        return self

    # ---------------------------------------------------------------- predict
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Uplift of each trusted action for each row of ``X``.

        Returns
        -------
        pandas.DataFrame
            One float column per action (increase in outcome probability, or in
            revenue, if the action is taken rather than nothing) and ``uplift_source``
            (``"learned"`` or ``"prior"``), with the index of ``X``. Once the
            model has been checked (``trust_``), actions whose effect was not
            shown on the hold-out have no column: the policy uses their prior.
        """
        trust = getattr(self, "trust_", None)
        if not trust or getattr(self, "source_", None) != "learned":
            return self.predict_unchecked(X)
        # Untrusted actions are not even computed (the scorer pays per booster).
        return self._predict(X, [a for a in self.actions_ if trust[a]["verdict"] == "learned"])

    def predict_unchecked(self, X: pd.DataFrame) -> pd.DataFrame:
        """:meth:`predict` for every learned action, trusted or not (for the check itself)."""
        return self._predict(X, getattr(self, "actions_", []))

    def _predict(self, X: pd.DataFrame, actions: list[str]) -> pd.DataFrame:
        if not hasattr(self, "source_"):
            raise RuntimeError(
                "UpliftModel is not fitted: call fit(), prior() or from_dict() first"
            )
        if self.source_ == "prior":
            priors = {a: np.full(len(X), self.priors_[a]) for a in self.actions_}
            return pd.DataFrame({**priors, SOURCE_COLUMN: "prior"}, index=X.index)
        matrix = self._encode(X)
        cols: dict[str, np.ndarray] = {}
        link = _identity if self.outcome == "revenue" else _sigmoid
        if self.learner != "x" and actions:  # the X-learner's effects need no control model
            logit_c = _score(self.models_[self.control_label], matrix, raw=True)
            mu_c = link(logit_c)
        for a in actions:
            if self.learner == "x":
                g = self.propensity_[a]
                tau1 = _score(self.models_[f"tau1:{a}"], matrix)
                tau0 = _score(self.models_[f"tau0:{a}"], matrix)
                cols[a] = g * tau0 + (1.0 - g) * tau1
            else:
                shift = self.offsets_.get(a, 0.0) + _score(self.models_[a], matrix, raw=True)
                cols[a] = link(logit_c + shift) - mu_c
        return pd.DataFrame({**cols, SOURCE_COLUMN: "learned"}, index=X.index)

    # ------------------------------------------------------------------ trust
    def policy_priors(self, catalogue_priors: Mapping[str, float]) -> dict[str, float]:
        """The prior uplift the policy should use per action.

        The catalogue's priors, each capped at the smallest average effect of a
        trusted action (never below zero): an assumption must not outrank what
        was measured on comparable contacts. Without trusted actions the
        catalogue's priors stand.
        """
        measured = [
            max(t["effect"], 0.0)
            for t in getattr(self, "trust_", {}).values()
            if t["verdict"] == "learned"
        ]
        cap = min(measured) if measured else np.inf
        return {a: float(min(v, cap)) for a, v in catalogue_priors.items()}

    def harmful_actions(self) -> frozenset[str]:
        """Actions whose held-out effect was significantly negative: never to be sent."""
        return frozenset(
            a for a, t in getattr(self, "trust_", {}).items() if t["verdict"] == "harmful"
        )

    # ------------------------------------------------------------------ prior
    @classmethod
    def prior(cls, uplifts: Mapping[str, float]) -> UpliftModel:
        """A model that returns configured prior uplifts, flagged as ``"prior"``.

        ``uplifts`` maps action id -> assumed increase in purchase probability,
        e.g. ``catalogue.prior_uplifts()``.
        """
        model = cls()
        model.source_ = "prior"
        model.actions_ = list(uplifts)
        model.priors_ = {a: float(v) for a, v in uplifts.items()}
        model.feature_names_ = []
        model.categories_ = {}
        model.trust_ = {}
        return model

    # ---------------------------------------------------------------- persist
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; boosters as LightGBM model text (no pickles)."""
        if not hasattr(self, "source_"):
            raise RuntimeError("cannot serialise an unfitted UpliftModel")
        out: dict[str, Any] = {
            "format_version": _FORMAT_VERSION,
            "params": self.get_params(),
            "source": self.source_,
            "actions": list(self.actions_),
            "feature_names": list(self.feature_names_),
            "categories": {k: list(v) for k, v in self.categories_.items()},
        }
        if self.source_ == "prior":
            out["priors"] = dict(self.priors_)
        else:
            out["n_control"] = self.n_control_
            out["n_treated"] = dict(self.n_treated_)
            out["propensity"] = dict(self.propensity_)
            out["mean_outcome"] = dict(self.mean_outcome_)
            out["offsets"] = dict(self.offsets_)
            out["models"] = {k: b.model_to_string() for k, b in self.models_.items()}
            out["trust"] = {k: dict(v) for k, v in getattr(self, "trust_", {}).items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UpliftModel:
        """Rebuild a model saved by :meth:`to_dict`."""
        if data.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported uplift model format: {data.get('format_version')!r}")
        model = cls(**data["params"])
        model.source_ = data["source"]
        model.actions_ = list(data["actions"])
        model.feature_names_ = list(data["feature_names"])
        model.categories_ = {k: list(v) for k, v in data["categories"].items()}
        model.trust_ = {k: dict(v) for k, v in data.get("trust", {}).items()}
        if model.source_ == "prior":
            model.priors_ = {k: float(v) for k, v in data["priors"].items()}
        else:
            import lightgbm as lgb

            model.n_control_ = int(data["n_control"])
            model.n_treated_ = {k: int(v) for k, v in data["n_treated"].items()}
            model.propensity_ = {k: float(v) for k, v in data["propensity"].items()}
            model.mean_outcome_ = {k: float(v) for k, v in data["mean_outcome"].items()}
            model.offsets_ = {k: float(v) for k, v in data.get("offsets", {}).items()}
            model.models_ = {k: lgb.Booster(model_str=s) for k, s in data["models"].items()}
        return model


def _average_shift(logit: np.ndarray, outcome: np.ndarray) -> float:
    """Constant ``c`` with ``mean(sigmoid(logit + c)) == mean(outcome)`` (Newton steps)."""
    target = float(outcome.mean())
    if target <= 0.0 or target >= 1.0:
        return 0.0
    c = 0.0
    for _ in range(50):
        p = _sigmoid(logit + c)
        gap = float(p.mean()) - target
        slope = float((p * (1.0 - p)).mean())
        if abs(gap) < 1e-12 or slope <= 0.0:
            break
        c -= gap / slope
    return c


def _score(booster: lgb.Booster, matrix: np.ndarray, raw: bool = False) -> np.ndarray:
    """Booster output as a float array (log-odds with ``raw``, else the model's scale).

    Small tables are scored on one thread (see :data:`SINGLE_THREAD_ROWS`); larger
    ones use LightGBM's default, all cores.
    """
    threads: dict[str, Any] = {"num_threads": 1} if len(matrix) < SINGLE_THREAD_ROWS else {}
    return np.asarray(booster.predict(matrix, raw_score=raw, **threads), dtype=np.float64)


def _identity(z: np.ndarray) -> np.ndarray:
    return z


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def uplift_table(
    conversion: UpliftModel, revenue: UpliftModel | None, X: pd.DataFrame
) -> pd.DataFrame:
    """What the policy reads: each action's conversion uplift and, where a revenue
    model has a trusted effect for it, its incremental revenue as ``revenue:<action>``."""
    table = conversion.predict(X)
    if revenue is None or getattr(revenue, "source_", None) != "learned":
        return table
    spend = revenue.predict(X).drop(columns=SOURCE_COLUMN)
    return table.join(spend.add_prefix(REVENUE_PREFIX)) if len(spend.columns) else table


def training_order(campaigns: pd.DataFrame) -> pd.DataFrame:
    """Campaign rows in the order of :func:`uplift_training_set` (by send day, stable), 0..n-1."""
    days = pd.to_datetime(campaigns["sent_date"]).dt.normalize().to_numpy()
    return campaigns.iloc[np.argsort(days, kind="stable")].reset_index(drop=True)


def uplift_training_set(
    campaigns: pd.DataFrame,
    features_at: Callable[[pd.Timestamp], pd.DataFrame],
    control_label: str = CONTROL,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features as of each contact's send date, arm labels and outcomes.

    Parameters
    ----------
    campaigns
        Validated campaigns table (customer_id, sent_date, action, treated, converted).
    features_at
        ``features_at(as_of)`` returns one row per customer, indexed by
        ``customer_id`` (or with a ``customer_id`` column), using only data strictly
        before ``as_of`` -- e.g. ``lambda d: build_features(transactions, as_of=d)``.
        It is called once per distinct send day, so each contact is described as
        the customer was when the message went out, never with what followed.
    control_label
        Arm label of rows with ``treated == False``.

    Returns
    -------
    (X, action, y)
        Aligned on a fresh 0..n-1 index; customers without features get missing values.
    """
    ordered = training_order(campaigns)
    days = pd.to_datetime(ordered["sent_date"]).dt.normalize()
    parts: list[pd.DataFrame] = []
    for day in days.unique():
        rows = ordered.loc[(days == day).to_numpy()]
        feats = features_at(pd.Timestamp(day))
        if "customer_id" in feats.columns:
            feats = feats.set_index("customer_id")
        feats.index = feats.index.astype(str)
        parts.append(
            feats.reindex(rows["customer_id"].astype(str).to_numpy()).reset_index(drop=True)
        )
    X = pd.concat(parts, ignore_index=True)
    action = pd.Series(
        np.where(ordered["treated"].astype(bool), ordered["action"].astype(str), control_label),
        name="action",
        dtype=object,
    )
    y = ordered["converted"].astype(bool).astype(int).rename("converted")
    return X, action, y
