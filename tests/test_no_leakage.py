"""No leakage: training rows at a cut-off do not depend on anything dated on or after it.

Property (hypothesis): append arbitrary transactions, refunds, events, campaign contacts
and new customers dated on or after a cut-off. Then

- no behavioural feature and no LTV output of any customer changes at that cut-off, and
  the LTV model fitted for the cut-off has exactly the same parameters;
- no new customer appears at the cut-off;
- a label changes only for a customer with an appended purchase *inside* the churn
  window ``[cutoff, cutoff + window)``, and then it becomes "not churned";
- the data dated on or after ``as_of`` changes nothing in the whole training set (its
  cut-offs' label windows all end by ``as_of``).
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import LTVConfig, TimeConfig
from churnml.data.contract import EVENT_TYPES, validate_tables
from churnml.datasets import simulate
from churnml.models.training_data import build_training_set, cutoff_rows

CUTOFF = pd.Timestamp("2024-08-01")
WINDOW = 90
HORIZON = 365
AS_OF = pd.Timestamp("2024-11-01")  # training set: label windows end by then
TIME_CFG = TimeConfig(churn_window_days=WINDOW, n_cutoffs=2, cutoff_step_days=60)
SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def base() -> SimpleNamespace:
    sim = simulate(300, seed=21)
    raw = {
        "transactions": sim.transactions,
        "customers": sim.customers,
        "events": sim.events,
        "campaigns": sim.campaigns,
    }
    tables = validate_tables(**raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = cutoff_rows(tables, CUTOFF, LTVConfig(), HORIZON, WINDOW)
        training = build_training_set(tables, AS_OF, TIME_CFG, LTVConfig())
    known = sorted(sim.transactions["customer_id"].unique())[:25]
    return SimpleNamespace(raw=raw, rows=rows, training=training, known=known)


def _appended(draw: st.DrawFn, known: list[str], start: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Rows of every table dated on or after ``start`` (existing and new customers)."""
    customer = st.one_of(st.sampled_from(known), st.sampled_from(["new-1", "new-2"]))
    when = st.builds(
        lambda days, seconds: start + pd.Timedelta(days=days, seconds=seconds),
        st.integers(0, 400),
        st.integers(0, 86_399),
    )
    tx = draw(
        st.lists(
            st.tuples(
                customer,
                when,
                st.sampled_from([-40.0, 0.0, 9.99, 120.0]),
                st.sampled_from(["online", "store", "app", "kiosk"]),
            ),
            max_size=12,
        )
    )
    ev = draw(
        st.lists(
            st.tuples(customer, when, st.sampled_from([*EVENT_TYPES, "push_open"])), max_size=12
        )
    )
    camp = draw(st.lists(st.tuples(customer, when, st.booleans(), st.booleans()), max_size=6))
    new_customers = draw(st.lists(st.sampled_from(["new-1", "new-2"]), unique=True, max_size=2))
    return {
        "transactions": pd.DataFrame(
            {
                "customer_id": [t[0] for t in tx],
                "order_id": [f"extra-{i}" for i in range(len(tx))],
                "order_date": pd.to_datetime([t[1] for t in tx]),
                "amount": np.array([t[2] for t in tx], dtype=float),
                "channel": [t[3] for t in tx],
            }
        ),
        "events": pd.DataFrame(
            {
                "customer_id": [e[0] for e in ev],
                "event_date": pd.to_datetime([e[1] for e in ev]),
                "event_type": [e[2] for e in ev],
            }
        ),
        "campaigns": pd.DataFrame(
            {
                "customer_id": [c[0] for c in camp],
                "campaign_id": "extra-campaign",
                "sent_date": pd.to_datetime([c[1] for c in camp]),
                "action": "email_reminder",
                "channel": "email",
                "treated": [c[2] for c in camp],
                "converted": [c[3] for c in camp],
                "revenue": 0.0,
            }
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": new_customers,
                # a sign-up before the cut-off without a purchase before it: still no row
                "signup_date": [start - pd.Timedelta(days=30)] * len(new_customers),
                "consent_email": True,
            }
        ),
    }


def _with(raw: dict[str, pd.DataFrame], extra: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {
        name: pd.concat([frame, extra[name]], ignore_index=True) if len(extra[name]) else frame
        for name, frame in raw.items()
    }


@st.composite
def after_cutoff(draw: st.DrawFn, known: list[str]) -> dict[str, pd.DataFrame]:
    return _appended(draw, known, CUTOFF)


def _check_appended_after_cutoff(base: SimpleNamespace, extra: dict[str, pd.DataFrame]) -> None:
    tables = validate_tables(**_with(base.raw, extra))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = cutoff_rows(tables, CUTOFF, LTVConfig(), HORIZON, WINDOW)

    # Features: behavioural and LTV, for the same customers, bit for bit.
    pd.testing.assert_frame_equal(rows.inputs, base.rows.inputs, check_exact=True)
    assert rows.ltv.bgnbd_params_ == base.rows.ltv.bgnbd_params_
    assert rows.ltv.gamma_gamma_params_ == base.rows.ltv.gamma_gamma_params_

    # Labels: only a purchase (amount >= 0) inside [cutoff, cutoff + window) can flip one.
    tx = extra["transactions"]
    inside = (
        (tx["amount"] >= 0)
        & (tx["order_date"] >= CUTOFF)
        & (tx["order_date"] < CUTOFF + pd.Timedelta(days=WINDOW))
    )
    bought = set(tx.loc[inside, "customer_id"])
    expected = base.rows.labels.copy()
    expected[expected.index.isin(bought)] = 0.0
    pd.testing.assert_series_equal(rows.labels, expected)


# Each example refits the LTV model (0.15 s on an idle machine, ~1 s under load), so the
# default suite draws 25 examples and the slow suite 200.
@settings(SETTINGS, max_examples=25)
@given(data=st.data())
def test_rows_dated_on_or_after_the_cutoff_change_no_feature_and_labels_only_in_window(base, data):
    _check_appended_after_cutoff(base, data.draw(after_cutoff(base.known)))


@pytest.mark.slow
@settings(SETTINGS, max_examples=200)
@given(data=st.data())
def test_rows_dated_on_or_after_the_cutoff_change_nothing_many_examples(base, data):
    _check_appended_after_cutoff(base, data.draw(after_cutoff(base.known)))


def test_the_future_after_as_of_changes_nothing_in_the_training_set(base):
    """The simulated tables run a year past ``AS_OF``: cutting them there changes nothing."""
    past = {
        "transactions": base.raw["transactions"].query("order_date < @AS_OF"),
        "customers": base.raw["customers"],
        "events": base.raw["events"].query("event_date < @AS_OF"),
        "campaigns": base.raw["campaigns"].query("sent_date < @AS_OF"),
    }
    assert len(past["transactions"]) < len(base.raw["transactions"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        training = build_training_set(validate_tables(**past), AS_OF, TIME_CFG, LTVConfig())
    pd.testing.assert_frame_equal(training.X, base.training.X, check_exact=True)
    pd.testing.assert_series_equal(training.y, base.training.y)
    pd.testing.assert_series_equal(training.cutoff, base.training.cutoff)
    np.testing.assert_array_equal(training.customer_id, base.training.customer_id)
    for cut, ltv in training.ltv_models.items():
        assert ltv.bgnbd_params_ == base.training.ltv_models[cut].bgnbd_params_


def test_label_windows_of_the_training_set_end_by_as_of(base):
    assert base.training.cutoffs  # the schedule produced cut-offs
    for cut in base.training.cutoffs:
        assert cut + pd.Timedelta(days=WINDOW) <= AS_OF


def test_explicit_cutoffs_whose_labels_are_not_observed_are_refused(base):
    from churnml.errors import ChurnmlError

    tables = validate_tables(**base.raw)
    with pytest.raises(ChurnmlError, match="label window ends after"):
        build_training_set(
            tables, AS_OF, TIME_CFG, LTVConfig(), cutoffs=[AS_OF - pd.Timedelta(days=10)]
        )
