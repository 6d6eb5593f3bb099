"""The model bundle: every fitted part a scorer needs, saved as plain files.

A bundle is what gets logged to MLflow and registered. On disk it is a folder:

===================  ==========================================================
manifest.json        format version, churnml version, training cut-off, metrics
config.json          the full training configuration
ltv.json             BG/NBD + Gamma-Gamma parameters (:class:`LTVModel`)
churn_booster.txt    the LightGBM booster in its native text format
churn.json           feature list, calibrator numbers, reason-code settings
value_tiers.json     CLV thresholds of the value tiers
uplift.json          uplift models (native LightGBM text inside) or priors
uplift_revenue.json  incremental-revenue uplift models, when campaigns record revenue
actions.yaml         the action catalogue the policy used
suppressed.json      ids on the suppression list, only in the copy a batch job
                     hands its workers (never in a registered model)
reference.json       binned training distributions of inputs and scores (monitoring)
===================  ==========================================================

Nothing is pickled: each part can be read, diffed and audited as text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from churnml import __version__
from churnml.actions.budget import Budget
from churnml.actions.catalogue import ActionCatalogue
from churnml.actions.uplift import UpliftModel
from churnml.config import Config
from churnml.errors import ChurnmlError
from churnml.models.churn import ChurnModel
from churnml.models.ltv import LTVModel
from churnml.monitoring.reference import ReferenceStats
from churnml.segments import ValueTiers

FORMAT_VERSION = 1


@dataclass
class ModelBundle:
    """Fitted LTV, churn, value-tier and uplift models with the policy's catalogue."""

    ltv: LTVModel
    churn: ChurnModel
    value_tiers: ValueTiers
    uplift: UpliftModel
    catalogue: ActionCatalogue
    config: Config
    as_of: str
    trained_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    metrics: dict[str, float] = field(default_factory=dict)
    model_name: str = "churnml"
    model_version: str = "unregistered"
    #: Incremental revenue per action (``UpliftModel(outcome="revenue")``), when learned.
    revenue_uplift: UpliftModel | None = None
    #: Customers on the suppression list (:mod:`churnml.privacy.suppression`): the scorer
    #: gives them ``no_action``. Set per job with :meth:`with_suppressed`, not at training.
    suppressed: frozenset[str] = frozenset()
    #: Training distributions for ``churnml monitor``; ``None`` in bundles made before it.
    reference: ReferenceStats | None = None

    @property
    def budget(self) -> Budget:
        """The campaign budget of the bundle's policy (money, number of contacts)."""
        return Budget.of(self.config.policy)

    def set_threads(self, threads: int) -> ModelBundle:
        """Give every LightGBM model ``threads`` threads (``set_params(n_jobs=...)``).

        A batch worker or a server process knows how many cores it may use; the
        predictions do not change. Returns the bundle.
        """
        for part in (self.churn, self.uplift, self.revenue_uplift):
            if part is not None:
                part.set_params(n_jobs=threads)
        return self

    def without_budget(self) -> ModelBundle:
        """The bundle with an unlimited campaign budget.

        What engines that score customers in parts plan with: each part's decisions
        are the customers' own, and the budget is applied over all parts at the end
        (:mod:`churnml.actions.budget`).
        """
        policy = self.config.policy.model_copy(update={"budget": None, "max_contacts": None})
        return replace(self, config=self.config.model_copy(update={"policy": policy}))

    def with_suppressed(self, customer_ids: frozenset[str]) -> ModelBundle:
        """The bundle whose scorer never contacts ``customer_ids`` (the suppression list).

        Carried by the bundle so that every engine's workers (batch processes,
        Spark executors) receive it with the model.
        """
        return replace(self, suppressed=frozenset(customer_ids))

    def save(self, directory: str | Path) -> Path:
        """Write the bundle's files into ``directory`` (created if needed)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION,
            "churnml_version": __version__,
            "as_of": self.as_of,
            "trained_at": self.trained_at,
            "model_name": self.model_name,
            "metrics": self.metrics,
        }
        _write_json(d / "manifest.json", manifest)
        _write_json(d / "config.json", self.config.model_dump(mode="json"))
        _write_json(d / "ltv.json", self.ltv.to_dict())
        churn = dict(self.churn.to_dict())
        booster = churn.pop("booster")
        (d / "churn_booster.txt").write_text(booster)
        _write_json(d / "churn.json", churn)
        _write_json(d / "value_tiers.json", self.value_tiers.to_dict())
        _write_json(d / "uplift.json", self.uplift.to_dict())
        if self.revenue_uplift is not None:
            _write_json(d / "uplift_revenue.json", self.revenue_uplift.to_dict())
        (d / "actions.yaml").write_text(yaml.safe_dump(self.catalogue.to_dict(), sort_keys=False))
        if self.suppressed:
            _write_json(d / "suppressed.json", sorted(self.suppressed))
        if self.reference is not None:
            _write_json(d / "reference.json", self.reference.to_dict())
        return d

    @classmethod
    def load(cls, directory: str | Path, model_version: str = "unregistered") -> ModelBundle:
        """Read a bundle folder written by :meth:`save`; refuse unknown formats loudly."""
        d = Path(directory)
        try:
            manifest = _read_json(d / "manifest.json")
        except FileNotFoundError:
            raise ChurnmlError(f"{d} is not a churnml model bundle (no manifest.json)") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ChurnmlError(
                f"model bundle format {manifest.get('format_version')} is not supported by "
                f"churnml {__version__} (expects {FORMAT_VERSION})"
            )
        churn = _read_json(d / "churn.json")
        churn["booster"] = (d / "churn_booster.txt").read_text()
        revenue = d / "uplift_revenue.json"
        suppressed = d / "suppressed.json"
        reference = d / "reference.json"
        return cls(
            ltv=LTVModel.from_dict(_read_json(d / "ltv.json")),
            churn=ChurnModel.from_dict(churn),
            value_tiers=ValueTiers.from_dict(_read_json(d / "value_tiers.json")),
            uplift=UpliftModel.from_dict(_read_json(d / "uplift.json")),
            catalogue=ActionCatalogue.from_dict(yaml.safe_load((d / "actions.yaml").read_text())),
            config=Config.from_dict(_read_json(d / "config.json"), source=str(d / "config.json")),
            as_of=manifest["as_of"],
            trained_at=manifest["trained_at"],
            metrics=manifest.get("metrics", {}),
            model_name=manifest.get("model_name", "churnml"),
            model_version=model_version,
            revenue_uplift=UpliftModel.from_dict(_read_json(revenue)) if revenue.exists() else None,
            suppressed=frozenset(_read_json(suppressed)) if suppressed.exists() else frozenset(),
            reference=(
                ReferenceStats.from_dict(_read_json(reference)) if reference.exists() else None
            ),
        )

    def describe(self) -> dict[str, Any]:
        """Name, version, dates, parameters and metrics, e.g. for the ``model`` endpoint."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "trained_at": self.trained_at,
            "training_as_of": self.as_of,
            "churnml_version": __version__,
            "horizon_days": self.config.time.horizon_days,
            "churn_window_days": self.config.time.churn_window_days,
            "bgnbd_params": self.ltv.bgnbd_params_,
            "gamma_gamma_params": self.ltv.gamma_gamma_params_,
            "uplift_source": self.uplift.source_,
            "uplift_outcome": "converted+revenue" if self.revenue_uplift else "converted",
            "actions": self.catalogue.ids,
            "metrics": self.metrics,
        }


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())
