"""Accounts: contracts, the latent health process, renewals and every signal that health drives.

Health follows a mean-reverting AR(1) (a discretised Ornstein–Uhlenbeck process), so the health at a
contract's end given today's health is Gaussian in closed form; renewal is a probit of a smooth function of
that health. Together they make the renewal `p_true` a one-dimensional Gaussian integral, which
Gauss–Hermite quadrature evaluates to ~1e-12.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from features._generate_common import (
    COUNTRY_P,
    DAY_US,
    INDUSTRY_P,
    NAT,
    SEC_US,
    Grid,
    business_seconds,
    choice_codes,
    company_names,
    sigmoid,
    times_on_days,
    within_day,
)
from features._generate_leads import LeadSim

SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
PLANS = ("starter", "growth", "enterprise")
OWNERS = (
    "Avery Chen", "Jordan Patel", "Sam Okafor", "Riley Novak", "Morgan Silva", "Casey Müller",
    "Taylor Brooks", "Jamie Rossi", "Alex Kim", "Drew Larsen", "Quinn Duarte", "Reese Nakamura",
    "Skyler Haddad", "Parker Lindqvist", "Rowan Adeyemi",
)  # fmt: skip
# CSM teams by segment (indices into OWNERS).
OWNER_TEAMS = (np.arange(0, 8), np.arange(8, 12), np.arange(12, 15))

# Plans and prices.
PLAN_BY_SEGMENT = np.array([[0.6, 0.35, 0.05], [0.25, 0.55, 0.2], [0.05, 0.35, 0.6]])
MONTHLY_BY_SEGMENT = np.array([0.16, 0.05, 0.0])
LIST_PRICE = np.array([360.0, 720.0, 1200.0])  # per seat and year
MONTHLY_PREMIUM = 1.15
ANNUAL_DAYS, MONTHLY_DAYS = 365, 30
HISTORY_DAYS = 3 * 365  # contracts that started longer before the data start are not in the CRM

# Health: h_{d+1} = mu + PHI (h_d - mu) + SIGMA eps, stationary sd S_STAT around the account mean mu.
HALF_LIFE_DAYS = 365
PHI = 0.5 ** (1 / HALF_LIFE_DAYS)
S_STAT = 0.7
SIGMA = S_STAT * np.sqrt(1 - PHI**2)
MU_BASE = -0.05
MU_SEGMENT = np.array([-0.15, 0.05, 0.15])
MU_PLAN = np.array([-0.1, 0.05, 0.1])
MU_INDUSTRY = np.array([0.1, 0.05, -0.05, -0.1, -0.1, 0.0, -0.05, -0.05, 0.05, -0.1])
MU_LATENT_SD = 0.35

# Seat utilisation u = sigmoid(alpha + UTIL_SLOPE * h).
ALPHA_BASE = 0.2
ALPHA_SEGMENT = np.array([0.3, 0.0, -0.4])
ALPHA_PLAN = np.array([-0.1, 0.0, -0.2])
UTIL_SLOPE = 2.0

# Renewal index (probit): see renewal_eta.
ETA = {"base": 0.55, "amp": 1.1, "h0": -0.6, "width": 0.5, "tenure": 0.06, "arr": 0.05, "monthly": 0.3}
ETA_PLAN_UTIL = np.array([0.6, 1.2, 2.2])

# Product usage.
ACTIVE_RATE = 0.10  # weekday probability that a fully used seat is active
FEATURES = (
    "dashboard_view", "report_export", "workflow_run", "integration_sync", "api_call", "share", "comment",
    "admin_settings",
)  # fmt: skip
FEATURE_BASE = np.array([0.6, -1.2, -0.8, -1.6, -1.9, -1.8, -1.6, -2.8])
FEATURE_SLOPE = 2.5
FEATURE_DURATION = np.array([120.0, 45.0, 200.0, np.nan, np.nan, 20.0, 60.0, 150.0])  # median seconds
PRODUCT_EVENTS = ("login", *FEATURES)

TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_CATEGORIES = (
    "how_to", "bug", "billing", "integration", "performance", "access", "feature_request", "data_quality",
)  # fmt: skip
CHANNELS = ("chat", "email", "call")
DIRECTIONS = ("inbound", "outbound")
SERVICES = ("training_session", "certification", "consulting_hours", "kb_article_view", "community_post", "webinar")
SURVEYS = ("nps", "csat", "survey")
COMMENTS = (
    "Too expensive for what we use",
    "Support took too long",
    "Missing integrations we need",
    "Hard to get the team to adopt it",
    "Reports are slow",
    "Does the job",
    "Fine, a few rough edges",
    "Good value",
    "Great product, the team loves it",
    "Support is excellent",
    "Workflows save us hours every week",
)
COMMENT_BUCKETS = (np.arange(0, 5), np.arange(5, 8), np.arange(7, 11))  # detractor, passive, promoter


@dataclass
class AccountSim:
    """Simulated accounts with their health path (health[d, i]) and the contracts they held."""

    created_us: np.ndarray
    source_lead: np.ndarray  # index of the lead that converted into the account, -1 for the initial base
    sim_birth: np.ndarray  # first simulated day (0 for the initial base)
    death_day: np.ndarray  # first silent day (churn day) or grid.days
    name: np.ndarray
    industry: np.ndarray
    employees: np.ndarray
    country: np.ndarray
    segment: np.ndarray
    owner: np.ndarray
    plan: np.ndarray
    monthly: np.ndarray
    mu: np.ndarray
    alpha: np.ndarray
    pool_start: np.ndarray  # first user index of the account
    pool_size: np.ndarray
    health: np.ndarray  # (days, n) float64
    seats: np.ndarray  # (days, n) seats of the contract in force
    contracts: pd.DataFrame  # account, start_us, end_us, arr, seats, outcome (0 renewed, 1 churned, -1 open)


def utilisation(h: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Latent seat utilisation: a deterministic function of health and static traits, so p_true stays exact."""
    return sigmoid(alpha + UTIL_SLOPE * h)


def renewal_eta(
    h: np.ndarray,
    alpha: np.ndarray,
    plan: np.ndarray,
    tenure_years: np.ndarray,
    arr: np.ndarray,
    monthly: np.ndarray,
) -> np.ndarray:
    """Probit index of renewal: a smooth cliff in health, utilisation x plan, commercial terms.

    Broadcasts: h may carry extra trailing quadrature axes when the other arguments have a trailing 1.
    """
    u = utilisation(h, alpha)
    return (
        ETA["base"]
        + ETA["amp"] * np.tanh((h - ETA["h0"]) / ETA["width"])
        + ETA_PLAN_UTIL[plan] * (u - 0.5)
        + ETA["tenure"] * np.minimum(tenure_years, 5.0)
        + ETA["arr"] * np.log(arr / 10_000.0)
        + ETA["monthly"] * monthly
    )


def _firmographics(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    employees = np.clip(np.round(rng.lognormal(np.log(120), 1.5, n)), 2, 250_000).astype(np.int64)
    industry = choice_codes(rng, np.broadcast_to(INDUSTRY_P, (n, len(INDUSTRY_P))))
    country = choice_codes(rng, np.broadcast_to(COUNTRY_P, (n, len(COUNTRY_P))))
    return company_names(rng, n), industry, employees, country


def _segment(employees: np.ndarray) -> np.ndarray:
    return np.where(employees < 100, 0, np.where(employees < 1000, 1, 2))


def _initial_seats(rng: np.random.Generator, segment: np.ndarray, employees: np.ndarray) -> np.ndarray:
    median = np.array([4.0, 12.0, 30.0])[segment]
    cap = np.array([30, 120, 400])[segment]
    seats = np.round(rng.lognormal(np.log(median), 0.6))
    return np.clip(seats, 1, np.minimum(cap, employees)).astype(np.int64)


def simulate_accounts(rng: np.random.Generator, grid: Grid, n_initial: int, leads: LeadSim) -> AccountSim:
    """Health and contracts in one daily loop, because each renewal is decided by the health on its end day."""
    conv = np.flatnonzero(leads.converted_us != NAT)
    conv = conv[np.lexsort((conv, leads.converted_us[conv]))]
    n_conv = len(conv)
    n = n_initial + n_conv

    name0, industry0, employees0, country0 = _firmographics(rng, n_initial)
    name = np.concatenate([name0, leads.company[conv]])
    industry = np.concatenate([industry0, leads.industry[conv]])
    employees = np.concatenate([employees0, leads.employees[conv]])
    country = np.concatenate([country0, leads.country[conv]])
    segment = _segment(employees)
    plan = choice_codes(rng, PLAN_BY_SEGMENT[segment])
    monthly = rng.random(n) < MONTHLY_BY_SEGMENT[segment]
    team_pick = rng.random(n)
    owner = np.empty(n, dtype=np.int64)
    for s, team in enumerate(OWNER_TEAMS):
        mask = segment == s
        owner[mask] = team[(team_pick[mask] * len(team)).astype(np.int64)]
    discount = rng.uniform(0.7, 1.0, n)
    seats0 = _initial_seats(rng, segment, employees)
    ind_eff = np.where(industry >= 0, MU_INDUSTRY[np.maximum(industry, 0)], 0.0)
    mu = MU_BASE + MU_SEGMENT[segment] + MU_PLAN[plan] + ind_eff + MU_LATENT_SD * rng.standard_normal(n)
    alpha = ALPHA_BASE + ALPHA_SEGMENT[segment] + ALPHA_PLAN[plan]
    pool_size = np.ceil(1.25 * seats0).astype(np.int64) + 1
    pool_start = np.concatenate([[0], np.cumsum(pool_size)[:-1]])
    length_days = np.where(monthly, MONTHLY_DAYS, ANNUAL_DAYS)

    def arr_of(seats: np.ndarray, idx: np.ndarray) -> np.ndarray:
        price = LIST_PRICE[plan[idx]] * discount[idx] * np.where(monthly[idx], MONTHLY_PREMIUM, 1.0)
        return np.round(seats * price, 2)

    # The initial base: customers for a while already, contracts on their own anniversaries.
    tenure_days = np.where(
        monthly[:n_initial], rng.uniform(20, 365, n_initial), rng.uniform(20, 6 * 365, n_initial)
    ).astype(np.int64)
    created_sec = business_seconds(rng, n_initial)
    created0 = grid.start_us - tenure_days * DAY_US + created_sec * SEC_US - DAY_US
    created_us = np.concatenate([created0, leads.converted_us[conv]])
    sim_birth = np.concatenate([np.zeros(n_initial, np.int64), leads.absorb_day[conv]])

    rows: list[tuple[np.ndarray, ...]] = []  # (account, start_us, end_us, arr, seats, outcome)
    len_us = length_days * DAY_US
    k_now = (grid.start_us - created_us[:n_initial]) // len_us[:n_initial]  # contracts before the current one
    hist_acc = np.repeat(np.arange(n_initial), k_now)
    hist_k = np.arange(len(hist_acc)) - np.repeat(np.cumsum(k_now) - k_now, k_now)
    hist_start = created_us[hist_acc] + hist_k * len_us[hist_acc]
    kept = hist_start >= grid.start_us - HISTORY_DAYS * DAY_US  # the CRM's billing history is finite
    hist_acc, hist_start = hist_acc[kept], hist_start[kept]
    rows.append(
        (
            hist_acc,
            hist_start,
            hist_start + len_us[hist_acc],
            arr_of(seats0[hist_acc], hist_acc),
            seats0[hist_acc],
            np.zeros(len(hist_acc), np.int64),
        )
    )

    cur_start = np.full(n, NAT, np.int64)
    cur_start[:n_initial] = created_us[:n_initial] + k_now * len_us[:n_initial]
    cur_start[n_initial:] = created_us[n_initial:]
    cur_end = cur_start + len_us
    cur_end_day = (cur_end - grid.start_us) // DAY_US
    cur_seats = seats0.copy()
    cur_arr = arr_of(seats0, np.arange(n))
    death_day = np.full(n, grid.days, np.int64)
    alive = np.zeros(n, dtype=bool)

    health = np.empty((grid.days, n))
    seats_hist = np.empty((grid.days, n), dtype=np.float64)
    birth_order = np.argsort(sim_birth, kind="stable")
    first_of_day = np.searchsorted(sim_birth[birth_order], np.arange(grid.days + 1))
    h = np.zeros(n)
    for d in range(grid.days):
        eps = rng.standard_normal(n)
        h = mu + PHI * (h - mu) + SIGMA * eps
        born = birth_order[first_of_day[d] : first_of_day[d + 1]]
        h[born] = mu[born] + S_STAT * rng.standard_normal(len(born))
        alive[born] = True
        health[d] = h
        due = np.flatnonzero(alive & (cur_end_day == d))
        if len(due):
            tenure = (cur_end[due] - created_us[due]) / (365.25 * DAY_US)
            p = ndtr(renewal_eta(h[due], alpha[due], plan[due], tenure, cur_arr[due], monthly[due]))
            renew = rng.random(len(due)) < p
            rows.append((due, cur_start[due], cur_end[due], cur_arr[due], cur_seats[due], (~renew).astype(np.int64)))
            churned = due[~renew]
            death_day[churned] = d
            alive[churned] = False
            ren = due[renew]
            u = utilisation(h[ren], alpha[ren])
            change = np.exp(0.35 * (u - 0.45) + 0.08 * rng.standard_normal(len(ren)))
            cur_seats[ren] = np.maximum(1, np.round(cur_seats[ren] * change)).astype(np.int64)
            cur_arr[ren] = arr_of(cur_seats[ren], ren)
            cur_start[ren] = cur_end[ren]
            cur_end[ren] = cur_start[ren] + len_us[ren]
            cur_end_day[ren] = (cur_end[ren] - grid.start_us) // DAY_US
        seats_hist[d] = cur_seats

    still = np.flatnonzero(alive)
    rows.append((still, cur_start[still], cur_end[still], cur_arr[still], cur_seats[still], np.full(len(still), -1)))
    contracts = pd.DataFrame(
        {
            "account": np.concatenate([r[0] for r in rows]),
            "start_us": np.concatenate([r[1] for r in rows]),
            "end_us": np.concatenate([r[2] for r in rows]),
            "arr": np.concatenate([r[3] for r in rows]).astype(np.float64),
            "seats": np.concatenate([r[4] for r in rows]).astype(np.int64),
            "outcome": np.concatenate([r[5] for r in rows]).astype(np.int64),
        }
    )
    contracts = contracts.sort_values(["start_us", "account"], kind="stable").reset_index(drop=True)
    return AccountSim(
        created_us=created_us,
        source_lead=np.concatenate([np.full(n_initial, -1), conv]),
        sim_birth=sim_birth,
        death_day=death_day,
        name=name,
        industry=industry,
        employees=employees,
        country=country,
        segment=segment,
        owner=owner,
        plan=plan,
        monthly=monthly,
        mu=mu,
        alpha=alpha,
        pool_start=pool_start,
        pool_size=pool_size,
        health=health,
        seats=seats_hist,
        contracts=contracts,
    )


# --------------------------------------------------------------------------------------------- signals


@dataclass
class Pairs:
    """Every (day, account) on which an account is a customer, with its health and first-day bound."""

    day: np.ndarray
    acc: np.ndarray
    h: np.ndarray
    lo: np.ndarray  # second of day after which the first day's events fall, -1 otherwise
    act: np.ndarray  # activity factor of the day


def alive_pairs(grid: Grid, accts: AccountSim) -> Pairs:
    days = np.arange(grid.days)[:, None]
    mask = (days >= accts.sim_birth[None, :]) & (days < accts.death_day[None, :])
    day, acc = np.nonzero(mask)
    first = (day == accts.sim_birth[acc]) & (accts.created_us[acc] >= grid.start_us)
    lo = np.where(first, (accts.created_us[acc] - grid.day_us(day)) // SEC_US, -1)
    return Pairs(day, acc, accts.health[day, acc], lo, grid.activity()[day])


def product_events(rng: np.random.Generator, grid: Grid, accts: AccountSim, chunk: int = 32) -> dict[str, np.ndarray]:
    """Logins and feature events per user; active users / seats and breadth of features track health.

    Users have heavy-tailed (lognormal) activity weights, so a few power users carry most events. All in one
    block: the default-size company; `product_logins` + `product_event_block` per slice stream larger ones.
    """
    day, user = product_logins(rng, grid, accts, chunk)
    return product_event_block(rng, grid, accts, day, user)


def product_logins(
    rng: np.random.Generator, grid: Grid, accts: AccountSim, chunk: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """The active (day, user) pairs, one login each, ordered by day: the compact first half of product_events."""
    n_users = int(accts.pool_size.sum())
    acc_of_user = np.repeat(np.arange(len(accts.pool_size)), accts.pool_size)
    w = rng.lognormal(-0.5 * 0.9**2, 0.9, n_users)
    act = grid.activity()
    days_parts: list[np.ndarray] = []
    user_parts: list[np.ndarray] = []
    for d0 in range(0, grid.days, chunk):
        d1 = min(grid.days, d0 + chunk)
        users = np.flatnonzero((accts.sim_birth[acc_of_user] < d1) & (accts.death_day[acc_of_user] > d0))
        acc = acc_of_user[users]
        dd = np.arange(d0, d1)[:, None]
        alive = (dd >= accts.sim_birth[acc]) & (dd < accts.death_day[acc])
        seat_ratio = accts.seats[d0:d1][:, acc] / accts.pool_size[acc]
        u = utilisation(accts.health[d0:d1][:, acc], accts.alpha[acc])
        p = np.minimum(ACTIVE_RATE * u * w[users] * act[d0:d1, None] * seat_ratio, 0.9)
        di, ui = np.nonzero((rng.random(p.shape) < p) & alive)
        days_parts.append(di + d0)
        user_parts.append(users[ui])
    return np.concatenate(days_parts), np.concatenate(user_parts)


def login_slices(day: np.ndarray, max_logins: int) -> list[slice]:
    """Cut the day-ordered logins into slices of about max_logins that never split a day.

    Events of a day stay inside that day, so slices sorted one by one are sorted as a whole.
    """
    m = len(day)
    if m <= max_logins:
        return [slice(0, m)]
    cuts = np.unique(np.searchsorted(day, day[np.arange(max_logins, m, max_logins)], side="left"))
    bounds = [0, *[int(c) for c in cuts if 0 < c < m], m]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def product_event_block(
    rng: np.random.Generator, grid: Grid, accts: AccountSim, day: np.ndarray, user: np.ndarray
) -> dict[str, np.ndarray]:
    """Login times, sessions and the feature events of the given logins (a day-aligned slice, or all of them)."""
    acc_of_user = np.repeat(np.arange(len(accts.pool_size)), accts.pool_size)
    acc = acc_of_user[user]
    h = accts.health[day, acc]
    m = len(day)
    first = (day == accts.sim_birth[acc]) & (accts.created_us[acc] >= grid.start_us)
    lo = np.where(first, (accts.created_us[acc] - grid.day_us(day)) // SEC_US, -1)
    t_login = times_on_days(rng, day, grid, lo)
    session = rng.lognormal(np.log(900) + 0.8 * h, 0.4)
    used = rng.random((m, len(FEATURES))) < sigmoid(FEATURE_BASE[None, :] + FEATURE_SLOPE * h[:, None])
    ui, fi = np.nonzero(used)
    offset = (rng.random(len(ui)) * session[ui]).astype(np.int64) + 1  # whole seconds into the session
    t_feat = within_day(t_login[ui], offset * SEC_US)
    dur_feat = rng.lognormal(np.log(np.nan_to_num(FEATURE_DURATION[fi], nan=1.0)), 0.9)
    dur_feat = np.where(np.isnan(FEATURE_DURATION[fi]), np.nan, np.round(dur_feat, 1))
    return {
        "acc": np.concatenate([acc, acc[ui]]),
        "user": np.concatenate([user, user[ui]]),
        "t": np.concatenate([t_login, t_feat]),
        "event": np.concatenate([np.zeros(m, np.int64), fi + 1]),
        "duration": np.concatenate([np.round(session, 1), dur_feat]),
    }


def tickets(rng: np.random.Generator, grid: Grid, accts: AccountSim, pairs: Pairs) -> dict[str, np.ndarray]:
    """More and more urgent tickets when unhealthy; closure delays heavy-tailed; csat for ~40% of closed ones."""
    size = np.sqrt(1 + accts.seats[pairs.day, pairs.acc] / 10)
    rate = 0.006 * size * np.exp(-0.9 * pairs.h) * np.where(grid.weekday[pairs.day] < 5, 1.0, 0.3)
    cnt = rng.poisson(rate)
    r = np.repeat(np.arange(len(cnt)), cnt)
    h = pairs.h[r]
    opened = times_on_days(rng, pairs.day[r], grid, pairs.lo[r])
    prio_logits = np.stack([0.5 + 0.3 * h, np.full_like(h, 1.0), -0.3 - 0.4 * h, -1.8 - 0.9 * h], axis=1)
    priority = choice_codes(rng, np.exp(prio_logits))
    slope = np.array([0.0, -0.5, 0.1, -0.2, -0.6, 0.0, 0.4, -0.3])
    base = np.array([1.0, 0.6, 0.0, 0.0, -0.4, -0.2, -0.3, -0.6])
    category = choice_codes(rng, np.exp(base[None, :] + slope[None, :] * h[:, None]))
    prio_speed = np.array([1.3, 1.0, 0.6, 0.3])[priority]
    delay_h = rng.lognormal(np.log(10.0) - 0.3 * h, 1.3) * prio_speed + 0.05
    closed = opened + (delay_h * 3600).astype(np.int64) * SEC_US
    esc_p = sigmoid(-2.8 + np.array([-1.0, 0.0, 0.8, 1.6])[priority] - 0.8 * h)
    escalated = rng.random(len(h)) < esc_p
    esc_t = opened + (rng.uniform(0.05, 0.8, len(h)) * delay_h * 3600).astype(np.int64) * SEC_US
    rated = rng.random(len(h)) < 0.4
    csat = np.clip(np.round(3.6 + 0.8 * h - 0.2 * np.log1p(delay_h / 24) + rng.normal(0, 0.8, len(h))), 1, 5)
    is_closed = closed < grid.horizon_us
    return {
        "acc": pairs.acc[r],
        "opened": opened,
        "closed": np.where(is_closed, closed, NAT),
        "priority": priority,
        "category": category,
        "escalated": np.where(escalated & (esc_t < grid.horizon_us), esc_t, NAT),
        "csat": np.where(rated & is_closed, csat, np.nan),
    }


def conversations(rng: np.random.Generator, grid: Grid, pairs: Pairs) -> dict[str, np.ndarray]:
    """Inbound contact rises when unhealthy, CSMs reach out more to struggling accounts; sentiment tracks health."""
    weekday = np.where(grid.weekday[pairs.day] < 5, 1.0, 0.2)
    n_in = rng.poisson(0.012 * np.exp(-0.5 * pairs.h) * weekday)
    n_out = rng.poisson(0.008 * np.exp(-0.35 * pairs.h) * weekday)
    r = np.concatenate([np.repeat(np.arange(len(n_in)), n_in), np.repeat(np.arange(len(n_out)), n_out)])
    direction = np.concatenate([np.zeros(n_in.sum(), np.int64), np.ones(n_out.sum(), np.int64)])
    channel_p = np.array([[0.55, 0.35, 0.10], [0.10, 0.55, 0.35]])[direction]
    channel = choice_codes(rng, channel_p)
    h = pairs.h[r]
    sentiment = np.round(np.clip(np.tanh(0.1 + 0.55 * h + rng.normal(0, 0.35, len(h))), -1, 1), 3) + 0.0
    no_transcript = (channel == 2) & (rng.random(len(h)) < 0.3)
    return {
        "acc": pairs.acc[r],
        "t": times_on_days(rng, pairs.day[r], grid, pairs.lo[r]),
        "channel": channel,
        "direction": direction,
        "sentiment": np.where(no_transcript, np.nan, sentiment),
    }


def service_usage(rng: np.random.Generator, grid: Grid, accts: AccountSim, pairs: Pairs) -> dict[str, np.ndarray]:
    """Onboarding services front-loaded in the first 90 days; self-service and community follow engagement."""
    age = (grid.day_us(pairs.day) - accts.created_us[pairs.acc]) / DAY_US
    weekday = np.where(grid.weekday[pairs.day] < 5, 1.0, 0.1)
    enterprise = accts.segment[pairs.acc] == 2
    size = np.sqrt(1 + accts.seats[pairs.day, pairs.acc] / 10)
    rates = np.stack(
        [
            (0.06 * np.exp(-np.maximum(age, 0) / 45) + 0.0015) * weekday,  # training_session
            (0.02 * np.exp(-np.maximum(age - 20, 0) / 60) * (age > 10) + 0.0005) * weekday,  # certification
            0.004 * np.where(enterprise, 3.0, 1.0) * weekday,  # consulting_hours
            0.03 * size * np.exp(0.25 * pairs.h) * pairs.act,  # kb_article_view
            0.004 * np.exp(0.5 * pairs.h) * pairs.act,  # community_post
            0.003 * np.exp(0.4 * pairs.h) * weekday,  # webinar
        ],
        axis=1,
    )
    cnt = rng.poisson(rates)
    r, s = np.nonzero(cnt)
    rep = cnt[r, s]
    r, s = np.repeat(r, rep), np.repeat(s, rep)
    quantity = np.ones(len(r))
    consulting = s == 2
    quantity[consulting] = np.array([1.0, 2.0, 4.0, 8.0])[rng.integers(0, 4, consulting.sum())]
    training = s == 0
    quantity[training] = rng.integers(1, 6, training.sum())  # attendees
    webinar = s == 5
    quantity[webinar] = rng.integers(1, 4, webinar.sum())  # attendees
    return {
        "acc": pairs.acc[r],
        "t": times_on_days(rng, pairs.day[r], grid, pairs.lo[r]),
        "service": s,
        "quantity": quantity,
    }


def feedback(rng: np.random.Generator, grid: Grid, accts: AccountSim, pairs: Pairs) -> dict[str, np.ndarray]:
    """Quarterly NPS from a few users, occasional in-app CSAT and product surveys; scores track health."""
    n_acc = len(accts.pool_size)
    phase = rng.integers(0, 91, n_acc)
    wave = np.flatnonzero((pairs.day - phase[pairs.acc]) % 91 == 0)
    acc_w = pairs.acc[wave]
    n_resp = rng.binomial(np.minimum(accts.pool_size[acc_w], 25), 0.2)
    w = np.repeat(np.arange(len(wave)), n_resp)
    k = np.arange(len(w)) - np.repeat(np.cumsum(n_resp) - n_resp, n_resp)
    first = rng.integers(0, accts.pool_size[acc_w])[w]
    user_nps = accts.pool_start[acc_w[w]] + (first + k) % accts.pool_size[acc_w[w]]
    day_nps = pairs.day[wave][w] + rng.geometric(0.35, len(w)) - 1
    acc_nps = acc_w[w]
    ok = (day_nps < accts.death_day[acc_nps]) & (day_nps < grid.days)
    day_nps, acc_nps, user_nps = day_nps[ok], acc_nps[ok], user_nps[ok]
    h_nps = accts.health[day_nps, acc_nps]
    score_nps = np.clip(np.round(7.0 + 1.8 * h_nps + rng.normal(0, 1.4, len(h_nps))), 0, 10) + 0.0  # no -0.0

    n_csat = rng.poisson(0.004 * pairs.act)
    n_survey = rng.poisson(0.0015 * pairs.act)
    r = np.concatenate([np.repeat(np.arange(len(n_csat)), n_csat), np.repeat(np.arange(len(n_survey)), n_survey)])
    kind = np.concatenate([np.ones(n_csat.sum(), np.int64), np.full(n_survey.sum(), 2)])
    h_r = pairs.h[r]
    score_r = np.clip(np.round(3.7 + 0.75 * h_r + rng.normal(0, 0.8, len(r))), 1, 5)
    user_r = accts.pool_start[pairs.acc[r]] + rng.integers(0, accts.pool_size[pairs.acc[r]])

    acc = np.concatenate([acc_nps, pairs.acc[r]])
    day = np.concatenate([day_nps, pairs.day[r]])
    first_day = (day == accts.sim_birth[acc]) & (accts.created_us[acc] >= grid.start_us)
    lo = np.where(first_day, (accts.created_us[acc] - grid.day_us(day)) // SEC_US, -1)
    survey = np.concatenate([np.zeros(len(acc_nps), np.int64), kind])
    score = np.concatenate([score_nps, score_r])
    user = np.concatenate([user_nps, user_r])
    user = np.where(rng.random(len(user)) < 0.05, -1, user)  # anonymous answers
    # Comments: optional, wording follows the score (NPS 0-6 / 7-8 / 9-10, CSAT 1-2 / 3 / 4-5).
    bucket = np.where(survey == 0, np.digitize(score, [6.5, 8.5]), np.digitize(score, [2.5, 3.5]))
    pick = rng.random(len(score))
    comment = np.full(len(score), -1, np.int64)
    for b, options in enumerate(COMMENT_BUCKETS):
        mask = bucket == b
        comment[mask] = options[(pick[mask] * len(options)).astype(np.int64)]
    comment[rng.random(len(score)) >= 0.3] = -1
    return {
        "acc": acc,
        "t": times_on_days(rng, day, grid, lo),
        "user": user,
        "survey": survey,
        "score": score,
        "comment": comment,
    }


def account_marketing(rng: np.random.Generator, grid: Grid, pairs: Pairs) -> dict[str, np.ndarray]:
    """Customers' contacts keep receiving the newsletter; opens and webinar visits lean on health."""
    m = len(pairs.day)
    send = np.flatnonzero((grid.weekday[pairs.day] < 5) & (rng.random(m) < 0.2))
    t_send = times_on_days(rng, pairs.day[send], grid, pairs.lo[send])
    opened = rng.random(len(send)) < sigmoid(-1.2 + 0.6 * pairs.h[send])
    t_open = within_day(t_send[opened], (rng.exponential(3 * 3600, opened.sum()) + 1).astype(np.int64) * SEC_US)
    clicked = rng.random(opened.sum()) < 0.2
    t_click = within_day(t_open[clicked], (rng.exponential(90, clicked.sum()) + 1).astype(np.int64) * SEC_US)
    n_web = rng.poisson(0.003 * np.exp(0.4 * pairs.h) * pairs.act)
    n_dl = rng.poisson(0.002 * pairs.act)
    r_web = np.repeat(np.arange(m), n_web)
    r_dl = np.repeat(np.arange(m), n_dl)
    parts = [
        (send, t_send, "email_sent"),
        (send[opened], t_open, "email_open"),
        (send[opened][clicked], t_click, "email_click"),
        (r_web, times_on_days(rng, pairs.day[r_web], grid, pairs.lo[r_web]), "webinar_attended"),
        (r_dl, times_on_days(rng, pairs.day[r_dl], grid, pairs.lo[r_dl]), "content_download"),
    ]
    return {
        "acc": np.concatenate([pairs.acc[p[0]] for p in parts]),
        "t": np.concatenate([p[1] for p in parts]),
        "activity": np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts]),
    }


# --------------------------------------------------------------------------------------------- truth

GH_NODES = 200


def renewal_truth(
    grid: Grid, accts: AccountSim, as_ofs: list[pd.Timestamp], nodes: int = GH_NODES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p_true per (account, as_of) with an active contract: E[Phi(eta(h_T))] given h on day as_of - 1.

    h_T is the health on the day the contract ends, k = T - (a - 1) days ahead: Gaussian with mean
    mu + PHI**k (h - mu) and variance S_STAT**2 (1 - PHI**(2k)); the expectation is Gauss–Hermite quadrature.
    """
    x, wq = np.polynomial.hermite.hermgauss(nodes)
    c = accts.contracts
    start, end = c["start_us"].to_numpy(), c["end_us"].to_numpy()
    acc_c, arr_c = c["account"].to_numpy(), c["arr"].to_numpy()
    ids: list[np.ndarray] = []
    when: list[np.ndarray] = []
    prob: list[np.ndarray] = []
    for as_of in as_ofs:
        as_of_us = int(as_of.value // 1000)
        a = (as_of_us - grid.start_us) // DAY_US
        active = np.flatnonzero((start < as_of_us) & (as_of_us < end))
        acc = acc_c[active]
        h = accts.health[a - 1, acc]
        k = (end[active] - grid.start_us) // DAY_US - (a - 1)
        mean = accts.mu[acc] + PHI**k * (h - accts.mu[acc])
        sd = S_STAT * np.sqrt(1 - PHI ** (2 * k))
        hq = mean[:, None] + np.sqrt(2.0) * sd[:, None] * x[None, :]
        tenure = (end[active] - accts.created_us[acc]) / (365.25 * DAY_US)
        eta = renewal_eta(
            hq,
            accts.alpha[acc][:, None],
            accts.plan[acc][:, None],
            tenure[:, None],
            arr_c[active][:, None],
            accts.monthly[acc][:, None],
        )
        p = (ndtr(eta) * wq[None, :]).sum(axis=1) / np.sqrt(np.pi)
        order = np.argsort(acc, kind="stable")
        ids.append(acc[order])
        when.append(np.full(len(acc), as_of_us, dtype=np.int64))
        prob.append(p[order])
    return np.concatenate(ids), np.concatenate(when), np.concatenate(prob)
