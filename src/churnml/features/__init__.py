"""Point-in-time features: RFM summary, behavioural features, churn labels."""

from churnml.features.behaviour import FEATURE_COLUMNS, build_features
from churnml.features.labels import churn_labels, rolling_cutoffs
from churnml.features.rfm import days_per_unit, purchase_days, rfm_summary

__all__ = [
    "FEATURE_COLUMNS",
    "build_features",
    "churn_labels",
    "days_per_unit",
    "purchase_days",
    "rfm_summary",
    "rolling_cutoffs",
]
