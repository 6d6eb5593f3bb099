"""The churn model against BG/NBD on a shop whose behaviour carries a strong churn signal.

The issue asks: "On simulated data whose behaviour carries churn signal, the churn
model's ROC-AUC is at least 0.03 above the best BTYD baseline, and its expected
calibration error is under 0.03." With the simulator's default strengths behaviour is
worth only +0.019..0.022 (``tests/test_churn_model.py``), so this module uses the
named scenario ``SimulationParams.strong_behaviour_signal()``: an engaged customer base
(about 7-8 e-mail opens, visits and app sessions a month, fewer near-silent accounts)
whose engagement fades over the 90 days before the last order and falls to 2 % of its
level after it, and where a returned order (+0.5) or a support ticket (+0.25) drives
customers away. Purchase rates, dropout ``p`` and spend keep the default BG/NBD and
Gamma-Gamma parameters, so BG/NBD remains a meaningful baseline (AUC near 0.90).

The protocol is that of ``tests/test_churn_model.py``: train on rolling cut-offs
before ``as_of``, judge the customers at ``as_of`` on the 90 days that follow.
Measured with 20,000 customers (LightGBM on one thread):

====  =====  ==============  ===========  =======  =====  =====  =====  =============
seed  model  BG/NBD P(none)  BG/NBD E[X]  recency  gain   ECE    Brier  Brier P(none)
====  =====  ==============  ===========  =======  =====  =====  =====  =============
0     0.943  0.899           0.894        0.868    0.044  0.012  0.092  0.122
1     0.945  0.902           0.898        0.870    0.043  0.008  0.090  0.120
2     0.942  0.899           0.895        0.867    0.044  0.016  0.093  0.122
3     0.945  0.900           0.895        0.869    0.045  0.012  0.091  0.121
====  =====  ==============  ===========  =======  =====  =====  =====  =============

Seeds 4 and 5 give gains of 0.043 and 0.047. A ranking that knows each customer's true
alive state and purchase rate reaches 0.960-0.963, so the model closes about 70 % of
BG/NBD's distance to it. The test runs seed 2, as ``tests/test_churn_model.py`` does.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from churnml.config import ChurnConfig, LTVConfig, TimeConfig
from churnml.data.contract import validate_tables
from churnml.datasets import simulate
from churnml.datasets.simulator import SimulationParams
from churnml.evaluation.churn_report import evaluate_churn
from churnml.models.churn import ChurnModel
from churnml.models.training_data import build_training_set, cutoff_rows

N_CUSTOMERS = 20_000
SEED = 2


@pytest.fixture(scope="module")
def sim_run() -> SimpleNamespace:
    """Train on the history before ``as_of``; evaluate on the window after it."""
    sim = simulate(N_CUSTOMERS, seed=SEED, params=SimulationParams.strong_behaviour_signal())
    past = sim.history()
    history = validate_tables(past.transactions, sim.customers, past.events, past.campaigns)
    full = validate_tables(sim.transactions, sim.customers, sim.events, sim.campaigns)
    time_cfg, ltv_cfg = TimeConfig(), LTVConfig()
    training = build_training_set(history, sim.as_of, time_cfg, ltv_cfg)
    model = ChurnModel.from_config(ChurnConfig(n_jobs=1), random_state=0)
    model.fit(training.X, training.y, training.cutoff)
    window = time_cfg.churn_window_days
    evaluation = cutoff_rows(full, sim.as_of, ltv_cfg, time_cfg.horizon_days, window)
    proba = model.predict_proba(evaluation.inputs)
    report = evaluate_churn(evaluation.labels, proba, evaluation.inputs, model=model)
    return SimpleNamespace(sim=sim, labels=evaluation.labels, report=report)


def test_scenario_changes_only_the_behavioural_drivers_of_dropout():
    defaults = dataclasses.asdict(SimulationParams())
    scenario = dataclasses.asdict(SimulationParams.strong_behaviour_signal())
    changed = {k for k in defaults if scenario[k] != defaults[k]}
    assert changed == {
        "engagement_mean",
        "engagement_shape",
        "engagement_fade_days",
        "engagement_floor",
        "return_dropout",
        "ticket_dropout",
    }
    assert SimulationParams.strong_behaviour_signal().bgnbd() == SimulationParams().bgnbd()


def test_btyd_baselines_stay_meaningful(sim_run):
    m = sim_run.report.metrics
    # Churn is not made trivially predictable: RFM alone ranks well, but far from perfectly.
    assert 0.85 < m["baseline_bgnbd_p_no_purchase_roc_auc"] < 0.95
    assert 0.85 < m["baseline_bgnbd_expected_purchases_roc_auc"] < 0.95
    assert 0.5 < sim_run.labels.mean() < 0.8


def test_model_beats_the_best_btyd_baseline_by_the_issues_margin(sim_run):
    m = sim_run.report.metrics
    btyd = max(
        m["baseline_bgnbd_p_no_purchase_roc_auc"], m["baseline_bgnbd_expected_purchases_roc_auc"]
    )
    assert m["churn_roc_auc"] >= btyd + 0.03
    assert m["churn_roc_auc"] > m["baseline_recency_roc_auc"] + 0.05


def test_model_is_calibrated_and_beats_bgnbd_on_brier(sim_run):
    m = sim_run.report.metrics
    assert m["churn_ece"] < 0.03
    assert m["churn_brier"] < m["baseline_bgnbd_p_no_purchase_brier"]
