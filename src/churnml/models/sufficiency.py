"""Is there enough history to train and evaluate a churn model for ``as_of``? Which rows?

A supervised churn model learns from cut-offs whose label windows are fully observed
before ``as_of``; each cut-off also needs ``min_history_days`` of history before it.
:func:`check_history` works out, before anything is fitted, which of three cases
applies and says so with numbers:

``backtest``
    Some cut-off's window ends by the evaluation cut-off ``as_of - window``. The
    procedure is backtested (trained on those cut-offs, judged at the evaluation
    cut-off against what happened until ``as_of``), then the shipped model is fitted
    with the same settings on the newest cut-offs, whose windows end by ``as_of``.
``cross_fitted``
    Only windows ending by ``as_of`` fit (short history). The shipped model trains on
    them; the evaluation is cross-fitted by customer at ``as_of - window``
    (:mod:`churnml.models.crossfit`), and a warning says that no later window judges it.
refused
    Not even one window fits: :class:`InsufficientHistoryError` names what the window
    and the minimum history need, the data's first and last dates and the longest
    window that would work.

The data checks (customers with a repeat purchase for BG/NBD, purchasers in the last
window so that the freshest labels hold both classes) refuse when a fit is
impossible and warn when it is possible but thin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from churnml.config import TimeConfig
from churnml.data.contract import InputTables
from churnml.errors import ChurnmlError
from churnml.features import churn_labels, rolling_cutoffs

logger = logging.getLogger(__name__)

#: Fewer than this many customers of a kind (repeat buyers, churners, buyers) and a warning says so.
THIN_COUNT = 100

Mode = Literal["backtest", "cross_fitted"]


class InsufficientHistoryError(ChurnmlError):
    """The history before ``as_of`` cannot train or evaluate a churn model as configured."""


@dataclass(frozen=True)
class HistoryCheck:
    """What the history before ``as_of`` allows, with the numbers behind it.

    Attributes
    ----------
    as_of, window_days, min_history_days
        The scoring date and the two time settings that decide the cut-offs.
    first_date, last_date
        First and last transaction dates before ``as_of``.
    customers, repeat_customers
        Customers with a purchase before ``as_of``; of them, those with more than one
        purchase day.
    newest_window_customers, newest_window_churners
        Customers at the evaluation cut-off ``as_of - window`` and those of them who
        did not buy in ``[as_of - window, as_of)`` (the freshest labels; 0 and 0 when
        the cut-off precedes the data).
    backtest_cutoffs
        Cut-offs whose label windows end by the evaluation cut-off (backtest training).
    shipped_cutoffs
        Cut-offs whose label windows end by ``as_of`` (training of the shipped model).
    warnings
        Findings that allow training but weaken it, in plain words.
    """

    as_of: pd.Timestamp
    window_days: int
    min_history_days: int
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    customers: int
    repeat_customers: int
    newest_window_customers: int
    newest_window_churners: int
    backtest_cutoffs: list[pd.Timestamp]
    shipped_cutoffs: list[pd.Timestamp]
    warnings: list[str] = field(default_factory=list)

    @property
    def eval_cutoff(self) -> pd.Timestamp:
        """``as_of - window``: where the procedure is judged (the newest labelled cut-off)."""
        return self.as_of - pd.Timedelta(days=self.window_days)

    @property
    def mode(self) -> Mode:
        """``backtest`` when an earlier window fits, else ``cross_fitted``."""
        return "backtest" if self.backtest_cutoffs else "cross_fitted"

    @property
    def history_days(self) -> int:
        """Days from the first transaction to ``as_of``."""
        return int((self.as_of - self.first_date.normalize()).days)

    @property
    def longest_window_days(self) -> int:
        """The longest churn window with one labelled cut-off at this ``as_of``."""
        return self.history_days - self.min_history_days

    def to_dict(self) -> dict[str, str | int]:
        """Flat, MLflow-param-ready description."""
        return {
            "history.first_date": str(self.first_date.date()),
            "history.last_date": str(self.last_date.date()),
            "history.days": self.history_days,
            "history.customers": self.customers,
            "history.repeat_customers": self.repeat_customers,
            "history.newest_window_customers": self.newest_window_customers,
            "history.newest_window_churners": self.newest_window_churners,
            "history.longest_window_days": self.longest_window_days,
            "churn.evaluation_mode": self.mode,
        }


def configured_cutoffs(
    first: pd.Timestamp, end: pd.Timestamp, cfg: TimeConfig
) -> list[pd.Timestamp]:
    """The rolling cut-offs of ``cfg`` between the first order and ``end`` (oldest first)."""
    return rolling_cutoffs(
        first,
        end,
        window_days=cfg.churn_window_days,
        n_cutoffs=cfg.n_cutoffs,
        step_days=cfg.cutoff_step_days,
        min_history_days=cfg.min_history_days,
    )


def check_history(tables: InputTables, as_of: pd.Timestamp | str, cfg: TimeConfig) -> HistoryCheck:
    """Check the history before ``as_of`` against ``cfg``; raise when no model can be trained.

    Raises
    ------
    InsufficientHistoryError
        No purchase before ``as_of``; no cut-off with a fully observed window and
        ``min_history_days`` of history; nobody bought in the last window (every
        freshest label would be "churned"); or no customer bought twice (BG/NBD
        cannot be fitted).
    """
    end = pd.Timestamp(as_of).normalize()
    window, need = cfg.churn_window_days, cfg.min_history_days
    tx = tables.transactions
    before = tx.loc[(tx["order_date"] < end) & (tx["amount"].to_numpy(dtype=float) >= 0)]
    if before.empty:
        raise InsufficientHistoryError(f"no purchase before as_of {end.date()}")
    dates = before["order_date"]
    first, last = dates.min(), dates.max()
    shipped = configured_cutoffs(first, end, cfg)
    newest = churn_labels(before, end - pd.Timedelta(days=window), window)
    check = HistoryCheck(
        as_of=end,
        window_days=window,
        min_history_days=need,
        first_date=first,
        last_date=last,
        customers=int(before["customer_id"].nunique()),
        repeat_customers=int(
            (
                before.assign(day=dates.dt.normalize()).groupby("customer_id")["day"].nunique() > 1
            ).sum()
        ),
        newest_window_customers=len(newest),
        newest_window_churners=int(newest.sum()),
        backtest_cutoffs=configured_cutoffs(first, end - pd.Timedelta(days=window), cfg),
        shipped_cutoffs=shipped,
    )
    if not shipped:
        raise InsufficientHistoryError(_too_short(check))
    if check.repeat_customers == 0:
        raise InsufficientHistoryError(
            f"none of the {check.customers:,} customers bought on two different days before "
            f"{end.date()}: BG/NBD (and the churn inputs built on it) cannot be fitted"
        )
    if check.newest_window_churners == check.newest_window_customers:
        raise InsufficientHistoryError(
            f"none of the {check.newest_window_customers:,} customers of "
            f"{check.eval_cutoff.date()} bought again before as_of {end.date()}: every "
            f"label of the newest {window}-day window is 'churned'. The data end on "
            f"{last.date()}; choose an as_of closer to it"
        )
    _add_warnings(check)
    for message in check.warnings:
        logger.warning(message)
    return check


def _too_short(check: HistoryCheck) -> str:
    """The refusal message: what is needed, what the data hold, what would work."""
    w, h = check.window_days, check.min_history_days
    longest = check.longest_window_days
    fix = (
        f"The longest churn window that works at this as_of is {longest} days"
        if longest > 0
        else f"No churn window works at this as_of (the history is not even {h} days long)"
    )
    earliest = check.first_date.normalize() + pd.Timedelta(days=h + w)
    return (
        f"not enough history for a {w}-day churn window: a training cut-off needs "
        f"{h} days of history before it (time.min_history_days) and its {w}-day label "
        f"window must end by as_of {check.as_of.date()}, i.e. {h + w} days of data before "
        f"as_of. The data run from {check.first_date.date()} to {check.last_date.date()}: "
        f"{check.history_days} days before as_of. {fix} "
        f"(--churn-window-days {max(longest, 1)}), or keep {w} days with an as_of on or "
        f"after {earliest.date()}, or lower time.min_history_days."
    )


def _add_warnings(check: HistoryCheck) -> None:
    w = check.window_days
    if check.mode == "cross_fitted":
        check.warnings.append(
            f"short history: the only labelled {w}-day window(s) end by as_of "
            f"{check.as_of.date()}, none by {check.eval_cutoff.date()}; the evaluation is "
            f"cross-fitted by customer on the window from {check.eval_cutoff.date()} (no "
            f"later window judges the model). {2 * w + check.min_history_days} days of "
            f"history would allow a backtest; there are {check.history_days}."
        )
    if check.repeat_customers < THIN_COUNT:
        check.warnings.append(
            f"only {check.repeat_customers:,} of {check.customers:,} customers bought on "
            "two different days: BG/NBD parameters will be uncertain"
        )
    churners = check.newest_window_churners
    buyers = check.newest_window_customers - churners
    if min(buyers, churners) < THIN_COUNT:
        check.warnings.append(
            f"the newest {w}-day window ({check.eval_cutoff.date()} to {check.as_of.date()}) "
            f"has {buyers:,} customers who bought again and {churners:,} who did not: too "
            "few of one class for a stable model or a precise evaluation"
        )
