"""MLflow: where runs go, what a run records, and how versions become champion."""

from churnml.tracking.fingerprint import data_fingerprint
from churnml.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    PromotionDecision,
    decide_promotion,
    get_alias_version,
    promote,
    register_version,
)
from churnml.tracking.store import churnml_home, configure_mlflow, resolve_tracking_uri

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PromotionDecision",
    "churnml_home",
    "configure_mlflow",
    "data_fingerprint",
    "decide_promotion",
    "get_alias_version",
    "promote",
    "register_version",
    "resolve_tracking_uri",
]
