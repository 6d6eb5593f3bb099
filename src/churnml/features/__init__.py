"""Point-in-time features: RFM summary, behavioural features, churn labels."""

from churnml.features.behaviour import FEATURE_COLUMNS, build_features, features_from_history
from churnml.features.history import PurchaseHistory, purchase_history
from churnml.features.labels import churn_labels, rolling_cutoffs
from churnml.features.rfm import days_per_unit, purchase_days, rfm_from_history, rfm_summary

__all__ = [
    "FEATURE_COLUMNS",
    "PurchaseHistory",
    "build_features",
    "churn_labels",
    "days_per_unit",
    "features_from_history",
    "purchase_days",
    "purchase_history",
    "rfm_from_history",
    "rfm_summary",
    "rolling_cutoffs",
]
