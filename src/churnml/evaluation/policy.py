"""Offline policy evaluation on a past randomised campaign: what would the policy have earned?

A past win-back campaign randomised, for each customer, among the actions the
customer could receive (those whose channel they consented to) and a control
share held out. Its *held-out* customers (:func:`churnml.actions.fitting.uplift_holdout`:
never seen by the uplift model) therefore tell, without a new campaign, what any
targeting rule would have caused: described as they were on the send date, each
gets the rule's choice ``pi(x)`` (an action or nothing), and the logged arm ``A``
and outcome ``Y`` (conversion in the response window, or revenue in it) estimate

- **inverse propensity (IPS)**: ``sum_i 1{A_i = pi_i} Y_i / e(pi_i | s_i) -
  1{A_i = control} Y_i / e(control | s_i)`` over customers with ``pi_i`` a contact,
  the incremental conversions (revenue) the rule would have produced on them;
- **doubly robust (DR)**: ``sum_i mu(pi_i, s_i) - mu(control, s_i) +`` the same
  propensity-weighted residuals ``Y_i - mu(., s_i)``: unbiased whether or not the
  outcome model ``mu`` is right (the propensities are known by design), and less
  noisy than IPS only as far as ``mu`` explains the outcome. With the per-stratum
  means used here it is sometimes wider: report both.

Confidence intervals are normal-approximation ones from the per-customer terms
(independent customers). Propensities are estimated from the log itself: within
each *stratum* of customers with the same consent pattern (the set of channels
they could be contacted on, which fixed the actions the campaign could draw) the
share of each arm, control included. ``mu`` is the mean outcome per arm within the
stratum, fitted on the uplift model's *training* customers (so neither the
propensities nor ``mu`` reuse an outcome they are applied to).

The policy is compared with three rules at the same number of contacts, each
using the policy's action choice (the customer's best eligible action): "contact
everyone" with an eligible action, "top churn risk" and "random".

References
----------
Dudík, Langford & Li (2011), "Doubly robust policy evaluation and learning", ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from churnml.actions.catalogue import CONTROL, NO_ACTION, ActionCatalogue, load_catalogue
from churnml.actions.fitting import inputs_at, observed_campaigns, uplift_holdout
from churnml.actions.options import ContactOptions
from churnml.actions.policy import POLICY_INPUT_COLUMNS, NextBestActionPolicy
from churnml.actions.uplift import UpliftModel, training_order, uplift_table
from churnml.config import Config
from churnml.data.contract import CONSENT_COLUMNS, InputTables
from churnml.segments import ValueTiers, assign_segments

if TYPE_CHECKING:
    from churnml.scoring.bundle import ModelBundle

#: Rules of :func:`evaluate_rules`, in report order.
RULES: tuple[str, ...] = ("policy", "contact_everyone", "top_churn_risk", "random")
#: Columns of :func:`evaluate_rules`.
OPE_COLUMNS: tuple[str, ...] = (
    "rule",
    "outcome",
    "estimator",
    "contacts",
    "estimate",
    "low",
    "high",
)


def policy_scores(inputs: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The policy's ``scores`` from ``model_inputs`` alone (no churn classifier).

    The churn probability is BG/NBD's ``p_no_purchase`` over the churn window and
    value tiers are learned on these customers' CLV: what an evaluation on past or
    simulated campaigns can rebuild for any date without training a churn model.
    """
    scores = pd.DataFrame(
        {
            "customer_id": inputs.index.astype(str).to_numpy(),
            "churn_probability": inputs["p_no_purchase"].to_numpy(),
            **{c: inputs[c].to_numpy() for c in POLICY_INPUT_COLUMNS if c in inputs.columns},
        }
    )
    scores["value_tier"] = ValueTiers.from_config(config.segments).fit_transform(scores["clv"])
    scores["segment"] = assign_segments(scores, config.segments).to_numpy()
    return scores


def rule_choices(
    options: ContactOptions,
    chosen: np.ndarray,
    churn_probability: np.ndarray,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Each rule's action per customer (``NO_ACTION`` for none), at the policy's number of contacts.

    ``chosen`` is the policy's decision per customer; the other rules contact
    customers with an eligible action, each with that customer's best eligible
    action by expected value: everyone, the highest churn probabilities, a random
    draw (``seed``).
    """
    eligible = options.eligible
    candidates = eligible.any(axis=1)
    best = np.asarray(options.actions, dtype=object)[
        np.argmax(np.where(eligible, options.value, -np.inf), axis=1)
    ]
    k = int((chosen != NO_ACTION).sum())
    none = np.full(len(chosen), NO_ACTION, dtype=object)

    def pick(rows: np.ndarray) -> np.ndarray:
        out = none.copy()
        out[rows] = best[rows]
        return out

    risk = np.where(candidates, churn_probability, -np.inf)
    pool = np.flatnonzero(candidates)
    rng = np.random.default_rng(seed)
    return {
        "policy": np.asarray(chosen, dtype=object),
        "contact_everyone": pick(pool),
        "top_churn_risk": pick(np.argsort(-risk, kind="stable")[:k]),
        "random": pick(rng.choice(pool, size=min(k, pool.size), replace=False)),
    }


@dataclass(frozen=True)
class LoggedCampaign:
    """Held-out rows of a randomised campaign: arm, outcomes, stratum; and ``mu`` fitted elsewhere."""

    arm: np.ndarray  # action id, or CONTROL for held-out rows
    outcomes: dict[str, np.ndarray]  # "conversions" and, when logged, "revenue"
    stratum: np.ndarray  # consent pattern per row
    mu: dict[str, pd.DataFrame]  # outcome -> (stratum x arm) mean outcome of the training rows

    @classmethod
    def from_rows(
        cls, held: pd.DataFrame, train: pd.DataFrame, customers: pd.DataFrame | None
    ) -> LoggedCampaign:
        """Build from validated campaign rows (held-out and training) and the customers table."""

        def parts(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
            arm = np.where(
                rows["treated"].astype(bool), rows["action"].astype(str), CONTROL
            ).astype(object)
            outcomes = {"conversions": rows["converted"].astype(bool).to_numpy(dtype=float)}
            if "revenue" in rows.columns:
                outcomes["revenue"] = pd.to_numeric(rows["revenue"]).fillna(0.0).to_numpy(float)
            return arm, consent_strata(rows["customer_id"], customers), outcomes

        arm, stratum, outcomes = parts(held)
        t_arm, t_stratum, t_outcomes = parts(train)
        mu = {
            name: pd.DataFrame({"s": t_stratum, "a": t_arm, "y": y})
            .groupby(["s", "a"])["y"]
            .mean()
            .unstack()
            for name, y in t_outcomes.items()
        }
        return cls(arm=arm, outcomes=outcomes, stratum=stratum, mu=mu)

    def propensities(self) -> pd.DataFrame:
        """Share of each arm within each stratum of the held-out log (stratum x arm)."""
        counts = pd.crosstab(self.stratum, self.arm)
        return counts.div(counts.sum(axis=1), axis=0)


def consent_strata(customer_ids: pd.Series, customers: pd.DataFrame | None) -> np.ndarray:
    """Consent pattern of each customer, e.g. ``"email+sms"`` (``"unknown"`` without a table)."""
    ids = customer_ids.astype(str).to_numpy()
    if customers is None:
        return np.full(len(ids), "unknown", dtype=object)
    table = customers.assign(customer_id=customers["customer_id"].astype(str)).set_index(
        "customer_id"
    )
    flags = [c for c in CONSENT_COLUMNS if c in table.columns]
    known = table.reindex(ids)
    pattern = np.full(len(ids), "", dtype=object)
    for c in flags:
        on = known[c].fillna(False).astype(bool).to_numpy()
        pattern = np.where(on, pattern + "+" + c.removeprefix("consent_"), pattern)
    return np.asarray([p.lstrip("+") or "none" for p in pattern.tolist()], dtype=object)


def estimate(
    log: LoggedCampaign, choice: np.ndarray, outcome: str, confidence: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """IPS and DR estimates ``(estimate, low, high)`` of a rule's total incremental outcome."""
    y = log.outcomes[outcome]
    prop = log.propensities()
    mu = log.mu[outcome]
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    contact = np.asarray(choice != NO_ACTION)
    target = np.where(contact, choice, CONTROL).astype(object)

    def lookup(table: pd.DataFrame, arms: np.ndarray, fill: float) -> np.ndarray:
        full = table.reindex(
            index=pd.unique(log.stratum), columns=pd.unique(np.append(arms, CONTROL))
        )
        rows = full.index.get_indexer(log.stratum)
        cols = full.columns.get_indexer(arms)
        return np.nan_to_num(full.to_numpy(dtype=float)[rows, cols], nan=fill)

    e_target = lookup(prop, target, 0.0)
    e_control = lookup(prop, np.full(len(y), CONTROL, dtype=object), 0.0)
    hit = (log.arm == target) & contact & (e_target > 0)
    ctl = (log.arm == CONTROL) & contact & (e_control > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_t = np.where(hit, 1.0 / e_target, 0.0)
        w_c = np.where(ctl, 1.0 / e_control, 0.0)
    ips = w_t * y - w_c * y
    m_t = lookup(mu, target, float(np.nanmean(y)) if len(y) else 0.0)
    m_c = lookup(
        mu, np.full(len(y), CONTROL, dtype=object), float(np.nanmean(y)) if len(y) else 0.0
    )
    dr = np.where(contact, m_t - m_c, 0.0) + w_t * (y - m_t) - w_c * (y - m_c)

    def total(terms: np.ndarray) -> tuple[float, float, float]:
        n = terms.size
        if n < 2:
            return math.nan, math.nan, math.nan
        est = float(terms.sum())
        se = math.sqrt(n) * float(terms.std(ddof=1))
        return est, est - z * se, est + z * se

    return {"ips": total(ips), "dr": total(dr)}


def evaluate_rules(
    log: LoggedCampaign, choices: dict[str, np.ndarray], confidence: float = 0.95
) -> pd.DataFrame:
    """IPS and DR estimates with intervals for every rule and outcome (``OPE_COLUMNS``)."""
    rows = []
    for rule, choice in choices.items():
        for outcome in log.outcomes:
            for name, (est, lo, hi) in estimate(log, choice, outcome, confidence).items():
                rows.append(
                    {
                        "rule": rule,
                        "outcome": outcome,
                        "estimator": name,
                        "contacts": int((choice != NO_ACTION).sum()),
                        "estimate": est,
                        "low": lo,
                        "high": hi,
                    }
                )
    return pd.DataFrame(rows, columns=list(OPE_COLUMNS))


def campaign_policy(
    catalogue: ActionCatalogue,
    config: Config,
    model: UpliftModel,
    n_contacts: int | None,
    revenue_model: UpliftModel | None = None,
) -> NextBestActionPolicy:
    """The trained policy without a control group (every chosen contact counts), at most ``n_contacts``."""
    cfg = config.policy.model_copy(update={"control_share": 0.0, "max_contacts": n_contacts})
    return NextBestActionPolicy.for_model(catalogue, cfg, model, config.ltv.margin, revenue_model)


@dataclass(frozen=True)
class OfflineEvaluation:
    """:func:`evaluate_policy_offline` output: the estimates and what they were computed on."""

    report: pd.DataFrame  # OPE_COLUMNS
    held: pd.DataFrame  # the held-out campaign rows, in the order of ``choices``
    choices: dict[str, np.ndarray]  # rule -> action per held-out row


def evaluate_policy_offline(
    tables: InputTables,
    config: Config,
    as_of: pd.Timestamp,
    model: UpliftModel,
    n_contacts: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    revenue_model: UpliftModel | None = None,
) -> OfflineEvaluation:
    """Estimate what the policy, and the three baseline rules, would have caused in past campaigns.

    Parameters
    ----------
    tables
        Validated tables with a campaigns table whose response windows ended before ``as_of``.
    config
        The training configuration (catalogue, policy settings, LTV, seed).
    model
        The uplift model trained by :func:`churnml.actions.fitting.fit_uplift` on the
        *other* campaign customers (the split is recomputed here from the same hash).
    revenue_model
        Its incremental-revenue model, when the run learned one (same split).
    n_contacts
        Campaign size per send date (``None``: every contact of positive value).
    """
    observed = training_order(observed_campaigns(tables, as_of))
    is_held = uplift_holdout(observed["customer_id"], config)
    held = observed.loc[is_held].reset_index(drop=True)
    train = observed.loc[~is_held].reset_index(drop=True)
    catalogue = load_catalogue(config.policy.actions_path)
    policy = campaign_policy(catalogue, config, model, n_contacts, revenue_model)
    choices = {rule: np.full(len(held), NO_ACTION, dtype=object) for rule in RULES}
    days = pd.to_datetime(held["sent_date"]).dt.normalize()
    for day in days.unique():
        rows = np.flatnonzero((days == day).to_numpy())
        inputs = inputs_at(tables, config, pd.Timestamp(day))
        ids = held["customer_id"].astype(str).to_numpy()[rows]
        inputs.index = inputs.index.astype(str)
        known = np.isin(ids, inputs.index)
        inputs = inputs.loc[ids[known]]
        scores = policy_scores(inputs, config)
        uplift = uplift_table(model, revenue_model, inputs).reset_index(drop=True)
        decided = policy.decide(scores, uplift, tables.campaigns, pd.Timestamp(day))
        options = policy.options(scores, uplift, tables.campaigns, pd.Timestamp(day))
        day_choices = rule_choices(
            options,
            decided["next_best_action"].to_numpy(),
            scores["churn_probability"].to_numpy(dtype=float),
            seed,
        )
        for rule, chosen in day_choices.items():
            choices[rule][rows[known]] = chosen
    log = LoggedCampaign.from_rows(held, train, tables.customers)
    return OfflineEvaluation(evaluate_rules(log, choices, confidence), held, choices)


def write_campaign_views(
    bundle: ModelBundle, tables: InputTables, config: Config, as_of: pd.Timestamp, folder: Path
) -> dict[str, float]:
    """The audience curve at ``as_of`` and, with past campaigns, the offline evaluation.

    Writes ``audience_curve.png`` and ``audience_curve.csv`` (twenty campaign sizes)
    and ``policy_evaluation.csv`` to ``folder``; returns the headline figures as
    metrics for the training run (``audience_*``, ``ope_<rule>_<outcome>_<estimator>``
    with ``_low``/``_high``).
    """
    from churnml.actions.audience import audience_curve, audience_table, plot_audience_curve
    from churnml.scoring.scorer import Scorer

    folder.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {}
    options, control = Scorer(bundle).contact_options(tables, as_of)
    curve = audience_curve(options, control, config.ltv.margin)
    audience_table(curve).to_csv(folder / "audience_curve.csv", index=False)
    if not curve.empty:
        plot_audience_curve(curve, folder / "audience_curve.png")
        last = curve.iloc[-1]
        metrics["audience_positive_contacts"] = float(last["contacts"])
        metrics["audience_expected_conversions"] = float(last["expected_incremental_conversions"])
        metrics["audience_expected_value"] = float(last["expected_incremental_value"])
    if bundle.uplift.source_ == "learned" and len(observed_campaigns(tables, as_of)):
        report = evaluate_policy_offline(
            tables, config, as_of, bundle.uplift, revenue_model=bundle.revenue_uplift
        ).report
        report.to_csv(folder / "policy_evaluation.csv", index=False)
        for r in report.itertuples():
            key = f"ope_{r.rule}_{r.outcome}_{r.estimator}"
            metrics.update({key: r.estimate, f"{key}_low": r.low, f"{key}_high": r.high})
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
