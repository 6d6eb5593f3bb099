"""The simulated customers' own behaviour: population, purchases and engagement.

Steps 1-5 of the generative story in :mod:`churnml.datasets.simulator`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from churnml.datasets.sim_params import (
    EV_APP,
    EV_CART,
    EV_CLICK,
    EV_OPEN,
    EV_VISIT,
    REGIONS,
    BoolArray,
    FloatArray,
    IntArray,
    SimulationParams,
    choose,
)

# --------------------------------------------------------------------------- population


@dataclass
class Population:
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


def draw_population(
    rng: np.random.Generator, n: int, acq_span: float, prm: SimulationParams, behaviour: bool
) -> Population:
    acq = rng.uniform(0.0, acq_span, n)
    early = rng.random(n) < prm.signup_early_share
    lag = np.where(early, np.minimum(rng.exponential(prm.signup_early_mean_days, n), 60.0), 0.0)
    signup = np.floor(np.maximum(acq - lag, 0.0))
    lam = rng.gamma(prm.r, 1.0 / prm.alpha, n)
    p = rng.beta(prm.a, prm.b, n)
    nu = rng.gamma(prm.q, 1.0 / prm.gamma, n)
    home = choose(rng, np.broadcast_to(np.asarray(prm.home_channel_probs, float), (n, 3)))
    if behaviour:
        nu = np.where(home == 1, nu / prm.store_spend_multiplier, nu)
    region = choose(rng, np.broadcast_to(np.asarray(prm.region_probs, float), (n, len(REGIONS))))
    app_user = (home == 2) | (rng.random(n) < prm.app_user_share_non_app)
    return Population(
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
class Orders:
    cust: IntArray
    t: FloatArray
    returned: BoolArray
    ticket: BoolArray


def purchase_process(
    rng: np.random.Generator,
    pop: Population,
    end: float,
    prm: SimulationParams,
    behaviour: bool,
    restart: tuple[IntArray, FloatArray] | None = None,
) -> tuple[Orders, FloatArray]:
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
    orders = Orders(
        cust=np.concatenate(custs or empty[0]),
        t=np.concatenate(times or empty[1]),
        returned=np.concatenate(rets or empty[2]),
        ticket=np.concatenate(tickets or empty[2]),
    )
    return orders, death


def alive_purchases(lam: FloatArray, p: FloatArray, days: float | FloatArray) -> FloatArray:
    """Expected purchases in ``(0, days]`` of an alive BG/NBD customer: (1 - e^(-lambda p t)) / p."""
    return np.asarray(-np.expm1(-lam * p * days) / p, dtype=np.float64)


def natural_purchase_probability(
    idx: IntArray, when: float, pop: Population, death: FloatArray, window: float
) -> FloatArray:
    """P(natural purchase in [when, when + window)): memoryless if alive, else 0."""
    alive = np.isnan(death[idx]) | (death[idx] >= when)
    return np.where(alive, 1.0 - np.exp(-window * pop.lam[idx]), 0.0)


def last_purchase_before(cust: IntArray, t: FloatArray, when: float, n: int) -> FloatArray:
    last = np.full(n, -np.inf)
    before = t < when
    np.maximum.at(last, cust[before], t[before])
    return last


# --------------------------------------------------------------------------- events


#: Customers per block of event generation: keeps temporaries small enough to be reused
#: by the allocator instead of being page-faulted in afresh.
_EVENT_BLOCK = 1 << 16


def engagement_events(
    rng: np.random.Generator,
    pop: Population,
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
    pop: Population,
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
        EV_OPEN,
        np.where(u < ((w_open + 1.0) / total)[cust], EV_VISIT, EV_APP),
    ).astype(np.int8)

    opens = np.flatnonzero(kind == EV_OPEN)
    opens = opens[rng.random(opens.size) < prm.click_given_open]
    click_t = t[opens] + rng.exponential(10.0 / 1440.0, opens.size)
    browse = np.flatnonzero(kind != EV_OPEN)
    price_sensitive = prm.mean_order_value / (pop.mov[idx] + prm.mean_order_value)
    p_cart = prm.cart_abandon_base + prm.cart_abandon_price * price_sensitive
    carts = browse[rng.random(browse.size) < p_cart[cust[browse]]]
    cart_t = t[carts] + rng.exponential(15.0 / 1440.0, carts.size)

    all_cust = np.concatenate([cust, cust[opens], cust[carts]]) + idx[0]
    all_t = np.concatenate([t, click_t, cart_t])
    all_kind = np.concatenate(
        [kind, np.full(opens.size, EV_CLICK, np.int8), np.full(carts.size, EV_CART, np.int8)]
    )
    return all_cust, all_t, all_kind
