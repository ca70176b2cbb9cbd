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
    missing: str = ""  # the sentence when the value is missing
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


def _activity_counts() -> list[Feature]:
    """Counts per activity type and window: the raw material of every lead-scoring rule."""
    return [
        Feature(f"{activity}_{window}", entity="lead", group="Engagement", source="marketing_activities",
                kind="count", window=window, where={"activity": activity}, unit=ACTIVITY_UNITS[activity],
                description=f"{words.capitalize()} in the last {window[:-1]} days",
                template=f"{{value:.0f}} {words} in the last {window[:-1]} days")
        for activity, words in ACTIVITY_WORDS.items()
        for window in ("7d", "30d", "90d")
    ]


def _leads() -> list[Feature]:
    fit = dict(entity="lead", group="Fit", source="leads")
    eng = dict(entity="lead", group="Engagement", source="marketing_activities")
    return [
        Feature("industry", **fit, kind="attribute", column="industry", categorical=True, unit="category",
                description="Industry of the lead's company", template="Industry: {value}",
                missing="Industry unknown"),
        Feature("employees", **fit, kind="attribute", column="employees", unit="people",
                description="Employees at the lead's company", template="{value:,.0f} employees at the company",
                missing="Company size unknown"),
        Feature("employee_band", **fit, kind="band", of="employees", categorical=True, unit="band",
                bins=(0, 11, 51, 201, 1001, 5001, float("inf")),
                labels=("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+"),
                description="Company size band", template="A company of {value} employees",
                missing="Company size unknown"),
        Feature("country", **fit, kind="attribute", column="country", categorical=True, unit="category",
                description="Country of the lead", template="Based in {value}", missing="Country unknown"),
        Feature("seniority", **fit, kind="attribute", column="seniority", categorical=True, unit="category",
                description="Seniority of the lead's role", template="Seniority: {value}",
                missing="Seniority unknown"),
        Feature("job_function", **fit, kind="keyword_map", column="job_title", mapping=JOB_FUNCTIONS,
                categorical=True, unit="category", description="Job function read from the job title",
                template="Works in {value}", missing="Job title unknown"),
        Feature("lead_source", **fit, kind="attribute", column="lead_source", categorical=True, unit="category",
                description="Channel the lead came from", template="Came in through {value}",
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
                template="{value:.0f} engaged activities in the last 30 days"),
        Feature("engagement_trend", **eng, kind="trend", window="30d", where={"activity": ENGAGED},
                unit="ratio", description="Engaged activities in the last 30 days ÷ the 30 days before",
                template="Engagement at {value:.0%} of the 30 days before",
                missing="No engagement in the 30 days before to compare with"),
        Feature("engagement_score", **eng, kind="decayed", window="90d", where={"activity": ENGAGED},
                half_life_days=14, unit="points",
                description="Engaged activities in the last 90 days, each weighing half as much per 14 days of age",
                template="Engagement score {value:.1f} (recent activity weighs most)"),
        Feature("days_since_last_activity", **eng, kind="days_since", where={"activity": ENGAGED},
                unit="days", description="Days since the last engaged marketing activity",
                template="Last engaged {value:.0f} days ago", missing="No engagement yet"),
        Feature("days_since_pricing_page_visit", **eng, kind="days_since", where={"activity": "pricing_page_visit"},
                unit="days", description="Days since the last pricing-page visit",
                template="Last looked at pricing {value:.0f} days ago", missing="Never looked at pricing"),
        Feature("days_since_demo_request", **eng, kind="days_since", where={"activity": "demo_request"},
                unit="days", description="Days since the last demo request",
                template="Asked for a demo {value:.0f} days ago", missing="Never asked for a demo"),
        Feature("days_since_unsubscribe", **eng, kind="days_since", where={"activity": "unsubscribe"},
                unit="days", description="Days since the lead unsubscribed from marketing email",
                template="Unsubscribed {value:.0f} days ago", missing="Still subscribed"),
        Feature("lead_age_days", entity="lead", group="Engagement", source="leads", kind="age_days",
                unit="days", description="Days since the lead was created",
                template="Lead created {value:.0f} days ago"),
    ]


def _product_usage() -> list[Feature]:
    usage = dict(entity="account", group="Product Usage", source="product_events")
    ratio = dict(entity="account", group="Product Usage", source="product_events", kind="ratio")
    return [
        Feature("logins_30d", **usage, kind="count", window="30d", where={"event": "login"}, unit="logins",
                description="Logins in the last 30 days", template="{value:.0f} logins in the last 30 days"),
        Feature("logins_90d", **usage, kind="count", window="90d", where={"event": "login"}, unit="logins",
                description="Logins in the last 90 days", template="{value:.0f} logins in the last 90 days"),
        Feature("logins_prev_30d", **usage, kind="count", window="30d", offset="30d", where={"event": "login"},
                unit="logins", description="Logins in the 30 days before the last 30",
                template="{value:.0f} logins in the 30 days before that"),
        Feature("login_trend", **usage, kind="trend", window="30d", where={"event": "login"}, unit="ratio",
                description="Logins in the last 30 days ÷ logins in the 30 days before",
                template="Logins at {value:.0%} of the 30 days before",
                missing="No logins in the 30 days before to compare with"),
        Feature("logins_per_seat_30d", **ratio, numerator="logins_30d", denominator="seats",
                unit="logins per seat", description="Logins in the last 30 days per seat under contract",
                template="{value:.1f} logins per seat in the last 30 days"),
        Feature("events_30d", **usage, kind="count", window="30d", unit="events",
                description="Product events of any kind in the last 30 days",
                template="{value:.0f} product events in the last 30 days"),
        Feature("active_users_30d", **usage, kind="nunique", window="30d", column="user_id", unit="users",
                description="Distinct users active in the last 30 days",
                template="{value:.0f} active users in the last 30 days"),
        Feature("active_users_90d", **usage, kind="nunique", window="90d", column="user_id", unit="users",
                description="Distinct users active in the last 90 days",
                template="{value:.0f} active users in the last 90 days"),
        Feature("active_users_per_seat", **ratio, numerator="active_users_30d", denominator="seats",
                unit="ratio", description="Active users in the last 30 days ÷ seats under contract",
                template="{value:.0%} of seats active in the last 30 days"),
        Feature("active_users_per_seat_90d", **ratio, numerator="active_users_90d", denominator="seats",
                unit="ratio", description="Active users in the last 90 days ÷ seats under contract",
                template="{value:.0%} of seats active in the last 90 days"),
        Feature("time_in_product_hours_30d", **usage, kind="sum", window="30d", column="duration_s",
                scale=1 / 3600, unit="hours", description="Hours spent in the product in the last 30 days",
                template="{value:.0f} hours in the product in the last 30 days"),
        Feature("feature_events_30d", **usage, kind="count", window="30d", where={"event!": "login"},
                unit="events", description="Feature events (not logins) in the last 30 days",
                template="{value:.0f} feature events in the last 30 days"),
        Feature("features_per_login_30d", **ratio, numerator="feature_events_30d", denominator="logins_30d",
                unit="events per login", description="Feature events per login in the last 30 days",
                template="{value:.1f} features used per login in the last 30 days",
                missing="No logins in the last 30 days"),
        Feature("feature_breadth_30d", **usage, kind="nunique", window="30d", column="event",
                where={"event!": "login"}, unit="features",
                description="Distinct product features used in the last 30 days",
                template="{value:.0f} different features used in the last 30 days"),
        Feature("session_minutes_30d", **usage, kind="sum", window="30d", column="duration_s",
                where={"event": "login"}, scale=1 / 60, unit="minutes",
                description="Minutes of login sessions in the last 30 days",
                template="{value:.0f} minutes of sessions in the last 30 days"),
        Feature("minutes_per_session_30d", **ratio, numerator="session_minutes_30d", denominator="logins_30d",
                unit="minutes", description="Mean session length in the last 30 days",
                template="Sessions of {value:.0f} minutes on average in the last 30 days",
                missing="No sessions in the last 30 days"),
        Feature("days_since_last_event", **usage, kind="days_since", unit="days",
                description="Days since the last product event of any kind",
                template="Last seen in the product {value:.0f} days ago", missing="Never seen in the product"),
        Feature("days_since_last_login", **usage, kind="days_since", where={"event": "login"},
                unit="days", description="Days since the last login",
                template="Last login {value:.0f} days ago", missing="No login yet"),
    ]


def _support() -> list[Feature]:
    support = dict(entity="account", group="Support History", source="tickets")
    by_priority = [
        Feature(f"{priority}_tickets_{window}", **support, kind="count", window=window,
                where={"priority": priority}, unit="tickets",
                description=f"{priority.capitalize()}-priority tickets opened in the last {window[:-1]} days",
                template=f"{{value:.0f}} {priority}-priority tickets in the last {window[:-1]} days")
        for window in ("30d", "90d")
        for priority in ("low", "normal", "high", "urgent")
    ]
    return [
        Feature("tickets_30d", **support, kind="count", window="30d", unit="tickets",
                description="Support tickets opened in the last 30 days",
                template="{value:.0f} support tickets in the last 30 days"),
        Feature("tickets_90d", **support, kind="count", window="90d", unit="tickets",
                description="Support tickets opened in the last 90 days",
                template="{value:.0f} support tickets in the last 90 days"),
        *by_priority,
        Feature("open_tickets", **support, kind="open_at_as_of", window="365d", column="closed_at",
                unit="tickets", description="Tickets still open (opened in the last year, not yet closed)",
                template="{value:.0f} tickets open"),
        Feature("open_urgent_tickets", **support, kind="open_at_as_of", window="365d", column="closed_at",
                where={"priority": "urgent"}, unit="tickets",
                description="Urgent tickets still open (opened in the last year, not yet closed)",
                template="{value:.0f} urgent tickets open"),
        Feature("median_days_to_close_90d", **support, kind="duration_median", window="90d", column="opened_at",
                time_column="closed_at", unit="days",
                description="Median days from opening to closing, tickets closed in the last 90 days",
                template="Tickets took {value:.1f} days to close (median)",
                missing="No ticket closed in the last 90 days"),
        Feature("escalations_90d", **support, kind="count", window="90d", time_column="escalated_at",
                unit="escalations", description="Tickets escalated in the last 90 days",
                template="{value:.0f} escalations in the last 90 days"),
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
                template="{value:.0f} training sessions in the last 90 days"),
        Feature("certifications_365d", **service, kind="count", window="365d", where={"service": "certification"},
                unit="certifications", description="Certifications earned in the last year",
                template="{value:.0f} certifications in the last year"),
        Feature("consulting_hours_90d", **service, kind="sum", window="90d", column="quantity",
                where={"service": "consulting_hours"}, unit="hours",
                description="Consulting hours used in the last 90 days",
                template="{value:.0f} consulting hours in the last 90 days"),
        Feature("kb_views_30d", **service, kind="count", window="30d", where={"service": "kb_article_view"},
                unit="views", description="Knowledge-base articles viewed in the last 30 days",
                template="{value:.0f} knowledge-base views in the last 30 days"),
        Feature("community_posts_90d", **service, kind="count", window="90d", where={"service": "community_post"},
                unit="posts", description="Community posts in the last 90 days",
                template="{value:.0f} community posts in the last 90 days"),
        Feature("webinars_attended_90d", **service, kind="count", window="90d", where={"service": "webinar"},
                unit="webinars", description="Customer webinars attended in the last 90 days",
                template="{value:.0f} customer webinars in the last 90 days"),
    ]


def _feedback() -> list[Feature]:
    feedback = dict(entity="account", group="Customer Feedback", source="feedback")
    talk = dict(entity="account", group="Customer Feedback", source="conversations")
    return [
        Feature("latest_nps", **feedback, kind="latest", window="365d", column="score", where={"survey": "nps"},
                unit="0–10", description="The latest NPS answer in the last year",
                template="Latest NPS answer: {value:.0f}", missing="No NPS answer in the last year"),
        Feature("nps_category", **feedback, kind="band", of="latest_nps", categorical=True, unit="category",
                bins=(0, 7, 9, 11), labels=("detractor", "passive", "promoter"),
                description="Detractor (0–6), passive (7–8) or promoter (9–10), from the latest NPS answer",
                template="The latest NPS answer is a {value}", missing="No NPS answer in the last year"),
        Feature("mean_nps_365d", **feedback, kind="mean", window="365d", column="score", where={"survey": "nps"},
                unit="0–10", description="Mean NPS answer in the last year",
                template="NPS answers averaging {value:.1f}", missing="No NPS answer in the last year"),
        Feature("nps_change", **feedback, kind="change", window="180d", column="score", where={"survey": "nps"},
                unit="points", description="Mean NPS in the last 180 days minus the mean in the 180 days before",
                template="NPS moved {value:+.1f} points against the half-year before",
                missing="Not enough NPS answers to compare"),
        Feature("nps_responses_365d", **feedback, kind="count", window="365d", where={"survey": "nps"},
                unit="answers", description="NPS answers in the last year",
                template="{value:.0f} NPS answers in the last year"),
        Feature("nps_response_rate", entity="account", group="Customer Feedback", source="feedback", kind="ratio",
                numerator="nps_responses_365d", denominator="active_users_90d", unit="answers per user",
                description="NPS answers in the last year per user active in the last 90 days",
                template="{value:.1f} NPS answers per active user", missing="No active users to ask"),
        Feature("survey_mean_365d", **feedback, kind="mean", window="365d", column="score",
                where={"survey": ["survey", "csat"]}, unit="1–5",
                description="Mean answer to CSAT and other surveys in the last year",
                template="Surveys averaging {value:.1f} of 5", missing="No survey answer in the last year"),
        Feature("mean_sentiment_90d", **talk, kind="mean", window="90d", column="sentiment", unit="−1..1",
                description="Mean conversation sentiment in the last 90 days",
                template="Conversation sentiment {value:+.2f}", missing="No conversations in the last 90 days"),
        Feature("inbound_conversations_90d", **talk, kind="count", window="90d", where={"direction": "inbound"},
                unit="conversations", description="Conversations the customer started in the last 90 days",
                template="{value:.0f} conversations started by the customer in the last 90 days"),
    ]


def _commercial() -> list[Feature]:
    commercial = dict(entity="account", group="Commercial", source="contracts")
    return [
        Feature("arr", **commercial, kind="contract", column="arr", unit="currency",
                description="Annual recurring revenue of the active contract", template="ARR {value:,.0f}"),
        Feature("seats", **commercial, kind="contract", column="seats", unit="seats",
                description="Seats on the active contract", template="{value:.0f} seats under contract"),
        Feature("plan", **commercial, kind="contract", column="plan", categorical=True, unit="category",
                description="Plan of the active contract", template="On the {value} plan"),
        Feature("contract_days", **commercial, kind="contract_days", unit="days",
                description="Length of the active contract (about 30 for monthly, 365 for annual)",
                template="A contract of {value:.0f} days"),
        Feature("days_to_renewal", **commercial, kind="days_to_end", unit="days",
                description="Days until the active contract ends", template="Renewal due in {value:.0f} days"),
        Feature("tenure_days", entity="account", group="Commercial", source="accounts", kind="age_days",
                unit="days", description="Days since the account became a customer",
                template="Customer for {value:.0f} days"),
        Feature("prior_renewals", **commercial, kind="prior_outcomes", equals="renewed", unit="renewals",
                description="Contracts renewed before as_of", template="{value:.0f} earlier renewals"),
    ]


def _account_marketing() -> list[Feature]:
    """A lead-style view of customers, kept in its own group so it can be compared with health."""
    marketing = dict(entity="account", group="Marketing Engagement", source="marketing_activities")
    return [
        Feature("account_email_opens_90d", **marketing, kind="count", window="90d", where={"activity": "email_open"},
                unit="opens", description="Marketing emails opened by the account's contacts in the last 90 days",
                template="{value:.0f} marketing emails opened by the account in the last 90 days"),
        Feature("account_email_clicks_90d", **marketing, kind="count", window="90d",
                where={"activity": "email_click"}, unit="clicks",
                description="Marketing email clicks by the account's contacts in the last 90 days",
                template="{value:.0f} marketing email clicks by the account in the last 90 days"),
        Feature("account_engagement_score", **marketing, kind="decayed", window="90d", where={"activity": ENGAGED},
                half_life_days=14, unit="points",
                description="The account's engaged marketing activities, each weighing half as much per 14 days of age",
                template="Marketing engagement score {value:.1f}"),
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
