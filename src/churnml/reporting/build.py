"""Build the customer-base report from validated tables and scores, in memory.

The command line, a notebook and a nightly job call :func:`build_report` the same
way; writing the file and logging to MLflow are separate steps, so a report can be
checked (or shown inline) before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from churnml.data.contract import InputTables
from churnml.reporting.figures import ReportFigure, render_figures
from churnml.reporting.html import render_html
from churnml.reporting.kpis import CustomerBaseKPIs, compute_kpis


@dataclass(frozen=True)
class Report:
    """The KPIs, the figures (PNG) and the HTML page of one report."""

    kpis: CustomerBaseKPIs
    figures: list[ReportFigure]
    html: str

    @property
    def n_figures(self) -> int:
        """Number of figures embedded in the page."""
        return len(self.figures)


def _provenance(scores: pd.DataFrame) -> str:
    """``name vN`` of the model that produced the scores, when they say so."""
    if {"model_name", "model_version"} <= set(scores.columns) and len(scores):
        pairs = scores[["model_name", "model_version"]].astype(str).drop_duplicates()
        return ", ".join(f"{n} v{v}" for n, v in pairs.itertuples(index=False))
    return ""


def build_report(
    tables: InputTables,
    scores: pd.DataFrame,
    as_of: pd.Timestamp,
    last_campaigns: int = 5,
) -> Report:
    """KPIs, figures and HTML of the customer base before ``as_of``.

    ``scores`` is ``churnml score`` output (or :meth:`churnml.scoring.Scorer.score`)
    for the same ``as_of``; see :mod:`churnml.reporting.kpis` for the definitions.
    """
    kpis = compute_kpis(tables, scores, as_of, last_campaigns=last_campaigns)
    figures = render_figures(kpis)
    return Report(kpis, figures, render_html(kpis, figures, model=_provenance(scores)))
