"""The feature catalog: every feature declared once, as data.

An entry says what is aggregated, over which window and filter, and how to say it in a sentence; the
engine compiles entries to Ibis expressions and serving renders the sentences, so neither holds feature
logic of its own. Windows always end just before the snapshot's `as_of`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Entity = Literal["lead", "account"]
Kind = Literal[
    "attribute",  # a column of the entity table (firmographics)
    "age_days",  # days between the entity's created_at and as_of
    "count",  # rows in the window (optionally filtered)
    "sum",  # sum of `column` in the window
    "mean",  # mean of `column` in the window
    "nunique",  # distinct values of `column` in the window
    "days_since",  # days since the latest matching row (within the window, if one is set); else missing
    "latest",  # the value of `column` on the latest matching row (within the window, if one is set)
    "open_at_as_of",  # rows opened before as_of and not closed before it
    "trend",  # count in the window ÷ count in the window before it; missing when the earlier one is 0
    "ratio",  # feature `numerator` ÷ feature `denominator`; missing when the denominator is 0 or missing
    "contract",  # a column of the contract active at as_of
    "days_to_end",  # days from as_of to the end of the active contract
    "prior_outcomes",  # contracts whose outcome (== `equals`) was known before as_of
]

WINDOW_DAYS: dict[str, int | None] = {"7d": 7, "30d": 30, "60d": 60, "90d": 90, "180d": 180, "365d": 365, "all": None}


@dataclass(frozen=True)
class Feature:
    name: str
    entity: Entity
    group: str
    source: str
    kind: Kind
    description: str
    unit: str
    template: str  # a sentence with {value} (and {change} for trends), e.g. "{value:.0f} logins in the last 30 days"
    window: str = "all"
    column: str | None = None
    where: dict[str, str | list[str]] = field(default_factory=dict)  # column == value (or in list)
    time_column: str | None = None  # the time that decides visibility, when not the table's event time
    missing: str = ""  # the sentence when the value is missing
    categorical: bool = False
    numerator: str | None = None
    denominator: str | None = None
    equals: str | None = None
    scale: float = 1.0  # multiply the aggregate (e.g. seconds → hours)

    @property
    def window_days(self) -> int | None:
        return WINDOW_DAYS[self.window]


def _leads() -> list[Feature]:
    fit = dict(entity="lead", group="Fit", source="leads", kind="attribute")
    eng = dict(entity="lead", group="Engagement", source="marketing_activities")
    return [
        Feature("industry", **fit, column="industry", categorical=True, unit="category",
                description="Industry of the lead's company", template="Industry: {value}",
                missing="Industry unknown"),
        Feature("employees", **fit, column="employees", unit="people",
                description="Employees at the lead's company", template="{value:,.0f} employees at the company",
                missing="Company size unknown"),
        Feature("country", **fit, column="country", categorical=True, unit="category",
                description="Country of the lead", template="Based in {value}", missing="Country unknown"),
        Feature("seniority", **fit, column="seniority", categorical=True, unit="category",
                description="Seniority of the lead's role", template="Seniority: {value}",
                missing="Seniority unknown"),
        Feature("lead_source", **fit, column="lead_source", categorical=True, unit="category",
                description="Channel the lead came from", template="Came in through {value}",
                missing="Lead source unknown"),
        Feature("email_opens_30d", **eng, kind="count", window="30d", where={"activity": "email_open"},
                unit="opens", description="Marketing emails opened in the last 30 days",
                template="{value:.0f} marketing emails opened in the last 30 days"),
        Feature("email_clicks_30d", **eng, kind="count", window="30d", where={"activity": "email_click"},
                unit="clicks", description="Marketing email clicks in the last 30 days",
                template="{value:.0f} email clicks in the last 30 days"),
        Feature("web_visits_30d", **eng, kind="count", window="30d", where={"activity": "web_visit"},
                unit="visits", description="Website visits in the last 30 days",
                template="{value:.0f} website visits in the last 30 days"),
        Feature("pricing_page_visits_30d", **eng, kind="count", window="30d",
                where={"activity": "pricing_page_visit"}, unit="visits",
                description="Pricing-page visits in the last 30 days",
                template="{value:.0f} pricing-page visits in the last 30 days"),
        Feature("content_downloads_90d", **eng, kind="count", window="90d",
                where={"activity": "content_download"}, unit="downloads",
                description="Content downloads in the last 90 days",
                template="{value:.0f} content downloads in the last 90 days"),
        Feature("demo_requests_90d", **eng, kind="count", window="90d", where={"activity": "demo_request"},
                unit="requests", description="Demo requests in the last 90 days",
                template="{value:.0f} demo requests in the last 90 days"),
        Feature("web_visits_7d", **eng, kind="count", window="7d", where={"activity": "web_visit"},
                unit="visits", description="Website visits in the last 7 days",
                template="{value:.0f} website visits in the last 7 days"),
        Feature("pricing_page_visits_7d", **eng, kind="count", window="7d", where={"activity": "pricing_page_visit"},
                unit="visits", description="Pricing-page visits in the last 7 days",
                template="{value:.0f} pricing-page visits in the last 7 days"),
        Feature("form_submits_30d", **eng, kind="count", window="30d", where={"activity": "form_submit"},
                unit="forms", description="Forms submitted in the last 30 days",
                template="{value:.0f} forms submitted in the last 30 days"),
        Feature("webinars_90d", **eng, kind="count", window="90d", where={"activity": "webinar_attended"},
                unit="webinars", description="Webinars attended in the last 90 days",
                template="{value:.0f} webinars attended in the last 90 days"),
        Feature("days_since_pricing_page_visit", **eng, kind="days_since", where={"activity": "pricing_page_visit"},
                unit="days", description="Days since the last pricing-page visit",
                template="Last looked at pricing {value:.0f} days ago", missing="Never looked at pricing"),
        Feature("days_since_demo_request", **eng, kind="days_since", where={"activity": "demo_request"},
                unit="days", description="Days since the last demo request",
                template="Asked for a demo {value:.0f} days ago", missing="Never asked for a demo"),
        Feature("days_since_unsubscribe", **eng, kind="days_since", where={"activity": "unsubscribe"},
                unit="days", description="Days since the lead unsubscribed from marketing email",
                template="Unsubscribed {value:.0f} days ago", missing="Still subscribed"),
        Feature("activities_30d", **eng, kind="count", window="30d",
                where={"activity": ["email_open", "email_click", "content_download", "web_visit",
                                    "pricing_page_visit", "webinar_attended", "form_submit", "demo_request"]},
                unit="activities", description="Engaged marketing activities (not sends) in the last 30 days",
                template="{value:.0f} engaged activities in the last 30 days"),
        Feature("engagement_trend", **eng, kind="trend", window="30d",
                where={"activity": ["email_open", "email_click", "content_download", "web_visit",
                                    "pricing_page_visit", "webinar_attended", "form_submit", "demo_request"]},
                unit="ratio", description="Engaged activities in the last 30 days ÷ the 30 days before",
                template="Engagement at {value:.0%} of the 30 days before",
                missing="No engagement in the 30 days before to compare with"),
        Feature("days_since_last_activity", **eng, kind="days_since",
                where={"activity": ["email_open", "email_click", "content_download", "web_visit",
                                    "pricing_page_visit", "webinar_attended", "form_submit", "demo_request"]},
                unit="days", description="Days since the last engaged marketing activity",
                template="Last engaged {value:.0f} days ago", missing="No engagement yet"),
        Feature("lead_age_days", entity="lead", group="Engagement", source="leads", kind="age_days",
                unit="days", description="Days since the lead was created",
                template="Lead created {value:.0f} days ago"),
    ]


def _accounts() -> list[Feature]:
    usage = dict(entity="account", group="Product Usage", source="product_events")
    support = dict(entity="account", group="Support History", source="tickets")
    service = dict(entity="account", group="Service Utilization", source="service_usage")
    commercial = dict(entity="account", group="Commercial", source="contracts")
    return [
        Feature("logins_30d", **usage, kind="count", window="30d", where={"event": "login"}, unit="logins",
                description="Logins in the last 30 days", template="{value:.0f} logins in the last 30 days"),
        Feature("login_trend", **usage, kind="trend", window="30d", where={"event": "login"}, unit="ratio",
                description="Logins in the last 30 days ÷ logins in the 30 days before",
                template="Logins at {value:.0%} of the 30 days before",
                missing="No logins in the 30 days before to compare with"),
        Feature("active_users_30d", **usage, kind="nunique", window="30d", column="user_id", unit="users",
                description="Distinct users active in the last 30 days",
                template="{value:.0f} active users in the last 30 days"),
        Feature("time_in_product_hours_30d", **usage, kind="sum", window="30d", column="duration_s",
                scale=1 / 3600, unit="hours", description="Hours spent in the product in the last 30 days",
                template="{value:.0f} hours in the product in the last 30 days"),
        Feature("feature_breadth_30d", **usage, kind="nunique", window="30d", column="event",
                where={"event!": "login"}, unit="features",
                description="Distinct product features used in the last 30 days",
                template="{value:.0f} different features used in the last 30 days"),
        Feature("days_since_last_login", **usage, kind="days_since", where={"event": "login"},
                unit="days", description="Days since the last login",
                template="Last login {value:.0f} days ago", missing="No login yet"),
        Feature("seats", **commercial, kind="contract", column="seats", unit="seats",
                description="Seats on the active contract", template="{value:.0f} seats under contract"),
        Feature("active_users_per_seat", entity="account", group="Product Usage", source="product_events",
                kind="ratio", numerator="active_users_30d", denominator="seats", unit="ratio",
                description="Active users in the last 30 days ÷ seats under contract",
                template="{value:.0%} of seats active in the last 30 days"),
        Feature("logins_90d", **usage, kind="count", window="90d", where={"event": "login"}, unit="logins",
                description="Logins in the last 90 days", template="{value:.0f} logins in the last 90 days"),
        Feature("logins_per_seat_30d", entity="account", group="Product Usage", source="product_events",
                kind="ratio", numerator="logins_30d", denominator="seats", unit="logins per seat",
                description="Logins in the last 30 days per seat under contract",
                template="{value:.1f} logins per seat in the last 30 days"),
        Feature("active_users_90d", **usage, kind="nunique", window="90d", column="user_id", unit="users",
                description="Distinct users active in the last 90 days",
                template="{value:.0f} active users in the last 90 days"),
        Feature("active_users_per_seat_90d", entity="account", group="Product Usage", source="product_events",
                kind="ratio", numerator="active_users_90d", denominator="seats", unit="ratio",
                description="Active users in the last 90 days ÷ seats under contract",
                template="{value:.0%} of seats active in the last 90 days"),
        Feature("feature_events_30d", **usage, kind="count", window="30d", where={"event!": "login"},
                unit="events", description="Feature events (not logins) in the last 30 days",
                template="{value:.0f} feature events in the last 30 days"),
        Feature("features_per_login_30d", entity="account", group="Product Usage", source="product_events",
                kind="ratio", numerator="feature_events_30d", denominator="logins_30d", unit="events per login",
                description="Feature events per login in the last 30 days",
                template="{value:.1f} features used per login in the last 30 days"),
        Feature("session_minutes_30d", **usage, kind="sum", window="30d", column="duration_s",
                where={"event": "login"}, scale=1 / 60, unit="minutes",
                description="Minutes of login sessions in the last 30 days",
                template="{value:.0f} minutes of sessions in the last 30 days"),
        Feature("minutes_per_session_30d", entity="account", group="Product Usage", source="product_events",
                kind="ratio", numerator="session_minutes_30d", denominator="logins_30d", unit="minutes",
                description="Mean session length in the last 30 days",
                template="Sessions of {value:.0f} minutes on average in the last 30 days"),
        Feature("tickets_90d", **support, kind="count", window="90d", unit="tickets",
                description="Support tickets opened in the last 90 days",
                template="{value:.0f} support tickets in the last 90 days"),
        Feature("urgent_tickets_90d", **support, kind="count", window="90d",
                where={"priority": ["high", "urgent"]}, unit="tickets",
                description="High or urgent tickets opened in the last 90 days",
                template="{value:.0f} high or urgent tickets in the last 90 days"),
        Feature("open_tickets", **support, kind="open_at_as_of", window="365d", column="closed_at",
                unit="tickets", description="Tickets still open (opened in the last year, not yet closed)",
                template="{value:.0f} tickets open"),
        Feature("mean_csat_90d", **support, kind="mean", window="90d", column="csat", time_column="closed_at",
                unit="1–5", description="Mean CSAT of tickets closed in the last 90 days",
                template="Ticket CSAT averaging {value:.1f} of 5", missing="No CSAT rating in the last 90 days"),
        Feature("training_sessions_90d", **service, kind="count", window="90d",
                where={"service": ["training_session", "certification"]}, unit="sessions",
                description="Training sessions and certifications in the last 90 days",
                template="{value:.0f} training sessions or certifications in the last 90 days"),
        Feature("consulting_hours_90d", **service, kind="sum", window="90d", column="quantity",
                where={"service": "consulting_hours"}, unit="hours",
                description="Consulting hours used in the last 90 days",
                template="{value:.0f} consulting hours in the last 90 days"),
        Feature("kb_views_30d", **service, kind="count", window="30d", where={"service": "kb_article_view"},
                unit="views", description="Knowledge-base articles viewed in the last 30 days",
                template="{value:.0f} knowledge-base views in the last 30 days"),
        Feature("latest_nps", entity="account", group="Customer Feedback", source="feedback", kind="latest",
                window="365d", column="score", where={"survey": "nps"}, unit="0–10",
                description="The latest NPS answer in the last year", template="Latest NPS answer: {value:.0f}",
                missing="No NPS answer in the last year"),
        Feature("mean_nps_365d", entity="account", group="Customer Feedback", source="feedback", kind="mean",
                window="365d", column="score", where={"survey": "nps"}, unit="0–10",
                description="Mean NPS answer in the last year", template="NPS answers averaging {value:.1f}",
                missing="No NPS answer in the last year"),
        Feature("mean_sentiment_90d", entity="account", group="Customer Feedback", source="conversations",
                kind="mean", window="90d", column="sentiment", unit="−1..1",
                description="Mean conversation sentiment in the last 90 days",
                template="Conversation sentiment {value:+.2f}", missing="No conversations in the last 90 days"),
        Feature("arr", **commercial, kind="contract", column="arr", unit="currency",
                description="Annual recurring revenue of the active contract", template="ARR {value:,.0f}"),
        Feature("plan", **commercial, kind="contract", column="plan", categorical=True, unit="category",
                description="Plan of the active contract", template="On the {value} plan"),
        Feature("days_to_renewal", **commercial, kind="days_to_end", unit="days",
                description="Days until the active contract ends", template="Renewal due in {value:.0f} days"),
        Feature("tenure_days", entity="account", group="Commercial", source="accounts", kind="age_days",
                unit="days", description="Days since the account became a customer",
                template="Customer for {value:.0f} days"),
        Feature("prior_renewals", **commercial, kind="prior_outcomes", equals="renewed", unit="renewals",
                description="Contracts renewed before as_of", template="{value:.0f} earlier renewals"),
    ]


CATALOG: tuple[Feature, ...] = tuple(_leads() + _accounts())
GROUPS: dict[str, tuple[str, ...]] = {
    "lead": ("Fit", "Engagement"),
    "account": ("Product Usage", "Support History", "Service Utilization", "Customer Feedback", "Commercial"),
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
