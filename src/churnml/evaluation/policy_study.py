"""Judge the win-back policy by the simulator's truth, against the targeting rules it replaces.

On a simulated shop (:mod:`churnml.datasets.simulator`) the true incremental value
of every action for every customer is known (``truth.value_<action>``: the change
in gross revenue over the horizon if contacted at ``as_of``, the revived future of
a won-back customer included). A study trains what ``churnml train`` trains for
the policy - the LTV model on the history before ``as_of`` and the uplift model,
with its hold-out trust check, on the past randomised campaign - and compares, at
the same number of contacts ``N``:

- ``policy``: the N contacts of highest expected incremental value
  (``PolicyConfig.max_contacts = N``);
- ``top_churn_risk``: the N customers of highest churn probability;
- ``random``: N customers drawn at random (its *expected* value: N times the mean
  over the candidates, so the figure carries no draw noise);
- ``oracle``: the simulator's best possible choice of N contacts.

The baselines use the policy's own action choice and guardrails (each customer's
best *eligible* action by expected value) and differ only in whom they contact;
the oracle picks the truly best eligible action. Customers with no eligible action
are nobody's candidates. True value = margin x true incremental revenue - the
action's unit cost (an offer's give-away is already in the revenue: the simulated
response order is the discounted one).

The churn probability here is BG/NBD's ``p_no_purchase`` over the churn window
(:func:`~churnml.evaluation.policy.policy_scores`): the study is about whom to
contact, and it keeps the churn classifier (trained separately) out of the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.actions.catalogue import NO_ACTION, ActionCatalogue, load_catalogue
from churnml.actions.fitting import fit_uplift  # the training step itself, not a copy of it
from churnml.actions.history import contact_summary
from churnml.actions.options import ContactOptions
from churnml.actions.policy import NextBestActionPolicy
from churnml.actions.uplift import UpliftModel, uplift_table
from churnml.config import Config
from churnml.data.contract import validate_tables
from churnml.datasets.simulator import SimulatedData
from churnml.evaluation.policy import campaign_policy, policy_scores
from churnml.features import rfm_summary
from churnml.models.inputs import model_inputs
from churnml.models.ltv import LTVModel

#: Strategies compared by :meth:`PolicyStudy.compare`, in report order.
STRATEGIES: tuple[str, ...] = ("policy", "top_churn_risk", "random", "oracle")


@dataclass(frozen=True, eq=False)
class PolicyStudy:
    """Everything a comparison needs: scores, learned uplift, options and the truth.

    Build it with :func:`prepare_study`; :meth:`compare` then runs in milliseconds
    for any number of contacts.
    """

    scores: pd.DataFrame
    uplift: pd.DataFrame
    uplift_model: UpliftModel
    revenue_model: UpliftModel | None
    catalogue: ActionCatalogue
    config: Config
    campaigns: pd.DataFrame | None
    as_of: pd.Timestamp
    options: ContactOptions
    #: ``(customers, actions)`` true value of each contact action (margin x revenue - cost).
    true_value: np.ndarray

    def policy(self, n_contacts: int | None) -> NextBestActionPolicy:
        """The policy under test, without a control group, limited to ``n_contacts``."""
        return campaign_policy(
            self.catalogue, self.config, self.uplift_model, n_contacts, self.revenue_model
        )

    def compare(self, n_contacts: int, seed: int = 0) -> pd.DataFrame:
        """True value of each strategy at the number of contacts the policy makes (<= N).

        Returns
        -------
        pandas.DataFrame
            One row per strategy (``STRATEGIES``): ``contacts``, ``true_value``,
            ``value_per_contact``, ``share_of_oracle``, ``negative_contacts``
            (contacts whose true value is below zero) and, for the policy only,
            ``violations`` (consent, cool-down and cap breaches, which must be 0)
            and ``negative_learned`` (contacts whose true value is negative although
            the learned effect already said so, which must be 0 too).
        """
        decisions = self.policy(n_contacts).decide(
            self.scores, self.uplift, self.campaigns, self.as_of
        )
        chosen = decisions["next_best_action"].to_numpy()
        n = int((chosen != NO_ACTION).sum())
        rows = np.arange(len(chosen))
        column = {a: j for j, a in enumerate(self.options.actions)}
        policy_j = np.array([column.get(a, -1) for a in chosen.tolist()])
        contacted = policy_j >= 0

        eligible = self.options.eligible
        candidates = eligible.any(axis=1)
        best_j = np.argmax(np.where(eligible, self.options.value, -np.inf), axis=1)
        own_value = self.true_value[rows, best_j]
        risk = np.where(candidates, self.scores["churn_probability"].to_numpy(float), -np.inf)
        by_risk = np.argsort(-risk, kind="stable")[:n]
        oracle_best = np.where(eligible, self.true_value, -np.inf).max(axis=1)
        oracle = np.sort(oracle_best[candidates])[::-1][:n]
        oracle = oracle[oracle > 0]

        policy_true = self.true_value[rows[contacted], policy_j[contacted]]
        learned = self.options.uplift[rows[contacted], policy_j[contacted]]
        values = {
            "policy": policy_true,
            "top_churn_risk": own_value[by_risk],
            "random": np.full(n, own_value[candidates].mean() if candidates.any() else 0.0),
            "oracle": oracle,
        }
        oracle_total = float(oracle.sum())
        out = []
        for name in STRATEGIES:
            v = values[name]
            total = float(v.sum())
            out.append(
                {
                    "strategy": name,
                    "contacts": n if name != "oracle" else int(v.size),
                    "true_value": total,
                    "value_per_contact": total / n if n else 0.0,
                    "share_of_oracle": total / oracle_total if oracle_total > 0 else np.nan,
                    "negative_contacts": int((v < 0).sum()) if name != "random" else np.nan,
                }
            )
        report = pd.DataFrame(out).set_index("strategy")
        report.loc["policy", "violations"] = guardrail_violations(
            chosen, self.scores, self.campaigns, self.as_of, self.catalogue
        )
        report.loc["policy", "negative_learned"] = int(((policy_true < 0) & (learned < 0)).sum())
        return report


def prepare_study(sim: SimulatedData, config: Config | None = None) -> PolicyStudy:
    """Train the LTV and uplift models on what the shop knew at ``sim.as_of``; align the truth."""

    cfg = config if config is not None else Config()
    known = sim.history()
    tables = validate_tables(known.transactions, known.customers, known.events, known.campaigns)
    as_of = sim.as_of
    ltv = LTVModel.from_config(cfg.ltv).fit(
        rfm_summary(tables.transactions, as_of, cfg.ltv.time_unit)
    )
    inputs = model_inputs(tables, as_of, ltv, cfg.time.horizon_days, cfg.time.churn_window_days)
    scores = policy_scores(inputs, cfg)
    fit = fit_uplift(tables, cfg, as_of)
    model = fit.conversion
    uplift = uplift_table(model, fit.revenue, inputs).reset_index(drop=True)
    catalogue = load_catalogue(cfg.policy.actions_path)
    policy = campaign_policy(catalogue, cfg, model, None, fit.revenue)
    options = policy.options(scores, uplift, tables.campaigns, as_of)
    truth = sim.truth.set_index("customer_id").loc[scores["customer_id"]]
    margin = float(cfg.ltv.margin)
    true_value = np.column_stack(
        [
            margin * truth[f"value_{a}"].to_numpy(dtype=float) - catalogue.get(a).unit_cost
            for a in options.actions
        ]
    )
    return PolicyStudy(
        scores=scores,
        uplift=uplift,
        uplift_model=model,
        revenue_model=fit.revenue,
        catalogue=catalogue,
        config=cfg,
        campaigns=tables.campaigns,
        as_of=as_of,
        options=options,
        true_value=true_value,
    )


def guardrail_violations(
    chosen: np.ndarray,
    scores: pd.DataFrame,
    campaigns: pd.DataFrame | None,
    as_of: pd.Timestamp,
    catalogue: ActionCatalogue,
) -> int:
    """Contacts that break consent, a cool-down or a contact cap, counted independently.

    Recomputed from the campaigns table with
    :func:`~churnml.actions.history.contact_summary`, not read from the policy,
    so a guardrail the policy forgot would show up here.
    """
    summary = (
        contact_summary(campaigns, as_of, catalogue).set_index(["customer_id", "action"])
        if campaigns is not None and len(campaigns)
        else None
    )
    ids = scores["customer_id"].astype(str).to_numpy()
    bad = 0
    for i in np.flatnonzero(chosen != NO_ACTION).tolist():
        a = catalogue.get(str(chosen[i]))
        col = a.consent_column
        if col is None or col not in scores.columns or not bool(scores[col].iloc[i]):
            bad += 1
            continue
        if summary is not None and (ids[i], a.id) in summary.index:
            row = summary.loc[(ids[i], a.id)]
            too_soon = row["days_since_last_contact"] < a.cooldown_days
            capped = a.max_contacts is not None and row["contacts_in_window"] >= a.max_contacts
            bad += int(too_soon or capped)
    return bad
