"""Customer lifetime value: BG/NBD purchases x Gamma-Gamma order value.

:class:`LTVModel` follows the scikit-learn estimator contract: the constructor
only stores hyperparameters, :meth:`LTVModel.fit` learns attributes ending in
``_`` and returns ``self``.

Fitting
    ``lifetimes.BetaGeoFitter`` and ``lifetimes.GammaGammaFitter`` do the work
    (their scaling, optimiser and standard errors), on the distinct
    ``(frequency, recency, T)`` rows weighted by their counts, with the
    likelihood's frequency-only terms computed once per frequency value (see
    ``fitter_classes``). Both give lifetimes' parameters on all rows, to 1e-6.
    A failed attempt (no convergence, non-finite or boundary parameters, a model
    that cannot predict its own data) is retried with a looser tolerance, then
    stronger penalties; every attempt is recorded in ``fit_report_``, and when
    all fail :class:`LTVFitError` is raised - NaN is never returned.

Prediction
    The closed forms of :mod:`churnml.models.ltv_formulas`, vectorised over numpy arrays and evaluated once per
    distinct ``(frequency, recency, T)`` pattern.

Time
    ``frequency, recency, T`` are in the model's ``time_unit`` (``"D"`` days or
    ``"W"`` weeks of 7 days), as produced by
    ``rfm_summary(transactions, as_of, time_unit=model.time_unit)`` (or
    :meth:`LTVModel.summarise`). Horizons and windows are always given in days
    and converted with the same unit. A fit in days and a fit in weeks of the same
    data give the same ``r, a, b``, an ``alpha`` 7 times larger in days and the
    same predictions.

Value if retained
    ``clv`` is the value of a customer *as the data stand*: P(alive) x the
    expected purchases of an alive customer x order value, discounted. A win-back
    contact changes P(alive) - it brings back a customer who may have gone - so
    what it earns is its uplift times the value of a customer who *is* alive:
    ``value_if_retained`` = margin x E[order value | x, m] x discounted
    E[X(T, T+h) | alive at T, x, T], the conditional expectation of FHL (2005,
    eq. 9 with the posterior parameters r + x, alpha + T, a, b + x), without the
    P(alive) factor. ``clv = p_alive x value_if_retained`` exactly. Multiplying
    an uplift by ``clv`` instead would count survival twice and send win-back
    money to the customers least likely to have left.

Refunds and zero-value orders
    The RFM summary drops refund rows (they are not purchases) so
    ``monetary_value`` is never negative; a negative value is rejected as a data
    error. A repeat buyer whose repeat orders were all free has
    ``monetary_value == 0``: such customers are left out of the Gamma-Gamma fit
    (its likelihood needs positive spend), counted in ``fit_report_``, and their
    expected order value is the Gamma-Gamma posterior mean with an observed mean
    of 0 - shrunk towards zero, not the population mean.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers"
the easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2).

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value
curves for customer base analysis. Journal of Marketing Research 42(4).

Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) using the
BG/NBD model. http://brucehardie.com/notes/021/
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from churnml.features.rfm import days_per_unit, rfm_summary

if TYPE_CHECKING:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from churnml.config import LTVConfig

from sklearn.base import BaseEstimator

from churnml.models.ltv_artifact import artifact_payload, read_artifact
from churnml.models.ltv_fitting import (
    RFM_COLUMNS,
    Attempt,
    LTVArtifactError,
    LTVFitError,
    LTVModelError,
    bgnbd_unusable,
    clean,
    fit_with_retries,
    fitter_classes,
    ladder,
    params_ok,
    patterns,
    run_fitter,
    standard_errors,
    validate_rfm,
)
from churnml.models.ltv_formulas import (
    BGNBD_PARAMS,
    GAMMA_GAMMA_PARAMS,
    bgnbd_expected_purchases,
    bgnbd_expected_time_to_next_purchase,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    bgnbd_p_no_purchase,
    bgnbd_unconditional_expected_purchases,
    discounted_expected_purchases,
    gamma_gamma_expected_value,
    gamma_gamma_log_likelihood,
)

__all__ = [
    "BGNBD_PARAMS",
    "GAMMA_GAMMA_PARAMS",
    "GG_CORRELATION_THRESHOLD",
    "PREDICTION_COLUMNS",
    "LTVArtifactError",
    "LTVFitError",
    "LTVModel",
    "LTVModelError",
    "bgnbd_expected_purchases",
    "bgnbd_expected_time_to_next_purchase",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "bgnbd_p_no_purchase",
    "bgnbd_unconditional_expected_purchases",
    "discounted_expected_purchases",
    "gamma_gamma_expected_value",
    "gamma_gamma_log_likelihood",
]

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS: tuple[str, ...] = (
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "expected_order_value",
    "clv",
    "expected_days_to_next_purchase",
    "value_if_retained",
)
#: |Pearson correlation| of frequency and mean spend above which the Gamma-Gamma
#: independence assumption is flagged (CDNOW: 0.11, Fader & Hardie 2013).
GG_CORRELATION_THRESHOLD = 0.3


class LTVModel(BaseEstimator):
    """BG/NBD + Gamma-Gamma customer lifetime value, in the scikit-learn style.

    Parameters
    ----------
    time_unit
        ``"D"`` or ``"W"``: the unit of ``recency`` and ``T`` in the RFM summaries
        given to :meth:`fit` and :meth:`predict`.
    penalizer_coef
        L2 penalty of the BG/NBD fit (lifetimes' convention). Raised automatically,
        and recorded, when a fit fails.
    gg_penalizer_coef
        L2 penalty of the Gamma-Gamma fit.
    margin
        Profit margin applied to expected spend in ``clv``.
    annual_discount_rate
        Discount rate per year; cash is discounted monthly.
    compress
        Fit on distinct ``(frequency, recency, T)`` rows with their counts as
        weights: the same likelihood, so the same parameters, in far less time.

    Attributes
    ----------
    bgnbd_params_ : dict
        ``r, alpha, a, b`` (``alpha`` in ``time_unit``).
    gamma_gamma_params_ : dict
        ``p, q, v`` (``v`` is the paper's gamma).
    fit_report_ : dict
        JSON-safe record of the fit: log-likelihoods, attempts, penalties and
        tolerances used, customer counts, the Gamma-Gamma correlation check and
        any warnings.

    Examples
    --------
    >>> model = LTVModel(time_unit="W")                                  # doctest: +SKIP
    >>> rfm = model.summarise(transactions, as_of="1997-10-01")          # doctest: +SKIP
    >>> scores = model.fit(rfm).predict(rfm, horizon_days=365)           # doctest: +SKIP
    """

    def __init__(
        self,
        time_unit: Literal["D", "W"] = "W",
        penalizer_coef: float = 0.0,
        gg_penalizer_coef: float = 0.0,
        margin: float = 0.3,
        annual_discount_rate: float = 0.10,
        compress: bool = True,
    ) -> None:
        self.time_unit = time_unit
        self.penalizer_coef = penalizer_coef
        self.gg_penalizer_coef = gg_penalizer_coef
        self.margin = margin
        self.annual_discount_rate = annual_discount_rate
        self.compress = compress

    @classmethod
    def from_config(cls, cfg: LTVConfig) -> LTVModel:
        """Build an unfitted model from the ``ltv`` section of the configuration."""
        return cls(
            time_unit=cfg.time_unit,
            penalizer_coef=cfg.penalizer_coef,
            gg_penalizer_coef=cfg.gg_penalizer_coef,
            margin=cfg.margin,
            annual_discount_rate=cfg.annual_discount_rate,
        )

    def _check_hyperparameters(self) -> None:
        if self.time_unit not in ("D", "W"):
            raise LTVModelError(f"time_unit must be 'D' or 'W', got {self.time_unit!r}")
        for name in ("penalizer_coef", "gg_penalizer_coef", "annual_discount_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise LTVModelError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.margin, int | float) and 0 < self.margin <= 1):
            raise LTVModelError(f"margin must be in (0, 1], got {self.margin!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "bgnbd_params_"):
            raise LTVModelError(
                "this LTVModel is not fitted yet: call fit(rfm) or load a saved model"
            )

    # -- convenience -------------------------------------------------------------------

    def summarise(self, transactions: pd.DataFrame, as_of: pd.Timestamp | str) -> pd.DataFrame:
        """``rfm_summary(transactions, as_of)`` in this model's time unit."""
        return rfm_summary(transactions, as_of, time_unit=self.time_unit)

    # -- fitting -----------------------------------------------------------------------

    def fit(self, rfm: pd.DataFrame) -> LTVModel:
        """Fit BG/NBD on all customers and Gamma-Gamma on repeat buyers with positive spend.

        Parameters
        ----------
        rfm
            ``frequency, recency, T, monetary_value`` per customer, in ``time_unit``
            (``rfm_summary(transactions, as_of, time_unit=self.time_unit)``).

        Raises
        ------
        DataValidationError
            The summary breaks the RFM contract (listing every problem).
        LTVFitError
            No attempt of either fit converged to finite parameters.
        """
        self._check_hyperparameters()
        cols = validate_rfm(rfm)
        started = time.perf_counter()
        x, tx, t_, m = (cols[c] for c in RFM_COLUMNS)
        notes: list[str] = []

        repeat = x > 0
        usable = repeat & (m > 0)
        if usable.sum() < 3:
            raise LTVFitError(
                f"Gamma-Gamma needs repeat buyers with positive spend; found {int(usable.sum())}"
            )
        if self.compress:
            _, rep, counts = patterns(x, tx, t_)
            bg_data = (x[rep], tx[rep], t_[rep], counts)
        else:
            bg_data = (x, tx, t_, np.ones_like(x))
        compressed_at = time.perf_counter()
        bg_params, bg_report = self._fit_bgnbd(*bg_data)
        bg_done_at = time.perf_counter()

        n_zero = int(np.sum(repeat & (m == 0)))
        if n_zero:
            notes.append(
                f"{n_zero} repeat buyer(s) with zero mean spend (free orders only) left out of "
                "the Gamma-Gamma fit; their expected order value is shrunk towards 0"
            )
        gx, gm = x[usable], m[usable]
        if self.compress:
            _, rep, counts = patterns(gx, gm)
            gg_data = (gx[rep], gm[rep], counts)
        else:
            gg_data = (gx, gm, np.ones_like(gx))
        gg_params, gg_report = self._fit_gamma_gamma(*gg_data)

        corr = float(np.corrcoef(gx, gm)[0, 1]) if np.ptp(gx) > 0 and np.ptp(gm) > 0 else 0.0
        flagged = abs(corr) > GG_CORRELATION_THRESHOLD
        if flagged:
            msg = (
                f"Gamma-Gamma assumes spend independent of frequency, but their correlation "
                f"among repeat buyers is {corr:.3f} (|corr| > {GG_CORRELATION_THRESHOLD}): "
                "expected order values and CLV may be biased"
            )
            notes.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
        for name, rep_ in (("BG/NBD", bg_report), ("Gamma-Gamma", gg_report)):
            if any(se is None for se in rep_["standard_errors"].values()):
                notes.append(
                    f"{name} standard errors unavailable (singular Hessian): "
                    "some parameters are not identified by these data"
                )
            if rep_["retries"]:
                msg = f"{name} fit needed {rep_['retries']} retr{'y' if rep_['retries'] == 1 else 'ies'}: "
                msg += f"penalizer {rep_['penalizer_coef']}, tol {rep_['tol']}"
                notes.append(msg)
                warnings.warn(msg, UserWarning, stacklevel=2)

        self.bgnbd_params_ = bg_params
        self.gamma_gamma_params_ = gg_params
        p, q, v = (gg_params[k] for k in GAMMA_GAMMA_PARAMS)
        self.fit_report_ = clean(
            {
                "time_unit": self.time_unit,
                "n_customers": len(x),
                "n_repeat_buyers": int(repeat.sum()),
                "compressed": bool(self.compress),
                "n_patterns": len(bg_data[0]),
                "bgnbd_log_likelihood": bgnbd_log_likelihood(bg_params, *bg_data[:3], bg_data[3]),
                "bgnbd_penalizer_coef": bg_report["penalizer_coef"],
                "bgnbd_tol": bg_report["tol"],
                "bgnbd_retries": bg_report["retries"],
                "bgnbd_attempts": bg_report["attempts"],
                "bgnbd_standard_errors": bg_report["standard_errors"],
                "gg_n_customers": int(usable.sum()),
                "gg_n_zero_value_excluded": n_zero,
                "gg_log_likelihood": gamma_gamma_log_likelihood(gg_params, *gg_data),
                "gg_penalizer_coef": gg_report["penalizer_coef"],
                "gg_tol": gg_report["tol"],
                "gg_q_constraint": gg_report["q_constraint"],
                "gg_retries": gg_report["retries"],
                "gg_attempts": gg_report["attempts"],
                "gg_standard_errors": gg_report["standard_errors"],
                "gg_observed_mean_spend": float(gm.mean()),
                "gg_model_mean_spend": p * v / (q - 1.0),
                "gg_corr_frequency_monetary": corr,
                "gg_corr_threshold": GG_CORRELATION_THRESHOLD,
                "gg_assumption_flagged": flagged,
                "fit_seconds": time.perf_counter() - started,
                "bgnbd_compress_seconds": compressed_at - started,
                "bgnbd_fit_seconds": bg_done_at - compressed_at,
                "warnings": notes,
            }
        )
        return self

    def _fit_bgnbd(
        self, x: np.ndarray, tx: np.ndarray, t_: np.ndarray, w: np.ndarray
    ) -> tuple[dict[str, float], dict[str, Any]]:
        fitter_class = fitter_classes()[0]

        def attempt(penalizer: float, tol: float) -> Attempt:
            fitter = fitter_class(penalizer_coef=penalizer)
            error = run_fitter(fitter, x, tx, t_, weights=w, tol=tol)
            if error is not None:
                return {}, error, {}, None
            params = {k: float(fitter.params_[k]) for k in BGNBD_PARAMS}
            error = params_ok(params) or bgnbd_unusable(params, x, tx, t_, w)
            std = standard_errors(fitter, BGNBD_PARAMS) if error is None else None
            return params, error, {}, std

        return fit_with_retries("BG/NBD", ladder(float(self.penalizer_coef), 1e-3), attempt)

    def _fit_gamma_gamma(
        self, x: np.ndarray, m: np.ndarray, w: np.ndarray
    ) -> tuple[dict[str, float], dict[str, Any]]:
        fitter_class = fitter_classes()[1]
        q_constraint = False

        def attempt(penalizer: float, tol: float) -> Attempt:
            nonlocal q_constraint
            fitter = fitter_class(penalizer_coef=penalizer)
            error = run_fitter(fitter, x, m, weights=w, tol=tol, q_constraint=q_constraint)
            params: dict[str, float] = {}
            if error is None:
                params = {k: float(fitter.params_[k]) for k in GAMMA_GAMMA_PARAMS}
                error = params_ok(params)
                if error is None and params["q"] <= 1.0:
                    # The population mean p v / (q - 1) needs q > 1: constrain from now on.
                    error = f"q = {params['q']:.4g} <= 1 (infinite population mean spend)"
                    q_constraint = True
            std = standard_errors(fitter, GAMMA_GAMMA_PARAMS) if error is None else None
            return params, error, {"q_constraint": q_constraint}, std

        return fit_with_retries("Gamma-Gamma", ladder(float(self.gg_penalizer_coef), 1e-4), attempt)

    # -- prediction --------------------------------------------------------------------

    def predict(
        self, rfm: pd.DataFrame, horizon_days: int = 365, churn_window_days: int = 90
    ) -> pd.DataFrame:
        """Per-customer scores.

        Parameters
        ----------
        rfm
            RFM summary in ``time_unit`` (any customers, not only those fitted).
        horizon_days
            Horizon of ``expected_purchases`` and ``clv``.
        churn_window_days
            Window of ``p_no_purchase``.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``rfm``, with columns

            - ``p_alive``: P(still active at the cut-off); 1 for customers without
              a repeat purchase (a BG/NBD property), so not a churn score;
            - ``expected_purchases``: expected repeat purchases within the horizon;
            - ``p_no_purchase``: P(no purchase within ``churn_window_days``), the churn
              score of this model;
            - ``expected_order_value``: Gamma-Gamma posterior mean spend per order;
            - ``clv``: margin x expected order value x expected purchases, discounted
              monthly at ``annual_discount_rate``, over the horizon;
            - ``expected_days_to_next_purchase``: expected days until the next purchase
              *if the customer is still active*; NaN where that expectation is
              infinite (``r + frequency <= 1``, e.g. one-time buyers when ``r < 1``).
            - ``value_if_retained``: ``clv`` of the customer *if alive* at the
              cut-off (``clv / p_alive``; see "Value if retained" in the module
              docstring): what a win-back contact that brings them back earns.
        """
        self._check_fitted()
        self._check_hyperparameters()
        for name, value in (
            ("horizon_days", horizon_days),
            ("churn_window_days", churn_window_days),
        ):
            if not (isinstance(value, int | float | np.integer) and 0 < value < math.inf):
                raise LTVModelError(f"{name} must be a positive number of days, got {value!r}")
        cols = validate_rfm(rfm)
        unit = days_per_unit(self.time_unit)
        x, tx, t_, m = (cols[c] for c in RFM_COLUMNS)
        params = self.bgnbd_params_

        # BG/NBD outputs depend on (x, t_x, T) only: evaluate once per distinct pattern.
        codes, rep, _ = patterns(x, tx, t_)
        ux, utx, ut = x[rep], tx[rep], t_[rep]
        discounted_if_alive, expected_if_alive = discounted_expected_purchases(
            params,
            ux,
            utx,
            ut,
            horizon=float(horizon_days) / unit,
            annual_discount_rate=float(self.annual_discount_rate),
            days_per_time_unit=unit,
            given_alive=True,
        )
        p_alive = bgnbd_p_alive(params, ux, utx, ut)
        discounted, expected = p_alive * discounted_if_alive, p_alive * expected_if_alive
        p_none = bgnbd_p_no_purchase(params, float(churn_window_days) / unit, ux, utx, ut)
        wait = bgnbd_expected_time_to_next_purchase(params, ux, ut) * unit
        order_value = gamma_gamma_expected_value(self.gamma_gamma_params_, x, m)

        # One column-major matrix and one DataFrame: a dict of columns would cost a
        # consolidation copy and pandas' per-column overhead (felt when scoring one customer).
        values = np.empty((len(x), len(PREDICTION_COLUMNS)), order="F")
        values[:, 0] = p_alive[codes]
        values[:, 1] = expected[codes]
        values[:, 2] = np.clip(p_none[codes], 0.0, 1.0)
        values[:, 3] = order_value
        values[:, 4] = float(self.margin) * order_value * discounted[codes]
        values[:, 5] = wait[codes]
        values[:, 6] = float(self.margin) * order_value * discounted_if_alive[codes]
        bad = ~np.isfinite(values[:, [0, 1, 2, 3, 4, 6]]).all(axis=1)
        if bad.any():  # never hand back NaN silently
            rows = [int(i) + 1 for i in np.flatnonzero(bad)[:5]]
            raise LTVModelError(
                f"non-finite predictions for {int(bad.sum())} customer(s) (rows {list(rows)}); "
                f"parameters {self.bgnbd_params_}, {self.gamma_gamma_params_}"
            )
        return pd.DataFrame(values, index=rfm.index, columns=list(PREDICTION_COLUMNS))

    # -- interoperability ----------------------------------------------------------------

    def to_lifetimes(self) -> tuple[BetaGeoFitter, GammaGammaFitter]:
        """``lifetimes`` fitters rebuilt from the parameters (no training data inside)."""
        from lifetimes import BetaGeoFitter, GammaGammaFitter

        self._check_fitted()
        bgf = BetaGeoFitter(penalizer_coef=self.fit_report_.get("bgnbd_penalizer_coef", 0.0))
        bgf.params_ = pd.Series(self.bgnbd_params_)[list(BGNBD_PARAMS)]
        bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # see FIELD-NOTES
        ggf = GammaGammaFitter(penalizer_coef=self.fit_report_.get("gg_penalizer_coef", 0.0))
        ggf.params_ = pd.Series(self.gamma_gamma_params_)[list(GAMMA_GAMMA_PARAMS)]
        return bgf, ggf

    # -- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Parameters, hyperparameters and fit report as a JSON-safe dict with a ``model_id``."""
        self._check_fitted()
        return artifact_payload(
            config=clean(self.get_params()),
            bgnbd_params={k: float(self.bgnbd_params_[k]) for k in BGNBD_PARAMS},
            gamma_gamma_params={k: float(self.gamma_gamma_params_[k]) for k in GAMMA_GAMMA_PARAMS},
            fit_report=clean(getattr(self, "fit_report_", {})),
        )

    @property
    def model_id(self) -> str:
        """Hash of the parameters, hyperparameters, format and churnml version."""
        return str(self.to_dict()["model_id"])

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], allow_version_mismatch: bool = False) -> LTVModel:
        """Rebuild a fitted model from :meth:`to_dict` output, checking its id and version.

        Raises
        ------
        LTVArtifactError
            Wrong format, missing fields, a ``model_id`` that does not match the
            content (edited or corrupted), an artifact written by another churnml
            version (unless ``allow_version_mismatch``, which only warns), unknown
            hyperparameters or invalid parameters.
        """
        art = read_artifact(d, allow_version_mismatch)
        unknown = set(art.config) - set(cls._get_param_names())
        if unknown:
            raise LTVArtifactError(f"unknown hyperparameters in LTV model: {sorted(unknown)}")
        model = cls(**art.config)
        model._check_hyperparameters()
        if params_ok(art.bgnbd_params) or params_ok(art.gamma_gamma_params):
            raise LTVArtifactError(
                f"invalid stored parameters: {art.bgnbd_params}, {art.gamma_gamma_params}"
            )
        model.bgnbd_params_ = art.bgnbd_params
        model.gamma_gamma_params_ = art.gamma_gamma_params
        model.fit_report_ = art.fit_report
        return model

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (parameters only, no pickles, no training data)."""
        target = Path(path)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)
        target.write_text(text + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path, allow_version_mismatch: bool = False) -> LTVModel:
        """Read a model written by :meth:`save`; see :meth:`from_dict` for the checks."""
        source = Path(path)
        try:
            payload = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise LTVArtifactError(f"{source}: not valid JSON: {err}") from None
        return cls.from_dict(payload, allow_version_mismatch=allow_version_mismatch)
