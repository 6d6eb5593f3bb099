"""The public names the documentation promises import exactly as written."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: The library interface of the architecture (the import paths a notebook uses).
PROMISED = [
    "churnml.datasets.load_cdnow",
    "churnml.datasets.simulate",
    "churnml.features.rfm_summary",
    "churnml.features.build_features",
    "churnml.models.LTVModel",
    "churnml.models.ChurnModel",
    "churnml.actions.NextBestActionPolicy",
    "churnml.actions.UpliftModel",
    "churnml.pipeline.train",
    "churnml.scoring.Scorer",
]


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted``, then walk the attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def _documented() -> list[str]:
    """Every `churnml.x.y` written in backticks in the README and docs/."""
    names = set()
    for doc in DOCS:
        names |= set(re.findall(r"`(churnml(?:\.\w+)+)", doc.read_text()))
    return sorted(names)


@pytest.mark.parametrize("dotted", PROMISED)
def test_promised_library_names_import(dotted: str) -> None:
    assert callable(_resolve(dotted))


def test_every_name_the_docs_mention_exists() -> None:
    names = _documented()
    assert "churnml.scoring.Scorer" in names  # the scan reads the docs at all
    missing = []
    for dotted in names:
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            missing.append(dotted)
    assert not missing, f"documented but not importable: {missing}"


def test_models_package_exports_the_estimators() -> None:
    from churnml.models import ChurnModel, LTVModel
    from churnml.models.churn import ChurnModel as Churn
    from churnml.models.ltv import LTVModel as LTV

    assert (ChurnModel, LTVModel) == (Churn, LTV)
    assert hasattr(LTVModel(), "fit") and hasattr(ChurnModel(), "predict_proba")
