"""A bundle made ready in a worker process: loaded once per key, with the threads given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from churnml.data import validate_tables
from churnml.datasets import simulate
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.worker import CACHED_SCORERS, worker_scorer

AS_OF = "2025-01-01"


@pytest.fixture()
def saved(trained_model: Any, tmp_path: Path) -> Path:
    return trained_model.bundle.save(tmp_path / "bundle")


def test_a_worker_loads_each_bundle_once_and_gives_its_boosters_the_threads(
    trained_model: Any, saved: Path
) -> None:
    loads: list[str] = []

    def load(key: str) -> ModelBundle:
        loads.append(key)
        return ModelBundle.load(saved, model_version=str(trained_model.version))

    with threadpool_limits(limits=None):  # restores this process's limits afterwards
        first = worker_scorer("a", lambda: load("a"), threads=1)
        assert worker_scorer("a", lambda: load("a"), threads=1) is first
        assert loads == ["a"]
        openmp = [p for p in threadpool_info() if p["user_api"] == "openmp"]
        assert openmp and all(p["num_threads"] == 1 for p in openmp)
        assert first.bundle.churn.get_params()["n_jobs"] == 1

        # Another thread count or another bundle is another scorer; the oldest goes first.
        two = worker_scorer("a", lambda: load("a"), threads=2)
        assert two is not first and two.bundle.churn.get_params()["n_jobs"] == 2
        for k in range(CACHED_SCORERS):
            worker_scorer(f"other-{k}", lambda k=k: load(f"other-{k}"), threads=1)
        worker_scorer("a", lambda: load("a"), threads=1)
        assert loads.count("a") == 3


def test_the_threads_do_not_change_the_scores(trained_model: Any, saved: Path) -> None:
    sim = simulate(300, seed=trained_model.bundle.config.seed + 1).history(AS_OF)
    tables = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    version = str(trained_model.version)
    with threadpool_limits(limits=None):
        one = worker_scorer("t", lambda: ModelBundle.load(saved, model_version=version), 1)
        two = worker_scorer("t", lambda: ModelBundle.load(saved, model_version=version), 2)
        a, b = one.score(tables, AS_OF), two.score(tables, AS_OF)
    assert len(a) > 100
    assert a.equals(b)
