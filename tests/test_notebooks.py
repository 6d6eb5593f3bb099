"""The notebooks run top to bottom on small data, parameterised by a data path."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from churnml.datasets import simulate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nb-data")
    simulate(800, seed=5).write(out)
    return out


def _run(name: str, tmp_path: Path, **parameters: object) -> str:
    output = tmp_path / name
    pm.execute_notebook(
        str(NOTEBOOKS / name),
        str(output),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    return output.read_text()


def test_explore_notebook_runs_on_a_data_path(data_dir: Path, tmp_path: Path) -> None:
    text = _run("01-explore-customers.ipynb", tmp_path, data_dir=str(data_dir), as_of="2025-01-01")
    assert "image/png" in text  # the plots were drawn
    assert "transactions" in text and "recency_days" in text


def test_retrain_notebook_trains_compares_and_promotes(data_dir: Path, tmp_path: Path) -> None:
    text = _run(
        "02-retrain-and-promote.ipynb", tmp_path, data_dir=str(data_dir), as_of="2025-01-01"
    )
    assert "churn_roc_auc" in text
    assert "champion (v" in text
