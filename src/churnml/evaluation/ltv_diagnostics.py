"""Holdout diagnostics of the BG/NBD + Gamma-Gamma model: tables and PNG plots.

The usual validation of a buy-till-you-die model (Fader, Hardie & Lee 2005):
fit on a calibration period, predict the holdout period that follows, and compare

- mean holdout purchases by number of calibration purchases
  (:func:`conditional_expectations_by_frequency`, :func:`plot_calibration_vs_holdout`);
- cumulative repeat purchases of the cohort over calendar time
  (:func:`cumulative_tracking`, :func:`plot_cumulative_tracking`);
- per-customer errors, rank correlations and the concentration of realised spend
  along predicted CLV (:func:`holdout_metrics`, :func:`clv_decile_table`).

Holdout actuals are counted the way :func:`churnml.features.rfm.rfm_summary`
counts calibration purchases: distinct purchase days, refund rows left out, spend
summed per day. Functions take plain frames (or a fitted
:class:`~churnml.models.ltv.LTVModel` where the model itself is drawn) and write
PNG files through matplotlib's Agg canvas without touching pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import pearsonr, spearmanr

from churnml.features.rfm import days_per_unit, purchase_days

if TYPE_CHECKING:
    from churnml.models.ltv import LTVModel

__all__ = [
    "build_holdout_frame",
    "clv_decile_table",
    "conditional_expectations_by_frequency",
    "cumulative_tracking",
    "frequency_recency_matrix",
    "holdout_actuals",
    "holdout_metrics",
    "normalised_gini",
    "plot_calibration_vs_holdout",
    "plot_cumulative_tracking",
    "plot_frequency_recency_matrix",
    "plot_p_alive_matrix",
    "write_ltv_diagnostics",
]

_DPI = 110


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def holdout_actuals(
    transactions: pd.DataFrame,
    customers: pd.Index,
    calibration_end: pd.Timestamp | str,
    holdout_end: pd.Timestamp | str,
) -> pd.DataFrame:
    """Purchase days and gross spend of ``customers`` in ``[calibration_end, holdout_end)``.

    Returns a frame indexed like ``customers`` with ``actual_purchases`` (distinct
    purchase days, refund rows ignored) and ``actual_spend`` (their summed amounts);
    customers without a holdout purchase get zeros.
    """
    start = pd.Timestamp(calibration_end).normalize()
    days = purchase_days(transactions, holdout_end)
    days = days[days["day"] >= start]
    grouped = days.groupby("customer_id", sort=False)["amount"].agg(["size", "sum"])
    out = grouped.reindex(customers).fillna(0.0)
    return pd.DataFrame(
        {
            "actual_purchases": out["size"].to_numpy(dtype=float),
            "actual_spend": out["sum"].to_numpy(dtype=float),
        },
        index=customers,
    )


def build_holdout_frame(
    rfm: pd.DataFrame, predictions: pd.DataFrame, actuals: pd.DataFrame
) -> pd.DataFrame:
    """Join calibration frequency, predictions over the holdout length and actuals.

    ``predictions`` is ``LTVModel.predict(rfm, horizon_days=<holdout length>)``;
    predicted spend is ``expected_purchases * expected_order_value`` (undiscounted).
    """
    frame = pd.DataFrame(
        {
            "frequency": rfm["frequency"],
            "predicted_purchases": predictions["expected_purchases"],
            "predicted_spend": predictions["expected_purchases"]
            * predictions["expected_order_value"],
            "clv": predictions["clv"],
        },
        index=rfm.index,
    )
    return frame.join(actuals[["actual_purchases", "actual_spend"]], how="left").fillna(
        {"actual_purchases": 0.0, "actual_spend": 0.0}
    )


def conditional_expectations_by_frequency(
    frame: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration frequency.

    Frequencies at or above ``max_frequency`` share one bin, labelled ``"7+"`` by
    default, as in Figure 4 of Fader, Hardie & Lee (2005).
    """
    capped = np.minimum(frame["frequency"].to_numpy(), max_frequency).astype(int)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    grouped = frame.groupby(capped)[["actual_purchases", "predicted_purchases"]]
    out = grouped.mean()
    out.insert(0, "customers", grouped.size())
    out = out.reindex(range(max_frequency + 1))
    out.index = pd.Index(labels, name="calibration_frequency")
    return out


def normalised_gini(actual: np.ndarray | pd.Series, predicted: np.ndarray | pd.Series) -> float:
    """Gini of ``actual`` ordered by ``predicted``, divided by the Gini of the perfect order.

    1 means the prediction ranks customers exactly as their realised values, 0 is a
    random order. Ties in ``predicted`` are resolved by their expectation (the tied
    block contributes its average), so the result does not depend on row order.
    """
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)

    def gini(score: np.ndarray) -> float:
        order = np.argsort(-score, kind="stable")
        s, v = score[order], a[order]
        block = np.concatenate([[0], np.cumsum(s[1:] != s[:-1])])
        means = np.bincount(block, weights=v) / np.bincount(block)
        cum = np.cumsum(means[block])
        n = len(v)
        return float(cum.sum() / cum[-1] / n - (n + 1) / (2 * n))

    if len(a) < 2 or a.sum() <= 0:
        return float("nan")
    return gini(p) / gini(a)


def clv_decile_table(
    clv: np.ndarray | pd.Series, actual_spend: np.ndarray | pd.Series, n_bins: int = 10
) -> pd.DataFrame:
    """Realised holdout spend by decile of predicted CLV (decile 1 = highest CLV).

    Columns: ``customers``, ``clv_mean``, ``actual_spend_mean``, ``spend_share`` (of all
    realised spend), ``cumulative_spend_share`` and ``lift`` (mean spend of the decile
    over the overall mean).
    """
    c = np.asarray(clv, dtype=float)
    s = np.asarray(actual_spend, dtype=float)
    rank = pd.Series(-c).rank(method="first").to_numpy()
    decile = np.ceil(rank * n_bins / len(c)).astype(int)
    frame = pd.DataFrame({"decile": decile, "clv": c, "spend": s})
    out = frame.groupby("decile").agg(
        customers=("clv", "size"), clv_mean=("clv", "mean"), actual_spend_mean=("spend", "mean")
    )
    total = s.sum()
    sums = frame.groupby("decile")["spend"].sum()
    out["spend_share"] = sums / total if total > 0 else np.nan
    out["cumulative_spend_share"] = out["spend_share"].cumsum()
    out["lift"] = out["actual_spend_mean"] / s.mean() if total > 0 else np.nan
    return out


def holdout_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """Holdout error table of purchases, spend and CLV ranking.

    ``frame`` has the columns of :func:`build_holdout_frame`. Rows (index ``metric``,
    column ``value``):

    - ``{purchases,spend}_{actual,predicted}_total`` and ``..._aggregate_error``
      (predicted / actual - 1);
    - per-customer ``..._mae`` and ``..._rmse``;
    - ``purchases_pearson`` (the correlation Fader, Hardie & Lee 2005 report),
      ``purchases_spearman``, ``spend_spearman``;
    - ``clv_spearman`` and ``clv_normalised_gini`` of CLV against realised spend;
    - ``top_decile_spend_share``: realised spend of the top CLV decile.
    """
    rows: dict[str, float] = {"customers": float(len(frame))}
    for name in ("purchases", "spend"):
        actual = frame[f"actual_{name}"].to_numpy(dtype=float)
        predicted = frame[f"predicted_{name}"].to_numpy(dtype=float)
        error = predicted - actual
        rows[f"{name}_actual_total"] = float(actual.sum())
        rows[f"{name}_predicted_total"] = float(predicted.sum())
        rows[f"{name}_aggregate_error"] = (
            float(predicted.sum() / actual.sum() - 1) if actual.sum() > 0 else float("nan")
        )
        rows[f"{name}_mae"] = float(np.mean(np.abs(error)))
        rows[f"{name}_rmse"] = float(np.sqrt(np.mean(error**2)))
        rows[f"{name}_spearman"] = _corr(spearmanr, predicted, actual)
        if name == "purchases":
            rows["purchases_pearson"] = _corr(pearsonr, predicted, actual)
    spend = frame["actual_spend"].to_numpy(dtype=float)
    clv = frame["clv"].to_numpy(dtype=float)
    rows["clv_spearman"] = _corr(spearmanr, clv, spend)
    rows["clv_normalised_gini"] = normalised_gini(spend, clv)
    deciles = clv_decile_table(clv, spend)
    rows["top_decile_spend_share"] = float(deciles["spend_share"].iloc[0])
    return pd.DataFrame({"value": pd.Series(rows)}).rename_axis("metric")


def _corr(fn: Any, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(fn(x, y)[0])


def cumulative_tracking(
    transactions: pd.DataFrame,
    model: LTVModel,
    calibration_end: pd.Timestamp | str,
    holdout_end: pd.Timestamp | str,
    step_days: int = 7,
) -> pd.DataFrame:
    """Actual and predicted cumulative repeat purchases of the calibration cohort.

    The cohort is every customer with a purchase before ``calibration_end``. At each
    period end ``e`` (every ``step_days`` from the cohort's first purchase day, and
    ``holdout_end``), ``actual`` counts repeat purchase days before ``e`` and
    ``predicted`` sums the BG/NBD unconditional expectation ``E[X(T)]`` over the
    cohort, with each customer's ``T`` measured as in ``rfm_summary(as_of=e)``.
    These are the curves of Figure 2 of Fader, Hardie & Lee (2005).
    """
    from churnml.models.ltv import bgnbd_unconditional_expected_purchases

    cal_end = pd.Timestamp(calibration_end).normalize()
    end = pd.Timestamp(holdout_end).normalize()
    days = purchase_days(transactions, end)
    first = days.groupby("customer_id", sort=False)["day"].transform("min")
    cohort = first < cal_end
    days, first = days[cohort], first[cohort]
    repeat_days = np.sort(days.loc[days["day"] != first, "day"].to_numpy(dtype="datetime64[D]"))

    start = first.min()
    ends = pd.date_range(start + pd.Timedelta(days=step_days), end, freq=f"{step_days}D")
    if len(ends) == 0 or ends[-1] != end:
        ends = ends.append(pd.DatetimeIndex([end]))
    end_days = ends.to_numpy(dtype="datetime64[D]")

    per_customer = days.groupby("customer_id", sort=False)["day"].min()
    firsts, counts = np.unique(per_customer.to_numpy(dtype="datetime64[D]"), return_counts=True)
    unit = days_per_unit(model.time_unit)
    age_days = (end_days[:, None] - np.timedelta64(1, "D") - firsts[None, :]).astype(float)
    expected = bgnbd_unconditional_expected_purchases(
        model.bgnbd_params_, np.maximum(age_days, 0.0) / unit
    )
    predicted = (expected * counts[None, :]).sum(axis=1)
    actual = np.searchsorted(repeat_days, end_days, side="left")
    return pd.DataFrame(
        {
            "actual": actual.astype(float),
            "predicted": predicted,
            "holdout": ends > cal_end,
        },
        index=pd.DatetimeIndex(ends, name="period_end"),
    )


def frequency_recency_matrix(
    model: LTVModel,
    max_frequency: int,
    max_T: float,
    value: str = "expected_purchases",
    horizon_days: int = 365,
    n_recency: int = 40,
) -> pd.DataFrame:
    """A prediction of ``model`` over a grid of frequency x recency, at age ``max_T``.

    Rows are frequencies ``0..max_frequency``, columns recency values from 0 to
    ``max_T`` (model time units). Customers with frequency 0 have recency 0 by
    definition, so their row is constant. ``value`` is a column of
    :meth:`LTVModel.predict`.
    """
    recency = np.linspace(0.0, float(max_T), n_recency)
    freq = np.arange(max_frequency + 1)
    f_grid, r_grid = np.meshgrid(freq, recency, indexing="ij")
    r_grid = np.where(f_grid == 0, 0.0, r_grid)
    rfm = pd.DataFrame(
        {
            "frequency": f_grid.ravel(),
            "recency": r_grid.ravel(),
            "T": float(max_T),
            "monetary_value": 0.0,
        }
    )
    pred = model.predict(rfm, horizon_days=horizon_days)[value].to_numpy()
    return pd.DataFrame(
        pred.reshape(f_grid.shape),
        index=pd.Index(freq, name="frequency"),
        columns=pd.Index(np.round(recency, 3), name="recency"),
    )


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------


def _new_figure(width: float = 7.0, height: float = 4.5) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig: Figure, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=_DPI, format="png")
    return target


def plot_calibration_vs_holdout(by_frequency: pd.DataFrame, path: str | Path) -> Path:
    """Bar-and-line plot of :func:`conditional_expectations_by_frequency`."""
    fig, ax = _new_figure()
    pos = np.arange(len(by_frequency))
    ax.plot(pos, by_frequency["actual_purchases"], "o-", label="actual", color="black")
    ax.plot(pos, by_frequency["predicted_purchases"], "s--", label="BG/NBD", color="tab:blue")
    counts = by_frequency["customers"].fillna(0).astype(int)
    ax.set_xticks(pos, [f"{k}\nn={n}" for k, n in zip(by_frequency.index, counts, strict=True)])
    ax.set_xlabel("purchases in the calibration period (customers)")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title("Conditional expectations: calibration vs holdout")
    ax.legend()
    return _save(fig, path)


def plot_cumulative_tracking(tracking: pd.DataFrame, path: str | Path) -> Path:
    """Actual vs predicted cumulative repeat purchases (:func:`cumulative_tracking`)."""
    fig, ax = _new_figure()
    ax.plot(tracking.index, tracking["actual"], color="black", label="actual")
    ax.plot(tracking.index, tracking["predicted"], "--", color="tab:blue", label="BG/NBD")
    holdout = tracking.index[tracking["holdout"].to_numpy(dtype=bool)]
    if len(holdout):
        ax.axvline(holdout[0], color="grey", linestyle=":", label="end of calibration")
        last = tracking.iloc[-1]
        gap = last["predicted"] / last["actual"] - 1 if last["actual"] > 0 else np.nan
        ax.set_title(f"Cumulative repeat purchases (final forecast error {gap:+.1%})")
    else:
        ax.set_title("Cumulative repeat purchases")
    ax.set_ylabel("cumulative repeat purchases")
    ax.legend()
    fig.autofmt_xdate()
    return _save(fig, path)


def _plot_matrix(matrix: pd.DataFrame, title: str, label: str, path: str | Path) -> Path:
    fig, ax = _new_figure(6.5, 5.0)
    image = ax.imshow(
        matrix.to_numpy(),
        origin="lower",
        aspect="auto",
        cmap="viridis",
        extent=(matrix.columns[0], matrix.columns[-1], -0.5, len(matrix) - 0.5),
    )
    ax.set_xlabel("recency (time of last purchase, model time units)")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=label)
    return _save(fig, path)


def plot_frequency_recency_matrix(
    model: LTVModel,
    path: str | Path,
    max_frequency: int,
    max_T: float,
    horizon_days: int = 365,
) -> Path:
    """Expected purchases over ``horizon_days`` by frequency and recency."""
    matrix = frequency_recency_matrix(
        model, max_frequency, max_T, "expected_purchases", horizon_days
    )
    return _plot_matrix(
        matrix,
        f"Expected purchases in the next {horizon_days} days (T = {max_T:.1f} {model.time_unit})",
        "expected purchases",
        path,
    )


def plot_p_alive_matrix(
    model: LTVModel, path: str | Path, max_frequency: int, max_T: float
) -> Path:
    """P(alive) by frequency and recency, for customers of age ``max_T``."""
    matrix = frequency_recency_matrix(model, max_frequency, max_T, "p_alive")
    return _plot_matrix(matrix, f"P(alive) (T = {max_T:.1f} {model.time_unit})", "P(alive)", path)


# --------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------


def write_ltv_diagnostics(
    model: LTVModel,
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp | str,
    holdout_end: pd.Timestamp | str,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Predict the holdout with a model fitted before ``calibration_end``; write every diagnostic.

    Writes ``calibration_vs_holdout.png``, ``cumulative_tracking.png``,
    ``frequency_recency_matrix.png``, ``p_alive_matrix.png``, ``holdout_metrics.csv``,
    ``clv_deciles.csv`` and ``conditional_expectations.csv`` into ``out_dir``.
    Returns ``{"paths": {...}, "metrics": {...}, "deciles": DataFrame,
    "by_frequency": DataFrame, "tracking": DataFrame}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cal_end = pd.Timestamp(calibration_end).normalize()
    horizon = int((pd.Timestamp(holdout_end).normalize() - cal_end).days)
    rfm = model.summarise(transactions, cal_end)
    predictions = model.predict(rfm, horizon_days=horizon)
    actuals = holdout_actuals(transactions, rfm.index, cal_end, holdout_end)
    frame = build_holdout_frame(rfm, predictions, actuals)

    metrics = holdout_metrics(frame)
    deciles = clv_decile_table(frame["clv"], frame["actual_spend"])
    by_frequency = conditional_expectations_by_frequency(frame)
    tracking = cumulative_tracking(transactions, model, cal_end, holdout_end)
    max_frequency = int(min(rfm["frequency"].quantile(0.99), 50)) + 1
    max_T = float(rfm["T"].max())

    paths = {
        "calibration_vs_holdout": plot_calibration_vs_holdout(
            by_frequency, out / "calibration_vs_holdout.png"
        ),
        "cumulative_tracking": plot_cumulative_tracking(tracking, out / "cumulative_tracking.png"),
        "frequency_recency_matrix": plot_frequency_recency_matrix(
            model, out / "frequency_recency_matrix.png", max_frequency, max_T, horizon
        ),
        "p_alive_matrix": plot_p_alive_matrix(
            model, out / "p_alive_matrix.png", max_frequency, max_T
        ),
    }
    metrics.to_csv(out / "holdout_metrics.csv")
    deciles.to_csv(out / "clv_deciles.csv")
    by_frequency.to_csv(out / "conditional_expectations.csv")
    paths.update(
        holdout_metrics=out / "holdout_metrics.csv",
        clv_deciles=out / "clv_deciles.csv",
        conditional_expectations=out / "conditional_expectations.csv",
    )
    return {
        "paths": paths,
        "metrics": metrics["value"].to_dict(),
        "deciles": deciles,
        "by_frequency": by_frequency,
        "tracking": tracking,
    }
