"""Configuration of `signalscore report`: the playbook and what the pages show.

A section of its own so it can live under `serving.report` in the YAML file (`ServingConfig.report`) without
the scoring job knowing about it. Every field has a default: the report works with no configuration at all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# What a customer-success manager can do about a weak factor group. Keys are factor groups as the catalog names
# them (features/catalog.py GROUPS); "default" covers groups the playbook does not name (bring-your-own tables).
DEFAULT_PLAYBOOK: dict[str, str] = {
    "Product Usage": "Run an adoption review: find the seats that stopped logging in and book a walkthrough of "
                     "the features the team is not using.",
    "Support History": "Go through the open tickets with support, escalate the oldest urgent one, and call the "
                       "sponsor with a plan and a date.",
    "Service Utilization": "Offer training: a free onboarding session or certification for the users who joined "
                           "last, and point them to the knowledge base.",
    "Customer Feedback": "Close the loop on feedback: call the detractors and the unhappy conversations, and "
                         "confirm in writing what will change.",
    "Commercial": "Start the renewal conversation early: confirm the budget owner and right-size seats and plan "
                  "before the renewal date.",
    "Marketing Engagement": "Invite the account's contacts to the next customer webinar and send the latest "
                            "release notes to the champions.",
    "default": "Book a health check with the sponsor to find out what is behind this factor.",
}


class ReportConfig(BaseModel):
    """`serving.report`: the playbook and the sizes of the report's lists and charts."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    title: str = Field("Customer health", description="the title on every page")
    currency: str = Field("", description="written before ARR amounts, e.g. '$' or 'EUR '; empty: plain numbers")
    playbook: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PLAYBOOK),
        description="factor group → the play suggested when that group takes points from an account's score; "
                    "merged with the defaults (an empty text drops a default play); 'default' covers other groups",
    )
    plays_per_account: int = Field(2, ge=0, description="plays suggested per account: its weakest factor groups")
    page_rows: int = Field(100, ge=10, description="rows of the portfolio and the lead queue shown at a time (the "
                           "rest a click away): keeps pages of thousands of accounts fast to open")
    movers: int = Field(5, ge=0, description="accounts listed among the biggest falls and the biggest rises")
    trend_weeks: int = Field(26, ge=2, le=156, description="weeks of raw signal shown on an account page")
    trends_per_account: int = Field(3, ge=0, description="signal charts per account page, behind its top reasons")
    new_account_days: int = Field(90, ge=0, description="an account younger than this is marked new")
    stale_after_days: float = Field(7.0, ge=0, description="a signal table whose latest event is older than this "
                                    "at as_of is marked stale")

    @field_validator("playbook", mode="before")
    @classmethod
    def _merge_defaults(cls, value: object) -> object:
        """A YAML playbook that names one group keeps the defaults of the others; '' means no play for it."""
        if not isinstance(value, dict):
            return value
        return {**DEFAULT_PLAYBOOK, **{str(k): ("" if v is None else v) for k, v in value.items()}}
