"""The uplift models of a training run, fitted from the campaign history.

Shared by the training pipeline, the offline policy evaluation
(:mod:`churnml.evaluation.policy`), the policy study and ``churnml
evaluate-policy``: one definition of which campaign rows are observed, which
customers are held out for the trust check, and what the model is shown (the
scorer's own model inputs as of each send date).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from churnml.actions.catalogue import load_catalogue
from churnml.actions.control import assign_control
from churnml.actions.trust import check_uplift
from churnml.actions.uplift import UpliftModel, training_order, uplift_training_set
from churnml.config import Config
from churnml.data.contract import InputTables
from churnml.features import rfm_summary
from churnml.models.inputs import model_inputs
from churnml.models.ltv import LTVModel

#: Days after a send in which a purchase counts as the campaign's response.
RESPONSE_WINDOW_DAYS = 30


def observed_campaigns(tables: InputTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Campaign rows whose response window ended by ``as_of`` (empty without campaigns)."""
    camp = tables.campaigns
    if camp is None:
        return pd.DataFrame(columns=["customer_id", "sent_date", "action", "treated", "converted"])
    return camp.loc[camp["sent_date"] + pd.Timedelta(days=RESPONSE_WINDOW_DAYS) <= as_of]


@dataclass(frozen=True)
class UpliftFit:
    """The uplift models of a training run and what the run logs about them.

    ``conversion`` is always there (learned, or priors); ``revenue`` only where the
    campaigns record what customers spent in the response window and an effect on
    it could be fitted: the policy then values a contact by its measured
    incremental revenue (:mod:`churnml.actions.policy`).
    """

    conversion: UpliftModel
    revenue: UpliftModel | None
    info: dict[str, Any]


def fit_uplift(tables: InputTables, config: Config, as_of: pd.Timestamp) -> UpliftFit:
    """Learn uplift from campaign history whose responses are observed; else use priors.

    Both outcomes are learned from the same rows and judged on the same held-out
    customers (:func:`uplift_holdout`, :func:`~churnml.actions.trust.check_uplift`).
    """
    catalogue = load_catalogue(config.policy.actions_path)
    observed = observed_campaigns(tables, as_of)
    info: dict[str, Any] = {"uplift.source": "prior", "uplift.outcome": "none"}
    if not (len(observed) and observed["treated"].any() and (~observed["treated"]).any()):
        return UpliftFit(UpliftModel.prior(catalogue.prior_uplifts()), None, info)
    X, action, y = uplift_training_set(observed, lambda day: inputs_at(tables, config, day))
    ordered = training_order(observed)
    held = uplift_holdout(ordered["customer_id"], config)
    try:
        model, verdicts = _fit_checked(
            X, action, y.to_numpy(dtype=float), held, config, "conversion"
        )
    except ValueError as err:
        info["uplift.fallback_reason"] = str(err)
        return UpliftFit(UpliftModel.prior(catalogue.prior_uplifts()), None, info)
    info = {
        "uplift.source": "learned",
        "uplift.outcome": "converted",
        "uplift.rows": int((~held).sum()),
        "uplift.holdout_rows": int(held.sum()),
        "uplift.actions": ",".join(model.actions_),
        **_verdict_info(verdicts, "uplift"),
    }
    revenue = None
    spent = ordered["revenue"].to_numpy(dtype=float) if "revenue" in ordered else np.zeros(0)
    if config.policy.revenue_uplift and (spent > 0).any():
        try:
            revenue, rev_verdicts = _fit_checked(X, action, spent, held, config, "revenue")
            info["uplift.outcome"] = "converted+revenue"
            info.update(_verdict_info(rev_verdicts, "uplift_revenue"))
        except ValueError as err:
            info["uplift_revenue.fallback_reason"] = str(err)
    return UpliftFit(model, revenue, info)


def _fit_checked(
    X: pd.DataFrame,
    action: pd.Series,
    y: np.ndarray,
    held: np.ndarray,
    config: Config,
    outcome: Literal["conversion", "revenue"],
) -> tuple[UpliftModel, pd.DataFrame]:
    """An uplift model fitted on the rows not ``held`` and judged on the held ones."""
    model = UpliftModel(learner=UPLIFT_LEARNER, outcome=outcome, random_state=config.seed)
    model.fit(X[~held], action[~held], y[~held])
    return model, check_uplift(model, X[held], action[held], y[held])


def _verdict_info(verdicts: pd.DataFrame, prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}.{r.action}.{col}": getattr(r, col)
        for r in verdicts.itertuples()
        for col in ("verdict", "effect", "uplift_at_k_low")
    }


#: The X-learner: its second stage regresses the effect itself, which on simulated
#: win-back campaigns (effects only among customers who have gone) ranks customers
#: by their true effect clearly better than the T-learner's difference of two models.
UPLIFT_LEARNER: Literal["t", "x"] = "x"


def inputs_at(tables: InputTables, config: Config, day: pd.Timestamp) -> pd.DataFrame:
    """What the scorer would have known on ``day``: features and an LTV model fitted before it.

    The uplift model learns from the same columns it is later given at scoring time
    (``model_inputs``), BG/NBD's P(alive) and P(no purchase) included: whether a
    customer has gone is what a win-back effect depends on most.
    """
    ltv = LTVModel.from_config(config.ltv).fit(
        rfm_summary(tables.transactions, day, config.ltv.time_unit)
    )
    return model_inputs(tables, day, ltv, config.time.horizon_days, config.time.churn_window_days)


#: Share of campaign customers held out from uplift training: the trust check
#: (:mod:`churnml.actions.trust`) and the offline policy evaluation use them.
UPLIFT_HOLDOUT_SHARE = 0.3


def uplift_holdout(customer_ids: pd.Series, config: Config) -> np.ndarray:
    """Whether each campaign row's customer is held out of uplift training.

    By a hash of the customer id (independent of the campaign's own control hash),
    so all rows of one customer fall on the same side.
    """
    salt = f"{config.policy.campaign_salt}:uplift-holdout"
    return assign_control(customer_ids.astype(str).to_numpy(), salt, UPLIFT_HOLDOUT_SHARE)
