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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "ACTIONS",
    "CAMPAIGN_ACTIONS",
    "CHANNELS",
    "SimulatedData",
    "SimulationParams",
    "simulate",
    "write_simulation",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Order channels; index order is used internally.
CHANNELS: tuple[str, ...] = ("online", "store", "app")
#: Regions (a free customer attribute without effect on behaviour).
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
#: Every win-back action whose true uplift is in ``truth``.
ACTIONS: tuple[str, ...] = (
    "email_reminder",
    "email_discount",
    "sms_reminder",
    "push_offer",
    "vip_call",
)
#: Actions used in the past campaign and the contact channel each needs consent for.
CAMPAIGN_ACTIONS: dict[str, str] = {
    "email_reminder": "email",
    "email_discount": "email",
    "sms_reminder": "sms",
    "push_offer": "push",
}
_ORDER_CHANNEL_OF_CONTACT = {"email": 0, "sms": 0, "push": 2}  # index into CHANNELS
_EV_OPEN, _EV_CLICK, _EV_VISIT, _EV_APP, _EV_CART, _EV_TICKET = range(6)
_EVENT_NAMES: tuple[str, ...] = (
    "email_open",
    "email_click",
    "site_visit",
    "app_session",
    "cart_abandon",
    "support_ticket",
)
_SECONDS_PER_DAY = 86_400
#: Window of the churn label in ``truth`` (the project's default ``churn_window_days``).
CHURN_WINDOW_DAYS = 90


@dataclass(frozen=True)
class SimulationParams:
    """Population parameters of the simulated shop (days as the time unit).

    The defaults give a typical (median) customer one order every six weeks, about
    60 % of all customers churned (no purchase in the next 90 days) at ``as_of``
    and close to 40 % dead by then, and an average order of about 40 currency units.
    BG/NBD parameters are per day (``alpha`` in days); ``p_gg`` is the Gamma-Gamma
    shape ``p`` and ``gamma`` its rate ``v`` in lifetimes' naming.
    """

    # BG/NBD (Fader, Hardie & Lee 2005): lambda ~ Gamma(r, alpha), p ~ Beta(a, b).
    r: float = 1.0
    alpha: float = 30.0
    a: float = 0.6
    b: float = 20.0
    # Gamma-Gamma: z ~ Gamma(p_gg, nu), nu ~ Gamma(q, gamma); E[z] = p_gg * gamma / (q - 1).
    p_gg: float = 6.0
    q: float = 4.0
    gamma: float = 20.0
    acquisition_share: float = 0.6
    signup_early_share: float = 0.5
    signup_early_mean_days: float = 14.0
    # Returns and support tickets.
    return_a: float = 1.0
    return_b: float = 19.0
    return_full_share: float = 0.6
    refund_mean_days: float = 7.0
    ticket_given_return: float = 0.5
    ticket_without_return: float = 0.02
    return_dropout: float = 0.25
    ticket_dropout: float = 0.10
    # Engagement events.
    engagement_shape: float = 2.0
    engagement_mean: float = 0.04
    engagement_fade_days: float = 60.0
    engagement_floor: float = 0.10
    click_given_open: float = 0.2
    cart_abandon_base: float = 0.03
    cart_abandon_price: float = 0.1
    # Channels, consent, spend.
    home_channel_probs: tuple[float, float, float] = (0.45, 0.35, 0.20)
    region_probs: tuple[float, ...] = (0.22, 0.25, 0.2, 0.18, 0.15)
    home_channel_share: float = 0.75
    app_user_share_non_app: float = 0.15
    store_spend_multiplier: float = 1.15
    consent_email_share: float = 0.7
    consent_sms_share: float = 0.35
    consent_push_share_app: float = 0.6
    # Win-back campaign and response.
    control_share: float = 0.2
    response_window_days: int = 30
    response_mean_delay_days: float = 5.0
    discount_factor: float = 0.85
    uplift_base: dict[str, float] = field(
        default_factory=lambda: {
            "email_reminder": 0.10,
            "email_discount": 0.14,
            "sms_reminder": 0.07,
            "push_offer": 0.10,
            "vip_call": 0.30,
        }
    )
    dead_reach: float = 0.7
    dead_decay_days: float = 45.0
    lapse_days: float = 60.0
    # Win-back scenarios (the defaults keep the campaign model described above).
    alive_response: float = 1.0  # reach of a customer still alive at the contact
    revive: bool = False  # a dropped-out responder comes back alive and buys again
    hurt_base: float = 0.0  # P(a contact drives away an alive customer who just bought)
    hurt_recency_days: float = 30.0  # ... falling as exp(-days since last purchase / this)
    uniform_fit: bool = False  # response independent of the customer's traits

    @classmethod
    def dropouts_only(cls) -> SimulationParams:
        """Win-back scenario 1: only customers who have dropped out respond, and it revives them.

        A contact reaches nobody who is still alive (``alive_response = 0``); a
        dropped-out customer responds with the heterogeneous, observable
        probability of the module docstring (less the longer they have been gone,
        ``dead_decay_days`` 120; reminders for the engaged, discounts for the
        price-sensitive), and a response *revives* them: after the extra order they
        are alive again and buy by their BG/NBD rate and dropout. Response rates
        are those of a strong win-back programme (``uplift_base`` 0.25-0.5).
        """
        return cls(
            alive_response=0.0,
            revive=True,
            dead_reach=1.0,
            dead_decay_days=365.0,
            uplift_base={
                "email_reminder": 0.3,
                "email_discount": 0.4,
                "sms_reminder": 0.25,
                "push_offer": 0.3,
                "vip_call": 0.5,
            },
        )

    @classmethod
    def dropouts_and_actives(cls) -> SimulationParams:
        """Scenario 2: as :meth:`dropouts_only`, and alive customers respond a little too
        (``alive_response = 0.15``: an extra order, no revival needed)."""
        return dataclasses.replace(cls.dropouts_only(), alive_response=0.15)

    @classmethod
    def contacts_hurt(cls) -> SimulationParams:
        """Scenario 3: as :meth:`dropouts_and_actives`, and contacts drive recent buyers away.

        An alive customer contacted ``d`` days after their last purchase
        unsubscribes and leaves for good with probability
        ``hurt_base exp(-d / hurt_recency_days)`` (0.4, 30 days): for active
        customers a win-back message is one message too many.
        """
        return dataclasses.replace(cls.dropouts_and_actives(), hurt_base=0.4)

    @classmethod
    def churn_risk_targeting(cls) -> SimulationParams:
        """Scenario 4: naive "top churn risk" targeting is about right.

        Only dropped-out customers respond, all with the same probability however
        long they have been gone and whatever their traits (``uniform_fit``, no
        decay), and a response revives them: whoever is most likely gone is the
        best contact, up to the value of their revived future.
        """
        return dataclasses.replace(cls.dropouts_only(), uniform_fit=True, dead_decay_days=1e9)

    @classmethod
    def strong_behaviour_signal(cls) -> SimulationParams:
        """A shop whose behaviour carries a strong churn signal beyond RFM.

        Only the behavioural drivers of dropout differ from the defaults (purchase
        rates, dropout ``p``, spend and returns per order are unchanged), and each
        change stays within what real retailers see:

        - ``engagement_mean`` 0.04 -> 0.25 per day: an engaged base (about 7-8 e-mail
          opens, site visits and app sessions a month) whose activity can be read;
        - ``engagement_shape`` 2 -> 4: fewer near-silent accounts (whose state no
          engagement feature can reveal); the spread stays wide (CV 0.5);
        - ``engagement_fade_days`` 60 -> 90: disengagement sets in over the three
          months before the last order, not two;
        - ``engagement_floor`` 0.10 -> 0.02: after leaving, customers unsubscribe and
          uninstall the app, so only stray opens and visits remain;
        - ``return_dropout`` 0.25 -> 0.5: half of the customers whose order goes back
          (on top of the dropout ``p``) do not buy again;
        - ``ticket_dropout`` 0.10 -> 0.25: a support ticket drives away a quarter more.

        With ``simulate(20_000, seed, params=SimulationParams.strong_behaviour_signal())``
        about two thirds of the customers are churned at ``as_of`` (no purchase in the
        next 90 days) and BG/NBD's P(no purchase) still ranks them with a ROC-AUC near
        0.90, while the churn model gains 0.043-0.045 on it over seeds 0-3 (see
        ``tests/test_churn_behaviour_signal.py``).
        """
        return cls(
            engagement_mean=0.25,
            engagement_shape=4.0,
            engagement_fade_days=90.0,
            engagement_floor=0.02,
            return_dropout=0.5,
            ticket_dropout=0.25,
        )

    def bgnbd(self) -> dict[str, float]:
        """BG/NBD parameters in lifetimes' naming (time unit: days)."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def gamma_gamma(self) -> dict[str, float]:
        """Gamma-Gamma parameters in lifetimes' naming (``v`` is the rate ``gamma``)."""
        return {"p": self.p_gg, "q": self.q, "v": self.gamma}

    @property
    def mean_order_value(self) -> float:
        """Population mean order value ``p * gamma / (q - 1)`` of pure Gamma-Gamma."""
        return self.p_gg * self.gamma / (self.q - 1.0)


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
        cut = self.as_of if as_of is None else _timestamp(as_of)
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


# --------------------------------------------------------------------------- helpers


def _timestamp(value: str | dt.date | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def _format_ids(prefix: str, numbers: npt.NDArray[np.integer[Any]], width: int) -> npt.NDArray[Any]:
    """Zero-padded string ids as an object array, vectorised (7M ids in ~2 s)."""
    digits = np.strings.zfill(numbers.astype(np.dtypes.StringDType()), width)
    return np.strings.add(prefix, digits).astype(object)


def _to_seconds(days: FloatArray) -> IntArray:
    """Float days since start -> whole seconds (floor keeps ``t < end`` strict)."""
    return np.floor(days * _SECONDS_PER_DAY).astype(np.int64)


def _to_datetime(start: pd.Timestamp, seconds: IntArray) -> npt.NDArray[np.datetime64]:
    base = np.datetime64(start.to_datetime64(), "s")
    return (base + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")


def _choose(rng: np.random.Generator, weights: FloatArray) -> IntArray:
    """One category per row of a non-negative ``(n, k)`` weight matrix."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), weights.shape[1] - 1).astype(np.int64)


# --------------------------------------------------------------------------- population


@dataclass
class _Population:
    acq: FloatArray  # first purchase, days since start
    signup: FloatArray  # day of sign-up (whole days since start)
    lam: FloatArray
    p: FloatArray
    nu: FloatArray  # effective Gamma-Gamma rate (store multiplier applied)
    mov: FloatArray  # expected order value p_gg / nu
    rho_return: FloatArray
    eng: FloatArray
    home: IntArray
    region: IntArray
    app_user: BoolArray
    consent_email: BoolArray
    consent_sms: BoolArray
    consent_push: BoolArray


def _draw_population(
    rng: np.random.Generator, n: int, acq_span: float, prm: SimulationParams, behaviour: bool
) -> _Population:
    acq = rng.uniform(0.0, acq_span, n)
    early = rng.random(n) < prm.signup_early_share
    lag = np.where(early, np.minimum(rng.exponential(prm.signup_early_mean_days, n), 60.0), 0.0)
    signup = np.floor(np.maximum(acq - lag, 0.0))
    lam = rng.gamma(prm.r, 1.0 / prm.alpha, n)
    p = rng.beta(prm.a, prm.b, n)
    nu = rng.gamma(prm.q, 1.0 / prm.gamma, n)
    home = _choose(rng, np.broadcast_to(np.asarray(prm.home_channel_probs, float), (n, 3)))
    if behaviour:
        nu = np.where(home == 1, nu / prm.store_spend_multiplier, nu)
    region = _choose(rng, np.broadcast_to(np.asarray(prm.region_probs, float), (n, len(REGIONS))))
    app_user = (home == 2) | (rng.random(n) < prm.app_user_share_non_app)
    return _Population(
        acq=acq,
        signup=signup,
        lam=lam,
        p=p,
        nu=nu,
        mov=prm.p_gg / nu,
        rho_return=rng.beta(prm.return_a, prm.return_b, n),
        eng=rng.gamma(prm.engagement_shape, prm.engagement_mean / prm.engagement_shape, n),
        home=home,
        region=region,
        app_user=app_user,
        consent_email=rng.random(n) < prm.consent_email_share,
        consent_sms=rng.random(n) < prm.consent_sms_share,
        consent_push=app_user & (rng.random(n) < prm.consent_push_share_app),
    )


@dataclass
class _Orders:
    cust: IntArray
    t: FloatArray
    returned: BoolArray
    ticket: BoolArray


def _purchase_process(
    rng: np.random.Generator,
    pop: _Population,
    end: float,
    prm: SimulationParams,
    behaviour: bool,
    restart: tuple[IntArray, FloatArray] | None = None,
) -> tuple[_Orders, FloatArray]:
    """Run BG/NBD for all customers at once, one purchase index per loop step.

    Returns the natural orders and each customer's death time (NaN: never died
    before ``end``). The loop runs as many times as the most frequent buyer buys;
    each step only touches customers still alive and inside the period.

    ``restart = (customers, times)`` runs the process only for those customers,
    alive at those times (a revived customer right after the response order, which
    is not repeated here); the others get no orders and NaN.
    """
    n = pop.acq.size
    death = np.full(n, np.nan)
    custs: list[IntArray] = []
    times: list[FloatArray] = []
    rets: list[BoolArray] = []
    tickets: list[BoolArray] = []

    if restart is None:
        active = np.arange(n, dtype=np.int64)
        t = pop.acq.copy()
        first = True
    else:
        active, t = restart[0].copy(), restart[1].copy()
        first = False
    while active.size:
        if not first:
            t = t + rng.exponential(1.0, active.size) / pop.lam[active]
            inside = t < end
            active, t = active[inside], t[inside]
            if not active.size:
                break
        m = active.size
        ret = rng.random(m) < pop.rho_return[active]
        tix = rng.random(m) < np.where(ret, prm.ticket_given_return, prm.ticket_without_return)
        custs.append(active)
        times.append(t)
        rets.append(ret)
        tickets.append(tix)
        # BG/NBD: no dropout at the first (trial) purchase, p after each repeat purchase.
        survive = np.ones(m) if first else 1.0 - pop.p[active]
        if behaviour:
            survive = survive * (1.0 - prm.return_dropout * ret) * (1.0 - prm.ticket_dropout * tix)
        die = rng.random(m) >= survive
        death[active[die]] = t[die]
        active, t = active[~die], t[~die]
        first = False

    empty = [np.empty(0, np.int64)], [np.empty(0)], [np.empty(0, bool)]
    orders = _Orders(
        cust=np.concatenate(custs or empty[0]),
        t=np.concatenate(times or empty[1]),
        returned=np.concatenate(rets or empty[2]),
        ticket=np.concatenate(tickets or empty[2]),
    )
    return orders, death


# --------------------------------------------------------------------------- win-back


def _response_probability(
    action: str,
    idx: IntArray,
    when: float,
    pop: _Population,
    death: FloatArray,
    last_purchase: FloatArray,
    prm: SimulationParams,
) -> FloatArray:
    """Probability that a contact at ``when`` triggers one extra order (see module doc)."""
    dead = ~np.isnan(death[idx]) & (death[idx] < when)
    days_dead = np.where(dead, when - np.nan_to_num(death[idx]), 0.0)
    reach = np.where(
        dead, prm.dead_reach * np.exp(-days_dead / prm.dead_decay_days), prm.alive_response
    )
    recency = np.maximum(when - last_purchase[idx], 0.0)
    lapse = 1.0 - np.exp(-recency / prm.lapse_days)
    eng = pop.eng[idx]
    engaged = eng / (eng + prm.engagement_mean)
    mov = pop.mov[idx]
    price_sensitive = prm.mean_order_value / (mov + prm.mean_order_value)
    if action == "email_reminder":
        fit = 2.0 * engaged
    elif action == "email_discount":
        fit = 2.5 * price_sensitive**2
    elif action == "sms_reminder":
        fit = 0.5 + engaged
    elif action == "push_offer":
        fit = (0.5 + engaged) * pop.app_user[idx]
    elif action == "vip_call":
        value = (mov / prm.mean_order_value) * (pop.lam[idx] * prm.alpha / prm.r)
        fit = 2.0 * value / (value + 1.0)
    else:  # pragma: no cover - guarded by ACTIONS
        raise ValueError(f"unknown action {action!r}")
    if prm.uniform_fit:
        fit = np.ones(idx.size) if action != "push_offer" else pop.app_user[idx].astype(float)
    rho = prm.uplift_base[action] * reach * lapse * fit
    return np.clip(rho, 0.0, 0.95)


def _hurt_probability(
    idx: IntArray, when: float, death: FloatArray, last_purchase: FloatArray, prm: SimulationParams
) -> FloatArray:
    """Probability that a contact at ``when`` makes an alive customer leave for good."""
    if prm.hurt_base <= 0:
        return np.zeros(idx.size)
    alive = np.isnan(death[idx]) | (death[idx] >= when)
    recency = np.maximum(when - last_purchase[idx], 0.0)
    return np.asarray(
        alive * prm.hurt_base * np.exp(-recency / prm.hurt_recency_days), dtype=np.float64
    )


def _alive_purchases(lam: FloatArray, p: FloatArray, days: float | FloatArray) -> FloatArray:
    """Expected purchases in ``(0, days]`` of an alive BG/NBD customer: (1 - e^(-lambda p t)) / p."""
    return np.asarray(-np.expm1(-lam * p * days) / p, dtype=np.float64)


def _revived_purchases(
    lam: FloatArray, p: FloatArray, days: float, prm: SimulationParams
) -> FloatArray:
    """Expected purchases of a revived customer after the response order, within ``days``.

    The response order comes ``D = min(Exp(response_mean_delay_days), window - 0.5)``
    days after the contact and the customer is alive from then on, so this is
    ``E_D[_alive_purchases(lam, p, days - D)]``, by Gauss-Legendre quadrature over
    the exponential part plus the point mass at the cap.
    """
    mean, cap = prm.response_mean_delay_days, prm.response_window_days - 0.5
    nodes, weights = np.polynomial.legendre.leggauss(16)
    d = (nodes + 1.0) * cap / 2.0
    w = weights * cap / 2.0 * np.exp(-d / mean) / mean
    out = _alive_purchases(lam[:, None], p[:, None], np.maximum(days - d, 0.0)[None, :]) @ w
    return np.asarray(
        out + np.exp(-cap / mean) * _alive_purchases(lam, p, max(days - cap, 0.0)),
        dtype=np.float64,
    )


def _true_effects(
    action: str,
    idx: IntArray,
    when: float,
    pop: _Population,
    death: FloatArray,
    last_purchase: FloatArray,
    p_eff: FloatArray,
    prm: SimulationParams,
    behaviour: bool,
    days: float,
) -> tuple[FloatArray, FloatArray]:
    """True effect of contacting customers ``idx`` with ``action`` at ``when``.

    Returns ``(conversion, revenue)``: the change in the probability of a purchase
    within the response window and the change in expected gross revenue within
    ``days`` of the contact (the response order, the revived future of a
    dropped-out responder, minus the natural purchases of a customer the contact
    drove away). With rho the response and h the hurt probability, P0 the natural
    window purchase probability, E(t) the expected purchases of an alive customer
    in t days and m the expected order value (times ``discount_factor`` for the
    discount's response order):

    - conversion = (1 - h)(1 - P0) rho - h P0;
    - revenue = rho m_resp + rho m E_revived(days) (dropped out, ``revive``), or
      (1 - h) rho m_resp - h m E(days) (alive).
    """
    window = float(prm.response_window_days)
    if not behaviour:
        zero = np.zeros(idx.size)
        return zero, zero
    rho = _response_probability(action, idx, when, pop, death, last_purchase, prm)
    hurt = _hurt_probability(idx, when, death, last_purchase, prm)
    p0 = _natural_purchase_probability(idx, when, pop, death, window)
    conversion = (1.0 - hurt) * (1.0 - p0) * rho - hurt * p0
    alive = np.isnan(death[idx]) | (death[idx] >= when)
    mov = pop.mov[idx]
    m_resp = mov * (prm.discount_factor if action == "email_discount" else 1.0)
    lam, p = pop.lam[idx], p_eff[idx]
    revived = _revived_purchases(lam, p, days, prm) if prm.revive else np.zeros(idx.size)
    revenue = np.where(
        alive,
        (1.0 - hurt) * rho * m_resp - hurt * mov * _alive_purchases(lam, p, days),
        rho * (m_resp + mov * revived),
    )
    return conversion, revenue


def _natural_purchase_probability(
    idx: IntArray, when: float, pop: _Population, death: FloatArray, window: float
) -> FloatArray:
    """P(natural purchase in [when, when + window)): memoryless if alive, else 0."""
    alive = np.isnan(death[idx]) | (death[idx] >= when)
    return np.where(alive, 1.0 - np.exp(-window * pop.lam[idx]), 0.0)


def _last_purchase_before(cust: IntArray, t: FloatArray, when: float, n: int) -> FloatArray:
    last = np.full(n, -np.inf)
    before = t < when
    np.maximum.at(last, cust[before], t[before])
    return last


# --------------------------------------------------------------------------- events


#: Customers per block of event generation: keeps temporaries small enough to be reused
#: by the allocator instead of being page-faulted in afresh (3x faster at 1M customers).
_EVENT_BLOCK = 1 << 16


def _engagement_events(
    rng: np.random.Generator,
    pop: _Population,
    death: FloatArray,
    end: float,
    prm: SimulationParams,
    behaviour: bool,
) -> tuple[IntArray, FloatArray, npt.NDArray[np.int8]]:
    """Opens, visits and app sessions (+ clicks and cart abandons they lead to).

    Returns customer index, time (days since start) and event kind per event,
    generated block by block of customers.
    """
    n = pop.acq.size
    custs: list[IntArray] = []
    times: list[FloatArray] = []
    kinds: list[npt.NDArray[np.int8]] = []
    for lo in range(0, n, _EVENT_BLOCK):
        idx = np.arange(lo, min(lo + _EVENT_BLOCK, n), dtype=np.int64)
        c, t, k = _engagement_block(rng, pop, death, idx, end, prm, behaviour)
        custs.append(c)
        times.append(t)
        kinds.append(k)
    return np.concatenate(custs), np.concatenate(times), np.concatenate(kinds)


def _engagement_block(
    rng: np.random.Generator,
    pop: _Population,
    death: FloatArray,
    idx: IntArray,
    end: float,
    prm: SimulationParams,
    behaviour: bool,
) -> tuple[IntArray, FloatArray, npt.NDArray[np.int8]]:
    m = idx.size
    begin = pop.signup[idx]
    eng = pop.eng[idx]
    d = np.where(np.isnan(death[idx]), np.inf, death[idx])
    if behaviour:
        fade_start = np.clip(d - prm.engagement_fade_days, begin, end)
        fade_end = np.clip(d, begin, end)
    else:
        fade_start = np.full(m, end)
        fade_end = np.full(m, end)
    segments = [
        (begin, fade_start, 1.0),  # full rate
        (fade_start, fade_end, 1.0),  # fading (thinned below)
        (fade_end, np.full(m, end), prm.engagement_floor),  # after death
    ]
    custs: list[IntArray] = []
    times: list[FloatArray] = []
    for k, (lo, hi, level) in enumerate(segments):
        length = np.maximum(hi - lo, 0.0)
        c = np.repeat(np.arange(m, dtype=np.int64), rng.poisson(eng * level * length))
        tt = rng.random(c.size)
        tt *= length[c]
        tt += lo[c]
        if k == 1 and c.size:
            # Linear fade from 1 at fade_start to the floor at death: accept w.p. level(t).
            frac = (tt - (d[c] - prm.engagement_fade_days)) / prm.engagement_fade_days
            keep_p = 1.0 - (1.0 - prm.engagement_floor) * np.clip(frac, 0.0, 1.0)
            keep = rng.random(c.size) < keep_p
            c, tt = c[keep], tt[keep]
        custs.append(c)
        times.append(tt)
    cust = np.concatenate(custs)
    t = np.concatenate(times)

    # Event type in proportion to weights: opens 1 (with e-mail consent), visits 1, app 1.5.
    w_open = pop.consent_email[idx].astype(np.float64)
    total = w_open + 1.0 + 1.5 * pop.app_user[idx]
    u = rng.random(cust.size)
    kind = np.where(
        u < (w_open / total)[cust],
        _EV_OPEN,
        np.where(u < ((w_open + 1.0) / total)[cust], _EV_VISIT, _EV_APP),
    ).astype(np.int8)

    opens = np.flatnonzero(kind == _EV_OPEN)
    opens = opens[rng.random(opens.size) < prm.click_given_open]
    click_t = t[opens] + rng.exponential(10.0 / 1440.0, opens.size)
    browse = np.flatnonzero(kind != _EV_OPEN)
    price_sensitive = prm.mean_order_value / (pop.mov[idx] + prm.mean_order_value)
    p_cart = prm.cart_abandon_base + prm.cart_abandon_price * price_sensitive
    carts = browse[rng.random(browse.size) < p_cart[cust[browse]]]
    cart_t = t[carts] + rng.exponential(15.0 / 1440.0, carts.size)

    all_cust = np.concatenate([cust, cust[opens], cust[carts]]) + idx[0]
    all_t = np.concatenate([t, click_t, cart_t])
    all_kind = np.concatenate(
        [kind, np.full(opens.size, _EV_CLICK, np.int8), np.full(carts.size, _EV_CART, np.int8)]
    )
    return all_cust, all_t, all_kind


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class _Clock:
    """The simulation's dates, as timestamps and as days since ``start``."""

    start: pd.Timestamp
    as_of: pd.Timestamp
    send: pd.Timestamp
    end_ts: pd.Timestamp

    def days(self, ts: pd.Timestamp) -> float:
        return float((ts - self.start).days)

    @property
    def end(self) -> float:
        return self.days(self.end_ts)

    def sec(self, ts: pd.Timestamp) -> int:
        return (ts - self.start).days * _SECONDS_PER_DAY


@dataclass
class _Campaign:
    eligible: IntArray  # customer indices in the campaign
    action: IntArray  # index into CAMPAIGN_ACTIONS
    treated: BoolArray
    true_uplift: FloatArray
    hurt: IntArray  # customers the contact drove away (they leave at the send date)
    resp_cust: IntArray  # customers who responded with an extra order ...
    resp_t: FloatArray  # ... at this time,
    resp_cents: IntArray  # ... of this value
    resp_channel: IntArray  # ... in this channel (index into CHANNELS)


def _run_campaign(
    rng: np.random.Generator,
    pop: _Population,
    orders: _Orders,
    death: FloatArray,
    t_send: float,
    prm: SimulationParams,
    behaviour: bool,
) -> _Campaign:
    """Randomise the past win-back campaign and draw the treated customers' responses."""
    n = pop.acq.size
    names = list(CAMPAIGN_ACTIONS)
    contact = {"email": pop.consent_email, "sms": pop.consent_sms, "push": pop.consent_push}
    allowed = np.column_stack([contact[CAMPAIGN_ACTIONS[a]] for a in names])
    eligible = np.flatnonzero((pop.acq < t_send) & allowed.any(axis=1))
    action = _choose(rng, allowed[eligible].astype(np.float64))
    treated = rng.random(eligible.size) >= prm.control_share
    rho = np.zeros(eligible.size)
    if behaviour:
        last = _last_purchase_before(orders.cust, orders.t, t_send, n)
        for k, name in enumerate(names):
            sel = action == k
            rho[sel] = _response_probability(name, eligible[sel], t_send, pop, death, last, prm)
    window = float(prm.response_window_days)
    p0 = _natural_purchase_probability(eligible, t_send, pop, death, window)
    hurt_p = np.zeros(eligible.size)
    hurt = np.zeros(eligible.size, dtype=bool)
    if behaviour and prm.hurt_base > 0:
        last = _last_purchase_before(orders.cust, orders.t, t_send, n)
        hurt_p = _hurt_probability(eligible, t_send, death, last, prm)
        hurt = treated & (rng.random(eligible.size) < hurt_p)

    # A customer the contact drove away does not respond to it.
    responds = np.flatnonzero(treated & ~hurt & (rng.random(eligible.size) < rho))
    resp_cust = eligible[responds]
    delay = np.minimum(rng.exponential(prm.response_mean_delay_days, responds.size), window - 0.5)
    discount = np.where(action[responds] == names.index("email_discount"), prm.discount_factor, 1.0)
    value = rng.gamma(prm.p_gg, 1.0 / pop.nu[resp_cust]) * discount
    order_channel = np.asarray(
        [_ORDER_CHANNEL_OF_CONTACT[CAMPAIGN_ACTIONS[a]] for a in names], dtype=np.int64
    )
    return _Campaign(
        eligible=eligible,
        action=action,
        treated=treated,
        true_uplift=(1.0 - hurt_p) * (1.0 - p0) * rho - hurt_p * p0,
        hurt=eligible[hurt],
        resp_cust=resp_cust,
        resp_t=t_send + delay,
        resp_cents=_cents(value),
        resp_channel=order_channel[action[responds]],
    )


@dataclass
class _OrderValues:
    """Value and channel of each order, and the refund rows of the returned ones."""

    cents: IntArray
    channel: IntArray
    refund_of: IntArray  # index of the refunded order
    refund_t: FloatArray
    refund_cents: IntArray


def _order_values(
    rng: np.random.Generator, pop: _Population, orders: _Orders, prm: SimulationParams
) -> _OrderValues:
    """Spend (Gamma-Gamma), order channel and refunds of ``orders``."""
    n_orders = orders.cust.size
    cents = _cents(rng.gamma(prm.p_gg, 1.0 / pop.nu[orders.cust]))
    home = pop.home[orders.cust]
    channel = np.where(
        rng.random(n_orders) < prm.home_channel_share,
        home,
        (home + rng.integers(1, 3, n_orders)) % 3,
    )
    r_idx = np.flatnonzero(orders.returned)
    refund_t = (
        orders.t[r_idx] + 1.0 + rng.gamma(2.0, (prm.refund_mean_days - 1.0) / 2.0, r_idx.size)
    )
    share = np.where(
        rng.random(r_idx.size) < prm.return_full_share, 1.0, rng.uniform(0.2, 0.9, r_idx.size)
    )
    refund_cents = -np.maximum(np.round(cents[r_idx] * share), 1.0).astype(np.int64)
    return _OrderValues(cents, channel, r_idx, refund_t, refund_cents)


def _campaign_consequences(
    rng: np.random.Generator,
    pop: _Population,
    orders: _Orders,
    values: _OrderValues,
    death: FloatArray,
    camp: _Campaign,
    t_send: float,
    end: float,
    prm: SimulationParams,
    behaviour: bool,
) -> tuple[_Orders, _OrderValues, FloatArray]:
    """What the campaign changed besides its response orders.

    Customers it drove away leave at the send date (their later natural orders,
    and the refunds of those, never happen); with ``prm.revive`` a dropped-out
    responder is alive again after the response order and buys on by BG/NBD.
    Nothing is drawn and nothing changes in the default scenario.
    """
    death = death.copy()
    if camp.hurt.size:
        gone = np.zeros(pop.acq.size, dtype=bool)
        gone[camp.hurt] = True
        keep = ~(gone[orders.cust] & (orders.t >= t_send))
        position = np.cumsum(keep) - 1
        kept_refund = keep[values.refund_of]
        orders = _Orders(
            orders.cust[keep], orders.t[keep], orders.returned[keep], orders.ticket[keep]
        )
        values = _OrderValues(
            values.cents[keep],
            values.channel[keep],
            position[values.refund_of[kept_refund]],
            values.refund_t[kept_refund],
            values.refund_cents[kept_refund],
        )
        death[camp.hurt] = np.fmin(death[camp.hurt], t_send)
    if behaviour and prm.revive and camp.resp_cust.size:
        was_dead = ~np.isnan(death[camp.resp_cust]) & (death[camp.resp_cust] < t_send)
        who, when = camp.resp_cust[was_dead], camp.resp_t[was_dead]
        if who.size:
            new, new_death = _purchase_process(rng, pop, end, prm, behaviour, restart=(who, when))
            new_values = _order_values(rng, pop, new, prm)
            death[who] = new_death[who]
            offset = orders.cust.size
            orders = _Orders(
                np.concatenate([orders.cust, new.cust]),
                np.concatenate([orders.t, new.t]),
                np.concatenate([orders.returned, new.returned]),
                np.concatenate([orders.ticket, new.ticket]),
            )
            values = _OrderValues(
                np.concatenate([values.cents, new_values.cents]),
                np.concatenate([values.channel, new_values.channel]),
                np.concatenate([values.refund_of, new_values.refund_of + offset]),
                np.concatenate([values.refund_t, new_values.refund_t]),
                np.concatenate([values.refund_cents, new_values.refund_cents]),
            )
    return orders, values, death


def _cents(values: FloatArray) -> IntArray:
    """Whole cents, at least one."""
    return np.maximum(np.round(values * 100.0), 1.0).astype(np.int64)


@dataclass
class _Ledger:
    """The transactions table as arrays, sorted by customer and time."""

    cust: IntArray
    sec: IntArray
    cents: IntArray
    channel: IntArray

    def window(self, n: int, lo_sec: int, hi_sec: int) -> tuple[IntArray, IntArray]:
        """Per customer: number and gross cents of purchases in ``[lo_sec, hi_sec)``."""
        sel = (self.cents > 0) & (self.sec >= lo_sec) & (self.sec < hi_sec)
        count = np.bincount(self.cust[sel], minlength=n)
        cents = np.bincount(self.cust[sel], weights=self.cents[sel], minlength=n)
        return count.astype(np.int64), np.round(cents).astype(np.int64)

    def net(self, n: int, lo_sec: int, hi_sec: int) -> IntArray:
        """Per customer: net cents (orders minus refunds) in ``[lo_sec, hi_sec)``."""
        sel = (self.sec >= lo_sec) & (self.sec < hi_sec)
        return np.round(np.bincount(self.cust[sel], weights=self.cents[sel], minlength=n)).astype(
            np.int64
        )


def _effective_dropout(pop: _Population, prm: SimulationParams, behaviour: bool) -> FloatArray:
    """Dropout per repeat purchase, averaged over its return and ticket outcomes."""
    if not behaviour:
        return pop.p
    with_return = (1.0 - prm.return_dropout) * (1.0 - prm.ticket_dropout * prm.ticket_given_return)
    without = 1.0 - prm.ticket_dropout * prm.ticket_without_return
    keep = pop.rho_return * with_return + (1.0 - pop.rho_return) * without
    return 1.0 - (1.0 - pop.p) * keep


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
    if n < 1:
        raise ValueError(f"n_customers must be positive, got {n_customers}")
    if horizon_days < CHURN_WINDOW_DAYS:
        raise ValueError(
            f"horizon_days must be at least {CHURN_WINDOW_DAYS} so that the churn label in "
            f"truth is observed, got {horizon_days}"
        )
    start_ts, as_of_ts = _timestamp(start), _timestamp(as_of)
    if as_of_ts <= start_ts:
        raise ValueError(f"as_of ({as_of_ts.date()}) must be after start ({start_ts.date()})")
    window = prm.response_window_days
    send_ts = (
        as_of_ts - pd.Timedelta(days=120) if campaign_date is None else _timestamp(campaign_date)
    )
    end_ts = as_of_ts + pd.Timedelta(days=horizon_days)
    if not start_ts < send_ts <= end_ts - pd.Timedelta(days=window):
        raise ValueError(
            f"campaign_date {send_ts.date()} must lie after start ({start_ts.date()}) and at "
            f"least {window} days before the end of the simulated period ({end_ts.date()})"
        )
    clock = _Clock(start=start_ts, as_of=as_of_ts, send=send_ts, end_ts=end_ts)
    end, end_sec = clock.end, clock.sec(end_ts)
    rng = np.random.default_rng(seed)

    # The latent story: population, BG/NBD purchases, spend, returns, the campaign.
    history_days = clock.days(as_of_ts)
    pop = _draw_population(rng, n, prm.acquisition_share * history_days, prm, behaviour_signal)
    orders, death = _purchase_process(rng, pop, end, prm, behaviour_signal)
    values = _order_values(rng, pop, orders, prm)
    t_send = clock.days(send_ts)
    camp = _run_campaign(rng, pop, orders, death, t_send, prm, behaviour_signal)
    # The state the campaign met, for the truth at its send date.
    death_at_send = death.copy()
    last_before_send = _last_purchase_before(orders.cust, orders.t, t_send, n)
    orders, values, death = _campaign_consequences(
        rng, pop, orders, values, death, camp, t_send, end, prm, behaviour_signal
    )
    n_orders = orders.cust.size
    cents, channel, r_idx = values.cents, values.channel, values.refund_of
    refund_t, refund_cents = values.refund_t, values.refund_cents

    # Transactions: natural orders, refunds and win-back orders inside the period.
    tx_sec = _to_seconds(np.concatenate([orders.t, refund_t, camp.resp_t]))
    keep = tx_sec < end_sec
    tx_cust = np.concatenate([orders.cust, orders.cust[r_idx], camp.resp_cust])[keep]
    tx_sec = tx_sec[keep]
    sort = np.argsort(tx_cust * (end_sec + 1) + tx_sec)
    ledger = _Ledger(
        cust=tx_cust[sort],
        sec=tx_sec[sort],
        cents=np.concatenate([cents, refund_cents, camp.resp_cents])[keep][sort],
        channel=np.concatenate([channel, channel[r_idx], camp.resp_channel])[keep][sort],
    )
    del tx_cust, tx_sec, sort, keep
    cust_ids = _format_ids("C", np.arange(1, n + 1), max(7, len(str(n))))
    n_tx = ledger.cust.size
    transactions = pd.DataFrame(
        {
            "customer_id": cust_ids[ledger.cust],
            "order_id": _format_ids("O", np.arange(1, n_tx + 1), max(9, len(str(n_tx)))),
            "order_date": _to_datetime(start_ts, ledger.sec),
            "amount": ledger.cents / 100.0,
            "channel": np.asarray(CHANNELS, dtype=object)[ledger.channel],
        },
        copy=False,
    )

    customers = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "signup_date": _to_datetime(start_ts, _to_seconds(pop.signup)),
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

    # Campaign outcomes are read off the ledger, so they agree with the transactions.
    send_sec = clock.sec(send_ts)
    sent_count, sent_cents = ledger.window(n, send_sec, send_sec + window * _SECONDS_PER_DAY)
    names = np.asarray(list(CAMPAIGN_ACTIONS), dtype=object)
    campaign_id = f"winback-{send_ts.date().isoformat()}"
    campaigns = pd.DataFrame(
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

    # Events: engagement stream plus support tickets, which come mostly around returns.
    ev_cust, ev_t, ev_kind = _engagement_events(rng, pop, death, end, prm, behaviour_signal)
    tix = np.flatnonzero(orders.ticket)
    refund_at = np.full(n_orders, np.nan)
    refund_at[r_idx] = refund_t
    tix_t = np.where(
        orders.returned[tix],
        refund_at[tix] + rng.uniform(-2.0, 1.0, tix.size),
        orders.t[tix] + rng.uniform(1.0, 10.0, tix.size),
    )
    tix_t = np.maximum(tix_t, orders.t[tix] + 1.0 / 24.0)
    ev_sec = _to_seconds(np.concatenate([ev_t, tix_t]))
    keep = ev_sec < end_sec
    ev_cust = np.concatenate([ev_cust, orders.cust[tix]])[keep]
    ev_kind = np.concatenate([ev_kind, np.full(tix.size, _EV_TICKET, dtype=np.int8)])[keep]
    ev_sec = ev_sec[keep]
    sort = np.argsort(ev_cust * (end_sec + 1) + ev_sec)
    events = pd.DataFrame(
        {
            "customer_id": cust_ids[ev_cust[sort]],
            "event_date": _to_datetime(start_ts, ev_sec[sort]),
            "event_type": np.asarray(_EVENT_NAMES, dtype=object)[ev_kind[sort]],
        },
        copy=False,
    )
    del ev_cust, ev_sec, ev_kind, sort, keep

    # Truth: latent parameters, death, realised outcomes and true uplifts.
    as_of_sec, t_as_of = clock.sec(as_of_ts), history_days
    died = ~np.isnan(death)
    death_sec = _to_seconds(np.where(died, death, 0.0))
    alive_at_as_of = ~died | (death_sec >= as_of_sec)
    p_eff = _effective_dropout(pop, prm, behaviour_signal)
    h_count, h_cents = ledger.window(n, as_of_sec, end_sec)
    churn_count, _ = ledger.window(n, as_of_sec, as_of_sec + CHURN_WINDOW_DAYS * _SECONDS_PER_DAY)
    truth_cols: dict[str, Any] = {
        "customer_id": cust_ids,
        "lambda_per_day": pop.lam,
        "p_dropout": pop.p,
        "p_dropout_effective": p_eff,
        "mean_order_value": pop.mov,
        "return_propensity": pop.rho_return,
        "engagement_rate": pop.eng,
        "acquired_date": _to_datetime(start_ts, _to_seconds(pop.acq)),
        "death_date": pd.Series(_to_datetime(start_ts, death_sec)).where(died).to_numpy(),
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
    last_before_as_of = _last_purchase_before(
        np.concatenate([orders.cust, camp.resp_cust]),
        np.concatenate([orders.t, camp.resp_t]),
        t_as_of,
        n,
    )
    for name in ACTIONS:
        now = (name, everyone, t_as_of, pop, death, last_before_as_of, p_eff, prm)
        conversion, revenue = _true_effects(*now, behaviour_signal, float(horizon_days))
        truth_cols[f"uplift_{name}"] = conversion
        truth_cols[f"value_{name}"] = revenue
    for name in ACTIONS:
        then = (name, everyone, t_send, pop, death_at_send, last_before_send, p_eff, prm)
        conversion, window_revenue = _true_effects(*then, behaviour_signal, float(window))
        truth_cols[f"uplift_at_send_{name}"] = conversion
        truth_cols[f"revenue_at_send_{name}"] = window_revenue
        truth_cols[f"value_at_send_{name}"] = _true_effects(
            *then, behaviour_signal, float(horizon_days)
        )[1]
    campaign_true = np.full(n, np.nan)
    campaign_true[camp.eligible] = camp.true_uplift
    truth_cols["campaign_true_uplift"] = campaign_true
    truth = pd.DataFrame(truth_cols)

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
            "start": start_ts.date().isoformat(),
            "as_of": as_of_ts.date().isoformat(),
            "end": end_ts.date().isoformat(),
            "horizon_days": horizon_days,
            "campaign_id": campaign_id,
            "campaign_date": send_ts.date().isoformat(),
            "behaviour_signal": bool(behaviour_signal),
            "churn_window_days": CHURN_WINDOW_DAYS,
        }
    )
    return SimulatedData(
        transactions=transactions,
        customers=customers,
        events=events,
        campaigns=campaigns,
        truth=truth,
        as_of=as_of_ts,
        horizon_days=horizon_days,
        params=params_out,
    )


def write_simulation(
    out_dir: str | Path, n_customers: int, seed: int = 0, **kwargs: Any
) -> dict[str, Path]:
    """Simulate and write the tables to ``out_dir`` (what ``churnml simulate`` does)."""
    return simulate(n_customers, seed, **kwargs).write(out_dir)
