"""Win-back actions: from churn and CLV scores to a campaign a marketer can run.

- :mod:`~churnml.actions.catalogue`  what may be done (YAML action catalogue)
- :mod:`~churnml.actions.history`    past contacts for cool-downs and caps
- :mod:`~churnml.actions.control`    deterministic hold-out group
- :mod:`~churnml.actions.uplift`     per-action uplift (T/X-learner or priors)
- :mod:`~churnml.actions.uplift_metrics`  Qini curve and coefficient, uplift at k
- :mod:`~churnml.actions.policy`     next best action under guardrails and budget
- :mod:`~churnml.actions.lift`       treated-vs-control lift of a finished campaign

Every public name is importable from here (``from churnml.actions import
NextBestActionPolicy``), but each submodule is only imported when one of its
names is first used: :mod:`~churnml.actions.lift` and
:mod:`~churnml.actions.uplift_metrics` pull in SciPy and Matplotlib, which take
one to two seconds to import and which a scoring service never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Submodule -> the public names it defines (together: ``__all__``).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "catalogue": (
        "CONTROL",
        "NO_ACTION",
        "Action",
        "ActionCatalogue",
        "default_catalogue",
        "load_catalogue",
    ),
    "control": ("assign_control", "control_hash"),
    "history": ("contact_summary", "past_contacts"),
    "lift": ("LiftReport", "as_campaign_history", "campaign_outcomes", "measure_lift"),
    "policy": ("DECISION_COLUMNS", "SCORE_COLUMNS", "NextBestActionPolicy"),
    "uplift": ("SOURCE_COLUMN", "UpliftModel", "uplift_training_set"),
    "uplift_metrics": (
        "average_effect",
        "plot_qini",
        "qini_coefficient",
        "qini_curve",
        "uplift_at_k",
        "uplift_report",
    ),
}
_SOURCES = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first use and cache the name here."""
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes including the names not imported yet (for completion and help)."""
    return sorted({*globals(), *_SOURCES})
