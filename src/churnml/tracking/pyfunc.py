"""The registered model: a ``mlflow.pyfunc`` wrapper around a :class:`ModelBundle`.

The bundle's plain files (JSON, LightGBM text, YAML) are the pyfunc's
artifacts, and the wrapper is logged as "models from code"
(:mod:`churnml.tracking.pyfunc_entry`), so nothing is cloudpickled.

``pyfunc.predict(transactions, params={"as_of": "2025-01-01"})`` scores the
customers of a transactions frame; :func:`load_bundle` gives the bundle itself
(with customers, events and campaigns, as batch and HTTP use it).
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from churnml.data.contract import validate_tables
from churnml.errors import ModelNotFoundError
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import Scorer

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
_REQUIREMENTS = [
    "scikit-learn>=1.5,<2",
    "lightgbm>=4.5,<5",
    "lifetimes==0.11.3",
    "mlflow>=3.1,<4",
    "pandas>=2.2,<3",
    "pyarrow>=15",
    "pydantic>=2.7,<3",
    "pyyaml>=6",
]


class ChurnmlPyfunc(PythonModel):
    """Loads the bundle once in ``load_context``; ``predict`` scores transactions."""

    bundle: ModelBundle
    scorer: Scorer

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(context.artifacts["bundle"])
        self.scorer = Scorer(self.bundle)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        as_of = (params or {}).get("as_of") or self.bundle.as_of
        tables = validate_tables(pd.DataFrame(model_input))
        return self.scorer.score(tables, as_of)


#: The "models from code" file MLflow runs on load; not imported here (it imports this module).
ENTRY_FILE = Path(__file__).with_name("pyfunc_entry.py")


def example_transactions(
    as_of: str, channels: tuple[str, ...] = ("online", "store")
) -> pd.DataFrame:
    """A made-up input example: three customers' orders in the year before ``as_of``.

    The logged model's input example and signature come from this, not from real
    customers, so that no MLflow artefact holds a customer's rows (a customer who
    asks to be forgotten could not be deleted from past runs).
    """
    cutoff = pd.Timestamp(as_of)
    days = ((300, 120, 30), (200, 15), (60,))
    rows = [
        {
            "customer_id": f"example-{i + 1}",
            "order_date": cutoff - pd.Timedelta(days=d),
            "amount": 20.0 + 15.0 * k + 5.0 * i,
            "channel": channels[(i + k) % len(channels)],
        }
        for i, history in enumerate(days)
        for k, d in enumerate(history)
    ]
    return pd.DataFrame(rows)


def log_bundle(
    bundle: ModelBundle, example: pd.DataFrame | None = None, name: str = "model"
) -> ModelInfo:
    """Log ``bundle`` as a pyfunc model of the active run, with signature and input example.

    ``example`` defaults to :func:`example_transactions` (made up, not a customer's).

    A registered model never carries a suppression list (that belongs to each
    scoring job), so ``bundle.suppressed`` is left out.
    """
    bundle = dataclasses.replace(bundle, suppressed=frozenset())
    example = (example_transactions(bundle.as_of) if example is None else example).copy()
    example["order_date"] = pd.to_datetime(example["order_date"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    example["customer_id"] = example["customer_id"].astype(str)
    output = Scorer(bundle).score(validate_tables(example), bundle.as_of)
    signature = infer_signature(example, output, params={"as_of": bundle.as_of})
    with tempfile.TemporaryDirectory() as tmp:
        path = bundle.save(Path(tmp) / "bundle")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(ENTRY_FILE),
            artifacts={"bundle": str(path)},
            signature=signature,
            input_example=example,
            pip_requirements=_REQUIREMENTS,
        )


def resolve_version(model_uri: str, client: MlflowClient | None = None) -> tuple[str, str]:
    """(name, version) of a ``models:/name@alias`` or ``models:/name/N`` URI."""
    match = _REGISTRY_URI.match(model_uri)
    if not match:
        return ("churnml", "unregistered")
    c = client or MlflowClient()
    name = match["name"]
    try:
        if match["alias"]:
            return name, str(c.get_model_version_by_alias(name, match["alias"]).version)
        return name, str(c.get_model_version(name, match["version"]).version)
    except MlflowException:
        raise ModelNotFoundError(
            f"no model at {model_uri} in {mlflow.get_tracking_uri()}: train one with `churnml train` "
            f"or `churnml demo`, or choose another with --model-uri / --model-alias"
        ) from None


def load_bundle(model_uri: str) -> ModelBundle:
    """Load a registered (or run-logged) churnml model as a bundle with its name and version."""
    name, version = resolve_version(model_uri)
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as err:
        raise ModelNotFoundError(f"cannot load {model_uri}: {str(err).splitlines()[0]}") from None
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, ChurnmlPyfunc):
        raise ModelNotFoundError(f"{model_uri} is not a churnml model")
    bundle = python_model.bundle
    bundle.model_name, bundle.model_version = name, version
    return bundle
