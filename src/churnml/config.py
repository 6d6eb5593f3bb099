"""Typed configuration with documented defaults, loadable from YAML.

One :class:`Config` drives training, batch scoring and serving. Every field has a
default that works on the bundled data; ``training/configs/default.yaml`` spells
them out. Sections mirror the pipeline steps so that a YAML file reads like the
job it describes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from churnml.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the input tables come from. Paths may be CSV or Parquet."""

    transactions: Path | None = Field(
        None, description="Transactions table (required unless `dataset` is set)."
    )
    customers: Path | None = Field(None, description="Customers table with consent flags.")
    events: Path | None = Field(None, description="Engagement events table.")
    campaigns: Path | None = Field(None, description="Past win-back contacts, treated and control.")
    dataset: Literal["simulated", "cdnow_sample", "cdnow_master"] | None = Field(
        None, description="Use bundled data instead of files."
    )
    simulate_customers: int = Field(5_000, gt=0, description="Size of the simulated data set.")
    strict_events: bool = Field(
        False, description="Reject unknown event types instead of counting them as 'other'."
    )


class TimeConfig(_Section):
    """The clock: scoring cut-off, horizons and training cut-offs."""

    as_of: dt.date | None = Field(
        None,
        description="Scoring cut-off (exclusive). Default: the day after the last transaction.",
    )
    horizon_days: int = Field(365, gt=0, description="Horizon of expected purchases and CLV.")
    churn_window_days: int = Field(
        90, gt=0, description="Churn = no purchase within this many days after the cut-off."
    )
    n_cutoffs: int = Field(
        4, ge=1, description="Number of rolling training cut-offs before `as_of`."
    )
    cutoff_step_days: int | None = Field(
        None, gt=0, description="Days between training cut-offs. Default: churn_window_days / 2."
    )
    min_history_days: int = Field(
        90,
        ge=0,
        description="Earliest training cut-off leaves at least this much history before it.",
    )


class LTVConfig(_Section):
    """BG/NBD + Gamma-Gamma settings."""

    time_unit: Literal["D", "W"] = Field(
        "W", description="Time unit of the BG/NBD fit: days or weeks."
    )
    penalizer_coef: float = Field(
        0.0, ge=0, description="L2 penalty of the BG/NBD fit; raised automatically on failure."
    )
    gg_penalizer_coef: float = Field(0.0, ge=0, description="L2 penalty of the Gamma-Gamma fit.")
    margin: float = Field(0.3, gt=0, le=1, description="Profit margin applied to spend in CLV.")
    annual_discount_rate: float = Field(0.10, ge=0, description="Annual discount rate of CLV.")


class ChurnConfig(_Section):
    """LightGBM churn classifier settings."""

    n_estimators: int = Field(
        150, gt=0, description="Maximum boosting rounds (early stopping picks fewer)."
    )
    learning_rate: float = Field(0.2, gt=0)
    num_leaves: int = Field(
        7,
        gt=1,
        description="Leaves per tree. Small trees keep TreeSHAP reason codes cheap.",
    )
    min_child_samples: int = Field(50, gt=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(50, gt=0)
    calibration: Literal["isotonic", "sigmoid"] = Field(
        "isotonic", description="Probability calibration on held-out time."
    )
    n_reasons: int = Field(3, ge=1, le=10, description="Reason codes per customer.")
    optuna_trials: int = Field(
        0, ge=0, description="Hyperparameter search trials (0 = off; needs optuna)."
    )
    n_jobs: int = Field(2, ge=1)


class SegmentConfig(_Section):
    """Lifecycle segment rules (days and thresholds)."""

    new_days: int = Field(60, gt=0, description="First purchase within this many days: 'new'.")
    at_risk_probability: float = Field(
        0.5, gt=0, lt=1, description="Churn probability from which a customer is 'at_risk'."
    )
    lapsed_days: int = Field(180, gt=0, description="No purchase for this many days: 'lapsed'.")
    churned_days: int = Field(365, gt=0, description="No purchase for this many days: 'churned'.")
    loyal_min_orders: int = Field(5, gt=0, description="Orders needed to be 'loyal'.")
    vip_tier: str = Field("platinum", description="Value tier that makes a loyal customer 'vip'.")
    value_tiers: dict[str, float] = Field(
        default_factory=lambda: {"bronze": 0.0, "silver": 0.5, "gold": 0.8, "platinum": 0.95},
        description="Value tier -> lower CLV quantile bound.",
    )


class PolicyConfig(_Section):
    """Next-best-action policy settings."""

    actions_path: Path | None = Field(
        None, description="Action catalogue YAML. Default: the bundled catalogue."
    )
    control_share: float = Field(
        0.10, ge=0, lt=1, description="Share of customers held out as a random control group."
    )
    campaign_salt: str = Field(
        "winback", description="Salt of the control-group hash; change it per campaign."
    )
    budget: float | None = Field(
        None, gt=0, description="Total money for contacts and offers (None = unlimited)."
    )
    max_contacts: int | None = Field(
        None, gt=0, description="Total number of contacts (None = unlimited)."
    )
    recent_purchase_days: int = Field(
        14, ge=0, description="No offer to a customer who bought this recently."
    )
    revenue_uplift: bool = Field(
        True,
        description="Where campaigns record revenue, learn each action's incremental revenue "
        "and value contacts by it (else by uplift x expected order value).",
    )
    seed: int = 0


class TrackingConfig(_Section):
    """MLflow tracking and registry."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI. Default: $MLFLOW_TRACKING_URI, else a SQLite store in ./.churnml/.",
    )
    experiment: str = Field("churnml", description="MLflow experiment name.")
    model_name: str = Field("churnml", description="Registered model name.")
    promotion_metric: str = Field(
        "churn_roc_auc", description="Metric a challenger must beat to become champion."
    )
    promotion_min_delta: float = Field(
        0.0, ge=0, description="Required improvement of the promotion metric."
    )
    register_model: bool = Field(True, description="Register the model and manage aliases.")


class MonitorConfig(_Section):
    """Drift and decay thresholds of ``churnml monitor`` (reference bins are made at training)."""

    n_bins: int = Field(
        10, ge=2, le=100, description="Quantile bins of each reference distribution (training)."
    )
    psi_warn: float = Field(0.1, gt=0, description="PSI from which a distribution is 'warn'.")
    psi_alert: float = Field(
        0.25, gt=0, description="PSI from which a distribution has moved ('alert', exit 3)."
    )
    max_auc_drop: float = Field(
        0.05, ge=0, description="Matured AUC below the training backtest AUC by more: decay."
    )
    min_rows: int = Field(
        500, ge=1, description="Fewest customers in a batch for its drift to be judged."
    )

    @model_validator(mode="after")
    def _warn_before_alert(self) -> MonitorConfig:
        if self.psi_warn > self.psi_alert:
            raise ValueError(f"psi_warn ({self.psi_warn}) is above psi_alert ({self.psi_alert})")
        return self


class Config(_Section):
    """Everything a training run needs; each section has working defaults."""

    data: DataConfig = DataConfig()
    time: TimeConfig = TimeConfig()
    ltv: LTVConfig = LTVConfig()
    churn: ChurnConfig = ChurnConfig()
    segments: SegmentConfig = SegmentConfig()
    policy: PolicyConfig = PolicyConfig()
    tracking: TrackingConfig = TrackingConfig()
    monitor: MonitorConfig = MonitorConfig()
    seed: int = Field(42, description="Seed of every random choice in training.")

    @classmethod
    def from_yaml(cls, path: str | Path) -> Config:
        """Load a YAML file; unknown keys and bad values raise :class:`ConfigError`."""
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML: {err}") from None
        return cls.from_dict(raw, source=str(p))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> Config:
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise ConfigError(f"{source}: {msgs}") from None

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """Return a copy with some fields of some sections replaced (None values ignored)."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section].update({k: v for k, v in values.items() if v is not None})
        return Config.from_dict(data, source="overrides")

    def flat(self) -> dict[str, Any]:
        """Flatten to ``section.field`` keys, e.g. for MLflow params."""
        out: dict[str, Any] = {}
        for section, values in self.model_dump(mode="json").items():
            if isinstance(values, dict):
                for k, v in values.items():
                    out[f"{section}.{k}"] = v
            else:
                out[section] = values
        return out
