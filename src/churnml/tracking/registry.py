"""Registry: versions, the ``champion``/``challenger`` aliases and the promotion rule.

Every new version gets ``challenger``. It also becomes ``champion`` when there is
no champion yet, or when it beats the champion on the *same evaluation rows* by
at least ``min_delta`` of the configured metric (higher is better). Otherwise it
stays challenger and the decision records why. Stages are deprecated in MLflow;
aliases are used throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnml.errors import ModelNotFoundError

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a new version becomes champion, and the reason in words."""

    promote: bool
    reason: str
    metric: str
    challenger_value: float
    champion_value: float | None = None
    champion_version: str | None = None


def register_version(client: MlflowClient, name: str, model_uri: str) -> ModelVersion:
    """Register a logged model (``models:/m-...``) under ``name``; point ``challenger`` at it.

    ``mlflow.register_model`` links the version to the logged model and its run, which
    a tracking server requires (it refuses a bare ``create_model_version`` whose
    source is a ``models:/`` URI).
    """
    version = mlflow.register_model(model_uri, name)
    if not client.get_registered_model(name).description:
        client.update_registered_model(
            name, description="churnml: churn, CLV and next-best-action bundle"
        )
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version


def get_alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version an alias points to, or None when the model or alias does not exist."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def decide_promotion(
    metric: str,
    challenger_value: float,
    champion_value: float | None,
    champion_version: str | None = None,
    min_delta: float = 0.0,
) -> PromotionDecision:
    """Apply the promotion rule (higher metric is better)."""
    if champion_value is None:
        return PromotionDecision(True, "no champion yet", metric, challenger_value)
    gain = challenger_value - champion_value
    if gain > min_delta:
        reason = (
            f"{metric} {challenger_value:.4f} beats champion v{champion_version} "
            f"{champion_value:.4f} by {gain:+.4f} on the same evaluation rows"
        )
        return PromotionDecision(
            True, reason, metric, challenger_value, champion_value, champion_version
        )
    reason = (
        f"{metric} {challenger_value:.4f} does not beat champion v{champion_version} "
        f"{champion_value:.4f} by more than {min_delta:.4f} (gain {gain:+.4f}); stays challenger"
    )
    return PromotionDecision(
        False, reason, metric, challenger_value, champion_value, champion_version
    )


def promote(client: MlflowClient, name: str, version: str | int) -> ModelVersion:
    """Point ``champion`` at ``version`` (by hand or after a winning evaluation)."""
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException:
        raise ModelNotFoundError(f"model {name!r} has no version {version}") from None
    client.set_registered_model_alias(name, CHAMPION, mv.version)
    return mv
