"""One customer or many, in one chunk or many: the feature code gives the same numbers.

The HTTP service builds the inputs of a single customer, batch scoring and training
those of millions; both go through ``model_inputs``. These tests pin down that a
customer's row does not depend on who else is in the batch, on how rows are chunked
or sorted, and that every feature column is float64 whatever the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.data import InputTables, validate_tables
from churnml.datasets import simulate
from churnml.features import (
    FEATURE_COLUMNS,
    build_features,
    churn_labels,
    grouping,
    purchase_history,
    rfm_summary,
)
from churnml.features.grouping import NO_DAY, day_numbers, sort_by_key
from churnml.models.inputs import LTV_COLUMNS, model_inputs
from churnml.models.ltv import LTVModel


@pytest.fixture(scope="module")
def sim() -> tuple[InputTables, pd.Timestamp]:
    data = simulate(400, seed=11)
    tables = validate_tables(data.transactions, data.customers, data.events, data.campaigns)
    return tables, pd.Timestamp(data.as_of)


@pytest.fixture(scope="module")
def ltv(sim: tuple[InputTables, pd.Timestamp]) -> LTVModel:
    tables, as_of = sim
    return LTVModel(time_unit="W").fit(rfm_summary(tables.transactions, as_of, "W"))


def _only(tables: InputTables, customer: str) -> InputTables:
    def rows(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        return frame[frame["customer_id"] == customer].reset_index(drop=True)

    return InputTables(
        rows(tables.transactions),
        rows(tables.customers),
        rows(tables.events),
        rows(tables.campaigns),
    )


def _sample_customers(tables: InputTables, as_of: pd.Timestamp) -> list[str]:
    tx = tables.transactions
    before = tx[tx["order_date"] < as_of]
    refunders = before.loc[before["amount"] < 0, "customer_id"].unique()[:4]
    rng = np.random.default_rng(0)
    others = rng.choice(before["customer_id"].unique(), 8, replace=False)
    return [*refunders, *others]


def test_one_customer_gets_its_row_of_the_batch(
    sim: tuple[InputTables, pd.Timestamp], ltv: LTVModel
) -> None:
    tables, as_of = sim
    for cutoff in (as_of, as_of - pd.Timedelta(days=120)):
        feats = build_features(tables, cutoff)
        rfm = rfm_summary(tables.transactions, cutoff, "W")
        inputs = model_inputs(tables, cutoff, ltv, 365, 90)
        for customer in _sample_customers(tables, cutoff):
            one = _only(tables, customer)
            pd.testing.assert_frame_equal(
                build_features(one, cutoff), feats.loc[[customer]], rtol=1e-12
            )
            pd.testing.assert_frame_equal(
                rfm_summary(one.transactions, cutoff, "W"), rfm.loc[[customer]], rtol=1e-12
            )
            pd.testing.assert_frame_equal(
                model_inputs(one, cutoff, ltv, 365, 90), inputs.loc[[customer]], rtol=1e-12
            )


def test_chunks_and_row_order_change_nothing(
    sim: tuple[InputTables, pd.Timestamp], ltv: LTVModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables, as_of = sim
    expected = model_inputs(tables, as_of, ltv, 365, 90)
    rng = np.random.default_rng(5)

    def shuffled(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)

    mixed = InputTables(
        shuffled(tables.transactions),
        shuffled(tables.customers),
        shuffled(tables.events),
        shuffled(tables.campaigns),
    )
    monkeypatch.setattr(grouping, "CHUNK_ROWS", 97)
    pd.testing.assert_frame_equal(model_inputs(mixed, as_of, ltv, 365, 90), expected, rtol=1e-12)
    pd.testing.assert_series_equal(
        churn_labels(mixed.transactions, as_of, 90), churn_labels(tables.transactions, as_of, 90)
    )


def test_feature_columns_are_float_whatever_the_data() -> None:
    # No refund and no recent purchase: bincount of nothing must not turn columns int.
    tables = validate_tables(
        pd.DataFrame({"customer_id": ["a"], "order_date": ["2023-01-05"], "amount": [10.0]})
    )
    feats = build_features(tables, "2024-06-01")
    assert list(feats.columns) == list(FEATURE_COLUMNS)
    assert (feats.dtypes == np.float64).all()
    assert feats.loc["a", "return_amount"] == 0 and feats.loc["a", "spend_90d"] == 0
    nobody = build_features(tables, "2023-01-01")
    assert nobody.empty and list(nobody.columns) == list(FEATURE_COLUMNS)
    assert (nobody.dtypes == np.float64).all() and nobody.index.name == "customer_id"


def test_model_inputs_columns_and_index(
    sim: tuple[InputTables, pd.Timestamp], ltv: LTVModel
) -> None:
    tables, as_of = sim
    inputs = model_inputs(tables, as_of, ltv, 365, 90)
    assert list(inputs.columns) == [*FEATURE_COLUMNS, *LTV_COLUMNS]
    assert (inputs.dtypes == np.float64).all()
    assert inputs.index.name == "customer_id" and inputs.index.is_monotonic_increasing
    history = purchase_history(tables.transactions, as_of)
    assert inputs.index.equals(history.customers)


def test_customers_with_only_refunds_or_only_events_get_no_row() -> None:
    tables = validate_tables(
        pd.DataFrame(
            {
                "customer_id": ["a", "r", "z"],
                "order_date": ["2024-01-01", "2024-01-02", "2024-01-03"],
                "amount": [0.0, -5.0, 3.0],
            }
        ),
        events=pd.DataFrame(
            {"customer_id": ["e"], "event_date": ["2024-01-01"], "event_type": ["site_visit"]}
        ),
    )
    feats = build_features(tables, "2024-02-01")
    assert feats.index.tolist() == ["a", "z"]  # a zero-value order is a purchase
    assert feats.loc["a", "n_orders"] == 1 and feats.loc["a", "share_other"] == 0


def test_sort_by_key_is_a_stable_argsort() -> None:
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 50, 1_000)
    for n_keys in (50, 2**62):  # packed sort, and the plain argsort fallback
        order, sorted_keys = sort_by_key(keys, n_keys)
        np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
        np.testing.assert_array_equal(sorted_keys, np.sort(keys))


def test_day_numbers_floor_to_the_calendar_day_and_push_nat_past_any_cutoff() -> None:
    stamps = pd.Series(pd.to_datetime(["1969-12-31 23:00", "1970-01-02 01:00", None]))
    assert day_numbers(stamps).tolist() == [-1, 1, NO_DAY]
