"""BG/NBD and Gamma-Gamma closed forms, vectorised over numpy arrays.

Every time argument is in the model's time unit. The formulas and their
references are in :mod:`churnml.models.ltv`; :class:`~churnml.models.ltv.LTVModel`
evaluates them once per distinct ``(frequency, recency, T)`` pattern.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pandas as pd
from scipy.special import expit, gammaln, hyp2f1

if TYPE_CHECKING:
    pass

BGNBD_PARAMS: tuple[str, ...] = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS: tuple[str, ...] = ("p", "q", "v")
#: CLV discounting: monthly periods of an average Gregorian month.
YEAR_DAYS = 365.25
MONTH_DAYS = YEAR_DAYS / 12
Params: TypeAlias = Mapping[str, float]
ArrayLike: TypeAlias = np.ndarray | pd.Series | Sequence[float] | float


# --------------------------------------------------------------------------------------
# Closed forms (all time arguments in the model's time unit)
# --------------------------------------------------------------------------------------


def _bg(params: Params) -> tuple[float, float, float, float]:
    return (float(params["r"]), float(params["alpha"]), float(params["a"]), float(params["b"]))


def _arr(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def bgnbd_log_likelihood(
    params: Params,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """Total BG/NBD log-likelihood (FHL 2005, eq. 6), without any penalty.

    It depends on the time unit: the same data in days and in weeks differ by
    ``sum(frequency) * log(7)``. The published CDNOW figure (-9582.4) is in weeks.
    """
    r, alpha, a, b = _bg(params)
    x, tx, t_ = _arr(frequency), _arr(recency), _arr(T)
    a1 = gammaln(r + x) - gammaln(r) + r * math.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + t_)
    with np.errstate(divide="ignore"):
        a4 = np.where(
            x > 0,
            math.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    ll = a1 + a2 + np.logaddexp(a3, a4)
    w = np.ones_like(ll) if weights is None else _arr(weights)
    return float(np.sum(w * ll))


def bgnbd_p_alive(
    params: Params, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """P(alive at T | x, t_x, T) (Fader, Hardie & Lee 2008, note 021).

    Equal to 1 for every customer without a repeat purchase: BG/NBD customers can
    only drop out right after a purchase. ``1 - p_alive`` is therefore no churn
    score; use :func:`bgnbd_p_no_purchase`.
    """
    r, alpha, a, b = _bg(params)
    x, tx, t_ = _arr(frequency), _arr(recency), _arr(T)
    log_odds_dead = (r + x) * (np.log(alpha + t_) - np.log(alpha + tx)) + np.log(
        a / (b + np.maximum(x, 1) - 1)
    )
    return np.atleast_1d(np.where(x > 0, expit(-log_odds_dead), 1.0))


def _gauss_series(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Sum the hypergeometric series term by term; NaN where it has not converged."""
    term = np.ones_like(z)
    total = np.ones_like(z)
    converged = np.zeros(z.shape, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(20_000):
            term = term * (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z
            total = total + term
            converged = np.abs(term) <= 1e-16 * np.abs(total)
            if converged.all() or not np.isfinite(total).any():
                break
    return np.where(converged & np.isfinite(total), total, np.nan)


def _hyp2f1(a: ArrayLike, b: ArrayLike, c: ArrayLike, z: ArrayLike) -> np.ndarray:
    """Gauss' 2F1 for 0 <= z < 1: scipy's, with the plain series where scipy gives up.

    scipy returns NaN for a large ``c`` with ``z`` near 1 (hundreds of purchases,
    a horizon long against the customer's age); the series then converges fast,
    its term ratio being about ``k z / (c + k)``. Values the series cannot reach
    stay NaN and make :meth:`LTVModel.predict` fail loudly.
    """
    aa, bb, cc, zz = np.broadcast_arrays(_arr(a), _arr(b), _arr(c), _arr(z))
    out = np.array(hyp2f1(aa, bb, cc, zz), dtype=float)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = _gauss_series(aa[bad], bb[bad], cc[bad], zz[bad])
    return out


def _conditional_alive_expected_purchases(
    params: Params, t: np.ndarray, frequency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[X(T, T+t) | alive at T, x, T]: the BG/NBD mean with the posterior parameters.

    Given alive at T, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x), so
    the expectation is eq. (9) of FHL (2005) with those parameters. The
    hypergeometric term is evaluated in Euler's form,
    ``(1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z)`` with
    ``c = a+b+x-1``, which stays finite for large ``x`` where the textbook form
    overflows. ``t`` broadcasts against the customer arrays.
    """
    r, alpha, a, b = _bg(params)
    if abs(a - 1.0) < 1e-6:  # removable singularity at a = 1: step off it
        a = 1.0 + 1e-6
    c = a + b + frequency - 1.0
    log1m_z = np.log(alpha + T) - np.log(alpha + T + t)  # log(1 - z)
    z = -np.expm1(log1m_z)
    hyp = _hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return c / (a - 1.0) * (1.0 - np.exp((a - 1.0) * log1m_z) * hyp)


def bgnbd_expected_purchases(
    params: Params, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """E[X(T, T+t) | x, t_x, T]: expected repeat purchases in the next ``t`` (FHL 2005, eq. 10)."""
    x, t_ = _arr(frequency), _arr(T)
    alive = bgnbd_p_alive(params, x, recency, t_)
    return np.atleast_1d(alive * _conditional_alive_expected_purchases(params, _arr(t), x, t_))


def bgnbd_unconditional_expected_purchases(params: Params, t: ArrayLike) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in ``(0, t]`` of a new customer (FHL 2005, eq. 9)."""
    tt = _arr(t)
    zero = np.zeros_like(tt)
    return np.atleast_1d(
        _conditional_alive_expected_purchases(params, np.maximum(tt, 0.0), zero, zero)
    )


def bgnbd_p_no_purchase(
    params: Params, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """P(X(T, T+t) = 0 | x, t_x, T): probability of no purchase in the next ``t``.

    Derivation. For one customer with rate lambda and dropout probability p, the
    likelihood of the history splits into "still alive at T",
    ``(1-p)^x lambda^x e^(-lambda T)``, and "dropped out after the last purchase",
    ``p (1-p)^(x-1) lambda^x e^(-lambda t_x)`` (x > 0). An alive customer makes no
    purchase in ``(T, T+t]`` with probability ``e^(-lambda t)`` (dropout only happens
    at a purchase); a dropped-out one never buys. Integrating both terms against the
    Gamma(r, alpha) x Beta(a, b) prior and dividing by the likelihood gives

        P(X(T, T+t) = 0 | x, t_x, T)
            = 1 - P(alive | x, t_x, T) * (1 - ((alpha + T) / (alpha + T + t))^(r + x)).

    For ``x = 0`` (P(alive) = 1) this is ``((alpha+T)/(alpha+T+t))^r``, which grows
    with the time since the first purchase: unlike ``1 - P(alive)`` it ranks
    one-time buyers by how long they have been silent.
    """
    r, alpha, _, _ = _bg(params)
    x, t_ = _arr(frequency), _arr(T)
    alive = bgnbd_p_alive(params, x, recency, t_)
    buys_if_alive = -np.expm1(-(r + x) * np.log1p(_arr(t) / (alpha + t_)))
    return np.atleast_1d(1.0 - alive * buys_if_alive)


def bgnbd_expected_time_to_next_purchase(
    params: Params, frequency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """E[time from T to the next purchase | alive at T, x, T], in model time units.

    Given alive, lambda ~ Gamma(r + x, alpha + T) and the wait is exponential, so
    the expectation is ``E[1/lambda] = (alpha + T) / (r + x - 1)``. It is infinite
    (NaN here) when ``r + x <= 1``. Unconditionally (a customer may have dropped
    out) the expected wait is infinite for anyone with P(alive) < 1, hence the
    conditioning; read it together with ``p_alive``.
    """
    r, alpha, _, _ = _bg(params)
    shape = r + _arr(frequency)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.atleast_1d(np.where(shape > 1.0, (alpha + _arr(T)) / (shape - 1.0), np.nan))


def gamma_gamma_log_likelihood(
    params: Params,
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """Total Gamma-Gamma log-likelihood of mean spends (Fader & Hardie 2013, eq. 1a)."""
    p, q, v = (float(params[k]) for k in GAMMA_GAMMA_PARAMS)
    x, m = _arr(frequency), _arr(monetary_value)
    px = p * x
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * math.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )
    w = np.ones_like(ll) if weights is None else _arr(weights)
    return float(np.sum(w * ll))


def gamma_gamma_expected_value(
    params: Params, frequency: ArrayLike, monetary_value: ArrayLike
) -> np.ndarray:
    """E[order value | x, m] = (p v + p x m) / (p x + q - 1) (Fader & Hardie 2013, eq. 5).

    A weighted mean of the population mean ``p v / (q - 1)`` and the customer's own
    mean spend; customers without repeat purchases (x = 0) get the population mean.
    """
    p, q, v = (float(params[k]) for k in GAMMA_GAMMA_PARAMS)
    x = _arr(frequency)
    m = np.where(x > 0, _arr(monetary_value), 0.0)
    return np.atleast_1d((p * v + p * x * m) / (p * x + q - 1.0))


def _discount_schedule(
    horizon_days: float, annual_discount_rate: float, period_days: float = MONTH_DAYS
) -> tuple[np.ndarray, np.ndarray]:
    """Ends of the discounting periods (days) and their discount factors.

    Periods of ``period_days`` up to ``horizon_days``, the last one possibly shorter;
    cash of a period is discounted from its end, ``(1 + rate)^-(end / 365.25)``.
    """
    n = max(1, math.ceil(horizon_days / period_days - 1e-9))
    ends = np.minimum(np.arange(1, n + 1) * period_days, horizon_days)
    return ends, (1.0 + annual_discount_rate) ** (-ends / YEAR_DAYS)


def discounted_expected_purchases(
    params: Params,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    horizon: float,
    annual_discount_rate: float,
    days_per_time_unit: float = 7.0,
    period_days: float = MONTH_DAYS,
    given_alive: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted and plain expected purchases over ``horizon`` (model time units).

    Expected purchases are split into periods of ``period_days`` (a month by
    default); each period's purchases are discounted from the period's end, as in
    ``lifetimes``' ``customer_lifetime_value`` but vectorised, with an annual rate,
    and with the last period cut at the horizon so that the undiscounted total is
    exactly the expected purchases over the horizon.

    With ``given_alive`` both are conditional on the customer being alive at
    ``T`` (the P(alive) factor of FHL 2005, eq. 10, left out): what a customer
    brought back by a win-back contact is expected to buy.

    Returns ``(discounted, expected)``.
    """
    x, t_ = _arr(frequency), _arr(T)
    ends_days, factors = _discount_schedule(
        horizon * days_per_time_unit, annual_discount_rate, period_days
    )
    ends = ends_days / days_per_time_unit
    cumulative = _conditional_alive_expected_purchases(
        params, ends[None, :], x[:, None], t_[:, None]
    )
    alive = bgnbd_p_alive(params, x, recency, t_)
    per_period = np.diff(cumulative, axis=1, prepend=0.0)
    if given_alive:
        return per_period @ factors, cumulative[:, -1]
    return alive * (per_period @ factors), alive * cumulative[:, -1]
