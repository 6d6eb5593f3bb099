"""Publishing batch scores to SQL and reading a customer's latest row back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import MetaData, Table, create_engine, inspect, text

from churnml.database import default_url
from churnml.errors import ChurnmlError
from churnml.scoring.output import FLOAT_OUTPUTS
from churnml.scoring.publish import (
    DEFAULT_TABLE,
    latest_score,
    publish_file,
    publish_scores,
    scores_table,
)
from churnml.scoring.scorer import OUTPUT_COLUMNS


def scores(n: int, version: str = "1", as_of: str = "2025-01-01", seed: int = 0) -> pd.DataFrame:
    """A scorer-shaped frame (the columns and types of ``OUTPUT_COLUMNS``)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)], "as_of": as_of})
    for col in OUTPUT_COLUMNS:
        if col in FLOAT_OUTPUTS:
            frame[col] = rng.random(n)
        elif col == "control_group":
            frame[col] = rng.random(n) < 0.1
        elif col == "churn_reasons":
            frame[col] = [json.dumps([{"feature": "recency_days", "contribution": 0.5}])] * n
        elif col not in ("customer_id", "as_of"):
            frame[col] = f"{col}-value"
    frame["model_name"] = "churnml"
    frame["model_version"] = version
    frame.loc[0, "clv"] = np.nan  # NaN travels as NULL and comes back as None
    return frame[list(OUTPUT_COLUMNS)]


def count(url: str, table: str = DEFAULT_TABLE) -> int:
    with create_engine(url).connect() as conn:
        return int(conn.execute(text(f"select count(*) from {table}")).scalar_one())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scores.db'}"


def test_default_store_is_sqlite_in_churnml_home() -> None:
    import os

    assert default_url() == f"sqlite:///{Path(os.environ['CHURNML_HOME']).resolve() / 'scores.db'}"


def test_publish_then_look_up_a_customer(url: str) -> None:
    frame = scores(50)
    assert publish_scores(frame, url=url) == 50
    row = latest_score("C00007", url=url)
    assert row is not None
    want = frame.iloc[7]
    assert set(row) == {*OUTPUT_COLUMNS, "published_at"}
    for col in OUTPUT_COLUMNS:
        if col in FLOAT_OUTPUTS:
            assert row[col] == pytest.approx(float(want[col]), rel=1e-15)
        else:
            assert row[col] == want[col], col
    assert isinstance(row["control_group"], bool)
    assert latest_score("C00000", url=url)["clv"] is None  # type: ignore[index]
    assert latest_score("nobody", url=url) is None
    assert latest_score("C00007", url=url, table="no_such_table") is None


def test_the_customer_id_is_indexed(url: str) -> None:
    publish_scores(scores(3), url=url)
    indexes = inspect(create_engine(url)).get_indexes(DEFAULT_TABLE)
    assert any(ix["column_names"] == ["customer_id"] for ix in indexes)


def test_republishing_a_version_replaces_its_rows_and_keeps_others(url: str) -> None:
    publish_scores(scores(40, version="1"), url=url)
    publish_scores(scores(30, version="2"), url=url)
    assert count(url) == 70
    again = scores(20, version="1", seed=1)
    publish_scores(again, url=url)
    assert count(url) == 50  # version 1's 40 rows replaced by 20, version 2 kept
    with create_engine(url).connect() as conn:
        v1 = conn.execute(
            text(f"select count(*) from {DEFAULT_TABLE} where model_version='1'")
        ).scalar_one()
    assert v1 == 20


def test_latest_is_the_latest_as_of_then_the_latest_publication(url: str) -> None:
    publish_scores(scores(5, version="1", as_of="2025-01-01"), url=url)
    publish_scores(scores(5, version="1", as_of="2025-02-01"), url=url)
    publish_scores(scores(5, version="2", as_of="2024-12-01"), url=url)
    row = latest_score("C00001", url=url)
    assert row is not None and row["as_of"] == "2025-02-01" and row["model_version"] == "1"


def test_a_failed_publish_leaves_the_previous_rows(url: str) -> None:
    old = scores(30, version="1")
    publish_scores(old, url=url)

    def chunks() -> Iterator[pd.DataFrame]:
        yield scores(10, version="1", seed=3)  # would replace version 1 ...
        raise RuntimeError("the source broke mid-way")  # ... but the transaction rolls back

    with pytest.raises(RuntimeError):
        publish_scores(chunks(), url=url)
    assert count(url) == 30
    row = latest_score("C00002", url=url)
    assert row is not None and row["p_alive"] == pytest.approx(float(old.loc[2, "p_alive"]))


def test_missing_columns_are_refused_readably(url: str) -> None:
    with pytest.raises(ChurnmlError, match="lack the columns churn_probability"):
        publish_scores(scores(3).drop(columns=["churn_probability"]), url=url)


def test_an_existing_table_of_another_shape_is_refused(url: str) -> None:
    with create_engine(url).begin() as conn:
        conn.execute(text(f"create table {DEFAULT_TABLE} (customer_id varchar(10))"))
    with pytest.raises(ChurnmlError, match="exists without the columns"):
        publish_scores(scores(3), url=url)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_publish_file_streams_a_batch_output(fmt: str, url: str, tmp_path: Path) -> None:
    frame = scores(1_234)
    path = tmp_path / f"scores.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    assert publish_file(path, url=url, batch_rows=500) == 1_234
    assert count(url) == 1_234
    row = latest_score("C01000", url=url)
    assert row is not None
    assert row["churn_probability"] == pytest.approx(
        float(frame.loc[1000, "churn_probability"]), rel=1e-15
    )
    assert row["churn_reasons"] == frame.loc[1000, "churn_reasons"]
    assert row["control_group"] == bool(frame.loc[1000, "control_group"])


READER = r"""
import json, sys, time
from sqlalchemy import create_engine, text
from churnml.scoring.publish import latest_score
url, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
engine = create_engine(url)
seen, problems, reads = set(), [], 0
latest_score("C00007", url=url)  # imports and connections done before saying so
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    with engine.connect() as conn:  # one query: the table as one snapshot sees it
        rows = conn.execute(text(
            "select count(*), count(distinct segment), min(segment) from customer_scores"
        )).one()
    row = latest_score("C00007", url=url)
    reads += 1
    if rows[0] not in (0, n) or rows[1] > 1:
        problems.append(f"half-published: {tuple(rows)}")
    if rows[0] == n:
        seen.add(rows[2])
        if row is None or row["segment"] is None:
            problems.append("a published customer was missing")
print(json.dumps({"reads": reads, "generations": sorted(seen), "problems": problems[:5]}))
"""


def test_readers_never_see_a_half_published_table(url: str, tmp_path: Path) -> None:
    """A reader in another process, polling while the table is re-published (and one
    publish fails), sees the previous generation or the next, whole, never a mix."""
    import subprocess
    import sys

    n = 20_000
    publish_scores(scores(n).assign(segment="gen-0"), url=url)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, url, str(n), "6"], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    for generation in range(1, 6):
        publish_scores(scores(n, seed=generation).assign(segment=f"gen-{generation}"), url=url)

    def failing() -> Iterator[pd.DataFrame]:
        yield scores(n, seed=9).assign(segment="gen-broken")
        raise RuntimeError("the source broke mid-way")

    with pytest.raises(RuntimeError):
        publish_scores(failing(), url=url)
    out, _ = reader.communicate(timeout=120)
    report = json.loads(out)
    assert reader.returncode == 0
    assert report["problems"] == []
    assert report["reads"] > 10 and len(report["generations"]) >= 2  # it really read meanwhile
    assert "gen-broken" not in report["generations"]
    assert latest_score("C00007", url=url)["segment"] == "gen-5"  # type: ignore[index]


def test_a_table_of_an_earlier_version_gains_the_new_nullable_columns(url: str) -> None:
    """A table published before ``intended_value``/``intended_cost`` existed keeps its rows."""
    added = ("intended_value", "intended_cost")
    earlier = Table(
        DEFAULT_TABLE,
        MetaData(),
        *[c.copy() for c in scores_table(DEFAULT_TABLE).columns if c.name not in added],
    )
    engine = create_engine(url)
    earlier.metadata.create_all(engine)
    old = scores(3, version="1").drop(columns=list(added)).assign(published_at="2024-12-01")
    with engine.begin() as conn:
        conn.execute(earlier.insert(), old.replace({np.nan: None}).to_dict(orient="records"))
    new = scores(5, version="2", seed=1)
    publish_scores(new, url=url)
    assert count(url) == 8
    assert set(added) <= {c["name"] for c in inspect(engine).get_columns(DEFAULT_TABLE)}
    row = latest_score("C00001", url=url)
    assert row is not None and row["model_version"] == "2"
    assert row["intended_value"] == pytest.approx(float(new.loc[1, "intended_value"]))
