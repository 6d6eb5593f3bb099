"""A simulated omnichannel retailer whose true customer state is known.

Real data never tells us who was really still a customer, what they would have
bought, or what a win-back contact would really have changed. The simulator does:
every table a shop would have (transactions, customers, events, a past randomised
campaign) comes with a ``truth`` table holding each customer's latent parameters,
death date, realised future purchases and the true effect of each win-back action.
Models can then be checked against the truth instead of against each other.

Generative story
----------------
Time runs in days from ``start``. Notation follows Fader, Hardie & Lee (2005) for
BG/NBD and Fader & Hardie (2013) for Gamma-Gamma.

1. **Acquisition.** Customer *i* makes a first purchase at a uniform time in the
   first ``acquisition_share`` (60 %) of ``[start, as_of)``, and signs up on that day
   or a little before it (half the customers register up to 60 days earlier).
2. **Purchasing (BG/NBD).** While alive, repeat purchases arrive as a Poisson
   process with rate ``lambda_i ~ Gamma(r, alpha)`` per day (shape ``r``, rate
   ``alpha``). After each repeat purchase the customer drops out for good with
   probability ``p_i ~ Beta(a, b)``; the death date is the date of that last purchase,
   so "alive at t" means exactly BG/NBD's "has not dropped out by t".
3. **Spend (Gamma-Gamma).** Each order's value is ``z ~ Gamma(p, nu_i)`` (shape
   ``p``, rate ``nu_i``) with ``nu_i ~ Gamma(q, gamma)``, so the customer's expected
   order value is ``p / nu_i`` (``truth.mean_order_value``). Amounts have 2 decimals.
4. **Returns.** Each order is returned with probability ``return_propensity_i ~
   Beta(return_a, return_b)``: a separate refund row (own ``order_id``, negative
   amount, the full order or a part of it) a few days later. A support ticket follows
   most returns (and a few orders without a return).
5. **Engagement.** ``email_open`` / ``site_visit`` / ``app_session`` events arrive as a
   Poisson process with rate ``engagement_rate_i ~ Gamma(engagement_shape, mean
   engagement_mean)`` per day from sign-up on (opens only with e-mail consent, app
   sessions only for app users). Some opens lead to an ``email_click``, some visits
   to a ``cart_abandon`` (more often for price-sensitive, i.e. low-spend, customers).
6. **Channels and consent.** A home channel (online / store / app) takes most of a
   customer's orders; consent to e-mail and SMS is random, push consent exists only
   for app users. Region is a free attribute without effect.
7. **A past win-back campaign** (default ``as_of - 120`` days) is randomised over the
   customers acquired before it who consented to at least one contact channel: each
   gets one of the actions their consents allow, and ``control_share`` (20 %) are held
   out (``treated=False``, ``action`` = what they would have got). A treated customer
   responds with probability ``rho_i(action)`` by making one extra order within the
   30-day window (online after e-mail or SMS, in the app after a push; 15 % smaller
   after a discount); controls only make their natural purchases.

With ``behaviour_signal=True`` (the default) the behaviour that real shops see is
switched on, so that features beyond RFM carry signal:

- bad experiences raise dropout: at a purchase that is returned the dropout
  probability becomes ``1 - (1 - p)(1 - return_dropout)``, a support ticket
  multiplies the survival by ``1 - ticket_dropout`` again (a returned or ticketed
  first order can also end the relationship at once);
- engagement fades before a customer leaves: the event rate falls linearly over the
  ``engagement_fade_days`` (60) days before death to ``engagement_floor`` (10 %) of
  its level and stays there;
- customers whose home channel is the store spend ``store_spend_multiplier`` more
  per order (their ``nu`` is divided by it);
- the campaign works: ``rho`` depends on traits and state (below).

With ``behaviour_signal=False`` the purchase process is *pure* BG/NBD and spend pure
Gamma-Gamma: returns and tickets still appear but change nothing, engagement keeps
its rate for ever, and the campaign has no effect (all uplifts are 0). This is the
setting for parameter-recovery tests.

A stronger behavioural signal
-----------------------------
The default strengths make behaviour worth only about +0.02 ROC-AUC over BG/NBD for
a churn model. :meth:`SimulationParams.strong_behaviour_signal` is a named scenario
of a shop whose customers engage a lot (frequent e-mail opens, visits and app
sessions), disengage over the months before they leave and fall almost silent after,
and are driven away by returns and support tickets. Purchases and spend keep the
default BG/NBD and Gamma-Gamma parameters, so BG/NBD stays a meaningful baseline.

Win-back response
-----------------
Contacted at time t, customer *i* makes an extra order within 30 days with
probability ``rho_i = base(action) * reach * lapse * fit(action)``, capped at 0.95:

- ``reach`` = 1 if alive at t, else ``dead_reach * exp(-days_dead / dead_decay_days)``
  (customers gone long ago hardly react);
- ``lapse`` = ``1 - exp(-days_since_last_purchase / lapse_days)`` (those who bought
  last week have nothing to be won back to);
- ``fit``: reminders work on engaged customers (``2 e / (e + e_ref)``), discounts on
  price-sensitive ones (``2.5 (m_ref / (m + m_ref))^2`` with m the expected order value),
  SMS a little on everyone, push only for app users, a VIP call on high-value ones.

The natural probability of buying within 30 days is ``P0 = 1 - exp(-30 lambda_i)`` if
alive at t (the BG/NBD process is memoryless) and 0 otherwise, so the true uplift on
"purchased within 30 days" is ``(1 - P0) * rho_i``. ``truth.uplift_<action>`` gives it
at ``as_of`` for every customer and action (consent ignored: "if contacted"),
``truth.campaign_true_uplift`` for the action actually assigned in the past campaign.

Win-back scenarios
------------------
Named :class:`SimulationParams` constructors change only the campaign's effect:
:meth:`~SimulationParams.dropouts_only` (only dropped-out customers respond, and a
response revives them), :meth:`~SimulationParams.dropouts_and_actives` (alive
customers respond a little too), :meth:`~SimulationParams.contacts_hurt` (contacts
drive recent buyers away) and :meth:`~SimulationParams.churn_risk_targeting`
(every dropped-out customer responds alike, so "top churn risk" is about right).
A revived customer is alive after the response order and buys on with the same
rate and dropout; an alive BG/NBD customer with rate lambda and dropout p makes
``(1 - exp(-lambda p h)) / p`` purchases in ``(0, h]`` in expectation, which is
how the true values of the truth table are computed.

Tables
------
All tables cover ``[start, as_of + horizon_days)``; use :meth:`SimulatedData.history`
for what a shop would know at ``as_of``. Rows are sorted by customer, then time.

transactions  customer_id ("C0000001"), order_id (unique), order_date (with a time of
              day), amount (2 decimals; refunds negative), channel.
customers     customer_id, signup_date, consent_email, consent_sms, consent_push, consent_call,
              home_channel, region, app_user.
events        customer_id, event_date, event_type (the six types of the contract).
campaigns     customer_id, campaign_id ("winback-<date>"), sent_date, action, channel
              (email / sms / push), treated, converted (a purchase within 30 days of
              sending), revenue (gross spend in those 30 days).
truth         customer_id; the latent traits lambda_per_day, p_dropout,
              p_dropout_effective (with returns and tickets averaged in),
              mean_order_value, return_propensity, engagement_rate; acquired_date,
              death_date (NaT: still alive at the end), alive_at_as_of;
              expected_purchases_in_horizon (given the latent state at as_of),
              purchases_in_horizon, spend_in_horizon, net_spend_in_horizon (refunds
              deducted), churned_in_window_90; per action of ACTIONS, if contacted
              at as_of: uplift_<action> (change in P(purchase within the 30-day
              window)) and value_<action> (change in expected gross revenue over
              horizon_days, the revived future included); if contacted at the
              past campaign's send date: uplift_at_send_<action>,
              revenue_at_send_<action> (in the response window, what the
              campaigns table measures) and value_at_send_<action> (over
              horizon_days); campaign_true_uplift (NaN outside the campaign).

Outcome columns (``purchases_in_horizon``, ``spend_in_horizon``,
``churned_in_window_90``, campaign ``converted`` / ``revenue``) are computed from the
final transactions table, so they agree with it exactly. A *purchase* is a row with a
positive amount; refunds are not purchases and ``spend_*`` is the gross order value.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the Easy
Way: An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary Value.
http://www.brucehardie.com/notes/025/
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from churnml.datasets.sim_behaviour import (
    draw_population,
    engagement_events,
    last_purchase_before,
    purchase_process,
)
from churnml.datasets.sim_campaign import (
    Clock,
    Ledger,
    campaign_consequences,
    effective_dropout,
    order_values,
    run_campaign,
    true_effects,
)
from churnml.datasets.sim_params import (
    ACTIONS,
    CAMPAIGN_ACTIONS,
    CHANNELS,
    CHURN_WINDOW_DAYS,
    EV_TICKET,
    EVENT_NAMES,
    REGIONS,
    SECONDS_PER_DAY,
    SimulationParams,
    format_ids,
    timestamp,
    to_datetime,
    to_seconds,
)

__all__ = [
    "ACTIONS",
    "CAMPAIGN_ACTIONS",
    "CHANNELS",
    "SimulatedData",
    "SimulationParams",
    "simulate",
    "write_simulation",
]


@dataclass(frozen=True, eq=False)
class SimulatedData:
    """The tables of one simulated shop and the truth behind them.

    ``transactions``, ``customers``, ``events`` and ``campaigns`` follow the data
    contract; ``truth`` has one row per customer (see the module docstring).
    Transactions and events run from ``start`` to ``as_of + horizon_days``
    (exclusive) so that a backtest at ``as_of`` can see what happened afterwards.
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    events: pd.DataFrame
    campaigns: pd.DataFrame
    truth: pd.DataFrame
    as_of: pd.Timestamp
    horizon_days: int
    params: dict[str, Any]

    def history(self, as_of: str | dt.date | pd.Timestamp | None = None) -> SimulatedData:
        """The data a shop would have at ``as_of`` (default: ``self.as_of``), truth unchanged.

        Transactions and events on or after the cut-off are dropped, and so are
        campaigns whose response window has not ended by then (their ``converted``
        would tell the future), so that the result can be fed to training without
        leaking.
        """
        cut = self.as_of if as_of is None else timestamp(as_of)
        window = pd.Timedelta(days=int(self.params.get("response_window_days", 30)))
        return dataclasses.replace(
            self,
            transactions=self.transactions[self.transactions["order_date"] < cut],
            events=self.events[self.events["event_date"] < cut],
            campaigns=self.campaigns[self.campaigns["sent_date"] + window <= cut],
        )

    def write(self, out_dir: str | Path, fmt: Literal["csv", "parquet"] = "csv") -> dict[str, Path]:
        """Write the five tables and the parameters (``params.json``) to ``out_dir``.

        CSV is what ``churnml simulate`` promises; Parquet (row groups of 100k rows, so
        that Spark gets several partitions) is ten times faster for a million customers.
        Returns the written paths by table name (``"params"`` for the JSON file).
        """
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name in ("transactions", "customers", "events", "campaigns", "truth"):
            frame: pd.DataFrame = getattr(self, name)
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False, row_group_size=100_000)
            paths[name] = path
        path = out / "params.json"
        path.write_text(json.dumps(self.params, indent=2, sort_keys=True) + "\n")
        paths["params"] = path
        return paths


# --------------------------------------------------------------------------- main entry


def simulate(
    n_customers: int,
    seed: int = 0,
    *,
    start: str | dt.date = "2023-01-01",
    as_of: str | dt.date = "2025-01-01",
    horizon_days: int = 365,
    campaign_date: str | dt.date | None = None,
    behaviour_signal: bool = True,
    params: SimulationParams | None = None,
) -> SimulatedData:
    """Simulate an omnichannel retailer with known truth (see the module docstring).

    Parameters
    ----------
    n_customers
        Number of customers; all are acquired in the first 60 % of ``[start, as_of)``.
    seed
        Seed of the one ``numpy.random.Generator`` that draws everything; the same
        seed (and arguments) gives identical tables.
    start, as_of
        Start of the history and the scoring cut-off of ``truth`` (dates; a time of
        day is dropped).
    horizon_days
        The tables continue until ``as_of + horizon_days`` (exclusive), so that
        outcomes after ``as_of`` can be checked. At least 90 (the churn window).
    campaign_date
        Send date of the past win-back campaign; default ``as_of - 120`` days. It must
        lie after ``start``, and its 30-day response window inside the tables.
    behaviour_signal
        ``False`` gives pure BG/NBD + Gamma-Gamma with no behavioural effects and a
        campaign without effect (for parameter-recovery tests).
    params
        Population parameters; default :class:`SimulationParams`.

    Returns
    -------
    SimulatedData
        ``campaigns`` (and, for a handful of customers, ``events``) can be empty when
        the population is tiny.
    """
    prm = params if params is not None else SimulationParams()
    n, horizon_days = int(n_customers), int(horizon_days)
    clock = _clock(n, start, as_of, horizon_days, campaign_date, prm)
    rng = np.random.default_rng(seed)
    signal = behaviour_signal

    # The latent story: population, BG/NBD purchases, spend, returns, the campaign.
    history_days = clock.days(clock.as_of)
    pop = draw_population(rng, n, prm.acquisition_share * history_days, prm, signal)
    orders, death = purchase_process(rng, pop, clock.end, prm, signal)
    values = order_values(rng, pop, orders, prm)
    t_send = clock.days(clock.send)
    camp = run_campaign(rng, pop, orders, death, t_send, prm, signal)
    # The state the campaign met, for the truth at its send date.
    at_send = _SendState(death.copy(), last_purchase_before(orders.cust, orders.t, t_send, n))
    orders, values, death = campaign_consequences(
        rng, pop, orders, values, death, camp, t_send, clock.end, prm, signal
    )
    ledger = _ledger(clock, orders, values, camp)
    cust_ids = format_ids("C", np.arange(1, n + 1), max(7, len(str(n))))
    campaign_id = f"winback-{clock.send.date().isoformat()}"
    return SimulatedData(
        transactions=_transactions(clock, ledger, cust_ids),
        customers=_customers(clock, pop, cust_ids),
        events=_events(rng, clock, pop, orders, values, death, cust_ids, prm, signal),
        campaigns=_campaigns(clock, ledger, camp, cust_ids, campaign_id, prm),
        truth=_truth(
            clock, ledger, pop, orders, death, camp, at_send, cust_ids, horizon_days, prm, signal
        ),
        as_of=clock.as_of,
        horizon_days=horizon_days,
        params=_params_out(prm, n, seed, clock, horizon_days, campaign_id, signal),
    )


@dataclasses.dataclass(frozen=True)
class _SendState:
    """What the campaign met on its send date: death times and last purchases then."""

    death: np.ndarray
    last_purchase: np.ndarray


def _clock(
    n: int,
    start: str | dt.date,
    as_of: str | dt.date,
    horizon_days: int,
    campaign_date: str | dt.date | None,
    prm: SimulationParams,
) -> Clock:
    """The simulation's dates, checked: start < send date, response window inside the tables."""
    if n < 1:
        raise ValueError(f"n_customers must be positive, got {n}")
    if horizon_days < CHURN_WINDOW_DAYS:
        raise ValueError(
            f"horizon_days must be at least {CHURN_WINDOW_DAYS} so that the churn label in "
            f"truth is observed, got {horizon_days}"
        )
    start_ts, as_of_ts = timestamp(start), timestamp(as_of)
    if as_of_ts <= start_ts:
        raise ValueError(f"as_of ({as_of_ts.date()}) must be after start ({start_ts.date()})")
    window = prm.response_window_days
    send_ts = (
        as_of_ts - pd.Timedelta(days=120) if campaign_date is None else timestamp(campaign_date)
    )
    end_ts = as_of_ts + pd.Timedelta(days=horizon_days)
    if not start_ts < send_ts <= end_ts - pd.Timedelta(days=window):
        raise ValueError(
            f"campaign_date {send_ts.date()} must lie after start ({start_ts.date()}) and at "
            f"least {window} days before the end of the simulated period ({end_ts.date()})"
        )
    return Clock(start=start_ts, as_of=as_of_ts, send=send_ts, end_ts=end_ts)


def _ledger(clock: Clock, orders: Any, values: Any, camp: Any) -> Ledger:
    """Natural orders, refunds and win-back orders inside the period, by customer and time."""
    end_sec = clock.sec(clock.end_ts)
    cents, channel, r_idx = values.cents, values.channel, values.refund_of
    tx_sec = to_seconds(np.concatenate([orders.t, values.refund_t, camp.resp_t]))
    keep = tx_sec < end_sec
    tx_cust = np.concatenate([orders.cust, orders.cust[r_idx], camp.resp_cust])[keep]
    tx_sec = tx_sec[keep]
    sort = np.argsort(tx_cust * (end_sec + 1) + tx_sec)
    return Ledger(
        cust=tx_cust[sort],
        sec=tx_sec[sort],
        cents=np.concatenate([cents, values.refund_cents, camp.resp_cents])[keep][sort],
        channel=np.concatenate([channel, channel[r_idx], camp.resp_channel])[keep][sort],
    )


def _transactions(clock: Clock, ledger: Ledger, cust_ids: np.ndarray) -> pd.DataFrame:
    n_tx = ledger.cust.size
    return pd.DataFrame(
        {
            "customer_id": cust_ids[ledger.cust],
            "order_id": format_ids("O", np.arange(1, n_tx + 1), max(9, len(str(n_tx)))),
            "order_date": to_datetime(clock.start, ledger.sec),
            "amount": ledger.cents / 100.0,
            "channel": np.asarray(CHANNELS, dtype=object)[ledger.channel],
        },
        copy=False,
    )


def _customers(clock: Clock, pop: Any, cust_ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": cust_ids,
            "signup_date": to_datetime(clock.start, to_seconds(pop.signup)),
            "consent_email": pop.consent_email,
            "consent_sms": pop.consent_sms,
            "consent_push": pop.consent_push,
            # One phone opt-in covers texts and calls in this simulated shop.
            "consent_call": pop.consent_sms,
            "home_channel": np.asarray(CHANNELS, dtype=object)[pop.home],
            "region": np.asarray(REGIONS, dtype=object)[pop.region],
            "app_user": pop.app_user,
        }
    )


def _campaigns(
    clock: Clock,
    ledger: Ledger,
    camp: Any,
    cust_ids: np.ndarray,
    campaign_id: str,
    prm: SimulationParams,
) -> pd.DataFrame:
    """The past campaign; outcomes are read off the ledger, so they agree with the transactions."""
    n, window, send_ts = cust_ids.size, prm.response_window_days, clock.send
    send_sec = clock.sec(send_ts)
    sent_count, sent_cents = ledger.window(n, send_sec, send_sec + window * SECONDS_PER_DAY)
    names = np.asarray(list(CAMPAIGN_ACTIONS), dtype=object)
    return pd.DataFrame(
        {
            "customer_id": cust_ids[camp.eligible],
            "campaign_id": campaign_id,
            "sent_date": np.full(camp.eligible.size, send_ts.to_datetime64(), "datetime64[ns]"),
            "action": names[camp.action],
            "channel": np.asarray([CAMPAIGN_ACTIONS[a] for a in names], dtype=object)[camp.action],
            "treated": camp.treated,
            "converted": sent_count[camp.eligible] > 0,
            "revenue": sent_cents[camp.eligible] / 100.0,
        }
    )


def _events(
    rng: np.random.Generator,
    clock: Clock,
    pop: Any,
    orders: Any,
    values: Any,
    death: np.ndarray,
    cust_ids: np.ndarray,
    prm: SimulationParams,
    behaviour_signal: bool,
) -> pd.DataFrame:
    """Engagement stream plus support tickets, which come mostly around returns."""
    end, end_sec = clock.end, clock.sec(clock.end_ts)
    n_orders, r_idx, refund_t = orders.cust.size, values.refund_of, values.refund_t
    ev_cust, ev_t, ev_kind = engagement_events(rng, pop, death, end, prm, behaviour_signal)
    tix = np.flatnonzero(orders.ticket)
    refund_at = np.full(n_orders, np.nan)
    refund_at[r_idx] = refund_t
    tix_t = np.where(
        orders.returned[tix],
        refund_at[tix] + rng.uniform(-2.0, 1.0, tix.size),
        orders.t[tix] + rng.uniform(1.0, 10.0, tix.size),
    )
    tix_t = np.maximum(tix_t, orders.t[tix] + 1.0 / 24.0)
    ev_sec = to_seconds(np.concatenate([ev_t, tix_t]))
    keep = ev_sec < end_sec
    ev_cust = np.concatenate([ev_cust, orders.cust[tix]])[keep]
    ev_kind = np.concatenate([ev_kind, np.full(tix.size, EV_TICKET, dtype=np.int8)])[keep]
    ev_sec = ev_sec[keep]
    sort = np.argsort(ev_cust * (end_sec + 1) + ev_sec)
    return pd.DataFrame(
        {
            "customer_id": cust_ids[ev_cust[sort]],
            "event_date": to_datetime(clock.start, ev_sec[sort]),
            "event_type": np.asarray(EVENT_NAMES, dtype=object)[ev_kind[sort]],
        },
        copy=False,
    )


def _truth(
    clock: Clock,
    ledger: Ledger,
    pop: Any,
    orders: Any,
    death: np.ndarray,
    camp: Any,
    at_send: _SendState,
    cust_ids: np.ndarray,
    horizon_days: int,
    prm: SimulationParams,
    behaviour_signal: bool,
) -> pd.DataFrame:
    """Latent parameters, death, realised outcomes and true uplifts, per customer."""
    n, window, end_sec = cust_ids.size, prm.response_window_days, clock.sec(clock.end_ts)
    t_send = clock.days(clock.send)
    death_at_send, last_before_send = at_send.death, at_send.last_purchase
    as_of_sec, t_as_of = clock.sec(clock.as_of), clock.days(clock.as_of)
    died = ~np.isnan(death)
    death_sec = to_seconds(np.where(died, death, 0.0))
    alive_at_as_of = ~died | (death_sec >= as_of_sec)
    p_eff = effective_dropout(pop, prm, behaviour_signal)
    h_count, h_cents = ledger.window(n, as_of_sec, end_sec)
    churn_count, _ = ledger.window(n, as_of_sec, as_of_sec + CHURN_WINDOW_DAYS * SECONDS_PER_DAY)
    truth_cols: dict[str, Any] = {
        "customer_id": cust_ids,
        "lambda_per_day": pop.lam,
        "p_dropout": pop.p,
        "p_dropout_effective": p_eff,
        "mean_order_value": pop.mov,
        "return_propensity": pop.rho_return,
        "engagement_rate": pop.eng,
        "acquired_date": to_datetime(clock.start, to_seconds(pop.acq)),
        "death_date": pd.Series(to_datetime(clock.start, death_sec)).where(died).to_numpy(),
        "alive_at_as_of": alive_at_as_of,
        # BG/NBD: an active customer buys (1 - exp(-lambda p t)) / p times within t.
        "expected_purchases_in_horizon": np.where(
            alive_at_as_of, -np.expm1(-pop.lam * p_eff * horizon_days) / p_eff, 0.0
        ),
        "purchases_in_horizon": h_count,
        "spend_in_horizon": h_cents / 100.0,
        "net_spend_in_horizon": ledger.net(n, as_of_sec, end_sec) / 100.0,
        f"churned_in_window_{CHURN_WINDOW_DAYS}": churn_count == 0,
    }
    everyone = np.arange(n, dtype=np.int64)
    last_before_as_of = last_purchase_before(
        np.concatenate([orders.cust, camp.resp_cust]),
        np.concatenate([orders.t, camp.resp_t]),
        t_as_of,
        n,
    )
    for name in ACTIONS:
        now = (name, everyone, t_as_of, pop, death, last_before_as_of, p_eff, prm)
        conversion, revenue = true_effects(*now, behaviour_signal, float(horizon_days))
        truth_cols[f"uplift_{name}"] = conversion
        truth_cols[f"value_{name}"] = revenue
    for name in ACTIONS:
        then = (name, everyone, t_send, pop, death_at_send, last_before_send, p_eff, prm)
        conversion, window_revenue = true_effects(*then, behaviour_signal, float(window))
        truth_cols[f"uplift_at_send_{name}"] = conversion
        truth_cols[f"revenue_at_send_{name}"] = window_revenue
        truth_cols[f"value_at_send_{name}"] = true_effects(
            *then, behaviour_signal, float(horizon_days)
        )[1]
    campaign_true = np.full(n, np.nan)
    campaign_true[camp.eligible] = camp.true_uplift
    truth_cols["campaign_true_uplift"] = campaign_true
    return pd.DataFrame(truth_cols)


def _params_out(
    prm: SimulationParams,
    n: int,
    seed: int,
    clock: Clock,
    horizon_days: int,
    campaign_id: str,
    behaviour_signal: bool,
) -> dict[str, Any]:
    """The parameters of the run as plain data (``params.json`` of :meth:`SimulatedData.write`)."""
    params_out: dict[str, Any] = dataclasses.asdict(prm)
    params_out["home_channel_probs"] = list(prm.home_channel_probs)
    params_out["region_probs"] = list(prm.region_probs)
    params_out.update(
        {
            "bgnbd": prm.bgnbd(),
            "gamma_gamma": prm.gamma_gamma(),
            "time_unit": "D",
            "n_customers": n,
            "seed": int(seed),
            "start": clock.start.date().isoformat(),
            "as_of": clock.as_of.date().isoformat(),
            "end": clock.end_ts.date().isoformat(),
            "horizon_days": horizon_days,
            "campaign_id": campaign_id,
            "campaign_date": clock.send.date().isoformat(),
            "behaviour_signal": bool(behaviour_signal),
            "churn_window_days": CHURN_WINDOW_DAYS,
        }
    )
    return params_out


def write_simulation(
    out_dir: str | Path, n_customers: int, seed: int = 0, **kwargs: Any
) -> dict[str, Path]:
    """Simulate and write the tables to ``out_dir`` (what ``churnml simulate`` does)."""
    return simulate(n_customers, seed, **kwargs).write(out_dir)
