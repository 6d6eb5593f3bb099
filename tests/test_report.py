"""The customer-base report: its numbers, checked by plain counts, and the page in a browser.

The KPIs are recomputed here the simplest way (Python sets and sums over the raw
simulated rows) rather than with the report's pandas code; the scores come from the
session's trained model; the HTML is opened in a real headless Chromium.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churnml.data import validate_tables, write_table
from churnml.datasets import simulate
from churnml.reporting import Report, build_report
from churnml.reporting.html import write_html
from cli_runner import run_churnml as _churnml

AS_OF = pd.Timestamp("2025-01-01")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def shop() -> Any:
    """A simulated shop's history before AS_OF: ~1,500 customers, refunds, three channels."""
    return simulate(1500, seed=7).history(AS_OF)


@pytest.fixture(scope="module")
def scores(shop: Any, trained_model: Any) -> pd.DataFrame:
    from churnml.scoring import Scorer

    tables = validate_tables(shop.transactions, shop.customers, shop.events, shop.campaigns)
    return Scorer(trained_model.bundle).score(tables, AS_OF)


@pytest.fixture(scope="module")
def report(shop: Any, scores: pd.DataFrame) -> Report:
    tables = validate_tables(shop.transactions, shop.customers, shop.events, shop.campaigns)
    return build_report(tables, scores, AS_OF)


@pytest.fixture(scope="module")
def files(shop: Any, scores: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-inputs")
    write_table(shop.transactions, folder / "transactions.csv")
    write_table(shop.customers, folder / "customers.csv")
    write_table(shop.campaigns, folder / "campaigns.csv")
    write_table(scores, folder / "scores.parquet")
    return folder


def _raw_orders(shop: Any) -> list[tuple[str, pd.Timestamp, float, str]]:
    """(customer, date, amount, channel) of every positive raw row before AS_OF."""
    tx = shop.transactions
    assert tx["order_id"].is_unique  # one row is one order: no merging to redo here
    return [
        (c, d, a, ch)
        for c, d, a, ch in zip(tx.customer_id, tx.order_date, tx.amount, tx.channel, strict=True)
        if a > 0 and d < AS_OF
    ]


def test_retention_matrix_equals_a_count_of_customers_per_cohort(shop: Any, report: Report) -> None:
    orders = _raw_orders(shop)
    first: dict[str, int] = {}
    bought_in: dict[int, set[str]] = defaultdict(set)
    for customer, date, _, _ in orders:
        month = date.year * 12 + date.month - 1
        first[customer] = min(first.get(customer, month), month)
        bought_in[month].add(customer)
    cohorts: dict[int, set[str]] = defaultdict(set)
    for customer, month in first.items():
        cohorts[month].add(customer)
    last = 2024 * 12 + 11  # December 2024, the last month before AS_OF

    shares = report.kpis.retention.shares
    assert len(shares) == len(cohorts) and shares.shape[1] == last - min(cohorts) + 1
    for cohort, members in sorted(cohorts.items()):
        label = f"{cohort // 12}-{cohort % 12 + 1:02d}"
        assert report.kpis.retention.sizes[label] == len(members)
        for k in shares.columns:
            expected = (
                len(members & bought_in[cohort + k]) / len(members)
                if cohort + k <= last
                else math.nan
            )
            got = shares.at[label, k]
            assert (math.isnan(got) and math.isnan(expected)) or got == expected, (label, k)
    assert shares.iloc[:, 0].eq(1.0).all()
    assert 0.2 < shares.iloc[:, 1].mean() < 0.9  # months after the first are not all 0 or 1


def test_repeat_rate_equals_the_share_of_customers_with_two_orders(
    shop: Any, report: Report
) -> None:
    n_orders: dict[str, int] = defaultdict(int)
    for customer, *_ in _raw_orders(shop):
        n_orders[customer] += 1
    expected = sum(n >= 2 for n in n_orders.values()) / len(n_orders)
    assert report.kpis.headline["repeat_rate"] == expected
    assert 0 < expected < 1
    assert report.kpis.headline["orders"] == sum(n_orders.values())


def test_revenue_by_channel_is_net_and_adds_up_to_the_total(shop: Any, report: Report) -> None:
    tx = shop.transactions
    past = tx[tx.order_date < AS_OF]
    assert (past.amount < 0).any()  # refunds are in the data and must count
    total = sum(past.amount)
    per_channel: dict[str, float] = defaultdict(float)
    for channel, amount in zip(past.channel, past.amount, strict=True):
        per_channel[channel] += amount
    by_channel = report.kpis.by_channel
    assert set(by_channel.index) == set(per_channel) == {"online", "store", "app"}
    assert by_channel["revenue"].sum() == pytest.approx(total, rel=1e-12)
    assert report.kpis.headline["revenue"] == pytest.approx(total, rel=1e-12)
    for channel, revenue in per_channel.items():
        assert by_channel.at[channel, "revenue"] == pytest.approx(revenue, rel=1e-12)
    assert by_channel["share_of_revenue"].sum() == pytest.approx(1.0)


def test_omnichannel_share_counts_customers_with_two_channels(shop: Any, report: Report) -> None:
    channels: dict[str, set[str]] = defaultdict(set)
    for customer, _, _, channel in _raw_orders(shop):
        channels[customer].add(channel)
    multi = sum(len(c) >= 2 for c in channels.values())
    assert report.kpis.headline["omnichannel_share"] == multi / len(channels)
    omni = report.kpis.omnichannel
    assert omni.at["omnichannel", "customers"] == multi
    assert omni["customers"].sum() == len(channels)
    assert omni["revenue"].sum() == pytest.approx(report.kpis.headline["revenue"], rel=1e-12)


def test_segments_and_tiers_come_from_the_scores(scores: pd.DataFrame, report: Report) -> None:
    by_segment = report.kpis.by_segment
    assert by_segment["customers"].to_dict() == scores["segment"].value_counts().to_dict()
    tiers = report.kpis.value_tiers
    assert tiers["customers"].sum() == len(scores)
    assert tiers["total_clv"].sum() == pytest.approx(scores["clv"].sum())
    assert list(tiers["mean_clv"]) == sorted(tiers["mean_clv"])  # lowest tier first
    assert report.kpis.risk_bands["customers"].sum() == len(scores)


def test_campaign_lift_is_treated_minus_control_of_the_recorded_outcomes(
    shop: Any, report: Report
) -> None:
    campaigns = report.kpis.campaigns
    assert campaigns is not None and len(campaigns) == shop.campaigns["campaign_id"].nunique()
    for campaign_id, row in campaigns.iterrows():
        rows = shop.campaigns[shop.campaigns.campaign_id == campaign_id]
        treated, control = rows[rows.treated], rows[~rows.treated]
        assert row["n_treated"] == len(treated) and row["n_control"] == len(control)
        assert row["conversion_treated"] == pytest.approx(treated.converted.mean())
        assert row["conversion_lift"] == pytest.approx(
            treated.converted.mean() - control.converted.mean()
        )
        assert row["revenue_lift"] == pytest.approx(treated.revenue.mean() - control.revenue.mean())


def test_cli_writes_the_report_from_a_scores_file(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = _churnml(
        "report",
        "--transactions", str(files / "transactions.csv"),
        "--campaigns", str(files / "campaigns.csv"),
        "--scores", str(files / "scores.parquet"),
        "--as-of", "2025-01-01",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "7 figures" in done.stdout
    html = out.read_text()
    assert html.count('src="data:image/png;base64,') == 7 and 'data-figures="7"' in html
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert out.stat().st_mode & 0o777 == 0o644  # shareable, not the temporary file's 0600


def test_cli_scores_with_the_registered_model_and_logs_to_the_run(
    files: Path, tmp_path: Path, trained_model: Any
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=trained_model.tracking_uri)
    run = client.create_run(trained_model.experiment_id)
    out = tmp_path / "report.html"
    done = _churnml(
        "report",
        "--transactions", str(files / "transactions.csv"),
        "--model-uri", f"models:/{trained_model.model_name}/{trained_model.version}",
        "--as-of", "2025-01-01",
        "--out", str(out),
        "--run-id", run.info.run_id,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "6 figures" in done.stdout  # no campaigns table: no lift figure
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "customer_report")}
    figures = {"cohort_retention", "by_channel", "by_segment", "omnichannel", "clv", "risk"}
    assert logged == {f"customer_report/{n}.png" for n in figures} | {"customer_report/report.html"}


def test_cli_names_the_missing_column_and_writes_nothing(files: Path, tmp_path: Path) -> None:
    tx = pd.read_csv(files / "transactions.csv").drop(columns=["amount"])
    tx.to_csv(tmp_path / "transactions.csv", index=False)
    out = tmp_path / "out" / "report.html"
    done = _churnml(
        "report",
        "--transactions", str(tmp_path / "transactions.csv"),
        "--scores", str(files / "scores.parquet"),
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 2
    assert "amount" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and not out.parent.exists()


def test_every_figure_renders_in_a_real_browser(report: Report, tmp_path: Path) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    path = write_html(report.html, tmp_path / "report.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(path.resolve().as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
            )
            said = int(page.get_attribute("body", "data-figures") or -1)
            shown = page.inner_text("#figure-count")
        finally:
            browser.close()
    assert report.n_figures == 7  # campaigns given: the lift figure too
    assert len(images) == said == int(shown) == report.n_figures
    assert all(done and width > 0 and height > 0 for done, width, height in images), images


def test_scores_missing_a_column_or_of_another_date_are_refused(
    shop: Any, scores: pd.DataFrame
) -> None:
    from churnml.cli.report import _check_scores_date
    from churnml.errors import DataValidationError
    from churnml.reporting.kpis import validate_scores

    with pytest.raises(DataValidationError, match="clv"):
        validate_scores(scores.drop(columns=["clv"]))
    with pytest.raises(DataValidationError, match="as of 2025-01-01 but the report is as of"):
        _check_scores_date(scores, AS_OF + pd.Timedelta(days=1))
    _check_scores_date(scores, AS_OF)  # the same date passes
