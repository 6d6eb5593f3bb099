"""churnml: churn risk, customer lifetime value and win-back next-best-action.

The package is organised by what each piece does:

- :mod:`churnml.data`      the data contract, validation and file I/O
- :mod:`churnml.datasets`  bundled CDNOW data and a simulator with known truth
- :mod:`churnml.features`  point-in-time RFM and behavioural features, churn labels
- :mod:`churnml.models`    LTV (BG/NBD + Gamma-Gamma), churn (LightGBM), uplift
- :mod:`churnml.segments`  lifecycle segments and value tiers
- :mod:`churnml.actions`   the next-best-action policy, control group, lift
- :mod:`churnml.tracking`  MLflow runs, model bundle and registry
- :mod:`churnml.scoring`   the one scorer used by batch, Spark and HTTP
- :mod:`churnml.pipeline`  training end to end
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("churnml")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
