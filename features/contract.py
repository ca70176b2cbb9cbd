"""The data contract (the data contract) as data: one place that says which tables exist, their columns and types.

The generator writes to it, the validator checks against it and the feature engine reads from it, so a
column renamed here is renamed everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["id", "string", "timestamp", "int", "float"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True  # a null here rejects the row
    low: float | None = None  # inclusive range checks for numbers
    high: float | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    needed_by: tuple[str, ...]  # models for which the table is required
    key: str | None = None  # None: an event table, where an exact duplicate row is a defect
    event_time: str | None = None  # the column that decides point-in-time visibility
    parent: tuple[str, str] | None = None  # (column, parent table): unknown references are rejected
    description: str = ""
    optional_columns: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, kind: Kind, required: bool = True, low: float | None = None, high: float | None = None) -> Column:
    return Column(name, kind, required, low, high)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "leads",
            (
                _c("lead_id", "id"),
                _c("created_at", "timestamp"),
                _c("company", "string", False),
                _c("industry", "string", False),
                _c("employees", "int", False, low=1),
                _c("country", "string", False),
                _c("job_title", "string", False),
                _c("seniority", "string", False),
                _c("lead_source", "string", False),
                _c("converted_at", "timestamp", False),
                _c("disqualified_at", "timestamp", False),
                _c("account_id", "id", False),
            ),
            needed_by=("conversion",),
            key="lead_id",
            event_time="created_at",
            description="Leads from the CRM or marketing automation.",
        ),
        Table(
            "marketing_activities",
            (
                _c("lead_id", "id", False),
                _c("account_id", "id", False),
                _c("occurred_at", "timestamp"),
                _c("activity", "string"),
            ),
            needed_by=("conversion",),
            event_time="occurred_at",
            parent=("lead_id", "leads"),
            description="Marketing touches per lead (or per account once a customer's contacts engage).",
        ),
        Table(
            "accounts",
            (
                _c("account_id", "id"),
                _c("name", "string", False),
                _c("industry", "string", False),
                _c("employees", "int", False, low=1),
                _c("country", "string", False),
                _c("segment", "string", False),
                _c("created_at", "timestamp"),
                _c("owner", "string", False),
            ),
            needed_by=("renewal",),
            key="account_id",
            event_time="created_at",
            description="Customer accounts from the CRM.",
        ),
        Table(
            "contracts",
            (
                _c("contract_id", "id"),
                _c("account_id", "id"),
                _c("start_date", "timestamp"),
                _c("end_date", "timestamp"),
                _c("arr", "float", low=0),
                _c("seats", "int", low=0),
                _c("plan", "string"),
                _c("outcome", "string", False),
                _c("outcome_at", "timestamp", False),
            ),
            needed_by=("renewal",),
            key="contract_id",
            event_time="start_date",
            parent=("account_id", "accounts"),
            description="Subscriptions from the CRM or billing; outcome is renewed / churned, empty while open.",
        ),
        Table(
            "product_events",
            (
                _c("account_id", "id"),
                _c("user_id", "id"),
                _c("occurred_at", "timestamp"),
                _c("event", "string"),
                _c("duration_s", "float", False, low=0),
            ),
            needed_by=("renewal",),
            event_time="occurred_at",
            parent=("account_id", "accounts"),
            description="Product analytics events (logins, feature use, session time).",
        ),
        Table(
            "tickets",
            (
                _c("ticket_id", "id"),
                _c("account_id", "id"),
                _c("opened_at", "timestamp"),
                _c("closed_at", "timestamp", False),
                _c("priority", "string"),
                _c("category", "string", False),
                _c("escalated_at", "timestamp", False),
                _c("csat", "float", False, low=1, high=5),
            ),
            needed_by=(),
            key="ticket_id",
            event_time="opened_at",
            parent=("account_id", "accounts"),
            description="Support tickets; closed_at, escalated_at and csat arrive later than opened_at.",
        ),
        Table(
            "conversations",
            (
                _c("account_id", "id"),
                _c("occurred_at", "timestamp"),
                _c("channel", "string", False),
                _c("direction", "string", False),
                _c("sentiment", "float", False, low=-1, high=1),
            ),
            needed_by=(),
            event_time="occurred_at",
            parent=("account_id", "accounts"),
            description="Customer messaging (chat, email, calls) with a sentiment in −1..1.",
        ),
        Table(
            "service_usage",
            (
                _c("account_id", "id"),
                _c("occurred_at", "timestamp"),
                _c("service", "string"),
                _c("quantity", "float", False, low=0),
            ),
            needed_by=(),
            event_time="occurred_at",
            parent=("account_id", "accounts"),
            description="Training, certification, consulting hours, knowledge-base views, community posts.",
        ),
        Table(
            "feedback",
            (
                _c("account_id", "id"),
                _c("responded_at", "timestamp"),
                _c("user_id", "id", False),
                _c("survey", "string"),
                _c("score", "float", False),
                _c("comment", "string", False),
            ),
            needed_by=(),
            event_time="responded_at",
            parent=("account_id", "accounts"),
            description="NPS (0–10), CSAT (1–5) and survey (1–5) answers.",
        ),
    )
}

# The score range of each feedback survey kind; checked per row because one column carries all three.
SURVEY_RANGES: dict[str, tuple[float, float]] = {"nps": (0, 10), "csat": (1, 5), "survey": (1, 5)}

MODELS = ("conversion", "renewal")
ENTITY_OF_MODEL = {"conversion": "lead", "renewal": "account"}


def required_tables(model: str | None = None) -> list[str]:
    """Tables whose absence stops a run: for one model, or for either when `model` is None."""
    return [t.name for t in TABLES.values() if (model in t.needed_by) or (model is None and t.needed_by)]
