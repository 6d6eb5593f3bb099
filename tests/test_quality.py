"""The prediction-quality report: deciles, lift by audience size with a grade, histogram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.evaluation.plots import quality_figures
from churnml.evaluation.quality import decile_table, lift_grade, lift_table, prediction_quality


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the probabilities themselves: a calibrated score."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, n)
    return (rng.random(n) < p).astype(float), p


def test_deciles_are_computed_from_the_rows() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    score = np.linspace(1.0, 0.1, 10)  # row order = rank
    table = decile_table(y, score, n_groups=5)
    assert table["customers"].tolist() == [2, 2, 2, 2, 2]
    assert table["actual_churn_rate"].tolist() == [1.0, 0.5, 0.0, 0.5, 0.0]
    assert table["predicted_churn_rate"].to_numpy() == pytest.approx([0.95, 0.75, 0.55, 0.35, 0.15])
    assert table["lift"].tolist() == pytest.approx([2.5, 1.25, 0.0, 1.25, 0.0])
    assert table["cumulative_capture"].tolist() == pytest.approx([0.5, 0.75, 0.75, 1.0, 1.0])


def test_a_calibrated_score_agrees_decile_by_decile() -> None:
    y, p = _calibrated(50_000, 0)
    table = decile_table(y, p)
    gap = (table["predicted_churn_rate"] - table["actual_churn_rate"]).abs()
    assert gap.max() < 0.03  # 5,000 rows a decile: sampling error about 0.007
    # ... and a score shifted up by 0.2 does not.
    shifted = decile_table(y, np.clip(p + 0.2, 0, 1))
    assert (shifted["predicted_churn_rate"] - shifted["actual_churn_rate"]).min() > 0.1


def test_lift_of_perfect_random_and_reversed_rankings() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(20_000) < 0.2).astype(float)
    perfect = lift_table(y, y + rng.random(len(y)) * 0.1)
    assert perfect["lift"].to_numpy() == pytest.approx(perfect["perfect_lift"].to_numpy())
    assert perfect.loc[0.1, "lift"] == pytest.approx(1 / y.mean())  # capped by the base rate
    assert perfect.loc[0.5, "lift"] == pytest.approx(2.0)  # 1 / audience
    assert prediction_quality(y, y * 0.9 + 0.05, "perfect").grade == "excellent"
    random = prediction_quality(y, rng.random(len(y)), "random")
    assert abs(random.average_lift - 1.0) < 0.05 and random.grade == "weak"
    assert prediction_quality(y, 1 - y, "reversed").lift_share < 0


def test_grades_follow_the_share_of_achievable_lift() -> None:
    y, p = _calibrated(20_000, 2)
    report = prediction_quality(y, p, "beta(2, 2)")
    assert report.lift_share == pytest.approx(report.lift["lift_share"].mean())
    assert report.grade == lift_grade(report.lift_share)
    assert [lift_grade(x) for x in (0.9, 0.7, 0.69, 0.5, 0.3, 0.29, -0.1)] == [
        "excellent",
        "excellent",
        "good",
        "good",
        "fair",
        "weak",
        "weak",
    ]
    assert lift_grade(float("nan")) == "not gradable"
    # Noise on the score lowers the grade's figure.
    noisy = prediction_quality(y, p + np.random.default_rng(3).normal(0, 0.5, len(p)), "noisy")
    assert noisy.lift_share < report.lift_share


def test_histogram_counts_every_row_once_and_the_report_renders() -> None:
    y, p = _calibrated(1000, 4)
    report = prediction_quality(y, p, "test rows")
    hist = report.histogram
    assert hist["churners"].sum() == y.sum() and hist["non_churners"].sum() == (1 - y).sum()
    assert len(hist) == 20 and hist["bin_end"].iloc[-1] == 1.0
    text = report.to_markdown()
    assert "Prediction quality — test rows" in text and "best possible lift" in text
    metrics = report.metrics()
    assert (
        metrics["quality_top_decile_actual_churn_rate"]
        == report.deciles["actual_churn_rate"].iloc[0]
    )
    figures = quality_figures(report)
    assert set(figures) == {"deciles", "lift", "score_histogram"}
    assert all(len(f.axes) >= 1 for f in figures.values())


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        prediction_quality(np.ones(3), np.ones(4), "x")
    assert isinstance(decile_table(np.array([1.0]), np.array([0.5])), pd.DataFrame)
