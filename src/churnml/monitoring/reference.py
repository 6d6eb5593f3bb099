"""What the model saw at training: binned distributions of its inputs and its scores.

:class:`ReferenceStats` is computed once per model version, on the model inputs of
every customer at the training ``as_of`` (the population the shipped model was made
for), and saved in the bundle as ``reference.json``. ``churnml monitor`` bins a new
batch with the same edges and compares the counts (:mod:`churnml.monitoring.drift`).

Binning
-------
Edges are the training distribution's deciles (``n_bins`` quantiles), deduplicated,
and bins are closed on the right: ``(-inf, e1], (e1, e2], ..., (ek, inf)``. A point
mass therefore keeps a bin of its own: a feature that is zero for 70 % of customers
has the edge 0 repeated seven times, which collapses to one edge, and ``(-inf, 0]``
holds exactly the zeros. A constant feature gets one edge (its value) and an empty
upper bin, so any move away from the constant shows. Missing values (``NaN``: e.g.
"days since the last email open" of a customer who never opened one) are counted
in a last bin of their own, because "how many have none" is itself a distribution
that moves. Counts rather than proportions are stored: the chi-square test needs
the reference sample size, and proportions are ``counts / rows``.

This module is plain numpy and JSON; it knows nothing of models or bundles, so the
bundle can hold a :class:`ReferenceStats` without importing the monitoring code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from churnml.errors import ChurnmlError

#: Version of the ``reference.json`` layout; :meth:`ReferenceStats.from_dict` refuses others.
REFERENCE_FORMAT = 1


@dataclass(frozen=True)
class Binned:
    """A distribution as right-closed bins: interior ``edges`` and ``counts`` per bin.

    ``counts`` has ``len(edges) + 2`` entries: ``len(edges) + 1`` value bins, then
    the missing-value bin.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @classmethod
    def from_values(cls, values: np.ndarray, n_bins: int = 10) -> Binned:
        """Quantile edges of ``values`` (NaN ignored) and the counts of ``values`` in them."""
        x = np.asarray(values, dtype=float)
        finite = x[np.isfinite(x)]
        if finite.size:
            cuts = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
            edges = tuple(float(e) for e in np.unique(cuts))
        else:
            edges = ()
        empty = cls(edges=edges, counts=(0,) * (len(edges) + 2))
        return cls(edges=edges, counts=empty.count(x))

    def count(self, values: np.ndarray) -> tuple[int, ...]:
        """Counts of ``values`` in these bins (last entry: missing values)."""
        x = np.asarray(values, dtype=float)
        missing = np.isnan(x)
        bins = np.searchsorted(np.asarray(self.edges, dtype=float), x[~missing], side="left")
        counts = np.bincount(bins, minlength=len(self.edges) + 1)
        return (*(int(c) for c in counts), int(missing.sum()))

    @property
    def rows(self) -> int:
        return int(sum(self.counts))

    @property
    def proportions(self) -> np.ndarray:
        """Share of rows per bin (zeros when there are no rows)."""
        counts = np.asarray(self.counts, dtype=float)
        return counts / counts.sum() if counts.sum() else counts

    def labels(self) -> list[str]:
        """Readable bin names, e.g. ``<= 0``, ``(0, 3]``, ``> 12``, ``missing``."""
        e = [f"{v:.4g}" for v in self.edges]
        if not e:
            return ["any value", "missing"]
        inner = [f"({a}, {b}]" for a, b in zip(e[:-1], e[1:], strict=True)]
        return [f"<= {e[0]}", *inner, f"> {e[-1]}", "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binned:
        edges = tuple(float(e) for e in data["edges"])
        counts = tuple(int(c) for c in data["counts"])
        if len(counts) != len(edges) + 2:
            raise ValueError(f"{len(counts)} counts for {len(edges)} edges (expected edges + 2)")
        return cls(edges=edges, counts=counts)


@dataclass(frozen=True)
class ReferenceStats:
    """The training population of one model version, binned.

    Attributes
    ----------
    as_of
        The training cut-off the distributions describe (ISO date).
    rows
        Customers with history before ``as_of`` (the rows of every distribution).
    features
        Churn-model feature name -> its :class:`Binned` distribution, in model order.
    scores
        ``churn_probability`` and ``clv`` -> their distributions.
    backtest_auc
        The run's backtest churn AUC (``churn_roc_auc``), the yardstick of decay;
        ``None`` when the run had none.
    """

    as_of: str
    rows: int
    features: dict[str, Binned]
    scores: dict[str, Binned]
    backtest_auc: float | None = None
    n_bins: int = 10
    format_version: int = field(default=REFERENCE_FORMAT)

    @classmethod
    def from_columns(
        cls,
        as_of: str,
        features: dict[str, np.ndarray],
        scores: dict[str, np.ndarray],
        backtest_auc: float | None = None,
        n_bins: int = 10,
    ) -> ReferenceStats:
        """Bin every column of ``features`` and ``scores`` (arrays of equal length)."""
        lengths = {len(v) for v in (*features.values(), *scores.values())}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        return cls(
            as_of=as_of,
            rows=lengths.pop() if lengths else 0,
            features={k: Binned.from_values(v, n_bins) for k, v in features.items()},
            scores={k: Binned.from_values(v, n_bins) for k, v in scores.items()},
            backtest_auc=backtest_auc,
            n_bins=n_bins,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "as_of": self.as_of,
            "rows": self.rows,
            "n_bins": self.n_bins,
            "backtest_auc": self.backtest_auc,
            "features": {k: b.to_dict() for k, b in self.features.items()},
            "scores": {k: b.to_dict() for k, b in self.scores.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceStats:
        version = data.get("format_version")
        if version != REFERENCE_FORMAT:
            raise ChurnmlError(
                f"reference.json format {version} is not supported (expects {REFERENCE_FORMAT})"
            )
        auc = data.get("backtest_auc")
        return cls(
            as_of=str(data["as_of"]),
            rows=int(data["rows"]),
            n_bins=int(data.get("n_bins", 10)),
            backtest_auc=None if auc is None else float(auc),
            features={k: Binned.from_dict(v) for k, v in data["features"].items()},
            scores={k: Binned.from_dict(v) for k, v in data["scores"].items()},
        )

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``."""
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1))
        return p
