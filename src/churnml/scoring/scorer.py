"""The one scorer: a customer's history in, every output field out.

Batch files and Spark partitions call :meth:`Scorer.score`, HTTP requests
:meth:`Scorer.score_columns` (the same computation as arrays), with validated
:class:`~churnml.data.InputTables` and a cut-off, so that the same features,
models and policy produce the same numbers wherever a customer is scored.

Per customer (one row each):

- LTV: ``p_alive``, ``expected_purchases`` over the horizon, ``p_no_purchase``
  in the churn window, ``expected_order_value``, ``clv`` (discounted margin),
  ``expected_days_to_next_purchase``, ``value_if_retained`` (the CLV of the
  customer if alive: what a win-back that brings them back earns);
- churn: calibrated ``churn_probability`` and ``churn_reasons`` (JSON list of
  the top signed TreeSHAP contributions with a readable description);
- ``segment`` and ``value_tier``;
- next-best-action: ``next_best_action``, ``action_channel``,
  ``expected_incremental_value``, ``control_group``, ``intended_action`` (what a
  control customer would have received, for measuring lift) with its value and
  cost (``intended_value``, ``intended_cost``: what a campaign budget ranks),
  ``action_reason``, ``uplift_source``;
- provenance: ``as_of``, ``model_name``, ``model_version``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import numpy as np
import pandas as pd

from churnml.actions.control import assign_control
from churnml.actions.options import ContactOptions
from churnml.actions.policy import (
    DECISION_COLUMNS,
    POLICY_INPUT_COLUMNS,
    NextBestActionPolicy,
)
from churnml.actions.uplift import uplift_table
from churnml.data.contract import InputTables
from churnml.models.inputs import LTV_COLUMNS, model_inputs
from churnml.scoring.bundle import ModelBundle
from churnml.segments import assign_segments

#: Every output column, in order: the LTV model's predictions, the churn model's, the
#: segments, the policy's decision (without its internal ``expected_cost``), provenance.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "as_of",
    *LTV_COLUMNS,
    "churn_probability",
    "churn_reasons",
    "segment",
    "value_tier",
    *(c for c in DECISION_COLUMNS if c not in ("customer_id", "expected_cost")),
    "model_name",
    "model_version",
)


class Scorer:
    """Scores customers with one :class:`ModelBundle`; holds no mutable state."""

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        self.policy = NextBestActionPolicy.for_model(
            bundle.catalogue,
            bundle.config.policy,
            bundle.uplift,
            bundle.config.ltv.margin,
            bundle.revenue_uplift,
        )

    def score(self, tables: InputTables, as_of: pd.Timestamp | str) -> pd.DataFrame:
        """Every output column for each customer with a purchase strictly before ``as_of``.

        Customers without any purchase before ``as_of`` get no row: there is no
        history to score (the caller decides whether that is an error).

        The glue between the models works on arrays and builds each frame once: the
        HTTP service calls this for one customer at a time, where every pandas
        operation costs tens of microseconds regardless of size.
        """
        return pd.DataFrame(self.score_columns(tables, as_of), copy=False)

    def score_columns(
        self, tables: InputTables, as_of: pd.Timestamp | str
    ) -> dict[str, np.ndarray]:
        """:meth:`score` as one array per output column (``OUTPUT_COLUMNS`` order).

        The HTTP service turns these straight into response rows: for one customer,
        building the frame and reading it back cost ~1 ms of the ~9 ms of a request.
        """
        with _gc_paused():
            return self._score(tables, pd.Timestamp(as_of).normalize())

    def contact_options(
        self, tables: InputTables, as_of: pd.Timestamp | str
    ) -> tuple[ContactOptions, np.ndarray]:
        """Every contact action for every scored customer, and the control-group flags.

        What the policy chooses from (:meth:`NextBestActionPolicy.options`), for the
        audience curve: what each campaign size is expected to bring.
        """
        b, cutoff = self.bundle, pd.Timestamp(as_of).normalize()
        inputs = model_inputs(
            tables, cutoff, b.ltv, b.config.time.horizon_days, b.config.time.churn_window_days
        )
        _, scores, uplift = self._policy_inputs(inputs, b.churn.predict_proba(inputs))
        options = self.policy.options(scores, uplift, tables.campaigns, cutoff, b.suppressed)
        cfg = b.config.policy
        return options, assign_control(options.customer_ids, cfg.campaign_salt, cfg.control_share)

    def _policy_inputs(
        self, inputs: pd.DataFrame, churn_probability: np.ndarray
    ) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
        """Model-input columns read once, the policy's ``scores`` and the uplift table."""
        b = self.bundle
        read = _columns_of(inputs, (*_POLICY_INPUTS, *_LTV_OUTPUTS))
        columns: dict[str, np.ndarray] = {
            "customer_id": inputs.index.to_numpy(dtype=object),
            **{c: read[c] for c in _POLICY_INPUTS if c in read},
            "churn_probability": churn_probability,
            "value_tier": b.value_tiers.transform(read["clv"]).to_numpy(),
        }
        scores = pd.DataFrame(columns, copy=False)
        scores["segment"] = assign_segments(scores, b.config.segments).to_numpy()
        uplift = uplift_table(b.uplift, b.revenue_uplift, inputs).reset_index(drop=True)
        return read, scores, uplift

    def _score(self, tables: InputTables, cutoff: pd.Timestamp) -> dict[str, np.ndarray]:
        b = self.bundle
        inputs = model_inputs(
            tables, cutoff, b.ltv, b.config.time.horizon_days, b.config.time.churn_window_days
        )
        if inputs.empty:
            return {c: np.empty(0, dtype=_EMPTY_TYPES.get(c, object)) for c in OUTPUT_COLUMNS}
        matrix = b.churn.feature_matrix(inputs)
        churn_probability = b.churn.predict_proba(matrix)
        reasons = b.churn.reason_codes(matrix, n_reasons=b.config.churn.n_reasons)
        read, scores, uplift = self._policy_inputs(inputs, churn_probability)
        decisions = self.policy.decide_columns(
            scores, uplift, contact_history=tables.campaigns, as_of=cutoff, suppressed=b.suppressed
        )

        n = len(inputs)
        out: dict[str, np.ndarray] = {
            "customer_id": scores["customer_id"].astype(str).to_numpy(),
            "as_of": np.full(n, cutoff.date().isoformat(), dtype=object),
        }
        for col in _LTV_OUTPUTS:
            out[col] = read[col].astype(float, copy=False)
        out["churn_probability"] = np.asarray(churn_probability, dtype=float)
        out["churn_reasons"] = np.array(reasons.to_json(digits=6), dtype=object)
        out["segment"] = scores["segment"].to_numpy()
        out["value_tier"] = scores["value_tier"].to_numpy()
        for col in _DECISION_OUTPUTS:
            out[col] = np.asarray(decisions[col], dtype=_DECISION_TYPES.get(col, object))
        out["model_name"] = np.full(n, b.model_name, dtype=object)
        out["model_version"] = np.full(n, str(b.model_version), dtype=object)
        return {c: out[c] for c in OUTPUT_COLUMNS}


def _columns_of(frame: pd.DataFrame, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The columns ``names`` of the model inputs ``frame`` that exist, as float arrays.

    The model inputs are one float block (:func:`~churnml.models.inputs.model_inputs`):
    its columns are views of one array, read by position (a pandas lookup per column
    would be most of this step's time for one customer).
    """
    whole = frame.to_numpy(dtype=np.float64)
    positions = frame.columns.get_indexer(list(names))
    return {n: whole[:, j] for n, j in zip(names, positions, strict=True) if j >= 0}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is scored.

    Scoring allocates millions of short-lived, acyclic objects (reason texts, floats,
    lists); every few thousand allocations trigger a collection, and the full ones
    walk every live object, including the input tables' strings - about 30 % of
    batch scoring time. Reference counting still frees everything at once; only
    reference cycles (none are made here) wait until the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: LTV outputs copied from the model inputs (p_alive .. value_if_retained).
_LTV_OUTPUTS = OUTPUT_COLUMNS[
    OUTPUT_COLUMNS.index("p_alive") : OUTPUT_COLUMNS.index("churn_probability")
]
#: Model inputs that segments and the policy read (besides the scores).
_POLICY_INPUTS = POLICY_INPUT_COLUMNS
_DECISION_TYPES: dict[str, type] = {
    "control_group": bool,
    "expected_incremental_value": float,
    "intended_value": float,
    "intended_cost": float,
}
#: Column types of an empty result (what a frame of no rows would hold).
_EMPTY_TYPES: dict[str, type] = {
    **dict.fromkeys(_LTV_OUTPUTS, float),
    "churn_probability": float,
    **_DECISION_TYPES,
}
#: Policy outputs copied to the scores (next_best_action .. uplift_source).
_DECISION_OUTPUTS = OUTPUT_COLUMNS[
    OUTPUT_COLUMNS.index("next_best_action") : OUTPUT_COLUMNS.index("model_name")
]
