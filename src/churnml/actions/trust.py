"""Trust only measured effects: the hold-out check an uplift model must pass per action.

A learned uplift is a claim that contacting a customer changes what they do. It
is used by the policy only where a held-out randomised comparison backs it: on
customers the model never saw, the customers it ranks highest for an action
must respond more when treated than when held out, with the confidence interval
of that difference (uplift at ``k``, :func:`~churnml.actions.uplift_metrics.uplift_at_k_interval`)
above zero. Otherwise the action runs on its prior and its decisions say
``"prior"``.

Priors are assumptions and must not outrank measurements: once any action has a
trusted effect, every prior is capped at the smallest trusted average effect
(the actions of one campaign are comparable contacts with the same customers).
An action whose average effect on the hold-out is significantly *negative* (the
whole interval below zero: contacts that make customers unsubscribe and leave) is
``"harmful"`` and never sent.

The verdicts live on the model (``UpliftModel.trust_``), are saved with it, and
reach the policy through :meth:`UpliftModel.policy_priors` and
:meth:`UpliftModel.harmful_actions`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from churnml.actions.catalogue import CONTROL
from churnml.actions.uplift import UpliftModel
from churnml.actions.uplift_metrics import average_effect, uplift_at_k_interval

#: Verdicts of :func:`check_uplift`.
LEARNED, PRIOR, HARMFUL = "learned", "prior", "harmful"


def check_uplift(
    model: UpliftModel,
    X: pd.DataFrame,
    action: pd.Series,
    y: pd.Series,
    k: float = 0.3,
    confidence: float = 0.95,
    control_label: str = CONTROL,
) -> pd.DataFrame:
    """Judge each learned action on held-out rows and record the verdicts on ``model``.

    Parameters
    ----------
    model
        A fitted (learned) :class:`UpliftModel`.
    X, action, y
        Held-out campaign rows (customers the model was not fitted on): features
        as of the send date, arm labels (``control_label`` for controls), outcomes.
    k
        Top share by predicted uplift for the uplift-at-k check.
    confidence
        Level of both intervals.

    Returns
    -------
    pandas.DataFrame
        One row per learned action: ``action, n_treated, n_control, effect,
        effect_low, effect_high`` (average effect on the hold-out), ``uplift_at_k,
        uplift_at_k_low, uplift_at_k_high`` and ``verdict`` (``learned``: used;
        ``prior``: not shown to work, its prior is used; ``harmful``: never sent).
    """
    if getattr(model, "source_", None) != LEARNED:
        raise ValueError("only a learned UpliftModel can be checked")
    arm = np.asarray(action, dtype=object).astype(str)
    yy = np.asarray(y, dtype=float)
    scores = model.predict_unchecked(X)
    rows: list[dict[str, Any]] = []
    for a in model.actions_:
        mask = (arm == a) | (arm == control_label)
        t = arm[mask] == a
        effect = average_effect(yy[mask], t, confidence)
        if t.any() and (~t).any():
            at_k = uplift_at_k_interval(
                yy[mask], t, scores[a].to_numpy(dtype=float)[mask], k, confidence
            )
        else:
            at_k = (math.nan, math.nan, math.nan)
        if effect[2] < 0:
            verdict = HARMFUL
        elif at_k[1] > 0:
            verdict = LEARNED
        else:
            verdict = PRIOR
        rows.append(
            {
                "action": a,
                "n_treated": int(t.sum()),
                "n_control": int((~t).sum()),
                "effect": effect[0],
                "effect_low": effect[1],
                "effect_high": effect[2],
                "uplift_at_k": at_k[0],
                "uplift_at_k_low": at_k[1],
                "uplift_at_k_high": at_k[2],
                "verdict": verdict,
            }
        )
    report = pd.DataFrame(rows)
    model.trust_ = {
        r["action"]: {
            "verdict": r["verdict"],
            "effect": float(r["effect"]),
            "uplift_at_k_low": float(r["uplift_at_k_low"]),
        }
        for r in rows
    }
    return report
