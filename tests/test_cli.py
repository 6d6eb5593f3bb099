"""The command line as a user runs it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnml.datasets import simulate
from cli_runner import run_churnml as _churnml


def test_help_lists_every_command() -> None:
    done = _churnml("--help")
    assert done.returncode == 0
    for command in (
        "simulate",
        "validate",
        "train",
        "score",
        "evaluate",
        "promote",
        "serve",
        "demo",
        "lift",
        "evaluate-policy",
        "report",
        "monitor",
        "forget",
    ):
        assert command in done.stdout


def test_simulate_then_validate(tmp_path: Path) -> None:
    done = _churnml("simulate", "--customers", "300", "--seed", "3", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for table in ("transactions", "customers", "events", "campaigns", "truth"):
        assert (tmp_path / f"{table}.csv").exists()
    done = _churnml(
        "validate",
        "--transactions",
        str(tmp_path / "transactions.csv"),
        "--customers",
        str(tmp_path / "customers.csv"),
        "--events",
        str(tmp_path / "events.csv"),
        "--campaigns",
        str(tmp_path / "campaigns.csv"),
        "--strict",
    )
    assert done.returncode == 0, done.stderr
    assert "Valid input" in done.stdout and "transactions" in done.stdout


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (
            "customer_id,order_date,amount\na,2024-01-01,1\nb,2024-02-31,2\n",
            "transactions.order_date",
        ),
        ("customer_id,order_date\na,2024-01-01\n", "transactions.amount"),
        ("customer_id,order_date,amount\na,2024-01-01,NaN\n", "transactions.amount"),
        ('customer_id,order_date,amount\n"a,2024-01-01,1\nb,2024\n', "transactions"),
    ],
)
def test_bad_files_exit_2_with_the_field_and_no_traceback(
    tmp_path: Path, content: str, field: str
) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(content)
    done = _churnml("validate", "--transactions", str(path))
    assert done.returncode == 2
    assert field in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_score_without_a_model_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNML_HOME", str(tmp_path / "empty"))
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,order_date,amount\na,2024-01-01,1\n")
    out = tmp_path / "scores.parquet"
    done = _churnml(
        "score", "--transactions", str(path), "--as-of", "2024-06-01", "--output", str(out)
    )
    assert done.returncode == 1
    assert "no model at models:/churnml@champion" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_lift_recovers_the_simulated_campaign_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNML_HOME", str(tmp_path / "home"))
    sim = simulate(6000, seed=11)
    sim.write(tmp_path / "data")
    out = tmp_path / "lift"
    done = _churnml(
        "lift",
        "--contacts",
        str(tmp_path / "data" / "campaigns.csv"),
        "--transactions",
        str(tmp_path / "data" / "transactions.csv"),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "lift.csv")
    overall = table.loc[table["dimension"] == "overall"].iloc[0]
    truth = sim.truth.set_index("customer_id")
    treated = sim.campaigns.loc[sim.campaigns["treated"], "customer_id"]
    true_effect = truth.loc[treated, "campaign_true_uplift"].mean()
    assert overall["conversion_lift_low"] <= true_effect <= overall["conversion_lift_high"]
    assert (out / "lift.png").stat().st_size > 1000
    history = pd.read_csv(out / "campaign_history.csv")
    assert {"customer_id", "campaign_id", "sent_date", "action", "treated", "converted"} <= set(
        history.columns
    )
    assert "MLflow run" in done.stdout
