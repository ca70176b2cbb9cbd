"""The feature catalog: every feature declared once, as data.

An entry says what is aggregated, over which window and filter, and how to say it in a sentence; the
engine compiles entries to Ibis expressions and serving renders the sentences, so neither holds feature
logic of its own. Windows always end just before the snapshot's `as_of`. `docs/features.md` is generated
from this file (`python -m features.docs`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Entity = Literal["lead", "account"]
Kind = Literal[
    "attribute",  # a column of the entity table (firmographics)
    "keyword_map",  # a label from keywords found in an entity column (job title → job function)
    "age_days",  # days between the entity's created_at and as_of
    "count",  # rows in the window (optionally filtered)
    "sum",  # sum of `column` in the window
    "mean",  # mean of `column` in the window
    "nunique",  # distinct values of `column` in the window
    "decayed",  # Σ 0.5^(age / half_life) over the rows in the window: recent rows weigh more
    "duration_median",  # median days from `column` to `time_column` over rows whose `time_column` is in the window
    "change",  # mean of `column` in the window − mean in the window before it
    "days_since",  # days since the latest matching row (within the window, if one is set); else missing
    "latest",  # the value of `column` on the latest matching row (within the window, if one is set)
    "open_at_as_of",  # rows opened before as_of and not closed (`column`) before it
    "trend",  # count in the window ÷ count in the window before it; missing when the earlier one is 0
    "ratio",  # feature `numerator` ÷ feature `denominator`; missing when the denominator is 0 or missing
    "band",  # a label for the band of feature `of` between `bins`
    "contract",  # a column of the contract active at as_of
    "contract_days",  # length in days of the contract active at as_of
    "days_to_end",  # days from as_of to the end of the active contract
    "prior_outcomes",  # contracts whose outcome (== `equals`) was known before as_of
]

WINDOW_DAYS: dict[str, int | None] = {
    "7d": 7, "30d": 30, "60d": 60, "90d": 90, "180d": 180, "365d": 365, "all": None,
}  # fmt: skip


@dataclass(frozen=True)
class Feature:
    name: str
    entity: Entity
    group: str
    source: str
    kind: Kind
    description: str
    unit: str
    template: str  # a sentence with {value}, e.g. "{value:.0f} logins in the last 30 days"
    window: str = "all"
    offset: str | None = None  # shift the window back: "30d" with window "30d" is the 30 days before the last 30
    column: str | None = None
    where: dict[str, str | list[str]] = field(default_factory=dict)  # column == value (or in list); key! negates
    time_column: str | None = None  # the time that decides visibility, when not the table's event time
    missing: str = ""  # the sentence when the value is missing: no data, which is never the same as 0
    # How a value is said besides `template` (serving/explain.py applies them; docs/explanations.md has the rules).
    zero: str = ""  # the sentence when the value shows as 0 in `template` ("No logins in the last 30 days")
    one: str = ""  # the sentence when the value shows as 1 ("1 login in the last 30 days"): the singular
    previous: str | None = None  # the same measure over the window before (logins_30d → logins_prev_30d)
    # The sentence of a movement. With `previous`: the value against the previous one, with {value}, {previous},
    # {moved} ("rose to" / "fell to" / "held at"), {compared} ("60% fewer than", "50% more than", "the same as",
    # "up from none in", "down from 30 in"), {change} (the relative change, ≥ 0) and {more_or_fewer}. For a
    # "trend" the same words against 1 (the window before); for a "change", {moved} is "rose by" / "fell by" and
    # {size} the size of the move (a move that shows as 0 says `zero`).
    change_template: str = ""
    fewer: str = "fewer"  # the word for a drop in {compared} and {more_or_fewer}: "fewer" for counts, "less" else
    words: dict[str, str] = field(default_factory=dict)  # how categorical values are said: data_and_it → data and IT
    categorical: bool = False
    numerator: str | None = None
    denominator: str | None = None
    of: str | None = None  # the feature a band is cut from
    bins: tuple[float, ...] = ()  # band edges, lower edge inclusive: [b0, b1), [b1, b2), ...
    labels: tuple[str, ...] = ()  # one label per band
    mapping: dict[str, list[str]] = field(default_factory=dict)  # label → keywords (keyword_map)
    half_life_days: float | None = None
    equals: str | None = None
    scale: float = 1.0  # multiply the aggregate (e.g. seconds → hours)

    @property
    def window_days(self) -> int | None:
        return WINDOW_DAYS[self.window]

    @property
    def offset_days(self) -> int:
        return WINDOW_DAYS[self.offset] or 0 if self.offset else 0


ENGAGED = ["email_open", "email_click", "content_download", "web_visit", "pricing_page_visit", "webinar_attended",
           "form_submit", "demo_request"]  # fmt: skip
ACTIVITY_WORDS = {
    "email_sent": "marketing emails received", "email_open": "marketing emails opened",
    "email_click": "email clicks", "content_download": "content downloads", "web_visit": "website visits",
    "pricing_page_visit": "pricing-page visits", "webinar_attended": "webinars attended",
    "form_submit": "forms submitted", "demo_request": "demo requests", "unsubscribe": "unsubscribes",
}  # fmt: skip
ACTIVITY_WORD = {
    "email_sent": "marketing email received", "email_open": "marketing email opened", "email_click": "email click",
    "content_download": "content download", "web_visit": "website visit", "pricing_page_visit": "pricing-page visit",
    "webinar_attended": "webinar attended", "form_submit": "form submitted", "demo_request": "demo request",
    "unsubscribe": "unsubscribe",
}  # fmt: skip  # the singular, for a count of 1
ACTIVITY_UNITS = {
    "email_sent": "emails", "email_open": "opens", "email_click": "clicks", "content_download": "downloads",
    "web_visit": "visits", "pricing_page_visit": "visits", "webinar_attended": "webinars", "form_submit": "forms",
    "demo_request": "requests", "unsubscribe": "unsubscribes",
}  # fmt: skip
JOB_FUNCTIONS = {
    "marketing": ["marketing", "cmo"],
    "sales": ["sales", "account executive"],
    "customer_success": ["customer success"],
    "data_and_it": ["data", " it", "it manager", "engineer", "cto"],
    "operations": ["operations", "coo"],
    "finance": ["cfo", "finance"],
    "executive": ["ceo", "founder", "owner", "president"],
    "product": ["product"],
}
SOURCE_DATA = {
    "leads": "lead data", "accounts": "account data", "marketing_activities": "marketing activity data",
    "product_events": "product usage data", "tickets": "ticket data", "service_usage": "service usage data",
    "feedback": "survey data", "conversations": "conversation data", "contracts": "contract data",
}  # fmt: skip


def _unknown(description: str, source: str) -> str:
    """The missing sentence of a count or sum: it is only missing when its whole source table is absent."""
    return f"{description} not known (no {SOURCE_DATA[source]})"


def _counted(what: str, one: str, window: str, source: str) -> dict[str, str]:
    """template, zero, one and missing of a count over a window: "12 logins", "No logins", "1 login"."""
    days = f"in the last {window[:-1]} days" if window != "365d" else "in the last year"
    return dict(template=f"{{value:,.0f}} {what} {days}", zero=f"No {what} {days}", one=f"1 {one} {days}",
                missing=_unknown(f"{what[0].upper()}{what[1:]} {days}", source))


def _activity_counts() -> list[Feature]:
    """Counts per activity type and window: the raw material of every lead-scoring rule."""
    return [
        Feature(f"{activity}_{window}", entity="lead", group="Engagement", source="marketing_activities",
                kind="count", window=window, where={"activity": activity}, unit=ACTIVITY_UNITS[activity],
                description=f"{words.capitalize()} in the last {window[:-1]} days",
                **_counted(words, ACTIVITY_WORD[activity], window, "marketing_activities"))
        for activity, words in ACTIVITY_WORDS.items()
        for window in ("7d", "30d", "90d")
    ]


def _days_ago(template: str, zero: str, one: str, missing: str) -> dict[str, str]:
    """A days_since/age sentence: under half a day reads "less than a day ago", one day is singular."""
    return dict(template=template, zero=zero, one=one, missing=missing)


def _leads() -> list[Feature]:
    fit = dict(entity="lead", group="Fit", source="leads")
    eng = dict(entity="lead", group="Engagement", source="marketing_activities")
    return [
        Feature("industry", **fit, kind="attribute", column="industry", categorical=True, unit="category",
                description="Industry of the lead's company", template="Industry: {value}",
                missing="Industry unknown"),
        Feature("employees", **fit, kind="attribute", column="employees", unit="people",
                description="Employees at the lead's company", template="{value:,.0f} employees at the company",
                one="A company of 1 employee", missing="Company size unknown"),
        Feature("employee_band", **fit, kind="band", of="employees", categorical=True, unit="band",
                bins=(0, 11, 51, 201, 1001, 5001, float("inf")),
                labels=("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+"),
                description="Company size band", template="A company of {value} employees",
                missing="Company size unknown"),
        Feature("country", **fit, kind="attribute", column="country", categorical=True, unit="category",
                description="Country of the lead", template="Country: {value}", missing="Country unknown"),
        Feature("seniority", **fit, kind="attribute", column="seniority", categorical=True, unit="category",
                description="Seniority of the lead's role", template="Seniority: {value}",
                words={"c_level": "C-level", "vp": "VP", "individual_contributor": "individual contributor"},
                missing="Seniority unknown"),
        Feature("job_function", **fit, kind="keyword_map", column="job_title", mapping=JOB_FUNCTIONS,
                categorical=True, unit="category", description="Job function read from the job title",
                template="Works in {value}", missing="Job title unknown",
                words={"customer_success": "customer success", "data_and_it": "data and IT",
                       "executive": "executive leadership", "other": "another function"}),
        Feature("lead_source", **fit, kind="attribute", column="lead_source", categorical=True, unit="category",
                description="Channel the lead came from", template="Came in through {value}",
                words={"web": "the website", "paid_search": "paid search", "event": "an event",
                       "referral": "a referral", "outbound": "outbound prospecting", "partner": "a partner",
                       "content_syndication": "content syndication"},
                missing="Lead source unknown"),
        *_activity_counts(),
        Feature("email_open_rate_90d", entity="lead", group="Engagement", source="marketing_activities",
                kind="ratio", numerator="email_open_90d", denominator="email_sent_90d", unit="ratio",
                description="Marketing emails opened ÷ received in the last 90 days",
                template="Opened {value:.0%} of marketing emails in the last 90 days",
                missing="No marketing email received in the last 90 days"),
        Feature("email_click_rate_90d", entity="lead", group="Engagement", source="marketing_activities",
                kind="ratio", numerator="email_click_90d", denominator="email_sent_90d", unit="ratio",
                description="Email clicks ÷ marketing emails received in the last 90 days",
                template="Clicked {value:.0%} of marketing emails in the last 90 days",
                missing="No marketing email received in the last 90 days"),
        Feature("engaged_activities_30d", **eng, kind="count", window="30d", where={"activity": ENGAGED},
                unit="activities", description="Engaged marketing activities (not sends) in the last 30 days",
                **_counted("engaged activities", "engaged activity", "30d", "marketing_activities")),
        Feature("engagement_trend", **eng, kind="trend", window="30d", where={"activity": ENGAGED},
                unit="ratio", description="Engaged activities in the last 30 days ÷ the 30 days before",
                template="Engagement at {value:.0%} of the 30 days before",
                change_template="Engagement {moved} {value:.0%} of the 30 days before",
                missing="No engagement in the 30 days before to compare with"),
        Feature("engagement_score", **eng, kind="decayed", window="90d", where={"activity": ENGAGED},
                half_life_days=14, unit="points",
                description="Engaged activities in the last 90 days, each weighing half as much per 14 days of age",
                template="Engagement score {value:.1f} (recent activity weighs most)",
                zero="Engagement score 0.0: little or no engaged activity in the last 90 days",
                missing=_unknown("Engagement score", "marketing_activities")),
        Feature("days_since_last_activity", **eng, kind="days_since", where={"activity": ENGAGED},
                unit="days", description="Days since the last engaged marketing activity",
                **_days_ago("Last engaged {value:,.0f} days ago", "Last engaged less than a day ago",
                            "Last engaged 1 day ago", "No engagement yet")),
        Feature("days_since_pricing_page_visit", **eng, kind="days_since", where={"activity": "pricing_page_visit"},
                unit="days", description="Days since the last pricing-page visit",
                **_days_ago("Last looked at pricing {value:,.0f} days ago",
                            "Last looked at pricing less than a day ago", "Last looked at pricing 1 day ago",
                            "Never looked at pricing")),
        Feature("days_since_demo_request", **eng, kind="days_since", where={"activity": "demo_request"},
                unit="days", description="Days since the last demo request",
                **_days_ago("Asked for a demo {value:,.0f} days ago", "Asked for a demo less than a day ago",
                            "Asked for a demo 1 day ago", "Never asked for a demo")),
        Feature("days_since_unsubscribe", **eng, kind="days_since", where={"activity": "unsubscribe"},
                unit="days", description="Days since the lead unsubscribed from marketing email",
                **_days_ago("Unsubscribed {value:,.0f} days ago", "Unsubscribed less than a day ago",
                            "Unsubscribed 1 day ago", "Never unsubscribed")),
        Feature("lead_age_days", entity="lead", group="Engagement", source="leads", kind="age_days",
                unit="days", description="Days since the lead was created",
                **_days_ago("Lead created {value:,.0f} days ago", "Lead created less than a day ago",
                            "Lead created 1 day ago", "Lead creation date unknown")),
    ]


def _product_usage() -> list[Feature]:
    usage = dict(entity="account", group="Product Usage", source="product_events")
    ratio = dict(entity="account", group="Product Usage", source="product_events", kind="ratio")
    return [
        Feature("logins_30d", **usage, kind="count", window="30d", where={"event": "login"}, unit="logins",
                description="Logins in the last 30 days", **_counted("logins", "login", "30d", "product_events"),
                previous="logins_prev_30d",
                change_template="Logins {moved} {value:,.0f} in the last 30 days, {compared} the 30 days before"),
        Feature("logins_90d", **usage, kind="count", window="90d", where={"event": "login"}, unit="logins",
                description="Logins in the last 90 days", **_counted("logins", "login", "90d", "product_events")),
        Feature("logins_prev_30d", **usage, kind="count", window="30d", offset="30d", where={"event": "login"},
                unit="logins", description="Logins in the 30 days before the last 30",
                template="{value:.0f} logins between 30 and 60 days ago", zero="No logins between 30 and 60 days ago",
                one="1 login between 30 and 60 days ago",
                missing=_unknown("Logins between 30 and 60 days ago", "product_events")),
        Feature("login_trend", **usage, kind="trend", window="30d", where={"event": "login"}, unit="ratio",
                description="Logins in the last 30 days ÷ logins in the 30 days before",
                template="Logins at {value:.0%} of the 30 days before",
                change_template="Logins {moved} {value:.0%} of the 30 days before",
                missing="No logins in the 30 days before to compare with"),
        Feature("logins_per_seat_30d", **ratio, numerator="logins_30d", denominator="seats",
                unit="logins per seat", description="Logins in the last 30 days per seat under contract",
                template="{value:.1f} logins per seat in the last 30 days",
                missing="Logins per seat not known (no product usage data, or no seats)"),
        Feature("events_30d", **usage, kind="count", window="30d", unit="events",
                description="Product events of any kind in the last 30 days",
                **_counted("product events", "product event", "30d", "product_events")),
        Feature("active_users_30d", **usage, kind="nunique", window="30d", column="user_id", unit="users",
                description="Distinct users active in the last 30 days",
                **_counted("active users", "active user", "30d", "product_events")),
        Feature("active_users_90d", **usage, kind="nunique", window="90d", column="user_id", unit="users",
                description="Distinct users active in the last 90 days",
                **_counted("active users", "active user", "90d", "product_events")),
        Feature("active_users_per_seat", **ratio, numerator="active_users_30d", denominator="seats",
                unit="ratio", description="Active users in the last 30 days ÷ seats under contract",
                template="{value:.0%} of seats active in the last 30 days",
                missing="Seat use not known (no product usage data, or no seats)"),
        Feature("active_users_per_seat_90d", **ratio, numerator="active_users_90d", denominator="seats",
                unit="ratio", description="Active users in the last 90 days ÷ seats under contract",
                template="{value:.0%} of seats active in the last 90 days",
                missing="Seat use not known (no product usage data, or no seats)"),
        Feature("time_in_product_hours_30d", **usage, kind="sum", window="30d", column="duration_s",
                scale=1 / 3600, unit="hours", description="Hours spent in the product in the last 30 days",
                template="{value:,.1f} hours in the product in the last 30 days",
                zero="No time in the product in the last 30 days", one="1 hour in the product in the last 30 days",
                missing=_unknown("Time in the product in the last 30 days", "product_events")),
        Feature("feature_events_30d", **usage, kind="count", window="30d", where={"event!": "login"},
                unit="events", description="Feature events (not logins) in the last 30 days",
                **_counted("feature events", "feature event", "30d", "product_events")),
        Feature("features_per_login_30d", **ratio, numerator="feature_events_30d", denominator="logins_30d",
                unit="events per login", description="Feature events per login in the last 30 days",
                template="{value:.1f} feature events per login in the last 30 days",
                missing="No logins in the last 30 days"),
        Feature("feature_breadth_30d", **usage, kind="nunique", window="30d", column="event",
                where={"event!": "login"}, unit="features",
                description="Distinct product features used in the last 30 days",
                template="{value:.0f} different features used in the last 30 days",
                zero="No product features used in the last 30 days", one="1 feature used in the last 30 days",
                missing=_unknown("Features used in the last 30 days", "product_events")),
        Feature("session_minutes_30d", **usage, kind="sum", window="30d", column="duration_s",
                where={"event": "login"}, scale=1 / 60, unit="minutes",
                description="Minutes of login sessions in the last 30 days",
                template="{value:,.0f} minutes of sessions in the last 30 days",
                zero="No session time in the last 30 days", one="1 minute of sessions in the last 30 days",
                missing=_unknown("Session time in the last 30 days", "product_events")),
        Feature("minutes_per_session_30d", **ratio, numerator="session_minutes_30d", denominator="logins_30d",
                unit="minutes", description="Mean session length in the last 30 days",
                template="Sessions of {value:,.0f} minutes on average in the last 30 days",
                zero="Sessions of under a minute on average in the last 30 days",
                one="Sessions of 1 minute on average in the last 30 days",
                missing="No sessions in the last 30 days"),
        Feature("days_since_last_event", **usage, kind="days_since", unit="days",
                description="Days since the last product event of any kind",
                **_days_ago("Last seen in the product {value:,.0f} days ago",
                            "Last seen in the product less than a day ago", "Last seen in the product 1 day ago",
                            "Never seen in the product")),
        Feature("days_since_last_login", **usage, kind="days_since", where={"event": "login"},
                unit="days", description="Days since the last login",
                **_days_ago("Last login {value:,.0f} days ago", "Last login less than a day ago",
                            "Last login 1 day ago", "No login yet")),
    ]


def _support() -> list[Feature]:
    support = dict(entity="account", group="Support History", source="tickets")
    by_priority = [
        Feature(f"{priority}_tickets_{window}", **support, kind="count", window=window,
                where={"priority": priority}, unit="tickets",
                description=f"{priority.capitalize()}-priority tickets opened in the last {window[:-1]} days",
                **_counted(f"{priority}-priority tickets", f"{priority}-priority ticket", window, "tickets"))
        for window in ("30d", "90d")
        for priority in ("low", "normal", "high", "urgent")
    ]
    return [
        Feature("tickets_30d", **support, kind="count", window="30d", unit="tickets",
                description="Support tickets opened in the last 30 days",
                **_counted("support tickets", "support ticket", "30d", "tickets")),
        Feature("tickets_90d", **support, kind="count", window="90d", unit="tickets",
                description="Support tickets opened in the last 90 days",
                **_counted("support tickets", "support ticket", "90d", "tickets")),
        *by_priority,
        Feature("open_tickets", **support, kind="open_at_as_of", window="365d", column="closed_at",
                unit="tickets", description="Tickets still open (opened in the last year, not yet closed)",
                template="{value:.0f} tickets open", zero="No open tickets", one="1 ticket open",
                missing=_unknown("Open tickets", "tickets")),
        Feature("open_urgent_tickets", **support, kind="open_at_as_of", window="365d", column="closed_at",
                where={"priority": "urgent"}, unit="tickets",
                description="Urgent tickets still open (opened in the last year, not yet closed)",
                template="{value:.0f} urgent tickets open", zero="No urgent tickets open",
                one="1 urgent ticket open", missing=_unknown("Open urgent tickets", "tickets")),
        Feature("median_days_to_close_90d", **support, kind="duration_median", window="90d", column="opened_at",
                time_column="closed_at", unit="days",
                description="Median days from opening to closing, tickets closed in the last 90 days",
                template="Tickets closed in the last 90 days took {value:.1f} days to close (median)",
                zero="Tickets closed in the last 90 days took about an hour or less to close (median)",
                missing="No ticket closed in the last 90 days"),
        Feature("escalations_90d", **support, kind="count", window="90d", time_column="escalated_at",
                unit="escalations", description="Tickets escalated in the last 90 days",
                **_counted("escalations", "escalation", "90d", "tickets")),
        Feature("mean_csat_90d", **support, kind="mean", window="90d", column="csat", time_column="closed_at",
                unit="1–5", description="Mean CSAT of tickets closed in the last 90 days",
                template="Ticket CSAT averaging {value:.1f} of 5", missing="No CSAT rating in the last 90 days"),
    ]


def _service() -> list[Feature]:
    service = dict(entity="account", group="Service Utilization", source="service_usage")
    return [
        Feature("training_sessions_90d", **service, kind="count", window="90d",
                where={"service": "training_session"}, unit="sessions",
                description="Training sessions in the last 90 days",
                **_counted("training sessions", "training session", "90d", "service_usage")),
        Feature("certifications_365d", **service, kind="count", window="365d", where={"service": "certification"},
                unit="certifications", description="Certifications earned in the last year",
                **_counted("certifications", "certification", "365d", "service_usage")),
        Feature("consulting_hours_90d", **service, kind="sum", window="90d", column="quantity",
                where={"service": "consulting_hours"}, unit="hours",
                description="Consulting hours used in the last 90 days",
                **_counted("consulting hours", "consulting hour", "90d", "service_usage")),
        Feature("kb_views_30d", **service, kind="count", window="30d", where={"service": "kb_article_view"},
                unit="views", description="Knowledge-base articles viewed in the last 30 days",
                **_counted("knowledge-base views", "knowledge-base view", "30d", "service_usage")),
        Feature("community_posts_90d", **service, kind="count", window="90d", where={"service": "community_post"},
                unit="posts", description="Community posts in the last 90 days",
                **_counted("community posts", "community post", "90d", "service_usage")),
        Feature("webinars_attended_90d", **service, kind="count", window="90d", where={"service": "webinar"},
                unit="webinars", description="Customer webinars attended in the last 90 days",
                **_counted("customer webinars", "customer webinar", "90d", "service_usage")),
    ]


def _feedback() -> list[Feature]:
    feedback = dict(entity="account", group="Customer Feedback", source="feedback")
    talk = dict(entity="account", group="Customer Feedback", source="conversations")
    return [
        Feature("latest_nps", **feedback, kind="latest", window="365d", column="score", where={"survey": "nps"},
                unit="0–10", description="The latest NPS answer in the last year",
                template="Latest NPS answer: {value:.0f} of 10", missing="No NPS answer in the last year"),
        Feature("nps_category", **feedback, kind="band", of="latest_nps", categorical=True, unit="category",
                bins=(0, 7, 9, 11), labels=("detractor", "passive", "promoter"),
                description="Detractor (0–6), passive (7–8) or promoter (9–10), from the latest NPS answer",
                template="The latest NPS answer is from a {value}", missing="No NPS answer in the last year",
                words={"detractor": "detractor (0–6)", "passive": "passive (7–8)", "promoter": "promoter (9–10)"}),
        Feature("mean_nps_365d", **feedback, kind="mean", window="365d", column="score", where={"survey": "nps"},
                unit="0–10", description="Mean NPS answer in the last year",
                template="NPS answers averaging {value:.1f} of 10 in the last year",
                missing="No NPS answer in the last year"),
        Feature("nps_change", **feedback, kind="change", window="180d", column="score", where={"survey": "nps"},
                unit="points", description="Mean NPS in the last 180 days minus the mean in the 180 days before",
                template="NPS {value:+.1f} points on the 180 days before",
                change_template="NPS {moved} {size:.1f} points on the 180 days before",
                zero="NPS unchanged on the 180 days before",
                missing="Not enough NPS answers to compare with the 180 days before"),
        Feature("nps_responses_365d", **feedback, kind="count", window="365d", where={"survey": "nps"},
                unit="answers", description="NPS answers in the last year",
                **_counted("NPS answers", "NPS answer", "365d", "feedback")),
        Feature("nps_response_rate", entity="account", group="Customer Feedback", source="feedback", kind="ratio",
                numerator="nps_responses_365d", denominator="active_users_90d", unit="answers per user",
                description="NPS answers in the last year per user active in the last 90 days",
                template="{value:.1f} NPS answers in the last year per active user",
                missing="No active users to ask"),
        Feature("survey_mean_365d", **feedback, kind="mean", window="365d", column="score",
                where={"survey": ["survey", "csat"]}, unit="1–5",
                description="Mean answer to CSAT and other surveys in the last year",
                template="Surveys averaging {value:.1f} of 5 in the last year",
                missing="No survey answer in the last year"),
        Feature("mean_sentiment_90d", **talk, kind="mean", window="90d", column="sentiment", unit="−1..1",
                description="Mean conversation sentiment in the last 90 days",
                template="Conversation sentiment averaging {value:+.2f} (−1 to +1) in the last 90 days",
                missing="No conversations in the last 90 days"),
        Feature("inbound_conversations_90d", **talk, kind="count", window="90d", where={"direction": "inbound"},
                unit="conversations", description="Conversations the customer started in the last 90 days",
                **_counted("conversations started by the customer", "conversation started by the customer", "90d",
                           "conversations")),
    ]


def _commercial() -> list[Feature]:
    commercial = dict(entity="account", group="Commercial", source="contracts")
    return [
        Feature("arr", **commercial, kind="contract", column="arr", unit="currency",
                description="Annual recurring revenue of the active contract", template="ARR {value:,.0f}",
                zero="No recurring revenue (ARR 0)", missing="ARR unknown"),
        Feature("seats", **commercial, kind="contract", column="seats", unit="seats",
                description="Seats on the active contract", template="{value:,.0f} seats under contract",
                zero="No seats under contract", one="1 seat under contract", missing="Seats unknown"),
        Feature("plan", **commercial, kind="contract", column="plan", categorical=True, unit="category",
                description="Plan of the active contract", template="On the {value} plan", missing="Plan unknown"),
        Feature("contract_days", **commercial, kind="contract_days", unit="days",
                description="Length of the active contract (about 30 for monthly, 365 for annual)",
                template="A {value:,.0f}-day contract", missing="Contract length unknown"),
        Feature("days_to_renewal", **commercial, kind="days_to_end", unit="days",
                description="Days until the active contract ends",
                **_days_ago("Renewal due in {value:,.0f} days", "Renewal due within a day", "Renewal due in 1 day",
                            "Renewal date unknown")),
        Feature("tenure_days", entity="account", group="Commercial", source="accounts", kind="age_days",
                unit="days", description="Days since the account became a customer",
                **_days_ago("Customer for {value:,.0f} days", "Customer for less than a day", "Customer for 1 day",
                            "Customer start date unknown")),
        Feature("prior_renewals", **commercial, kind="prior_outcomes", equals="renewed", unit="renewals",
                description="Contracts renewed before as_of", template="{value:.0f} earlier renewals",
                zero="No earlier renewals", one="1 earlier renewal", missing="Renewal history unknown"),
    ]


def _account_marketing() -> list[Feature]:
    """A lead-style view of customers, kept in its own group so it can be compared with health."""
    marketing = dict(entity="account", group="Marketing Engagement", source="marketing_activities")
    return [
        Feature("account_email_opens_90d", **marketing, kind="count", window="90d", where={"activity": "email_open"},
                unit="opens", description="Marketing emails opened by the account's contacts in the last 90 days",
                **_counted("marketing emails opened by the account", "marketing email opened by the account", "90d",
                           "marketing_activities")),
        Feature("account_email_clicks_90d", **marketing, kind="count", window="90d",
                where={"activity": "email_click"}, unit="clicks",
                description="Marketing email clicks by the account's contacts in the last 90 days",
                **_counted("marketing email clicks by the account", "marketing email click by the account", "90d",
                           "marketing_activities")),
        Feature("account_engagement_score", **marketing, kind="decayed", window="90d", where={"activity": ENGAGED},
                half_life_days=14, unit="points",
                description="The account's engaged marketing activities, each weighing half as much per 14 days of age",
                template="Marketing engagement score {value:.1f}",
                zero="Marketing engagement score 0.0: little or no engaged marketing activity in the last 90 days",
                missing=_unknown("Marketing engagement score", "marketing_activities")),
    ]


CATALOG: tuple[Feature, ...] = tuple(
    _leads() + _product_usage() + _support() + _service() + _feedback() + _commercial() + _account_marketing()
)
GROUPS: dict[str, tuple[str, ...]] = {
    "lead": ("Fit", "Engagement"),
    "account": ("Product Usage", "Support History", "Service Utilization", "Customer Feedback", "Commercial",
                "Marketing Engagement"),
}


def features_for(entity: str, names: list[str] | None = None) -> list[Feature]:
    """Catalog entries of one entity in catalog order, optionally only the named subset."""
    chosen = [f for f in CATALOG if f.entity == entity]
    if names is not None:
        unknown = set(names) - {f.name for f in chosen}
        if unknown:
            raise KeyError(f"not in the {entity} catalog: {', '.join(sorted(unknown))}")
        chosen = [f for f in chosen if f.name in names]
    return chosen


def catalog_hash(features: list[Feature] | tuple[Feature, ...] = CATALOG) -> str:
    """A short fingerprint of the definitions, logged with every model so a changed catalog is visible."""
    payload = json.dumps([asdict(f) for f in features], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
