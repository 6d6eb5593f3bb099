"""Evaluation of fitted models against held-out time: metrics tables and diagnostic plots."""
