"""The customer-base report: KPIs, figures and one self-contained HTML file.

``kpis`` and ``cohorts`` compute (pandas only), ``figures`` plots (matplotlib, Agg), ``html``
renders the Jinja2 template with the figures embedded, ``build`` puts them
together and ``artifacts`` logs a report to an MLflow run. ``churnml report`` is
the command line front door.
"""

from churnml.reporting.build import Report, build_report
from churnml.reporting.cohorts import CohortRetention
from churnml.reporting.kpis import CustomerBaseKPIs, compute_kpis

__all__ = ["CohortRetention", "CustomerBaseKPIs", "Report", "build_report", "compute_kpis"]
