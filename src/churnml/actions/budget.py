"""A campaign budget over all customers: which of the planned contacts are funded.

The policy plans one contact per customer from that customer's own data, so
customers can be planned anywhere: in buckets of a batch run, in Spark groups,
in an HTTP call. A budget (money for contacts and offers, or a number of
contacts: ``churnml score --contacts N``) couples them - the N best contacts are a
ranking over everyone - so it is applied after planning, in two steps that every
engine runs the same way:

1. :func:`funded_customers` ranks the planned contacts of *all* customers (the
   :data:`CANDIDATE_COLUMNS` of the rows with an intended action: four values per
   customer, gathered from every bucket) and returns the ids it funds;
2. :func:`apply_budget` rewrites the decisions of one bucket (or of all rows at
   once): a planned contact that was not funded becomes ``no_action`` with the
   reason ``budget exhausted: ...``.

Ranking. With a money budget, contacts are taken by value per unit of cost
(unit plus expected offer cost), most efficient first, skipping any that no
longer fit; with only a number of contacts, by value (costs are already counted
in the value, so ranking by value per cost would give up value to save them).
Ties go to the larger value, then to the smaller ``customer_id``, so that every
engine and every bucketing funds the same customers.

Control-group customers are ranked with everyone else but spend nothing: a
control customer keeps their ``intended_action`` when their contact would still
have fitted at their place in the ranking, so that a later lift analysis
compares the treated and the held-out customers of the same cut-off.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnml.actions.catalogue import NO_ACTION

if TYPE_CHECKING:
    from churnml.config import PolicyConfig

#: What :func:`funded_customers` needs of each planned contact.
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "intended_value",
    "intended_cost",
    "control_group",
)

Decisions = MutableMapping[str, Any]  # a DataFrame, or the scorer's dict of column arrays


@dataclass(frozen=True)
class Budget:
    """A campaign's limits: money (contact plus offer costs) and a number of contacts."""

    money: float | None = None
    contacts: int | None = None

    @classmethod
    def of(cls, config: PolicyConfig) -> Budget:
        """The budget of a policy configuration (``budget``, ``max_contacts``)."""
        return cls(config.budget, config.max_contacts)

    def __bool__(self) -> bool:
        return self.money is not None or self.contacts is not None


def candidates(decisions: Decisions) -> pd.DataFrame:
    """The planned contacts of ``decisions``: :data:`CANDIDATE_COLUMNS` of rows with an
    intended action (control customers included)."""
    planned = np.asarray(decisions["intended_action"], dtype=object) != NO_ACTION
    return pd.DataFrame(
        {c: np.asarray(decisions[c])[planned] for c in CANDIDATE_COLUMNS}, copy=False
    )


def funded_customers(planned: pd.DataFrame, budget: Budget) -> np.ndarray:
    """Ids of the planned contacts that ``budget`` funds (see the module docstring).

    ``planned`` holds :data:`CANDIDATE_COLUMNS` of every customer of the campaign;
    all of them are funded when the budget is unlimited.
    """
    ids = planned["customer_id"].to_numpy(dtype=object)
    if not budget or not len(planned):
        return ids
    value = planned["intended_value"].to_numpy(dtype=float)
    cost = planned["intended_cost"].to_numpy(dtype=float)
    if budget.money is None:
        ratio = np.zeros(len(planned))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cost > 0, value / cost, np.inf)
    order = (
        pd.DataFrame({"ratio": -ratio, "value": -value, "id": ids}, copy=False)
        .sort_values(["ratio", "value", "id"], kind="mergesort")
        .index.to_numpy()
    )
    limit = np.inf if budget.money is None else float(budget.money)
    max_n = np.iinfo(np.int64).max if budget.contacts is None else int(budget.contacts)
    is_control = planned["control_group"].to_numpy(dtype=bool)[order].tolist()
    spent, count = 0.0, 0
    keep = np.zeros(len(order), dtype=bool)
    for k, (c, ctl) in enumerate(zip(cost[order].tolist(), is_control, strict=True)):
        if count < max_n and spent + c <= limit:
            keep[k] = True
            if not ctl:
                spent += c
                count += 1
        elif count >= max_n and not ctl:
            break  # the contact cap is reached: nothing after fits either
    return ids[order[keep]]


def apply_budget(decisions: Decisions, funded: np.ndarray | pd.Index) -> Decisions:
    """Turn the planned contacts of ``decisions`` that are not in ``funded`` into ``no_action``.

    Works in place on a DataFrame or a dict of column arrays and returns it. A
    treated customer loses the contact (action, channel, value and cost) and gets
    the reason ``budget exhausted: <action> worth <value> not funded``; a control
    customer loses the intended action. Applying it twice changes nothing more.
    """
    ids = np.asarray(decisions["customer_id"], dtype=object)
    intended = np.asarray(decisions["intended_action"], dtype=object)
    cut = (intended != NO_ACTION) & ~pd.Index(ids).isin(funded)
    if not cut.any():
        return decisions
    control = np.asarray(decisions["control_group"], dtype=bool)
    value = np.asarray(decisions["intended_value"], dtype=float)
    reason = np.asarray(decisions["action_reason"], dtype=object).copy()
    treated_cut = cut & ~control
    reason[treated_cut] = [
        f"budget exhausted: {a} worth {x:+.2f} not funded"
        for a, x in zip(intended[treated_cut].tolist(), value[treated_cut].tolist(), strict=True)
    ]
    reason[cut & control] = "control group: held out to measure lift (no action planned)"
    decisions["action_reason"] = reason
    decisions["intended_action"] = np.where(cut, NO_ACTION, intended).astype(object)
    for column, empty in (
        ("next_best_action", NO_ACTION),
        ("action_channel", "none"),
        ("expected_incremental_value", 0.0),
        ("expected_cost", 0.0),
        ("intended_value", 0.0),
        ("intended_cost", 0.0),
    ):
        if column in decisions:
            current = np.asarray(decisions[column])
            decisions[column] = np.where(cut, empty, current).astype(current.dtype)
    return decisions
