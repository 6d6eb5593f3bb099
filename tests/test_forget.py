"""The right to be forgotten: ``churnml forget`` and the suppression list every part honours.

As a user runs it: batch-score and publish with a registered model, forget a few
customers, score and publish again, train again. The forgotten customers leave the
score table and stay out of it, get ``no_action`` (outside the control group) while
every other decision is unchanged, and the next training drops their rows; no MLflow
artefact of a run holds any customer's rows. The HTTP side (404, ``no_action``) is in
``tests/test_service_http.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from churnml.config import Config
from churnml.data import validate_tables, write_table
from churnml.datasets import simulate
from churnml.errors import ChurnmlError
from churnml.pipeline import train
from churnml.privacy.forget import forget_customers
from churnml.privacy.suppression import (
    SuppressionList,
    drop_suppressed,
    load_suppressions,
    read_ids,
    suppressed_among,
)
from churnml.scoring.publish import latest_score

CHURNML = str(Path(sys.executable).with_name("churnml"))
AS_OF = "2025-01-01"
FORGOTTEN_REASON = "asked to be forgotten"


def _run(
    args: list[str], env: dict[str, str], cwd: Path, code: int = 0
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == code, (
        f"{args[:2]} exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr
    return done


def _published(url: str) -> pd.DataFrame:
    with create_engine(url).connect() as conn:
        return pd.read_sql(text("SELECT * FROM customer_scores"), conn)


@pytest.fixture(scope="module")
def world(trained_model: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The session model's simulated data as files, and a score database of this module."""
    tmp = tmp_path_factory.mktemp("forget")
    config = trained_model.bundle.config
    sim = simulate(config.data.simulate_customers, seed=config.seed)
    files = {}
    for name in ("transactions", "customers", "events", "campaigns"):
        files[name] = tmp / f"{name}.csv"
        write_table(getattr(sim, name), files[name])
    url = f"sqlite:///{tmp / 'scores.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": trained_model.tracking_uri,
        "CHURNML_SCORES_URL": url,
    }
    model_uri = f"models:/{trained_model.model_name}/{trained_model.version}"
    score = [
        CHURNML, "score", "--as-of", AS_OF, "--model-uri", model_uri, "--workers", "2", "--publish",
        *(a for n, p in files.items() for a in (f"--{n}", str(p))),
    ]  # fmt: skip
    _run([*score, "--output", str(tmp / "before.parquet")], env, tmp)
    before = pd.read_parquet(tmp / "before.parquet").set_index("customer_id")
    contacted = before.index[before["next_best_action"] != "no_action"][:3].tolist()
    control = before.index[before["control_group"]][:1].tolist()
    return {
        "tmp": tmp, "url": url, "env": env, "score": score, "before": before,
        "forgotten": [*contacted, *control], "sim": sim, "files": files,
    }  # fmt: skip


@pytest.fixture(scope="module")
def after(world: dict[str, Any]) -> dict[str, Any]:
    """``churnml forget`` (two ids as arguments, two in a file), then score and publish again."""
    tmp, env = world["tmp"], world["env"]
    first, second, *rest = world["forgotten"]
    ids_file = tmp / "ids.csv"
    ids_file.write_text("customer_id\n" + "".join(f"{c}\n" for c in rest) + "# done\n")
    rows_before = len(_published(world["url"]))
    forgot = _run([CHURNML, "forget", first, second, "--file", str(ids_file)], env, tmp)
    rows_forgotten = len(_published(world["url"]))
    _run([*world["score"], "--output", str(tmp / "after.parquet")], env, tmp)
    return {
        "stdout": forgot.stdout,
        "rows_before": rows_before,
        "rows_forgotten": rows_forgotten,
        "scores": pd.read_parquet(tmp / "after.parquet").set_index("customer_id"),
        "table": _published(world["url"]),
    }


def test_forget_deletes_the_published_rows_and_reports_them(
    world: dict[str, Any], after: dict[str, Any]
) -> None:
    n = len(world["forgotten"])
    assert after["rows_before"] == len(world["before"])  # one published row per customer
    assert after["rows_forgotten"] == after["rows_before"] - n
    assert f"Deleted {n} published score rows; {n} customers added" in after["stdout"]
    assert load_suppressions(world["url"]).ids == frozenset(world["forgotten"])


def test_forgotten_customers_stay_out_of_the_score_table(
    world: dict[str, Any], after: dict[str, Any]
) -> None:
    table = after["table"]
    assert not set(world["forgotten"]) & set(table["customer_id"])
    assert len(table) == len(world["before"]) - len(world["forgotten"])
    for cid in world["forgotten"]:
        assert latest_score(cid, url=world["url"]) is None


def test_forgotten_customers_get_no_action_and_nothing_else_changes(
    world: dict[str, Any], after: dict[str, Any]
) -> None:
    before, now = world["before"], after["scores"]
    forgotten = world["forgotten"]
    assert (before.loc[forgotten[:3], "next_best_action"] != "no_action").all()
    assert before.loc[forgotten[3], "control_group"]
    rows = now.loc[forgotten]
    assert (rows["next_best_action"] == "no_action").all()
    assert not rows["control_group"].any()
    assert (rows["expected_incremental_value"] == 0).all()
    assert rows["action_reason"].str.contains(FORGOTTEN_REASON).all()
    others = now.index.difference(forgotten)
    assert len(others) == len(before) - len(forgotten)
    pd.testing.assert_frame_equal(now.loc[others], before.loc[others])


def test_the_next_training_drops_forgotten_customers_and_no_artefact_holds_customer_rows(
    world: dict[str, Any], after: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = world["sim"]
    tables = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("CHURNML_SCORES_URL", world["url"])
    config = Config.from_dict(
        {
            "time": {"as_of": AS_OF},
            "tracking": {"tracking_uri": store, "register_model": False},
            "churn": {"n_estimators": 5, "early_stopping_rounds": 2},
        }
    )
    result = train(config, tables=tables, show_progress=False)
    forgotten = world["forgotten"]
    assert result.metrics["suppressed_customers_dropped"] == len(forgotten)
    kept = tables.transactions[~tables.transactions["customer_id"].isin(forgotten)]
    run = mlflow.tracking.MlflowClient(store).get_run(result.run_id)
    assert run.data.params["data.transactions.rows"] == str(len(kept))
    # Every text artefact of the run (reports, tables, the model's files and input example):
    # no customer id of the data appears in any of them.
    mlflow.set_tracking_uri(store)
    folders = [
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=result.run_id, dst_path=str(tmp_path / "run")
            )
        ),
        Path(
            mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path / "model"))
        ),
    ]
    ids = set(tables.transactions["customer_id"])
    texts = [
        p
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in {".csv", ".md", ".json", ".yaml", ".txt", ""}
    ]
    assert len(texts) > 10 and any(p.name.startswith("input_example") for p in texts)
    assert re.findall(
        r"C\d{7}", world["files"]["transactions"].read_text()
    )  # the check can see ids
    found = {
        (p.name, token)
        for p in texts
        for token in re.findall(r"C\d{7}", p.read_text(errors="ignore"))
        if token in ids
    }
    assert not found, sorted(found)[:5]


def test_forgetting_again_or_an_unknown_customer_is_reported_not_an_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    first = forget_customers(["A1", "A2"], url=url)
    assert first.newly_suppressed == 2 and first.rows_deleted == 0
    again = forget_customers(["A2", "A3", "A3"], url=url)
    assert again.customers["customer_id"].tolist() == ["A2", "A3"]
    assert again.customers["already_suppressed"].tolist() == [True, False]
    assert suppressed_among(["A1", "B9", "A3"], url=url).ids == {"A1", "A3"}
    with pytest.raises(ChurnmlError, match="non-empty customer id"):
        forget_customers(["A4", " "], url=url)


def test_an_empty_database_has_an_empty_list_and_drop_keeps_other_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert len(load_suppressions(url)) == 0 and len(suppressed_among(["x"], url)) == 0
    sim = simulate(60, seed=3)
    tables = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    gone = sorted(set(tables.transactions["customer_id"]))[:5]
    dropped = drop_suppressed(tables, SuppressionList(frozenset(gone)))
    for name in ("transactions", "customers", "events", "campaigns"):
        frame, kept = getattr(tables, name), getattr(dropped, name)
        assert not set(gone) & set(kept["customer_id"])
        assert len(kept) == (~frame["customer_id"].isin(gone)).sum()


def test_read_ids_takes_lines_or_a_csv_column() -> None:
    assert read_ids(["customer_id,name", "C1,Ann", "", "  C2 ", "# note", '"C3",x']) == [
        "C1",
        "C2",
        "C3",
    ]


def test_forget_without_ids_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "CHURNML_SCORES_URL": f"sqlite:///{tmp_path / 's.db'}"}
    done = _run([CHURNML, "forget"], env, tmp_path, code=1)
    assert "give customer ids" in done.stderr
    done = _run([CHURNML, "forget", "--file", str(tmp_path / "missing.txt")], env, tmp_path, code=1)
    assert "cannot read" in done.stderr
