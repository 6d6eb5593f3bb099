"""Point-in-time features: the lifetimes reference summary and the no-leakage property."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from churnml.data import InputTables, validate_tables, validate_transactions
from churnml.datasets import CDNOW_CALIBRATION_END, load_cdnow, load_cdnow_summary
from churnml.features import (
    FEATURE_COLUMNS,
    build_features,
    churn_labels,
    rfm_summary,
    rolling_cutoffs,
)

AS_OF = pd.Timestamp("2024-06-01")


def test_cdnow_sample_summary_equals_lifetimes_cdnow_customers_summary() -> None:
    tx = validate_transactions(load_cdnow("sample"))
    ours = rfm_summary(tx, CDNOW_CALIBRATION_END, time_unit="W")
    ref = load_cdnow_summary()
    assert len(ours) == len(ref) == 2357
    joined = ours.join(ref, rsuffix="_ref", how="outer")
    assert (joined["frequency"] == joined["frequency_ref"]).all()
    # The reference rounds to two decimals.
    np.testing.assert_allclose(joined["recency"], joined["recency_ref"], atol=0.005)
    np.testing.assert_allclose(joined["T"], joined["T_ref"], atol=0.005)


def test_cdnow_sample_repeat_buyers_match_the_published_gamma_gamma_inputs() -> None:
    # Fader & Hardie: 946 repeat buyers with mean repeat spend $35.08.
    summary = rfm_summary(validate_transactions(load_cdnow("sample")), CDNOW_CALIBRATION_END, "W")
    repeat = summary[summary["frequency"] > 0]
    assert len(repeat) == 946
    assert abs(repeat["monetary_value"].mean() - 35.08) < 0.005


def test_rfm_counts_days_not_orders_and_ignores_refunds() -> None:
    tx = validate_transactions(
        pd.DataFrame(
            {
                "customer_id": ["a"] * 5,
                "order_date": [
                    "2024-01-01T09:00",
                    "2024-01-01T18:00",
                    "2024-01-11",
                    "2024-01-15",
                    "2024-01-21",
                ],
                "amount": [10.0, 5.0, 30.0, -30.0, 20.0],
            }
        )
    )
    s = rfm_summary(tx, "2024-02-01", time_unit="D").loc["a"]
    assert s["frequency"] == 2  # 01-01 (two orders), 01-11, 01-21; the refund day is no purchase
    assert s["recency"] == 20
    assert s["T"] == 30  # first purchase to the last observed day, 2024-01-31
    assert s["monetary_value"] == 25.0  # (30 + 20) / 2


def test_behavioural_features_on_a_hand_made_history() -> None:
    tables = validate_tables(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "a", "a", "b"],
                "order_date": [
                    "2024-01-02",
                    "2024-03-02",
                    "2024-05-01",
                    "2024-05-05",
                    "2024-05-20",
                ],
                "amount": [40.0, 60.0, 20.0, -20.0, 15.0],
                "channel": ["online", "store", "store", "store", "app"],
            }
        ),
        customers=pd.DataFrame(
            {
                "customer_id": ["a", "b"],
                "consent_email": [True, False],
                "signup_date": ["2023-12-01", None],
            }
        ),
        events=pd.DataFrame(
            {
                "customer_id": ["a", "a", "b"],
                "event_date": ["2024-05-20", "2024-04-01", "2024-05-30"],
                "event_type": ["email_open", "support_ticket", "site_visit"],
            }
        ),
    )
    f = build_features(tables, AS_OF)
    a = f.loc["a"]
    assert a["n_orders"] == 3 and a["recency_days"] == 31 and a["tenure_days"] == 151
    assert a["mean_gap_days"] == 60 and np.isclose(a["gap_ratio"], 31 / 60)
    assert a["total_spend"] == 120 and a["n_returns"] == 1 and a["return_amount"] == 20
    assert np.isclose(a["share_store"], 2 / 3) and a["n_channels"] == 2
    assert a["consent_email"] == 1 and a["days_since_signup"] == 183
    assert a["email_open_90d"] == 1 and a["days_since_support_ticket"] == 61
    assert np.isnan(f.loc["b", "mean_gap_days"]) and np.isnan(f.loc["b", "days_since_signup"])
    assert list(f.columns) == list(FEATURE_COLUMNS)


def test_churn_labels_look_only_inside_the_window() -> None:
    tx = validate_transactions(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "b", "b", "c"],
                "order_date": [
                    "2024-01-01",
                    "2024-06-10",
                    "2024-01-01",
                    "2024-09-15",
                    "2024-07-01",
                ],
                "amount": [1.0, 1.0, 1.0, 1.0, 1.0],
            }
        )
    )
    labels = churn_labels(tx, AS_OF, window_days=90)
    assert labels.to_dict() == {"a": 0.0, "b": 1.0}  # c has no history before the cut-off


def test_rolling_cutoffs_keep_label_windows_observed() -> None:
    cuts = rolling_cutoffs("2023-01-01", "2024-06-01", window_days=90, n_cutoffs=4, step_days=30)
    assert cuts == sorted(cuts) and len(cuts) == 4
    assert all(c + pd.Timedelta(days=90) <= pd.Timestamp("2024-06-01") for c in cuts)
    assert rolling_cutoffs("2024-05-01", "2024-06-01", 90, 4) == []


_day = st.integers(min_value=-400, max_value=-1)
_future = st.integers(min_value=0, max_value=400)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past=st.lists(
        st.tuples(
            st.sampled_from("abc"),
            _day,
            st.floats(-50, 500),
            st.sampled_from(["online", "store", "app"]),
        ),
        min_size=1,
        max_size=25,
    ),
    future=st.lists(
        st.tuples(
            st.sampled_from("abcd"),
            _future,
            st.floats(-50, 500),
            st.sampled_from(["online", "store"]),
        ),
        min_size=1,
        max_size=25,
    ),
    future_events=st.lists(
        st.tuples(
            st.sampled_from("abcd"), _future, st.sampled_from(["email_open", "support_ticket"])
        ),
        max_size=10,
    ),
)
def test_rows_on_or_after_as_of_change_no_feature(past, future, future_events) -> None:  # type: ignore[no-untyped-def]
    def frame(rows: list[tuple[str, int, float, str]]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": [r[0] for r in rows],
                "order_date": [AS_OF + pd.Timedelta(days=r[1], hours=3) for r in rows],
                "amount": [r[2] for r in rows],
                "channel": [r[3] for r in rows],
            }
        )

    def events(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
        base = [("a", -5, "email_open")] + rows
        return pd.DataFrame(
            {
                "customer_id": [r[0] for r in base],
                "event_date": [AS_OF + pd.Timedelta(days=r[1]) for r in base],
                "event_type": [r[2] for r in base],
            }
        )

    assume(any(amount >= 0 for _, _, amount, _ in past))  # someone has bought before as_of
    before = validate_tables(frame(past), events=events([]))
    after = validate_tables(
        pd.concat([frame(past), frame(future)], ignore_index=True), events=events(future_events)
    )
    pd.testing.assert_frame_equal(build_features(before, AS_OF), build_features(after, AS_OF))
    pd.testing.assert_frame_equal(
        rfm_summary(before.transactions, AS_OF), rfm_summary(after.transactions, AS_OF)
    )


def test_features_have_no_rows_for_customers_without_history() -> None:
    tables = InputTables(
        transactions=validate_transactions(
            pd.DataFrame(
                {
                    "customer_id": ["a", "b"],
                    "order_date": ["2024-01-01", "2024-07-01"],
                    "amount": [1.0, 1.0],
                }
            )
        )
    )
    assert build_features(tables, AS_OF).index.tolist() == ["a"]
