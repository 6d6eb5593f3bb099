"""Parity across engines: the pandas batch engine and Spark (local[2]).

The same customers scored by the same model version must get the same row
everywhere: strings exactly, floats to a relative 1e-9 (vectorised maths may
differ in the last bit between groupings). The HTTP request path is compared
with the pandas engine in ``tests/test_batch_scoring.py`` (no Java needed).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnml.datasets import simulate
from churnml.errors import DataValidationError
from churnml.scoring.batch import score_files
from churnml.scoring.output import FLOAT_OUTPUTS
from churnml.scoring.scorer import OUTPUT_COLUMNS

pytestmark = pytest.mark.spark

AS_OF = "2025-01-01"
TABLES = ("transactions", "customers", "events", "campaigns")


def assert_same_scores(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Row by row after sorting by customer: strings exactly, floats to rtol 1e-9."""
    got = got.sort_values("customer_id").reset_index(drop=True)
    want = want.sort_values("customer_id").reset_index(drop=True)
    assert list(got.columns) == list(OUTPUT_COLUMNS)
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    for col in OUTPUT_COLUMNS:
        if col in FLOAT_OUTPUTS:
            np.testing.assert_allclose(
                got[col].to_numpy(dtype=float),
                want[col].to_numpy(dtype=float),
                rtol=1e-9,
                err_msg=col,
            )
        else:
            mismatch = got[col].astype(str).to_numpy() != want[col].astype(str).to_numpy()
            assert not mismatch.any(), f"{col}: {got.loc[mismatch, col].head(3).tolist()}"


@pytest.fixture(scope="module")
def spark() -> Any:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not Path("/usr/lib/jvm").exists():
        pytest.skip("Spark needs Java")
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("churnml-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """400 simulated customers as Parquet with microsecond timestamps (what Spark reads)."""
    sim = simulate(400, seed=21)
    folder = tmp_path_factory.mktemp("spark-inputs")
    for name in TABLES:
        getattr(sim, name).to_parquet(
            folder / f"{name}.parquet",
            index=False,
            coerce_timestamps="us",
            allow_truncated_timestamps=True,
        )
    return {"sim": sim, "paths": [folder / f"{name}.parquet" for name in TABLES]}


def test_pandas_and_spark_scores_match(
    spark: Any, inputs: dict[str, Any], trained_model: Any, tmp_path: Path
) -> None:
    from churnml.scoring.spark import score_spark

    bundle = trained_model.bundle
    pandas_out = tmp_path / "pandas.parquet"
    spark_out = tmp_path / "spark.parquet"
    score_files(
        *inputs["paths"],
        as_of=AS_OF,
        output=pandas_out,
        bundle=bundle,
        chunk_customers=100,
        progress=False,
    )
    summary = score_spark(
        *inputs["paths"],
        as_of=AS_OF,
        output=spark_out,
        bundle=bundle,
        spark=spark,
        chunk_customers=100,
    )
    assert summary.engine == "spark" and summary.buckets == 4
    by_pandas = pd.read_parquet(pandas_out)
    by_spark = pd.read_parquet(spark_out)
    assert summary.customers == len(by_pandas) == len(by_spark) > 300
    assert_same_scores(by_spark, by_pandas)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pandas.parquet", "spark.parquet"]


def test_spark_bad_input_reports_global_rows_and_writes_nothing(
    spark: Any, inputs: dict[str, Any], trained_model: Any, tmp_path: Path
) -> None:
    from churnml.scoring.spark import score_spark

    def write(frame: pd.DataFrame, name: str) -> Path:
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
        return path

    sim = inputs["sim"]
    tx = sim.transactions.assign(amount=sim.transactions["amount"].astype(str))
    tx.loc[[3, 4_000], "amount"] = "n/a?"
    customers = sim.customers.assign(consent_sms=sim.customers["consent_sms"].astype(str))
    customers.loc[[6], "consent_sms"] = "maybe"
    out = tmp_path / "out" / "scores.parquet"
    with pytest.raises(DataValidationError) as info:
        score_spark(
            write(tx, "tx"),
            write(customers, "customers"),
            tmp_path / "missing.parquet",
            as_of=AS_OF,
            output=out,
            bundle=trained_model.bundle,
            spark=spark,
        )
    problems = {(p.table, p.column): p for p in info.value.problems}
    assert problems[("transactions", "amount")].rows == (4, 4_001)  # 1-based rows of the file
    assert problems[("customers", "consent_sms")].rows == (7,)
    assert "file not found" in problems[("events", "*")].message
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_spark_applies_a_campaign_budget_and_the_suppression_list_as_pandas_does(
    spark: Any, inputs: dict[str, Any], trained_model: Any, tmp_path: Path
) -> None:
    """The budget is applied over all groups; the suppression list reaches every executor
    and pandas worker with the bundle."""
    from churnml.scoring.spark import score_spark

    bundle = trained_model.bundle
    policy = bundle.config.policy.model_copy(update={"budget": 4.0, "max_contacts": 20})
    forgotten = sorted(set(inputs["sim"].transactions["customer_id"].astype(str)))[:7]
    budgeted = dataclasses.replace(
        bundle, config=bundle.config.model_copy(update={"policy": policy})
    ).with_suppressed(frozenset(forgotten))
    common = {"as_of": AS_OF, "bundle": budgeted, "chunk_customers": 100}
    score_files(*inputs["paths"], output=tmp_path / "pandas.parquet", progress=False, **common)
    score_spark(*inputs["paths"], output=tmp_path / "spark.parquet", spark=spark, **common)
    by_pandas = pd.read_parquet(tmp_path / "pandas.parquet")
    by_spark = pd.read_parquet(tmp_path / "spark.parquet")
    assert_same_scores(by_spark, by_pandas)
    contacted = (by_spark["next_best_action"] != "no_action").sum()
    assert 0 < contacted <= 20
    assert by_spark["action_reason"].str.startswith("budget exhausted").any()
    rows = by_spark.set_index("customer_id").loc[forgotten]
    assert (rows["next_best_action"] == "no_action").all() and not rows["control_group"].any()
    assert rows["action_reason"].str.contains("asked to be forgotten").all()
