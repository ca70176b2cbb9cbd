"""Leads: arrivals, firmographics, the non-linear fit, the daily absorbing Markov chain and marketing touches.

The chain is what makes `p_true` exact: a lead's transition matrix depends only on its (observable)
firmographics, so the probability of converting within the horizon given the state on the last day before
a snapshot is one entry of that matrix raised to the horizon's power.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features._generate_common import (
    COUNTRIES,
    COUNTRY_P,
    DAY_US,
    INDUSTRIES,
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

COLD, WARM, HOT, CONVERTED, DISQUALIFIED = range(5)
STATES = ("cold", "warm", "hot", "converted", "disqualified")

SENIORITIES = ("c_level", "vp", "director", "manager", "individual_contributor", "other")
TITLES: tuple[tuple[str, int], ...] = (
    ("CEO", 0), ("Founder", 0), ("CTO", 0), ("CFO", 0), ("COO", 0), ("CMO", 0),
    ("VP Sales", 1), ("VP Marketing", 1), ("VP Engineering", 1), ("VP Operations", 1),
    ("VP Customer Success", 1),
    ("Director of Sales", 2), ("Director of Marketing", 2), ("Director of IT", 2), ("Head of Operations", 2),
    ("Head of Data", 2), ("Head of Customer Success", 2),
    ("Sales Manager", 3), ("Marketing Manager", 3), ("IT Manager", 3), ("Operations Manager", 3),
    ("Product Manager", 3),
    ("Account Executive", 4), ("Marketing Specialist", 4), ("Software Engineer", 4), ("Data Analyst", 4),
    ("Sales Development Rep", 4), ("Operations Analyst", 4),
    ("Student", 5), ("Consultant", 5), ("Intern", 5),
)  # fmt: skip
TITLE_NAMES = tuple(t for t, _ in TITLES)
TITLE_SENIORITY = np.array([s for _, s in TITLES])

SOURCES = ("web", "paid_search", "event", "referral", "outbound", "partner", "content_syndication")
SOURCE_P = np.array([0.24, 0.18, 0.1, 0.07, 0.17, 0.08, 0.16])
# Probability of starting cold / warm / hot, per source: referrals and partners arrive already interested.
SOURCE_INIT = np.array(
    [
        [0.60, 0.33, 0.07],
        [0.65, 0.30, 0.05],
        [0.40, 0.53, 0.07],
        [0.35, 0.47, 0.18],
        [0.92, 0.08, 0.00],
        [0.45, 0.42, 0.13],
        [0.85, 0.15, 0.00],
    ]
)

# Fit components (log10 employees peak per industry, industry base effect, source effect).
INDUSTRY_PEAK = np.array([2.3, 2.7, 3.0, 2.8, 2.5, 2.2, 2.0, 2.6, 1.9, 3.2])
INDUSTRY_BASE = np.array([0.5, 0.4, 0.1, 0.0, -0.1, -0.4, -0.2, 0.0, 0.1, -0.6])
SOURCE_EFFECT = np.array([0.2, -0.1, 0.3, 0.9, -0.5, 0.5, -0.6])
COUNTRY_EFFECT = np.array([0.15, 0.15, 0.0, 0.0, 0.15, 0.15, 0.0, 0.0, -0.25, -0.25, 0.0, 0.0])

# Daily transition parameters (see docs/generator.md).
TRANSITION = {
    "cw": (0.0006, 0.008, 1.8, -1.0),  # cold -> warm: a + b * sigmoid(c * f + d)
    "ch": (0.0003, 0.002, 2.0, -1.0),  # cold -> hot
    "cd": (0.005, 0.004, -1.5, 0.0),  # cold -> disqualified
    "wh": (0.001, 0.02, 2.0, -1.0),  # warm -> hot
    "wc": (0.015, 0.0, 0.0, 0.0),  # warm -> cold
    "wd": (0.0015, 0.0, 0.0, 0.0),  # warm -> disqualified
    "hv": (0.008, 0.05, 2.2, -0.5),  # hot -> converted
    "hw": (0.02, 0.0, 0.0, 0.0),  # hot -> warm
    "hd": (0.002, 0.0, 0.0, 0.0),  # hot -> disqualified
}

# Marketing touches per state (cold, warm, hot).
EMAIL_SEND_P = 0.21  # per weekday: about one nurture email a week
EMAIL_OPEN_P = np.array([0.06, 0.45, 0.55])
EMAIL_CLICK_P = np.array([0.06, 0.30, 0.35])
UNSUBSCRIBE_P = np.array([0.006, 0.0015, 0.0005])
ACTIVITY_RATES: dict[str, np.ndarray] = {
    "web_visit": np.array([0.01, 0.5, 1.2]),
    "content_download": np.array([0.002, 0.08, 0.05]),
    "webinar_attended": np.array([0.001, 0.015, 0.012]),
    "pricing_page_visit": np.array([0.0005, 0.01, 0.8]),
    "form_submit": np.array([0.001, 0.01, 0.1]),
    "demo_request": np.array([0.0001, 0.002, 0.12]),
}


@dataclass
class LeadSim:
    """The simulated leads with their latent state path (hist[d, i] = state of lead i on day d, -1 before birth)."""

    birth_day: np.ndarray
    created_us: np.ndarray
    company: np.ndarray
    industry: np.ndarray  # codes, -1 missing
    employees: np.ndarray
    country: np.ndarray
    title: np.ndarray
    seniority: np.ndarray
    source: np.ndarray
    fit: np.ndarray
    P: np.ndarray  # (n, 5, 5) daily transition matrices
    hist: np.ndarray  # (days, n) int8
    absorb_day: np.ndarray  # day of conversion / disqualification, -1 if neither
    converted_us: np.ndarray
    disqualified_us: np.ndarray


def lead_fit(
    industry: np.ndarray, employees: np.ndarray, seniority: np.ndarray, source: np.ndarray, country: np.ndarray
) -> np.ndarray:
    """Non-linear fit: industry-specific best company size, seniority x size and source x size interactions."""
    x = np.log10(employees.astype(np.float64))
    known = industry >= 0
    ind = np.where(known, industry, 0)
    peak = np.where(known, INDUSTRY_PEAK[ind], 2.5)
    size = 1.3 * np.exp(-(((x - peak) / 0.75) ** 2)) - 0.5
    base = np.where(known, INDUSTRY_BASE[ind], -0.3)
    sen_terms = np.stack(
        [
            0.7 - 0.8 * np.clip(x - 2.0, 0, 2),  # c_level: decisive in small firms, out of reach in large ones
            0.2 + 0.25 * np.clip(x - 1.5, 0, 2.5),  # vp
            0.1 + 0.3 * np.clip(x - 2.0, 0, 2),  # director: the buyer in mid/large firms
            np.full_like(x, 0.1),  # manager
            -0.2 - 0.35 * np.clip(x - 1.5, 0, 3),  # individual contributor: no budget in large firms
            np.full_like(x, -1.2),  # other (students, consultants)
        ]
    )
    sen = np.where(seniority >= 0, sen_terms[np.maximum(seniority, 0), np.arange(len(x))], -0.4)
    src = SOURCE_EFFECT[source] + np.where(source == SOURCES.index("outbound"), 0.5 * np.clip(x - 2.5, 0, 1.5), 0)
    ctry = np.where(country >= 0, COUNTRY_EFFECT[np.maximum(country, 0)], -0.1)
    return size + base + sen + src + ctry


def transition_matrices(fit: np.ndarray) -> np.ndarray:
    """(n, 5, 5) daily transition matrices; rows are from-states, converted / disqualified absorb."""

    def rate(key: str) -> np.ndarray:
        a, b, c, d = TRANSITION[key]
        return a + b * sigmoid(c * fit + d)

    n = len(fit)
    P = np.zeros((n, 5, 5))
    cw, ch, cd = rate("cw"), rate("ch"), rate("cd")
    wh, wc, wd = rate("wh"), rate("wc"), rate("wd")
    hv, hw, hd = rate("hv"), rate("hw"), rate("hd")
    P[:, COLD, WARM], P[:, COLD, HOT], P[:, COLD, DISQUALIFIED] = cw, ch, cd
    P[:, COLD, COLD] = 1 - cw - ch - cd
    P[:, WARM, HOT], P[:, WARM, COLD], P[:, WARM, DISQUALIFIED] = wh, wc, wd
    P[:, WARM, WARM] = 1 - wh - wc - wd
    P[:, HOT, CONVERTED], P[:, HOT, WARM], P[:, HOT, DISQUALIFIED] = hv, hw, hd
    P[:, HOT, HOT] = 1 - hv - hw - hd
    P[:, CONVERTED, CONVERTED] = 1.0
    P[:, DISQUALIFIED, DISQUALIFIED] = 1.0
    return P


def matrix_power(P: np.ndarray, k: int) -> np.ndarray:
    """Batched P**k by repeated squaring (exact up to float rounding, ~1e-15)."""
    result = np.broadcast_to(np.eye(P.shape[-1]), P.shape).copy()
    base = P.copy()
    while k:
        if k & 1:
            result = result @ base
        base = base @ base
        k >>= 1
    return result


def _arrivals(rng: np.random.Generator, grid: Grid, n: int) -> np.ndarray:
    """Birth day per lead: mild growth, a seasonal wave (quiet summer and December) and quiet weekends."""
    t = np.arange(grid.days) / max(grid.days - 1, 1)
    seasonal = 1 + 0.12 * np.cos(2 * np.pi * (grid.doy - 60) / 365.25)
    intensity = (1 + 0.5 * t) * seasonal * np.where(grid.weekday < 5, 1.0, 0.35) * grid.season
    counts = rng.multinomial(n, intensity / intensity.sum())
    return np.repeat(np.arange(grid.days), counts)


def simulate_leads(rng: np.random.Generator, grid: Grid, n: int) -> LeadSim:
    birth_day = _arrivals(rng, grid, n)
    created_sec = business_seconds(rng, n)
    order = np.lexsort((created_sec, birth_day))
    birth_day, created_sec = birth_day[order], created_sec[order]
    created_us = grid.day_us(birth_day) + created_sec * SEC_US

    employees = np.clip(np.round(rng.lognormal(np.log(60), 1.6, n)), 1, 250_000).astype(np.int64)
    x = np.log10(employees)
    industry = choice_codes(rng, np.broadcast_to(INDUSTRY_P, (n, len(INDUSTRY_P))))
    industry[rng.random(n) < 0.03] = -1
    country = choice_codes(rng, np.broadcast_to(COUNTRY_P, (n, len(COUNTRY_P))))
    country[rng.random(n) < 0.01] = -1
    # Small firms send founders and C-levels, large ones send managers and individual contributors.
    sen_p = np.stack(
        [
            0.10 * np.exp(-0.9 * (x - 1.5)),
            0.08 + 0 * x,
            0.14 + 0.03 * x,
            0.25 + 0 * x,
            0.30 + 0.05 * x,
            0.07 + 0 * x,
        ],
        axis=1,
    )
    seniority = choice_codes(rng, sen_p)
    titles_of = [np.flatnonzero(s == TITLE_SENIORITY) for s in range(len(SENIORITIES))]
    pick = rng.random(n)
    title = np.empty(n, dtype=np.int64)
    for s, options in enumerate(titles_of):
        mask = seniority == s
        title[mask] = options[(pick[mask] * len(options)).astype(np.int64)]
    missing_title = rng.random(n) < 0.04
    title[missing_title] = -1
    seniority[missing_title] = -1
    source = choice_codes(rng, np.broadcast_to(SOURCE_P, (n, len(SOURCE_P))))
    company = company_names(rng, n)

    fit = lead_fit(industry, employees, seniority, source, country)
    P = transition_matrices(fit)
    cum = np.cumsum(P, axis=2)
    cum[:, :, -1] = 1.0  # guard against rounding: every uniform draw lands in some state
    init = choice_codes(rng, SOURCE_INIT[source])

    hist = np.full((grid.days, n), -1, dtype=np.int8)
    state = np.full(n, -1, dtype=np.int64)
    absorb_day = np.full(n, -1, dtype=np.int64)
    first_of_day = np.searchsorted(birth_day, np.arange(grid.days + 1))
    for d in range(grid.days):
        live = np.flatnonzero((state >= 0) & (state < CONVERTED))
        if len(live):
            u = rng.random(len(live))
            nxt = (u[:, None] >= cum[live, state[live]]).sum(axis=1)
            absorbed = live[nxt >= CONVERTED]
            absorb_day[absorbed] = d
            state[live] = nxt
        born = slice(first_of_day[d], first_of_day[d + 1])
        state[born] = init[born]
        hist[d] = state

    absorb_sec = business_seconds(rng, n)
    absorbed_us = np.where(absorb_day >= 0, grid.day_us(absorb_day) + absorb_sec * SEC_US, NAT)
    converted_us = np.where(state == CONVERTED, absorbed_us, NAT)
    disqualified_us = np.where(state == DISQUALIFIED, absorbed_us, NAT)
    return LeadSim(
        birth_day=birth_day,
        created_us=created_us,
        company=company,
        industry=industry,
        employees=employees,
        country=country,
        title=title,
        seniority=seniority,
        source=source,
        fit=fit,
        P=P,
        hist=hist,
        absorb_day=absorb_day,
        converted_us=converted_us,
        disqualified_us=disqualified_us,
    )


def lead_activities(rng: np.random.Generator, grid: Grid, leads: LeadSim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marketing touches of open leads: (lead index, µs time, activity name) arrays.

    The activities of day d come from the state of day d only, so a snapshot at midnight sees exactly the
    evidence produced by the states it conditions on.
    """
    day, lead = np.nonzero((leads.hist >= COLD) & (leads.hist <= HOT))
    st = leads.hist[day, lead].astype(np.int64)
    m = len(day)
    lo = np.where(day == leads.birth_day[lead], (leads.created_us[lead] - grid.day_us(day)) // SEC_US, -1)
    act = grid.activity()[day]

    idx_parts: list[np.ndarray] = []
    t_parts: list[np.ndarray] = []
    name_parts: list[np.ndarray] = []

    def add(rows: np.ndarray, times: np.ndarray, name: str) -> None:
        idx_parts.append(lead[rows])
        t_parts.append(times)
        name_parts.append(np.full(len(rows), name, dtype=object))

    # Nurture emails stop after a lead unsubscribes.
    send = np.flatnonzero((grid.weekday[day] < 5) & (rng.random(m) < EMAIL_SEND_P))
    unsub = rng.random(len(send)) < UNSUBSCRIBE_P[st[send]]
    first_unsub = np.full(len(leads.birth_day), np.iinfo(np.int64).max)
    np.minimum.at(first_unsub, lead[send[unsub]], day[send[unsub]])
    keep = day[send] <= first_unsub[lead[send]]
    send, unsub = send[keep], unsub[keep]
    t_send = times_on_days(rng, day[send], grid, lo[send])
    add(send, t_send, "email_sent")
    opened = rng.random(len(send)) < EMAIL_OPEN_P[st[send]]
    t_open = within_day(t_send[opened], (rng.exponential(2 * 3600, opened.sum()) + 1).astype(np.int64) * SEC_US)
    add(send[opened], t_open, "email_open")
    clicked = rng.random(opened.sum()) < EMAIL_CLICK_P[st[send[opened]]]
    t_click = within_day(t_open[clicked], (rng.exponential(90, clicked.sum()) + 1).astype(np.int64) * SEC_US)
    add(send[opened][clicked], t_click, "email_click")
    t_unsub = within_day(t_send[unsub], (rng.exponential(3600, unsub.sum()) + 1).astype(np.int64) * SEC_US)
    add(send[unsub], t_unsub, "unsubscribe")

    for name, rates in ACTIVITY_RATES.items():
        cnt = rng.poisson(rates[st] * act)
        rows = np.repeat(np.arange(m), cnt)
        add(rows, times_on_days(rng, day[rows], grid, lo[rows]), name)

    return np.concatenate(idx_parts), np.concatenate(t_parts), np.concatenate(name_parts)


def leads_frame_parts(leads: LeadSim) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """Categorical columns as (codes, labels) so the caller builds Arrow-backed string columns."""
    return {
        "industry": (leads.industry, INDUSTRIES),
        "country": (leads.country, COUNTRIES),
        "job_title": (leads.title, TITLE_NAMES),
        "seniority": (leads.seniority, SENIORITIES),
        "lead_source": (leads.source, SOURCES),
    }


def conversion_truth(
    leads: LeadSim, grid: Grid, as_ofs: list[pd.Timestamp], horizon_days: int = 90, max_age_days: int = 365
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p_true per eligible (lead, as_of): P(converted within (as_of, as_of + horizon] | state of day as_of - 1).

    Conversion on day c puts converted_at inside day c, strictly after midnight, so converted_at in
    (as_of, as_of + h days] <=> c in [a, a + h - 1] <=> state at day a + h - 1 is `converted`, which is
    row s_{a-1}, column `converted` of P**h.
    """
    Ph = matrix_power(leads.P, horizon_days)[:, :, CONVERTED]
    ids: list[np.ndarray] = []
    when: list[np.ndarray] = []
    prob: list[np.ndarray] = []
    for as_of in as_ofs:
        as_of_us = int(as_of.value // 1000)
        a = (as_of_us - grid.start_us) // DAY_US
        state = leads.hist[a - 1].astype(np.int64)
        age_ok = as_of_us - leads.created_us < max_age_days * DAY_US
        eligible = np.flatnonzero((state >= COLD) & (state <= HOT) & (leads.created_us < as_of_us) & age_ok)
        ids.append(eligible)
        when.append(np.full(len(eligible), as_of_us, dtype=np.int64))
        prob.append(Ph[eligible, state[eligible]])
    return np.concatenate(ids), np.concatenate(when), np.concatenate(prob)
