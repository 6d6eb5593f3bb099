"""The audience curve: what a campaign of N contacts is expected to bring, for every N.

A marketer chooses the campaign size. For each number of contacts ``k`` (the
``k`` contacts of highest expected incremental value, as
``PolicyConfig.max_contacts = k`` would choose them; control-group customers held
out, since they are never contacted) the curve gives the expected incremental
conversions (sum of the chosen actions' uplifts), incremental revenue (uplift x
the revenue of a return: an order plus, for a customer who had gone, the revived
future), cost, and net incremental value. Only contacts of positive value are
on it: beyond its end another contact is expected to lose money.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnml.actions.options import ContactOptions

#: Columns of :func:`audience_curve`.
AUDIENCE_COLUMNS: tuple[str, ...] = (
    "contacts",
    "expected_incremental_conversions",
    "expected_incremental_revenue",
    "expected_cost",
    "expected_incremental_value",
)


def audience_curve(options: ContactOptions, control: np.ndarray, margin: float) -> pd.DataFrame:
    """Expected incremental conversions, revenue, cost and value against the number of contacts.

    Parameters
    ----------
    options
        :meth:`NextBestActionPolicy.options` of the customers to score.
    control
        Control-group flag per customer (:func:`~churnml.actions.control.assign_control`).
    margin
        The margin the values were computed with (revenue = value of a return / margin).

    Returns
    -------
    pandas.DataFrame
        ``AUDIENCE_COLUMNS``, one row per contact count 1..K (K: contacts of positive
        value outside the control group); cumulative figures, so every column but
        the cost of a contact with an offer never decreases.
    """
    n, m = options.value.shape
    if not m or not n:
        return pd.DataFrame({c: np.empty(0) for c in AUDIENCE_COLUMNS})
    rows = np.arange(n)
    best = np.argmax(options.value, axis=1)
    value = options.value[rows, best]
    keep = np.flatnonzero(np.isfinite(value) & (value > 0) & ~np.asarray(control, dtype=bool))
    order = keep[np.argsort(-value[keep], kind="stable")]
    uplift = options.uplift[order, best[order]]
    revenue = uplift * options.worth[order] / float(margin)
    return pd.DataFrame(
        {
            "contacts": np.arange(1, order.size + 1),
            "expected_incremental_conversions": np.cumsum(uplift),
            "expected_incremental_revenue": np.cumsum(revenue),
            "expected_cost": np.cumsum(options.cost[order, best[order]]),
            "expected_incremental_value": np.cumsum(value[order]),
        }
    )


def plot_audience_curve(curve: pd.DataFrame, path: str | Path) -> Path:
    """Draw the curve (conversions and net value against contacts) to a PNG file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(curve["contacts"], curve["expected_incremental_conversions"], color="C0")
    ax.set_xlabel("contacts (highest expected incremental value first)")
    ax.set_ylabel("expected incremental conversions", color="C0")
    right = ax.twinx()
    right.plot(curve["contacts"], curve["expected_incremental_value"], color="C1")
    right.set_ylabel("expected incremental value (net of costs)", color="C1")
    ax.set_title("Audience curve (control group held out)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def audience_table(curve: pd.DataFrame, points: int = 20) -> pd.DataFrame:
    """The curve at ``points`` evenly spaced campaign sizes (for a report or MLflow)."""
    if curve.empty:
        return curve
    at = np.unique(np.linspace(1, len(curve), min(points, len(curve))).round().astype(int)) - 1
    return curve.iloc[at].reset_index(drop=True)
