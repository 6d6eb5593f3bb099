"""The simulated win-back campaign: who responds, what it changes, and its truth.

The randomised past campaign of the generative story in
:mod:`churnml.datasets.simulator`, and the true effect of every action that the
``truth`` table records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.datasets.sim_behaviour import (
    Orders,
    Population,
    alive_purchases,
    last_purchase_before,
    natural_purchase_probability,
    purchase_process,
)
from churnml.datasets.sim_params import (
    CAMPAIGN_ACTIONS,
    ORDER_CHANNEL_OF_CONTACT,
    SECONDS_PER_DAY,
    BoolArray,
    FloatArray,
    IntArray,
    SimulationParams,
    choose,
)

# --------------------------------------------------------------------------- win-back


def _response_probability(
    action: str,
    idx: IntArray,
    when: float,
    pop: Population,
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


def _revived_purchases(
    lam: FloatArray, p: FloatArray, days: float, prm: SimulationParams
) -> FloatArray:
    """Expected purchases of a revived customer after the response order, within ``days``.

    The response order comes ``D = min(Exp(response_mean_delay_days), window - 0.5)``
    days after the contact and the customer is alive from then on, so this is
    ``E_D[alive_purchases(lam, p, days - D)]``, by Gauss-Legendre quadrature over
    the exponential part plus the point mass at the cap.
    """
    mean, cap = prm.response_mean_delay_days, prm.response_window_days - 0.5
    nodes, weights = np.polynomial.legendre.leggauss(16)
    d = (nodes + 1.0) * cap / 2.0
    w = weights * cap / 2.0 * np.exp(-d / mean) / mean
    out = alive_purchases(lam[:, None], p[:, None], np.maximum(days - d, 0.0)[None, :]) @ w
    return np.asarray(
        out + np.exp(-cap / mean) * alive_purchases(lam, p, max(days - cap, 0.0)),
        dtype=np.float64,
    )


def true_effects(
    action: str,
    idx: IntArray,
    when: float,
    pop: Population,
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
    p0 = natural_purchase_probability(idx, when, pop, death, window)
    conversion = (1.0 - hurt) * (1.0 - p0) * rho - hurt * p0
    alive = np.isnan(death[idx]) | (death[idx] >= when)
    mov = pop.mov[idx]
    m_resp = mov * (prm.discount_factor if action == "email_discount" else 1.0)
    lam, p = pop.lam[idx], p_eff[idx]
    revived = _revived_purchases(lam, p, days, prm) if prm.revive else np.zeros(idx.size)
    revenue = np.where(
        alive,
        (1.0 - hurt) * rho * m_resp - hurt * mov * alive_purchases(lam, p, days),
        rho * (m_resp + mov * revived),
    )
    return conversion, revenue


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class Clock:
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
        return (ts - self.start).days * SECONDS_PER_DAY


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


def run_campaign(
    rng: np.random.Generator,
    pop: Population,
    orders: Orders,
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
    action = choose(rng, allowed[eligible].astype(np.float64))
    treated = rng.random(eligible.size) >= prm.control_share
    rho = np.zeros(eligible.size)
    if behaviour:
        last = last_purchase_before(orders.cust, orders.t, t_send, n)
        for k, name in enumerate(names):
            sel = action == k
            rho[sel] = _response_probability(name, eligible[sel], t_send, pop, death, last, prm)
    window = float(prm.response_window_days)
    p0 = natural_purchase_probability(eligible, t_send, pop, death, window)
    hurt_p = np.zeros(eligible.size)
    hurt = np.zeros(eligible.size, dtype=bool)
    if behaviour and prm.hurt_base > 0:
        last = last_purchase_before(orders.cust, orders.t, t_send, n)
        hurt_p = _hurt_probability(eligible, t_send, death, last, prm)
        hurt = treated & (rng.random(eligible.size) < hurt_p)

    # A customer the contact drove away does not respond to it.
    responds = np.flatnonzero(treated & ~hurt & (rng.random(eligible.size) < rho))
    resp_cust = eligible[responds]
    delay = np.minimum(rng.exponential(prm.response_mean_delay_days, responds.size), window - 0.5)
    discount = np.where(action[responds] == names.index("email_discount"), prm.discount_factor, 1.0)
    value = rng.gamma(prm.p_gg, 1.0 / pop.nu[resp_cust]) * discount
    order_channel = np.asarray(
        [ORDER_CHANNEL_OF_CONTACT[CAMPAIGN_ACTIONS[a]] for a in names], dtype=np.int64
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


def order_values(
    rng: np.random.Generator, pop: Population, orders: Orders, prm: SimulationParams
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


def campaign_consequences(
    rng: np.random.Generator,
    pop: Population,
    orders: Orders,
    values: _OrderValues,
    death: FloatArray,
    camp: _Campaign,
    t_send: float,
    end: float,
    prm: SimulationParams,
    behaviour: bool,
) -> tuple[Orders, _OrderValues, FloatArray]:
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
        orders = Orders(
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
            new, new_death = purchase_process(rng, pop, end, prm, behaviour, restart=(who, when))
            new_values = order_values(rng, pop, new, prm)
            death[who] = new_death[who]
            offset = orders.cust.size
            orders = Orders(
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
class Ledger:
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


def effective_dropout(pop: Population, prm: SimulationParams, behaviour: bool) -> FloatArray:
    """Dropout per repeat purchase, averaged over its return and ticket outcomes."""
    if not behaviour:
        return pop.p
    with_return = (1.0 - prm.return_dropout) * (1.0 - prm.ticket_dropout * prm.ticket_given_return)
    without = 1.0 - prm.ticket_dropout * prm.ticket_without_return
    keep = pop.rho_return * with_return + (1.0 - pop.rho_return) * without
    return 1.0 - (1.0 - pop.p) * keep
