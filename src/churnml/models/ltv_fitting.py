"""Fitting BG/NBD and Gamma-Gamma with lifetimes: input checks, weighted patterns, retries.

``lifetimes.BetaGeoFitter`` and ``lifetimes.GammaGammaFitter`` do the work, on
the distinct ``(frequency, recency, T)`` rows weighted by their counts
(:func:`fitter_classes`); a failed attempt is retried along a ladder of looser
tolerances and stronger penalties (:func:`ladder`), each attempt judged by the
same checks (:func:`params_ok`, :func:`bgnbd_unusable`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import warnings
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

from churnml.errors import ChurnmlError, DataValidationError, Problem
from churnml.frames import floats
from churnml.models.ltv_formulas import bgnbd_expected_purchases, bgnbd_log_likelihood

logger = logging.getLogger(__name__)

#: Fitted parameters outside this range are treated as a failed fit (a boundary solution).
PARAM_RANGE = (1e-8, 1e8)
RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")


# --------------------------------------------------------------------------------------
# Input checks and compression
# --------------------------------------------------------------------------------------


def problem(column: str, message: str, mask: np.ndarray) -> Problem | None:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    return Problem("rfm", column, message, int(idx.size), tuple(int(i) + 1 for i in idx[:5]))


def validate_rfm(rfm: pd.DataFrame) -> dict[str, np.ndarray]:
    """Check an RFM summary; return its columns as float arrays or raise DataValidationError."""
    if not isinstance(rfm, pd.DataFrame):
        raise DataValidationError(
            [Problem("rfm", "*", f"expected a DataFrame, got {type(rfm).__name__}")]
        )
    missing = [c for c in RFM_COLUMNS if c not in rfm.columns]
    if missing:
        raise DataValidationError(
            [
                Problem("rfm", c, "required column is missing (build it with rfm_summary)")
                for c in missing
            ]
        )
    if len(rfm) == 0:
        raise DataValidationError([Problem("rfm", "*", "the table is empty")])
    cols: dict[str, np.ndarray] = {}
    found: list[Problem | None] = []
    for c in RFM_COLUMNS:
        values = floats(rfm[c])
        found.append(problem(c, "missing, non-numeric or infinite value", ~np.isfinite(values)))
        cols[c] = values
    with np.errstate(invalid="ignore"):
        x, tx, t_, m = (cols[c] for c in RFM_COLUMNS)
        found += [
            problem("frequency", "must be a non-negative integer", (x < 0) | (x != np.round(x))),
            problem("recency", "must be >= 0", tx < 0),
            problem("T", "must be >= 0", t_ < 0),
            problem("recency", "must not exceed T", tx > t_ + 1e-9),
            problem("recency", "must be 0 when frequency is 0", (x == 0) & (tx != 0)),
            problem(
                "monetary_value",
                "must be >= 0 (refunds are not purchases: rfm_summary leaves them out)",
                m < 0,
            ),
        ]
    problems = [p for p in found if p is not None]
    if problems:
        raise DataValidationError(problems)
    return cols


def patterns(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group identical rows: ``(codes, a_row_of_each_group, group_sizes)``.

    Groups are numbered in order of first appearance, as
    ``groupby(columns, sort=False).ngroup()`` numbers them: each column is factorized
    and folded into the codes so far, so that the key stays one small integer
    (a ``groupby`` costs about half a millisecond even on one row).
    """
    codes, uniques = pd.factorize(columns[0])
    n_groups = len(uniques)
    for column in columns[1:]:
        more, distinct = pd.factorize(column)
        codes, uniques = pd.factorize(codes.astype(np.int64) * len(distinct) + more)
        n_groups = len(uniques)
    rep = np.empty(n_groups, dtype=np.int64)
    rep[codes] = np.arange(len(codes))  # any row of a group will do: they are identical
    return codes, rep, np.bincount(codes, minlength=n_groups)


def clean(value: Any) -> Any:
    """Make a report value JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def lifetimes_version() -> str:
    try:
        return version("lifetimes")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


# --------------------------------------------------------------------------------------
# Robust fitting
# --------------------------------------------------------------------------------------


def ladder(penalizer: float, tiny: float) -> list[tuple[float, float]]:
    """(penalizer, tolerance) attempts: as asked, looser, then stronger penalties."""
    return [
        (penalizer, 1e-7),
        (penalizer, 1e-6),
        (max(10 * penalizer, tiny), 1e-6),
        (max(100 * penalizer, 10 * tiny), 1e-5),
        (max(1000 * penalizer, 100 * tiny), 1e-5),
    ]


def params_ok(values: dict[str, float]) -> str | None:
    lo, hi = PARAM_RANGE
    bad = {k: v for k, v in values.items() if not (math.isfinite(v) and lo < v < hi)}
    return f"non-finite or boundary parameters {bad}" if bad else None


@functools.cache
def fitter_classes() -> tuple[Any, Any]:
    """lifetimes' fitters with the log-likelihood evaluated per distinct frequency.

    The likelihoods are lifetimes' own, term by term; only the terms that depend on
    the frequency alone (the gamma functions, ``log(b + x - 1)``, ``p x log x``) are
    computed once per frequency value and gathered, instead of once per row. With
    a few hundred distinct frequencies against ~10^5 weighted rows this halves each
    gradient and cuts lifetimes' closing autograd Hessian ~7x; the fitted values are
    those of the stock fitters (tested to 1e-6). Everything else - scaling,
    optimiser, standard errors, prediction methods - is inherited unchanged.
    """
    import autograd.numpy as anp
    from autograd.scipy.special import gammaln as agammaln
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    class _BetaGeoFitter(BetaGeoFitter):
        @staticmethod
        def _negative_log_likelihood(
            log_params: Any,
            freq: np.ndarray,
            rec: np.ndarray,
            T: np.ndarray,
            weights: np.ndarray,
            penalizer_coef: float,
        ) -> Any:
            params = anp.exp(log_params)
            r, alpha, a, b = params[0], params[1], params[2], params[3]
            x_idx = np.asarray(freq, dtype=np.int64)
            xs = np.arange(int(x_idx.max()) + 1, dtype=float)
            per_x = (
                agammaln(r + xs)
                - agammaln(r)
                + agammaln(a + b)
                + agammaln(b + xs)
                - agammaln(b)
                - agammaln(a + b + xs)
            )
            log_dead = anp.log(a) - anp.log(b + np.maximum(xs, 1) - 1)
            rx = (r + xs)[x_idx]
            a3 = -rx * anp.log(alpha + T)
            a4 = log_dead[x_idx] - rx * anp.log(rec + alpha)
            top = anp.maximum(a3, a4)
            ll = weights * (
                r * anp.log(alpha)
                + per_x[x_idx]
                + anp.log(anp.exp(a3 - top) + anp.exp(a4 - top) * (x_idx > 0))
                + top
            )
            return -ll.sum() / weights.sum() + penalizer_coef * anp.sum(params**2)

    class _GammaGammaFitter(GammaGammaFitter):
        @staticmethod
        def _negative_log_likelihood(
            log_params: Any,
            frequency: np.ndarray,
            avg_monetary_value: np.ndarray,
            weights: np.ndarray,
            penalizer_coef: float,
        ) -> Any:
            params = anp.exp(log_params)
            p, q, v = params[0], params[1], params[2]
            x_idx = np.asarray(frequency, dtype=np.int64)
            xs = np.arange(int(x_idx.max()) + 1, dtype=float)
            pxs = p * xs
            log_xs = np.log(np.maximum(xs, 1))
            per_x = agammaln(pxs + q) - agammaln(pxs + (xs == 0)) + pxs * log_xs
            px = pxs[x_idx]
            m = avg_monetary_value
            ll = weights * (
                per_x[x_idx]
                - agammaln(q)
                + q * anp.log(v)
                + (px - 1) * np.log(m)
                - (px + q) * anp.log(frequency * m + v)
            )
            return -ll.sum() / weights.sum() + penalizer_coef * anp.sum(params**2)

    return _BetaGeoFitter, _GammaGammaFitter


def bgnbd_unusable(
    params: dict[str, float], x: np.ndarray, tx: np.ndarray, t_: np.ndarray, w: np.ndarray
) -> str | None:
    """Reject a fit whose likelihood or predictions on its own data are not finite.

    Optimisers can stop on a boundary (e.g. ``a, b -> inf``, a degenerate Beta) where
    the parameters are finite but the hypergeometric terms overflow; such a model
    would only produce NaN later, so the fit is retried instead.
    """
    if not math.isfinite(bgnbd_log_likelihood(params, x, tx, t_, w)):
        return "non-finite log-likelihood"
    with np.errstate(all="ignore"):
        check = bgnbd_expected_purchases(params, float(t_.max()) or 1.0, x, tx, t_)
    if not np.isfinite(check).all():
        return f"parameters {params} give non-finite expected purchases on the training data"
    return None


def run_fitter(fitter: Any, *args: Any, **kwargs: Any) -> str | None:
    """Fit, silencing lifetimes' prints and numeric warnings; return an error text or None."""
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fitter.fit(*args, **kwargs)
    except Exception as err:  # lifetimes raises ConvergenceError, ValueError, LinAlgError ...
        return f"{type(err).__name__}: {str(err).strip()}"
    return None


def standard_errors(fitter: Any, names: tuple[str, ...]) -> dict[str, float | None]:
    try:
        se = fitter.standard_errors_
        return {k: clean(float(se[k])) for k in names}
    except Exception:  # singular Hessian: keep the fit, report no errors
        return dict.fromkeys(names)


class LTVModelError(ChurnmlError, ValueError):
    """The LTV model cannot do what was asked (not fitted, bad hyperparameter, ...)."""


class LTVFitError(LTVModelError):
    """Every fitting attempt failed; the message lists what was tried."""


class LTVArtifactError(LTVModelError):
    """A saved model is malformed, was altered, or was written by another version."""


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


#: One fitting attempt: parameters, error (None when usable), extra report fields,
#: standard errors (of a usable fit).
Attempt = tuple[dict[str, float], "str | None", dict[str, Any], "dict[str, float | None] | None"]


def fit_with_retries(
    label: str,
    settings: Iterable[tuple[float, float]],
    attempt: Callable[[float, float], Attempt],
) -> tuple[dict[str, float], dict[str, Any]]:
    """The first usable attempt along ``settings`` (penalizer, tol), with the fit report."""
    attempts: list[dict[str, Any]] = []
    for penalizer, tol in settings:
        params, error, extra, std = attempt(penalizer, tol)
        attempts.append({"penalizer_coef": penalizer, "tol": tol, **extra, "error": error})
        if error is None:
            logger.debug("%s fit: %s after %d attempt(s)", label, params, len(attempts))
            return params, {
                "penalizer_coef": penalizer,
                "tol": tol,
                **extra,
                "retries": len(attempts) - 1,
                "attempts": attempts,
                "standard_errors": std,
            }
    raise LTVFitError(
        f"{label} fit failed after "
        + "; ".join(
            f"penalizer={a['penalizer_coef']} tol={a['tol']}: {a['error']}" for a in attempts
        )
    )
