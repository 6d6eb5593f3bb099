"""The one scorer: a customer's history in, every output field out.

Batch files, Spark partitions and HTTP requests all call :meth:`Scorer.score`
with validated :class:`~churnml.data.InputTables` and a cut-off, so that the
same features, models and policy produce the same numbers wherever a customer
is scored.

Per customer (one row each):

- LTV: ``p_alive``, ``expected_purchases`` over the horizon, ``p_no_purchase``
  in the churn window, ``expected_order_value``, ``clv`` (discounted margin),
  ``expected_days_to_next_purchase``;
- churn: calibrated ``churn_probability`` and ``churn_reasons`` (JSON list of
  the top signed TreeSHAP contributions with a readable description);
- ``segment`` and ``value_tier``;
- next-best-action: ``next_best_action``, ``action_channel``,
  ``expected_incremental_value``, ``control_group``, ``intended_action`` (what a
  control customer would have received, for measuring lift), ``action_reason``,
  ``uplift_source``;
- provenance: ``as_of``, ``model_name``, ``model_version``.
"""

from __future__ import annotations

import pandas as pd

from churnml.actions.policy import NextBestActionPolicy
from churnml.data.contract import InputTables
from churnml.models.inputs import model_inputs
from churnml.scoring.bundle import ModelBundle
from churnml.segments import assign_segments

OUTPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "as_of",
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "expected_order_value",
    "clv",
    "expected_days_to_next_purchase",
    "churn_probability",
    "churn_reasons",
    "segment",
    "value_tier",
    "next_best_action",
    "action_channel",
    "expected_incremental_value",
    "control_group",
    "intended_action",
    "action_reason",
    "uplift_source",
    "model_name",
    "model_version",
)


class Scorer:
    """Scores customers with one :class:`ModelBundle`; holds no mutable state."""

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        self.policy = NextBestActionPolicy(bundle.catalogue, bundle.config.policy)

    def score(self, tables: InputTables, as_of: pd.Timestamp | str) -> pd.DataFrame:
        """Every output column for each customer with a purchase strictly before ``as_of``.

        Customers without any purchase before ``as_of`` get no row: there is no
        history to score (the caller decides whether that is an error).
        """
        b = self.bundle
        cutoff = pd.Timestamp(as_of).normalize()
        inputs = model_inputs(
            tables, cutoff, b.ltv, b.config.time.horizon_days, b.config.time.churn_window_days
        )
        if inputs.empty:
            return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
        churn_probability = b.churn.predict_proba(inputs)
        reasons = b.churn.reason_codes(inputs, n_reasons=b.config.churn.n_reasons)
        scores = inputs.copy()
        scores["churn_probability"] = churn_probability
        scores["value_tier"] = b.value_tiers.transform(scores["clv"].to_numpy()).to_numpy()
        scores["segment"] = assign_segments(scores, b.config.segments).to_numpy()
        scores = scores.reset_index()
        uplift = b.uplift.predict(inputs).reset_index(drop=True)
        decisions = self.policy.decide(
            scores, uplift, contact_history=tables.campaigns, as_of=cutoff
        )

        out = pd.DataFrame({"customer_id": scores["customer_id"].astype(str).to_numpy()})
        out["as_of"] = cutoff.date().isoformat()
        for col in (
            "p_alive",
            "expected_purchases",
            "p_no_purchase",
            "expected_order_value",
            "clv",
            "expected_days_to_next_purchase",
            "churn_probability",
        ):
            out[col] = scores[col].to_numpy(dtype=float)
        out["churn_reasons"] = reasons.to_json(digits=6)
        out["segment"] = scores["segment"].to_numpy()
        out["value_tier"] = scores["value_tier"].to_numpy()
        for col in (
            "next_best_action",
            "action_channel",
            "expected_incremental_value",
            "control_group",
            "intended_action",
            "action_reason",
            "uplift_source",
        ):
            out[col] = decisions[col].to_numpy()
        out["control_group"] = out["control_group"].astype(bool)
        out["expected_incremental_value"] = out["expected_incremental_value"].astype(float)
        out["model_name"] = b.model_name
        out["model_version"] = str(b.model_version)
        return out[list(OUTPUT_COLUMNS)]
