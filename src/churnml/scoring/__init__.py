"""Scoring: the model bundle and the one scorer shared by batch, Spark and HTTP."""

from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import OUTPUT_COLUMNS, Scorer

__all__ = ["OUTPUT_COLUMNS", "ModelBundle", "Scorer"]
