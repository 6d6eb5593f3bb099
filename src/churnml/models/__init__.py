"""The models: customer lifetime value (BG/NBD + Gamma-Gamma) and the churn classifier."""

from churnml.models.churn import ChurnModel
from churnml.models.ltv import LTVModel

__all__ = ["ChurnModel", "LTVModel"]
