"""Point-in-time behavioural features: one row per customer, nothing from ``as_of`` on.

This is the single feature code path of churnml: training (at every rolling
cut-off), batch scoring, Spark partitions and HTTP requests all call
:func:`build_features`, so what a model sees in production is computed by the
same code it was trained on.

Everything is vectorised over integer customer codes (``numpy.bincount`` and
friends) so that 1M customers / 10M transactions fit in seconds and memory
stays proportional to the input.

Feature groups
--------------
purchases   n_orders, frequency, tenure_days, recency_days, mean_gap_days,
            gap_ratio (recency / usual gap), order counts and spend in recent
            windows, the trend of the last 90 days against the 90 before;
value       total_spend, avg_order_value, monetary_value (repeat purchases),
            max_order_value;
returns     n_returns, return_rate, return_amount, days_since_return;
channels    share_online / share_store / share_app / share_other, n_channels;
customer    consent flags, days_since_signup;
events      per event type: count in the last 90 days and days since the last
            one; engagement in the last 30 days against the 60 before;
campaigns   contacts in the last 180 days, days since the last contact,
            past conversions.

Missing means "never happened" and is encoded as NaN (LightGBM routes it), not
as an invented number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.data.contract import CONSENT_COLUMNS, EVENT_TYPES, InputTables
from churnml.features.rfm import purchase_days

#: Event types that count as engagement (opt-in attention, not complaints).
ENGAGEMENT_TYPES: tuple[str, ...] = ("email_open", "email_click", "site_visit", "app_session")
CHANNELS: tuple[str, ...] = ("online", "store", "app")
ORDER_WINDOWS: tuple[int, ...] = (30, 90, 180, 365)


def _day_index(values: pd.Series) -> np.ndarray:
    """Dates as integer days since the epoch."""
    return values.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _codes(ids: pd.Series, universe: pd.Index) -> np.ndarray:
    return universe.get_indexer(ids.to_numpy())


def _last_before(codes: np.ndarray, age: np.ndarray, n: int) -> np.ndarray:
    """Smallest age (days before the cut-off) per code; NaN where there is none."""
    out = np.full(n, np.inf)
    np.minimum.at(out, codes, age.astype(float))
    out[np.isinf(out)] = np.nan
    return out


def build_features(tables: InputTables, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """Behavioural features of every customer with a purchase strictly before ``as_of``.

    Parameters
    ----------
    tables
        Validated input tables (only ``transactions`` is required).
    as_of
        Exclusive cut-off: rows dated on or after it are ignored.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted); float64 feature columns.
    """
    cutoff = pd.Timestamp(as_of).normalize()
    cut_day = np.int64(np.datetime64(cutoff.date(), "D").astype(np.int64))
    daily = purchase_days(tables.transactions, cutoff)
    universe = pd.Index(pd.unique(daily["customer_id"].to_numpy())).sort_values()
    universe.name = "customer_id"
    n = len(universe)
    feats: dict[str, np.ndarray] = {}

    # --- purchases and value (purchase days, refunds left out) ---------------------------
    codes = _codes(daily["customer_id"], universe)
    age = cut_day - _day_index(daily["day"])  # >= 1
    amount = daily["amount"].to_numpy(dtype=float)
    n_orders = np.bincount(codes, minlength=n).astype(float)
    first_age = np.zeros(n, dtype=np.int64)
    np.maximum.at(first_age, codes, age)
    last_age = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(last_age, codes, age)
    total = np.bincount(codes, weights=amount, minlength=n)
    first_amount = np.bincount(
        codes, weights=np.where(age == first_age[codes], amount, 0.0), minlength=n
    )
    frequency = n_orders - 1
    span = (first_age - last_age).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(frequency > 0, span / np.maximum(frequency, 1), np.nan)
        feats["n_orders"] = n_orders
        feats["frequency"] = frequency
        feats["tenure_days"] = first_age.astype(float)
        feats["recency_days"] = last_age.astype(float)
        feats["mean_gap_days"] = mean_gap
        feats["gap_ratio"] = last_age / mean_gap
        feats["total_spend"] = total
        feats["avg_order_value"] = total / n_orders
        feats["monetary_value"] = np.where(
            frequency > 0, (total - first_amount) / np.maximum(frequency, 1), 0.0
        )
    max_value = np.zeros(n)
    np.maximum.at(max_value, codes, amount)
    feats["max_order_value"] = max_value
    for w in ORDER_WINDOWS:
        inside = age <= w
        feats[f"orders_{w}d"] = np.bincount(codes[inside], minlength=n).astype(float)
        if w in (90, 365):
            feats[f"spend_{w}d"] = np.bincount(codes[inside], weights=amount[inside], minlength=n)
    prev = (age > 90) & (age <= 180)
    feats["orders_prev_90d"] = np.bincount(codes[prev], minlength=n).astype(float)
    feats["trend_orders_90d"] = feats["orders_90d"] - feats["orders_prev_90d"]

    # --- returns and channels (raw rows) ------------------------------------------------
    tx = tables.transactions
    before = (tx["order_date"] < cutoff).to_numpy()
    tx_codes = _codes(tx["customer_id"][before], universe)
    known = tx_codes >= 0
    tx_codes = tx_codes[known]
    tx_amount = tx["amount"].to_numpy(dtype=float)[before][known]
    tx_age = cut_day - _day_index(tx["order_date"][before])[known]
    refund = tx_amount < 0
    n_returns = np.bincount(tx_codes[refund], minlength=n).astype(float)
    feats["n_returns"] = n_returns
    feats["return_rate"] = n_returns / n_orders
    feats["return_amount"] = -np.bincount(tx_codes[refund], weights=tx_amount[refund], minlength=n)
    feats["days_since_return"] = _last_before(tx_codes[refund], tx_age[refund], n)
    sale = tx_amount > 0
    n_sales = np.maximum(np.bincount(tx_codes[sale], minlength=n), 1).astype(float)
    channel = tx["channel"].to_numpy()[before][known]
    used = np.zeros(n)
    seen = np.zeros(n, dtype=float)
    for ch in CHANNELS:
        hit = sale & (channel == ch)
        cnt = np.bincount(tx_codes[hit], minlength=n).astype(float)
        feats[f"share_{ch}"] = cnt / n_sales
        used += cnt > 0
        seen += cnt
    other = np.bincount(tx_codes[sale], minlength=n) - seen
    feats["share_other"] = other / n_sales
    feats["n_channels"] = used + (other > 0)

    # --- customer attributes ------------------------------------------------------------
    cust = tables.customers
    for c in CONSENT_COLUMNS:
        feats[c] = np.zeros(n)
    feats["days_since_signup"] = np.full(n, np.nan)
    if cust is not None and len(cust):
        c_codes = _codes(cust["customer_id"], universe)
        ok = c_codes >= 0
        for c in CONSENT_COLUMNS:
            feats[c][c_codes[ok]] = cust[c].to_numpy(dtype=float)[ok]
        signup = cust["signup_date"]
        has = ok & signup.notna().to_numpy() & (signup < cutoff).to_numpy()
        feats["days_since_signup"][c_codes[has]] = (cut_day - _day_index(signup[has])).astype(float)

    # --- events -------------------------------------------------------------------------
    ev = tables.events
    ev_codes = np.empty(0, dtype=np.int64)
    ev_age = np.empty(0, dtype=np.int64)
    ev_type = np.empty(0, dtype=object)
    if ev is not None and len(ev):
        keep = (ev["event_date"] < cutoff).to_numpy()
        ev_codes = _codes(ev["customer_id"][keep], universe)
        ok = ev_codes >= 0
        ev_codes = ev_codes[ok]
        ev_age = (cut_day - _day_index(ev["event_date"][keep]))[ok]
        ev_type = ev["event_type"].to_numpy()[keep][ok]
    for t in EVENT_TYPES:
        hit = ev_type == t
        recent = hit & (ev_age <= 90)
        feats[f"{t}_90d"] = np.bincount(ev_codes[recent], minlength=n).astype(float)
        feats[f"days_since_{t}"] = _last_before(ev_codes[hit], ev_age[hit], n)
    engaged = np.isin(ev_type, ENGAGEMENT_TYPES)
    e30 = np.bincount(ev_codes[engaged & (ev_age <= 30)], minlength=n).astype(float)
    e_prev = np.bincount(ev_codes[engaged & (ev_age > 30) & (ev_age <= 90)], minlength=n).astype(
        float
    )
    feats["engagement_30d"] = e30
    feats["engagement_prev_60d"] = e_prev
    feats["engagement_trend"] = e30 - e_prev / 2.0
    feats["days_since_engagement"] = _last_before(ev_codes[engaged], ev_age[engaged], n)

    # --- past campaign contacts ---------------------------------------------------------
    camp = tables.campaigns
    feats["contacts_180d"] = np.zeros(n)
    feats["days_since_contact"] = np.full(n, np.nan)
    feats["past_conversions"] = np.zeros(n)
    if camp is not None and len(camp):
        keep = ((camp["sent_date"] < cutoff) & camp["treated"]).to_numpy()
        cc = _codes(camp["customer_id"][keep], universe)
        ok = cc >= 0
        cc = cc[ok]
        c_age = (cut_day - _day_index(camp["sent_date"][keep]))[ok]
        feats["contacts_180d"] = np.bincount(cc[c_age <= 180], minlength=n).astype(float)
        feats["days_since_contact"] = _last_before(cc, c_age, n)
        conv = camp["converted"].to_numpy()[keep][ok].astype(bool)
        feats["past_conversions"] = np.bincount(cc[conv], minlength=n).astype(float)

    return pd.DataFrame(feats, index=universe)


FEATURE_COLUMNS: tuple[str, ...] = tuple(
    build_features(
        InputTables(
            transactions=pd.DataFrame(
                {
                    "customer_id": ["x"],
                    "order_date": [pd.Timestamp("2000-01-01")],
                    "amount": [1.0],
                    "channel": ["online"],
                }
            )
        ),
        "2000-01-02",
    ).columns
)
"""Names and order of the behavioural feature columns."""
