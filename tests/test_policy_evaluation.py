"""Offline policy evaluation and the audience curve, checked against the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from churnml.actions.audience import AUDIENCE_COLUMNS, audience_curve, audience_table
from churnml.actions.control import assign_control
from churnml.actions.fitting import fit_uplift
from churnml.config import Config
from churnml.data.contract import validate_tables
from churnml.datasets.simulator import SimulatedData, SimulationParams, simulate
from churnml.evaluation.policy import RULES, OfflineEvaluation, evaluate_policy_offline
from churnml.evaluation.policy_study import prepare_study
from cli_runner import run_churnml


@pytest.fixture(scope="module")
def past_campaign() -> tuple[SimulatedData, OfflineEvaluation]:
    sim = simulate(20_000, seed=0, params=SimulationParams.dropouts_and_actives())
    known = sim.history()
    tables = validate_tables(known.transactions, known.customers, known.events, known.campaigns)
    config = Config()
    fit = fit_uplift(tables, config, sim.as_of)
    # 99% intervals: 16 of them are checked at once (4 rules x 2 outcomes x 2 estimators).
    result = evaluate_policy_offline(
        tables,
        config,
        sim.as_of,
        fit.conversion,
        n_contacts=800,
        confidence=0.99,
        revenue_model=fit.revenue,
    )
    return sim, result


def _true_totals(sim: SimulatedData, result: OfflineEvaluation) -> dict[tuple[str, str], float]:
    """The simulator's true incremental conversions and window revenue of each rule's choices."""
    truth = sim.truth.set_index("customer_id").loc[result.held["customer_id"].astype(str)]
    totals = {}
    for rule, choice in result.choices.items():
        for outcome, column in (("conversions", "uplift_at_send"), ("revenue", "revenue_at_send")):
            totals[(rule, outcome)] = sum(
                float(truth[f"{column}_{a}"].to_numpy()[choice == a].sum())
                for a in set(choice.tolist()) - {"no_action"}
            )
    return totals


def test_each_estimate_covers_the_true_value_of_its_rule(
    past_campaign: tuple[SimulatedData, OfflineEvaluation],
) -> None:
    sim, result = past_campaign
    report = result.report
    print("\n" + report.round(1).to_string())
    assert set(report["rule"]) == set(RULES)
    assert set(report["estimator"]) == {"ips", "dr"}
    assert set(report["outcome"]) == {"conversions", "revenue"}
    truth = _true_totals(sim, result)
    for r in report.itertuples():
        true = truth[(r.rule, r.outcome)]
        assert r.low <= true <= r.high, (r.rule, r.outcome, r.estimator, r.low, true, r.high)
    # the policy's and the baselines' campaigns have the same size
    sizes = report.loc[report["rule"] != "contact_everyone", "contacts"]
    assert sizes.nunique() == 1 and sizes.iloc[0] == 800


def test_evaluate_policy_command_prints_the_estimates(tmp_path: Path) -> None:
    sim = simulate(6_000, seed=1, params=SimulationParams.dropouts_only()).history()
    paths = {}
    for name in ("transactions", "customers", "events", "campaigns"):
        paths[name] = tmp_path / f"{name}.csv"
        getattr(sim, name).to_csv(paths[name], index=False)
    done = run_churnml(
        "evaluate-policy",
        *(a for n, p in paths.items() for a in (f"--{n}", str(p))),
        "--contacts",
        "200",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for word in ("policy", "top_churn_risk", "random", "contact_everyone", "ips", "dr"):
        assert word in done.stdout


def test_audience_curve_is_cumulative_and_its_top_beats_random() -> None:
    study = prepare_study(simulate(20_000, seed=0, params=SimulationParams.dropouts_only()))
    control = assign_control(study.options.customer_ids, "winback", 0.1)
    curve = audience_curve(study.options, control, Config().ltv.margin)
    assert list(curve.columns) == list(AUDIENCE_COLUMNS)
    assert (np.diff(curve["expected_incremental_conversions"]) >= 0).all()
    assert (np.diff(curve["expected_incremental_value"]) > 0).all()
    assert curve["contacts"].iloc[-1] <= int((~control).sum())
    table = audience_table(curve, points=10)
    assert len(table) == 10 and table["contacts"].iloc[-1] == curve["contacts"].iloc[-1]
    # By the truth: the curve's first tenth of contacts is worth more than a random tenth.
    k = len(curve) // 10
    top = study.compare(k)
    assert top.loc["policy", "true_value"] > top.loc["random", "true_value"]
