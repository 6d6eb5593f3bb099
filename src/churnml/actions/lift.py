"""Close the loop: measure a finished campaign's lift and feed it back as history.

The control group held out by the policy received nothing but was chosen
exactly like the treated customers (same ranking, same budget cut-off, a hash
independent of any score). Comparing the two after the campaign therefore
measures what the campaign *caused*:

- incremental conversion = share of treated customers who bought within
  ``window_days`` of the send date minus the same share among controls;
- incremental revenue per customer = mean revenue in the window, treated minus
  control. Revenue is the value of orders (positive amounts) placed in the window;
  refunds are left out because a refund inside the window mostly belongs to an
  order placed before the campaign;

overall, per intended action and per segment, with confidence intervals:
Agresti-Caffo for the difference of proportions (good coverage even with few
conversions) and Welch's normal approximation for the difference of mean revenue.

Only customers the policy *planned* to contact count (``intended_action`` other
than ``no_action``): customers nobody meant to contact would dilute the effect.

The per-customer outcomes are campaign history in the data contract
(:func:`as_campaign_history`), ready for the next uplift training.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from churnml.actions.catalogue import NO_ACTION
from churnml.data.contract import validate_campaigns
from churnml.segments import require_columns

logger = logging.getLogger(__name__)

#: Columns of :meth:`LiftReport.to_frame`.
LIFT_COLUMNS: tuple[str, ...] = (
    "dimension",
    "group",
    "n_treated",
    "n_control",
    "conversion_treated",
    "conversion_control",
    "conversion_lift",
    "conversion_lift_low",
    "conversion_lift_high",
    "conversion_p_value",
    "revenue_treated",
    "revenue_control",
    "revenue_lift",
    "revenue_lift_low",
    "revenue_lift_high",
    "incremental_conversions",
    "incremental_revenue",
)


def _action_column(contacts: pd.DataFrame) -> str:
    for col in ("intended_action", "action", "next_best_action"):
        if col in contacts.columns:
            return col
    raise ValueError("contacts need an 'intended_action', 'action' or 'next_best_action' column")


def campaign_outcomes(
    contacts: pd.DataFrame,
    transactions: pd.DataFrame,
    window_days: int = 30,
    sent_date: dt.date | pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Per planned contact: treated or control, and whether and how much they bought afterwards.

    Parameters
    ----------
    contacts
        The policy's decisions for the campaign: ``customer_id``, the action
        (``intended_action``, else ``action``, else ``next_best_action``),
        ``control_group`` (bool) and optionally ``sent_date``, ``segment``,
        ``action_channel``. A campaigns-contract table with ``treated`` instead of
        ``control_group`` works too.
    transactions
        Validated transactions (``customer_id, order_date, amount``).
    window_days
        Response window: orders on ``[sent_date, sent_date + window_days)`` count.
        A purchase is an order with a positive amount; refunds are neither
        conversions nor (negative) revenue.
    sent_date
        Send date when ``contacts`` has no ``sent_date`` column; without either,
        the ``as_of`` column of ``churnml score`` output (the scoring cut-off).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, action, treated, sent_date, converted, revenue`` plus
        ``segment`` / ``channel`` when given; one row per planned contact.
    """
    require_columns(contacts, ["customer_id"], "contacts")
    require_columns(transactions, ["customer_id", "order_date", "amount"], "transactions")
    action_col = _action_column(contacts)
    if "control_group" in contacts.columns:
        treated = ~contacts["control_group"].astype(bool).to_numpy()
    elif "treated" in contacts.columns:
        treated = contacts["treated"].astype(bool).to_numpy()
    else:
        raise ValueError("contacts need a 'control_group' or 'treated' column")
    action = contacts[action_col].astype(str).to_numpy()
    planned = action != NO_ACTION
    if "next_best_action" in contacts.columns and action_col != "next_best_action":
        # A non-control customer whose planned contact was not sent is not comparable.
        sent = contacts["next_best_action"].astype(str).to_numpy() != NO_ACTION
        planned &= ~treated | sent
    if "sent_date" in contacts.columns:
        dates = pd.to_datetime(contacts["sent_date"]).to_numpy()
    elif sent_date is not None:
        dates = np.full(len(contacts), pd.Timestamp(sent_date).to_datetime64())
    elif "as_of" in contacts.columns:  # `churnml score` output: scored as of the send date
        dates = pd.to_datetime(contacts["as_of"]).to_numpy()
    else:
        raise ValueError("give the campaign's sent_date (column of contacts or argument)")

    out = pd.DataFrame(
        {
            "customer_id": contacts["customer_id"].astype(str).to_numpy(),
            "action": action,
            "treated": treated,
            "sent_date": pd.to_datetime(dates),
        }
    )
    if "segment" in contacts.columns:
        out["segment"] = contacts["segment"].astype(str).to_numpy()
    if "action_channel" in contacts.columns:
        out["channel"] = contacts["action_channel"].astype(str).to_numpy()
    elif "channel" in contacts.columns:
        out["channel"] = contacts["channel"].astype(str).to_numpy()
    out = out.loc[planned].reset_index(drop=True)
    if out["customer_id"].duplicated().any():
        raise ValueError("contacts must have one row per customer")

    tx = transactions[["customer_id", "order_date", "amount"]].copy()
    tx["customer_id"] = tx["customer_id"].astype(str)
    tx = tx.merge(out[["customer_id", "sent_date"]], on="customer_id", how="inner")
    start = tx["sent_date"]
    in_window = (tx["order_date"] >= start) & (
        tx["order_date"] < start + pd.Timedelta(days=window_days)
    )
    orders = tx.loc[in_window & (tx["amount"] > 0)]
    revenue = orders.groupby("customer_id")["amount"].sum()
    out["converted"] = out["customer_id"].isin(revenue.index).to_numpy()
    out["revenue"] = out["customer_id"].map(revenue).fillna(0.0).to_numpy(dtype=float)
    return out


def _diff_proportions(
    x_t: int, n_t: int, x_c: int, n_c: int, z: float
) -> tuple[float, float, float, float]:
    """Difference of proportions with an Agresti-Caffo CI and a two-sided z-test p-value."""
    if n_t == 0 or n_c == 0:
        return (float("nan"),) * 4
    diff = x_t / n_t - x_c / n_c
    pt, pc = (x_t + 1) / (n_t + 2), (x_c + 1) / (n_c + 2)
    se = math.sqrt(pt * (1 - pt) / (n_t + 2) + pc * (1 - pc) / (n_c + 2))
    centre = pt - pc
    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    # Two-sided normal p-value: 2 * (1 - Phi(|z|)) = erfc(|z| / sqrt(2)).
    p_value = math.erfc(abs(diff) / se0 / math.sqrt(2)) if se0 > 0 else 1.0
    return diff, centre - z * se, centre + z * se, p_value


def _diff_means(a: np.ndarray, b: np.ndarray, z: float) -> tuple[float, float, float]:
    """Difference of means with a Welch normal-approximation CI."""
    if a.size < 2 or b.size < 2:
        return (float("nan"),) * 3
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return diff, diff - z * se, diff + z * se


def _lift_row(dimension: str, group: str, part: pd.DataFrame, z: float) -> dict[str, object]:
    t = part["treated"].to_numpy(dtype=bool)
    conv = part["converted"].to_numpy(dtype=bool)
    rev = part["revenue"].to_numpy(dtype=float)
    n_t, n_c = int(t.sum()), int((~t).sum())
    x_t, x_c = int(conv[t].sum()), int(conv[~t].sum())
    c_lift, c_lo, c_hi, p = _diff_proportions(x_t, n_t, x_c, n_c, z)
    r_lift, r_lo, r_hi = _diff_means(rev[t], rev[~t], z)
    return {
        "dimension": dimension,
        "group": group,
        "n_treated": n_t,
        "n_control": n_c,
        "conversion_treated": x_t / n_t if n_t else float("nan"),
        "conversion_control": x_c / n_c if n_c else float("nan"),
        "conversion_lift": c_lift,
        "conversion_lift_low": c_lo,
        "conversion_lift_high": c_hi,
        "conversion_p_value": p,
        "revenue_treated": float(rev[t].mean()) if n_t else float("nan"),
        "revenue_control": float(rev[~t].mean()) if n_c else float("nan"),
        "revenue_lift": r_lift,
        "revenue_lift_low": r_lo,
        "revenue_lift_high": r_hi,
        "incremental_conversions": c_lift * n_t,
        "incremental_revenue": r_lift * n_t,
    }


@dataclass(frozen=True)
class LiftReport:
    """Treated-vs-control results of one campaign.

    Attributes
    ----------
    table
        One row per group (``LIFT_COLUMNS``): ``dimension`` is ``overall`` or a
        column of ``by``, ``group`` its value.
    outcomes
        The per-customer outcomes the table was computed from.
    window_days, confidence
        Response window and CI level used.
    """

    table: pd.DataFrame
    outcomes: pd.DataFrame
    window_days: int
    confidence: float

    def to_frame(self) -> pd.DataFrame:
        """The lift table (a copy)."""
        return self.table.copy()

    def to_markdown(self) -> str:
        """The lift table as a Markdown table a marketer can paste into a report."""
        header = (
            "| group | treated | control | conv. treated | conv. control | conv. lift "
            f"[{self.confidence:.0%} CI] | revenue lift / customer [{self.confidence:.0%} CI] "
            "| incremental revenue |"
        )
        lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.table.itertuples(index=False):
            name = "overall" if r.dimension == "overall" else f"{r.dimension}: {r.group}"
            lines.append(
                f"| {name} | {r.n_treated:,} | {r.n_control:,} | {r.conversion_treated:.2%} "
                f"| {r.conversion_control:.2%} | {r.conversion_lift:+.2%} "
                f"[{r.conversion_lift_low:+.2%}, {r.conversion_lift_high:+.2%}] "
                f"| {r.revenue_lift:+.2f} [{r.revenue_lift_low:+.2f}, {r.revenue_lift_high:+.2f}] "
                f"| {r.incremental_revenue:+,.0f} |"
            )
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path) -> Path:
        """Forest plot of conversion and revenue lift with CIs per group, as a PNG."""
        tab = self.table
        labels = [
            "overall" if d == "overall" else f"{d}: {g}"
            for d, g in zip(tab["dimension"], tab["group"], strict=True)
        ]
        ypos = np.arange(len(tab))[::-1]
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 1.2 + 0.35 * len(tab)), dpi=110)
        FigureCanvasAgg(fig)
        panels = (
            ("conversion", 100.0, "incremental conversion (points)"),
            ("revenue", 1.0, "incremental revenue per customer"),
        )
        for k, (key, scale, xlabel) in enumerate(panels):
            ax = fig.add_subplot(1, 2, k + 1)
            mid = tab[f"{key}_lift"].to_numpy(dtype=float) * scale
            lo = tab[f"{key}_lift_low"].to_numpy(dtype=float) * scale
            hi = tab[f"{key}_lift_high"].to_numpy(dtype=float) * scale
            err = np.vstack([np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)])
            ax.errorbar(mid, ypos, xerr=err, fmt="o", color="C0", ecolor="C0", capsize=3)
            ax.axvline(0.0, color="grey", linewidth=0.8)
            ax.set_yticks(ypos)
            ax.set_yticklabels(labels if k == 0 else [])
            ax.set_xlabel(xlabel)
        fig.suptitle(
            f"Campaign lift, treated vs control ({self.window_days}-day window, "
            f"{self.confidence:.0%} CI)"
        )
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
        return out

    def as_campaign_history(self, campaign_id: str) -> pd.DataFrame:
        """The outcomes as rows of the campaigns contract (see :func:`as_campaign_history`)."""
        return _history_rows(self.outcomes, campaign_id)


def measure_lift(
    contacts: pd.DataFrame,
    transactions: pd.DataFrame,
    window_days: int = 30,
    by: Sequence[str] = ("action", "segment"),
    sent_date: dt.date | pd.Timestamp | str | None = None,
    confidence: float = 0.95,
) -> LiftReport:
    """Incremental conversion and revenue of treated vs control, overall and by group.

    Parameters
    ----------
    contacts, transactions, window_days, sent_date
        See :func:`campaign_outcomes`.
    by
        Breakdowns besides ``overall``: ``action`` (the intended action),
        ``segment``, ``channel`` or any column carried into the outcomes. Missing
        columns are skipped with a warning.
    confidence
        Level of the confidence intervals.
    """
    outcomes = campaign_outcomes(contacts, transactions, window_days, sent_date)
    table = lift_table(outcomes, by, confidence)
    return LiftReport(
        table=table, outcomes=outcomes, window_days=window_days, confidence=confidence
    )


def lift_table(
    outcomes: pd.DataFrame, by: Sequence[str] = (), confidence: float = 0.95
) -> pd.DataFrame:
    """The ``LIFT_COLUMNS`` table of per-customer outcomes, overall and by group.

    ``outcomes`` has one row per planned contact with ``treated``, ``converted`` and
    ``revenue``: what :func:`campaign_outcomes` derives from transactions, or the
    recorded columns of a campaigns-contract table (as ``churnml report`` uses them).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rows = [_lift_row("overall", "all", outcomes, z)]
    for dim in by:
        if dim not in outcomes.columns:
            logger.warning("lift breakdown by %r skipped: no such column in the contacts", dim)
            continue
        for group, part in outcomes.groupby(dim, sort=True):
            rows.append(_lift_row(dim, str(group), part, z))
    return pd.DataFrame(rows, columns=list(LIFT_COLUMNS))


def _history_rows(outcomes: pd.DataFrame, campaign_id: str) -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "customer_id": outcomes["customer_id"].to_numpy(),
            "campaign_id": campaign_id,
            "sent_date": outcomes["sent_date"].to_numpy(),
            "action": outcomes["action"].to_numpy(),
            "treated": outcomes["treated"].to_numpy(dtype=bool),
            "converted": outcomes["converted"].to_numpy(dtype=bool),
            "revenue": outcomes["revenue"].to_numpy(dtype=float),
        }
    )
    for extra in ("channel", "segment"):
        if extra in outcomes.columns:
            raw[extra] = outcomes[extra].to_numpy()
    return validate_campaigns(raw)


def as_campaign_history(
    contacts: pd.DataFrame,
    transactions: pd.DataFrame,
    campaign_id: str,
    window_days: int = 30,
    sent_date: dt.date | pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """A finished campaign's outcomes as rows of the campaigns contract.

    Treated rows are the contacts sent, control rows (``treated=False``) carry the
    action they would have received; ``converted`` and ``revenue`` cover
    ``window_days`` after the send date. Appending these rows to the campaign
    history gives the next uplift training its treated-vs-control examples.
    """
    outcomes = campaign_outcomes(contacts, transactions, window_days, sent_date)
    return _history_rows(outcomes, campaign_id)
