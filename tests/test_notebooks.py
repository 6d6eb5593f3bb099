"""The notebooks run top to bottom on small data, parameterised by a data path."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
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
    """Execute a notebook; return the text of what its cells *printed or displayed*.

    Only outputs are returned, never the source, so an assertion on a name cannot pass
    because the code that should have produced it merely mentions it.
    """
    output = tmp_path / name
    pm.execute_notebook(
        str(NOTEBOOKS / name),
        str(output),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    executed = nbformat.read(output, as_version=4)
    parts: list[str] = []
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            for mime, value in out.get("data", {}).items():
                parts.append(mime if mime.startswith("image/") else str(value))
    return "\n".join(parts)


def test_explore_notebook_runs_on_a_data_path(data_dir: Path, tmp_path: Path) -> None:
    text = _run("01-explore-customers.ipynb", tmp_path, data_dir=str(data_dir), as_of="2025-01-01")
    assert text.count("image/png") >= 3  # sales, RFM and cohort plots were drawn
    assert "transactions" in text  # the table summary was displayed
    assert "recency_days" in text  # so were the behavioural features


def test_retrain_notebook_trains_compares_and_promotes(data_dir: Path, tmp_path: Path) -> None:
    text = _run(
        "02-retrain-and-promote.ipynb", tmp_path, data_dir=str(data_dir), as_of="2025-01-01"
    )
    assert "churn_roc_auc" in text  # the report and the comparison were displayed
    assert "champion (v" in text  # the registry has a champion after the run
    # The pipeline's own promotion decision is printed (the store may hold earlier versions).
    assert re.search(
        r"version \d+: (no champion yet|\S+ [\d.]+ (beats|does not beat) champion v\d+)", text
    )
    # Which rows each model saw, and the backtest's quality: deciles, lift, histogram.
    assert "shipped_model" in text and "Prediction quality:" in text
    assert text.count("image/png") >= 3
