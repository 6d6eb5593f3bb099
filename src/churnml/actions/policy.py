"""Next-best-action policy: one decision per customer, with guardrails, budget and control group.

For each customer and each eligible contact action ``a`` the policy computes

    expected incremental value = uplift_a x value of a return - unit_cost_a - offer_cost_a,
    value of a return = margin x expected order value + (1 - P(alive)) x value_if_retained,
    offer_cost_a = offer share x expected order value x P(purchase | contacted),

or, where the uplift table has a trusted incremental revenue for the action
(``revenue:<action>`` columns, :func:`~churnml.actions.uplift.uplift_table`; learned
where campaigns record revenue),

    expected incremental value = margin x incremental revenue_a
                                 + uplift_a x (1 - P(alive)) x value_if_retained - costs:

the measured revenue of the response window replaces ``uplift x order value``.

``uplift_a`` is the increase in the probability that the customer buys within
the response window. What that purchase is worth depends on whether the
customer had gone: a customer who is still alive gives one more order; one who
had dropped out (probability ``1 - P(alive)``) comes back, and is then worth
``value_if_retained`` - the discounted margin of a customer *known to be alive*
over the horizon (``LTVModel`` output, Fader, Hardie & Lee 2005: CLV without the
P(alive) factor). Multiplying the uplift by CLV instead would count survival
twice - CLV already carries P(alive) - and send win-back money to the customers
least likely to have gone; by ``value_if_retained`` alone it would credit an
active customer's extra order with a whole revived future.

where ``P(purchase | contacted)`` is approximated by ``1 - churn_probability``
plus the uplift (capped at 1). The churn window is usually longer than a
campaign's response window, so this overstates how often an offer is redeemed:
a deliberately conservative cost. It then picks the action with the highest
value, or ``no_action`` when none is positive.

Guardrails are hard constraints applied *before* any value is compared, never
penalties that a large uplift could outweigh. An action is ineligible when

- the customer's segment or value tier is not in its eligibility lists;
- the customer has not consented to its channel (``consent_<channel>``; a
  missing column means no consent, as in the data contract);
- it carries an offer and the customer bought within the last
  ``recent_purchase_days`` days (``recency_days <= recent_purchase_days``);
- the last contact on its channel was fewer than ``cooldown_days`` days ago;
- the customer already had ``max_contacts`` contacts on its channel within the
  last ``cap_window_days`` days;
- the customer is on the suppression list (:mod:`churnml.privacy.suppression`):
  every action, and no place in the control group either.

Only measured effects are trusted. An action whose learned effect did not
pass the uplift model's hold-out check has no learned column; it runs on its
prior, which the caller caps (``priors``, see
:meth:`~churnml.actions.uplift.UpliftModel.policy_priors`), and its decisions say
``"prior"``. An action measured to *hurt* (``harmful``) is never sent, and
neither is any contact whose learned effect for the customer is negative (its
value is below zero).

A global budget in money (``PolicyConfig.budget``, unit plus expected offer
costs) or in contacts (``PolicyConfig.max_contacts``, ``churnml score --contacts
N``) is applied over the customers given, by :mod:`churnml.actions.budget`: the
most efficient contacts first by value per cost for money, by value for a count.
Engines that plan customers in parts (batch buckets, Spark groups) plan them
without the budget and apply it over all parts at the end, with the same
functions; ``intended_value`` and ``intended_cost`` (the planned contact's value
and cost, control customers included) are what that step ranks.

A deterministic share of customers (:mod:`churnml.actions.control`) is held
out: they receive ``no_action`` and are flagged ``control_group``, together with
the action they *would* have received (``intended_action``) under the same
budget cut-off, so that a later lift analysis compares like with like.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnml.actions.budget import Budget, apply_budget, candidates, funded_customers
from churnml.actions.catalogue import NO_ACTION, ActionCatalogue
from churnml.actions.columns import REVENUE_PREFIX
from churnml.actions.control import assign_control
from churnml.actions.history import _strings, guard_arrays, sent_contacts
from churnml.actions.options import (
    BLOCK_CAP,
    BLOCK_CONSENT,
    BLOCK_COOLDOWN,
    BLOCK_HARMFUL,
    BLOCK_OK,
    BLOCK_RECENT,
    BLOCK_SEGMENT,
    BLOCK_SUPPRESSED,
    BLOCK_TEXT,
    BLOCK_UNKNOWN,
    AlignedUplift,
    ContactOptions,
    consent_flags,
    is_member,
)
from churnml.config import LTVConfig, PolicyConfig
from churnml.data.contract import CONSENT_COLUMNS
from churnml.frames import floats
from churnml.segments import require_columns

if TYPE_CHECKING:
    from churnml.actions.uplift import UpliftModel

#: Columns :meth:`NextBestActionPolicy.decide` needs in ``scores``.
SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "churn_probability",
    "p_alive",
    "value_if_retained",
    "expected_order_value",
    "segment",
    "value_tier",
    "recency_days",
)

#: Model-input columns (``churnml.models.inputs.model_inputs``) that the policy and
#: the segments read besides the scores: the scorer and the offline evaluations take
#: exactly these.
POLICY_INPUT_COLUMNS: tuple[str, ...] = (
    "clv",
    "p_alive",
    "value_if_retained",
    "expected_order_value",
    "recency_days",
    "tenure_days",
    "n_orders",
    *CONSENT_COLUMNS,
)

#: Columns of the decision table.
DECISION_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "next_best_action",
    "action_channel",
    "expected_incremental_value",
    "expected_cost",
    "control_group",
    "intended_action",
    "intended_value",
    "intended_cost",
    "action_reason",
    "uplift_source",
)


class NextBestActionPolicy:
    """Choose each customer's next best action under guardrails and a budget.

    Parameters
    ----------
    catalogue
        The actions that may be taken (:func:`churnml.actions.default_catalogue`).
    config
        Control share and salt, budget, contact cap, recent-purchase rule.
    priors
        Prior uplift per action id used instead of the catalogue's
        ``prior_uplift`` (the uplift model's capped priors); others keep theirs.
    harmful
        Action ids measured to reduce purchases: never sent.
    margin
        Profit margin on an order (the LTV model's, ``LTVConfig.margin``).
    """

    def __init__(
        self,
        catalogue: ActionCatalogue,
        config: PolicyConfig | None = None,
        priors: Mapping[str, float] | None = None,
        harmful: Iterable[str] = (),
        margin: float = LTVConfig().margin,
    ):
        self.catalogue = catalogue
        self.margin = float(margin)
        self.config = config if config is not None else PolicyConfig()
        self.priors = {a.id: a.prior_uplift for a in catalogue.contact_actions}
        self.priors.update(priors or {})
        self.harmful = frozenset(harmful)

    @classmethod
    def for_model(
        cls,
        catalogue: ActionCatalogue,
        config: PolicyConfig,
        uplift: UpliftModel,
        margin: float = LTVConfig().margin,
        revenue_uplift: UpliftModel | None = None,
    ) -> NextBestActionPolicy:
        """The policy as trained uplift models allow it: capped priors, no harmful actions
        (measured to lower conversions or revenue)."""
        harmful = set(uplift.harmful_actions())
        if revenue_uplift is not None:
            harmful |= revenue_uplift.harmful_actions()
        return cls(
            catalogue,
            config,
            priors=uplift.policy_priors(catalogue.prior_uplifts()),
            harmful=harmful,
            margin=margin,
        )

    # ----------------------------------------------------------------- inputs
    def _guards(
        self,
        contact_history: pd.DataFrame | None,
        as_of: dt.date | pd.Timestamp | str | None,
        customers: pd.Index,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per action: days since the last contact and contacts in its cap window, per customer."""
        if contact_history is None or contact_history.empty:
            return {}
        if "sent_date" not in contact_history.columns:
            raise ValueError("contact_history must be a campaigns table (with sent_date)")
        if as_of is None:
            raise ValueError("as_of is needed to summarise campaign history")
        contacts = sent_contacts(contact_history, as_of, self.catalogue)
        return guard_arrays(contacts, customers, self.catalogue)

    # ----------------------------------------------------------------- decide
    def decide(
        self,
        scores: pd.DataFrame,
        uplift: pd.DataFrame | None = None,
        contact_history: pd.DataFrame | None = None,
        as_of: dt.date | pd.Timestamp | str | None = None,
        suppressed: Collection[str] = (),
    ) -> pd.DataFrame:
        """One decision per row of ``scores``.

        Parameters
        ----------
        scores
            ``customer_id, churn_probability, p_alive, value_if_retained,
            expected_order_value, segment, value_tier, recency_days`` and the consent flags ``consent_email,
            consent_sms, consent_push`` (``consent_call`` for calls); missing consent
            columns mean no consent.
        uplift
            Output of :meth:`UpliftModel.predict`: one column per action id and
            ``uplift_source``; aligned by ``customer_id`` column or by index. Actions
            without a column (or ``uplift=None``) use the catalogue's prior uplift
            and are reported as ``"prior"``.
        contact_history
            Past campaigns (a validated campaigns table; ``as_of`` is then required).
        as_of
            Campaign date; only contacts strictly before it count.
        suppressed
            Ids of customers who asked to be forgotten: ``no_action``, never in
            the control group.

        Returns
        -------
        pandas.DataFrame
            ``DECISION_COLUMNS`` with the index of ``scores``: the action to take
            (``no_action`` for control customers), its channel, expected incremental
            value and cost, the control flag, the action a control customer would
            have received, a short reason, and whether the uplift was ``"learned"``
            or a ``"prior"`` (``"none"`` when no action was eligible).

        Notes
        -----
        The HTTP service calls this for one customer per request, so the work is
        done on NumPy arrays taken once from each input column: pandas operations
        cost tens of microseconds each whatever the size of the frame.
        """
        columns = self.decide_columns(scores, uplift, contact_history, as_of, suppressed)
        # One constructor (it copies the arrays, so nothing shares memory with the inputs).
        return pd.DataFrame(columns, index=scores.index)

    def decide_columns(
        self,
        scores: pd.DataFrame,
        uplift: pd.DataFrame | None = None,
        contact_history: pd.DataFrame | None = None,
        as_of: dt.date | pd.Timestamp | str | None = None,
        suppressed: Collection[str] = (),
    ) -> dict[str, np.ndarray]:
        """:meth:`decide` as one array per column (``DECISION_COLUMNS`` order), for the
        scorer, which copies them into its own output without a frame in between."""
        opt = self.options(scores, uplift, contact_history, as_of, suppressed)
        cfg = self.config
        n, ids, recency, worth = len(scores), opt.customer_ids, opt.recency, opt.worth
        actions = self.catalogue.contact_actions
        m = len(actions)
        value, cost, uplift_used, block, source = (
            opt.value,
            opt.cost,
            opt.uplift,
            opt.block,
            opt.source,
        )

        rows = np.arange(n)
        best_j = np.argmax(value, axis=1) if m else np.zeros(n, dtype=int)
        best_value = value[rows, best_j] if m else np.full(n, -np.inf)
        best_cost = cost[rows, best_j] if m else np.zeros(n)
        positive = best_value > 0

        control = assign_control(ids, cfg.campaign_salt, cfg.control_share) & ~opt.suppressed
        treat = positive & ~control
        ids_arr = np.array([a.id for a in actions] or [NO_ACTION], dtype=object)
        chan_arr = np.array([a.channel for a in actions] or ["none"], dtype=object)
        best_id = ids_arr[best_j]
        any_eligible = np.isfinite(best_value)
        best_source = source[rows, best_j] if m else np.full(n, "none", dtype=object)
        reasons = self._reasons(
            treat,
            control,
            positive,
            any_eligible,
            best_id,
            best_value,
            best_cost,
            uplift_used[rows, best_j] if m else np.zeros(n),
            opt.revenue[rows, best_j] if m else np.full(n, np.nan),
            worth,
            best_source,
            block,
            np.asarray(scores["segment"].to_numpy(), dtype=object),
            recency,
        )
        columns = {
            "customer_id": ids,
            "next_best_action": np.where(treat, best_id, NO_ACTION),
            "action_channel": np.where(treat, chan_arr[best_j], "none"),
            "expected_incremental_value": np.where(treat, best_value, 0.0),
            "expected_cost": np.where(treat, best_cost, 0.0),
            "control_group": control,
            "intended_action": np.where(positive, best_id, NO_ACTION),
            "intended_value": np.where(positive, best_value, 0.0),
            "intended_cost": np.where(positive, best_cost, 0.0),
            "action_reason": reasons,
            "uplift_source": np.where(any_eligible, best_source, "none").astype(object),
        }
        budget = Budget.of(cfg)
        if budget:
            apply_budget(columns, funded_customers(candidates(columns), budget))
        return {c: columns[c] for c in DECISION_COLUMNS}

    def options(
        self,
        scores: pd.DataFrame,
        uplift: pd.DataFrame | None = None,
        contact_history: pd.DataFrame | None = None,
        as_of: dt.date | pd.Timestamp | str | None = None,
        suppressed: Collection[str] = (),
    ) -> ContactOptions:
        """Every contact action's value, cost and eligibility for every customer.

        What :meth:`decide` chooses from (same arguments); exposed so that a
        baseline targeting rule can use the same action choice and guardrails and
        differ only in whom it contacts.
        """
        require_columns(scores, SCORE_COLUMNS, "scores")
        cfg = self.config
        n = len(scores)
        ids = _strings(scores["customer_id"])
        up = AlignedUplift(scores, ids, uplift)
        frame_source = up.sources(n)
        customers = pd.Index(ids)
        if customers.has_duplicates:
            raise ValueError("scores must have one row per customer_id")
        guards = self._guards(contact_history, as_of, customers)
        forgotten = (
            np.asarray(customers.isin(list(suppressed)))
            if len(suppressed)
            else np.zeros(n, dtype=bool)
        )

        order_value = np.maximum(
            np.nan_to_num(floats(scores["expected_order_value"]), nan=0.0), 0.0
        )
        gone = 1.0 - np.clip(np.nan_to_num(floats(scores["p_alive"]), nan=1.0), 0.0, 1.0)
        revived = gone * np.nan_to_num(floats(scores["value_if_retained"]), nan=0.0)
        worth = self.margin * order_value + revived
        p_buy = np.clip(1.0 - np.nan_to_num(floats(scores["churn_probability"]), nan=0.0), 0.0, 1.0)
        recency = floats(scores["recency_days"])
        segment_codes, segments = pd.factorize(_strings(scores["segment"]))
        tier_codes, tiers = pd.factorize(_strings(scores["value_tier"]))
        consents: dict[str, np.ndarray] = {}

        actions = self.catalogue.contact_actions
        m = len(actions)
        value = np.full((n, m), -np.inf)
        cost = np.zeros((n, m))
        uplift_used = np.zeros((n, m))
        revenue = np.full((n, m), np.nan)
        block = np.zeros((n, m), dtype=np.int8)
        source = np.empty((n, m), dtype=object)
        for j, a in enumerate(actions):
            if a.id in up.columns:
                u = up.values(a.id)
                source[:, j] = frame_source
            else:
                u = np.full(n, self.priors[a.id])
                source[:, j] = "prior"
            redeem = np.clip(p_buy + u, 0.0, 1.0)
            c = a.unit_cost + a.offer_cost * order_value * redeem
            if REVENUE_PREFIX + a.id in up.columns:
                revenue[:, j] = up.values(REVENUE_PREFIX + a.id)
                v = self.margin * revenue[:, j] + u * revived - c
            else:
                v = u * worth - c

            reason = np.full(n, BLOCK_HARMFUL if a.id in self.harmful else BLOCK_OK, dtype=np.int8)
            reason[forgotten] = BLOCK_SUPPRESSED
            allowed = np.ones(n, dtype=bool)
            if a.eligible_segments is not None:
                allowed &= is_member(segment_codes, segments, a.eligible_segments)
            if a.eligible_value_tiers is not None:
                allowed &= is_member(tier_codes, tiers, a.eligible_value_tiers)
            reason[(reason == BLOCK_OK) & ~allowed] = BLOCK_SEGMENT
            consent_col = a.consent_column
            if consent_col is not None and consent_col in scores.columns:
                if consent_col not in consents:
                    consents[consent_col] = consent_flags(scores[consent_col])
                consent = consents[consent_col]
            else:
                consent = np.zeros(n, dtype=bool)
            reason[(reason == BLOCK_OK) & ~consent] = BLOCK_CONSENT
            if a.has_offer:
                with np.errstate(invalid="ignore"):
                    recent = recency <= cfg.recent_purchase_days
                reason[(reason == BLOCK_OK) & recent] = BLOCK_RECENT
            if a.id in guards:
                days, count = guards[a.id]
                reason[(reason == BLOCK_OK) & (days < a.cooldown_days)] = BLOCK_COOLDOWN
                if a.max_contacts is not None:
                    reason[(reason == BLOCK_OK) & (count >= a.max_contacts)] = BLOCK_CAP
            reason[(reason == BLOCK_OK) & ~np.isfinite(v)] = BLOCK_UNKNOWN
            ok = reason == BLOCK_OK
            value[:, j] = np.where(ok, v, -np.inf)
            cost[:, j] = c
            uplift_used[:, j] = u
            block[:, j] = reason
        return ContactOptions(
            customer_ids=ids,
            actions=[a.id for a in actions],
            value=value,
            cost=cost,
            uplift=uplift_used,
            block=block,
            source=source,
            worth=worth,
            recency=recency,
            revenue=revenue,
            suppressed=forgotten,
        )

    # -------------------------------------------------------------- internals
    @staticmethod
    def _reasons(
        treat: np.ndarray,
        control: np.ndarray,
        positive: np.ndarray,
        any_eligible: np.ndarray,
        best_id: np.ndarray,
        best_value: np.ndarray,
        best_cost: np.ndarray,
        best_uplift: np.ndarray,
        best_revenue: np.ndarray,
        worth: np.ndarray,
        best_source: np.ndarray,
        block: np.ndarray,
        segment: np.ndarray,
        recency: np.ndarray,
    ) -> np.ndarray:
        """A short, human-readable reason per decision.

        Values are taken out as Python objects (``tolist``) before formatting:
        indexing NumPy arrays element by element is what made large batches slow,
        and Python floats format exactly as NumPy's do.
        """
        n = len(treat)
        out = np.empty(n, dtype=object)
        i = np.flatnonzero(treat)
        out[i] = [
            f"{g} {d:.0f} days, worth {v:,.0f} if back; {a} expected {u:+.1%} return"
            + ("" if r != r else f" and {r:+.2f} revenue")  # r != r: no learned revenue (NaN)
            + f" ({s}); cost {c:.2f}; net {x:+.2f}"
            for g, d, a, u, r, v, c, x, s in zip(
                segment[i].tolist(),
                np.nan_to_num(recency[i], nan=0.0).tolist(),
                best_id[i].tolist(),
                best_uplift[i].tolist(),
                best_revenue[i].tolist(),
                worth[i].tolist(),
                best_cost[i].tolist(),
                best_value[i].tolist(),
                best_source[i].tolist(),
                strict=True,
            )
        ]
        i = np.flatnonzero(control)
        out[i] = [
            "control group: held out to measure lift "
            + (f"(would get {a})" if p else "(no action planned)")
            for a, p in zip(best_id[i].tolist(), positive[i].tolist(), strict=True)
        ]
        i = np.flatnonzero(any_eligible & ~positive & ~control)
        out[i] = [
            f"no action pays off: best is {a} at {x:+.2f}"
            for a, x in zip(best_id[i].tolist(), best_value[i].tolist(), strict=True)
        ]
        none_eligible = ~any_eligible & ~control
        if none_eligible.any():
            # Summarise by the set of blocking reasons; few distinct sets exist.
            codes = block[none_eligible]
            bits = np.zeros(len(codes), dtype=np.int64)
            for code in BLOCK_TEXT:
                bits |= np.where((codes == code).any(axis=1), 1 << code, 0)
            text = {
                b: "no eligible action: "
                + ", ".join(t for c, t in BLOCK_TEXT.items() if b & (1 << c))
                for b in np.unique(bits).tolist()
            }
            if not block.shape[1]:
                text = {0: "no eligible action: catalogue has no contact action"}
            out[np.flatnonzero(none_eligible)] = [
                text.get(b, "no eligible action") for b in bits.tolist()
            ]
        return out
