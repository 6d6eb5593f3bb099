"""Win-back actions: from churn and CLV scores to a campaign a marketer can run.

- :mod:`~churnml.actions.catalogue`  what may be done (YAML action catalogue)
- :mod:`~churnml.actions.history`    past contacts for cool-downs and caps
- :mod:`~churnml.actions.control`    deterministic hold-out group
- :mod:`~churnml.actions.uplift`     per-action uplift (T/X-learner or priors)
- :mod:`~churnml.actions.uplift_metrics`  Qini curve and coefficient, uplift at k
- :mod:`~churnml.actions.policy`     next best action under guardrails and budget
- :mod:`~churnml.actions.lift`       treated-vs-control lift of a finished campaign

Every public name is importable from here (``from churnml.actions import
NextBestActionPolicy``). Matplotlib is imported inside the plotting functions
only, so a scoring service never loads it.
"""

from churnml.actions.catalogue import (
    CONTROL,
    NO_ACTION,
    Action,
    ActionCatalogue,
    default_catalogue,
    load_catalogue,
)
from churnml.actions.control import assign_control, control_hash
from churnml.actions.history import contact_summary, past_contacts
from churnml.actions.lift import (
    LiftReport,
    as_campaign_history,
    campaign_outcomes,
    measure_lift,
)
from churnml.actions.policy import DECISION_COLUMNS, SCORE_COLUMNS, NextBestActionPolicy
from churnml.actions.uplift import SOURCE_COLUMN, UpliftModel, uplift_training_set
from churnml.actions.uplift_metrics import (
    average_effect,
    plot_qini,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_report,
)

__all__ = [
    "CONTROL",
    "DECISION_COLUMNS",
    "NO_ACTION",
    "SCORE_COLUMNS",
    "SOURCE_COLUMN",
    "Action",
    "ActionCatalogue",
    "LiftReport",
    "NextBestActionPolicy",
    "UpliftModel",
    "as_campaign_history",
    "assign_control",
    "average_effect",
    "campaign_outcomes",
    "contact_summary",
    "control_hash",
    "default_catalogue",
    "load_catalogue",
    "measure_lift",
    "past_contacts",
    "plot_qini",
    "qini_coefficient",
    "qini_curve",
    "uplift_at_k",
    "uplift_report",
    "uplift_training_set",
]
