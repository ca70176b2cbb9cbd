"""Configuration owned by `serving/`: which model alias serves, bands, grades, routing and reasons."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.report_config import ReportConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_PROVENANCE_DOC = ("output column → CRM field; keys: score, band, route, reasons, model_version, as_of, scored_at; "
                   "leave a key out to not write it")


class HubSpotConfig(_Section):
    """HubSpot CRM objects, updated through the batch update endpoint by a unique custom property."""

    object_types: dict[str, str] = Field({"renewal": "companies", "conversion": "contacts"},
                                         description="model → HubSpot object type the scores are written to")
    id_property: str = Field("signalscore_entity_id", description="unique custom property holding the entity id")
    token_env: str = Field("HUBSPOT_ACCESS_TOKEN", description="environment variable with the private-app token")
    fields: dict[str, str] = Field(
        {"score": "signalscore_score", "band": "signalscore_band", "route": "signalscore_route",
         "reasons": "signalscore_reasons", "model_version": "signalscore_model_version",
         "as_of": "signalscore_as_of", "scored_at": "signalscore_scored_at"},
        description=_PROVENANCE_DOC)
    batch_size: int = Field(100, ge=1, le=100, description="records per call (HubSpot takes at most 100)")


class SalesforceConfig(_Section):
    """Salesforce sObjects, upserted through sObject Collections by an external id field."""

    sobjects: dict[str, str] = Field({"renewal": "Account", "conversion": "Lead"},
                                     description="model → sObject the scores are written to")
    external_id: str = Field("Signalscore_Entity_Id__c", description="external id field holding the entity id")
    api_version: str = Field("v62.0", pattern=r"^v\d+\.\d$", description="REST API version")
    token_env: str = Field("SALESFORCE_ACCESS_TOKEN", description="environment variable with the OAuth access token")
    fields: dict[str, str] = Field(
        {"score": "Signalscore_Score__c", "band": "Signalscore_Band__c", "route": "Signalscore_Route__c",
         "reasons": "Signalscore_Reasons__c", "model_version": "Signalscore_Model_Version__c",
         "as_of": "Signalscore_As_Of__c", "scored_at": "Signalscore_Scored_At__c"},
        description=_PROVENANCE_DOC)
    batch_size: int = Field(200, ge=1, le=200, description="records per call (sObject Collections take at most 200)")


class CrmConfig(_Section):
    """How scores reach a CRM over its HTTP API: fields, quotas, retries."""

    hubspot: HubSpotConfig = HubSpotConfig()
    salesforce: SalesforceConfig = SalesforceConfig()
    score_decimals: int = Field(1, ge=0, le=6, description="decimals of the score written (a smaller move "
                                "does not count as a change, which saves API calls)")
    reasons_max_chars: int = Field(2000, ge=100, description="the reasons text is cut to this length")
    unchanged_ignores: list[str] = Field(["as_of", "scored_at"], description="fields whose change alone does not "
                                         "resend a record: provenance says when the written values last changed")
    max_attempts: int = Field(6, ge=1, description="calls per batch before its records go to the dead-letter file")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait before a retry; doubles each time, with jitter")
    backoff_max_seconds: float = Field(60.0, ge=0, description="longest wait between two attempts")
    max_retry_after_seconds: float = Field(300.0, ge=0, description="a Retry-After longer than this fails the batch "
                                           "instead of stalling the nightly job")
    timeout_seconds: float = Field(30.0, gt=0, description="per call: connect, send and read")


class ApiConfig(_Section):
    """The online scoring API (`signalscore serve`): where it listens, what it accepts, how it follows the alias."""

    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    max_rows: int = Field(1000, ge=1, description="feature rows per POST /v1/{model}/score request; more is a 422")
    alias_check_seconds: float = Field(10.0, ge=0, description="look up which version the alias names at most this "
                                       "often (0: on every request); a moved alias loads the new version")
    data_check_seconds: float = Field(60.0, ge=0, description="look for changed files in the data folder at most "
                                      "this often; changed data is opened and validated again (0: every request)")
    token_env: str = Field("SIGNALSCORE_API_TOKEN", description="environment variable holding the bearer token "
                           "(the token itself is never configured in a file)")


class ServingConfig(_Section):
    alias: str = Field("champion", description="the registry alias that serves")
    health_bands: dict[str, float] = Field(
        {"healthy": 0.75, "at_risk": 0.5, "critical": 0.0},
        description="renewal band → the lowest probability in it",
    )
    lead_grades: dict[str, float] = Field(
        {"A": 0.35, "B": 0.15, "C": 0.06, "D": 0.0}, description="conversion grade → the lowest probability in it"
    )
    route_to_sales_at: float | None = Field(
        None, ge=0, le=1,
        description="conversion probability that routes a lead to sales; empty: the threshold the model version "
                    "chose on validation data by the training's routing policy",
    )
    top_reasons: int = Field(3, ge=1, description="negative and positive reasons kept per entity")
    chunk_rows: int = Field(20_000, ge=1, description="rows scored per call (the progress bar moves per chunk)")
    threads: int | None = Field(None, ge=1, description="OpenMP threads LightGBM may use when scoring (batch and "
                                "API); empty: OpenMP's default, every core (OMP_NUM_THREADS, if set). Set it on a "
                                "machine shared with other work: oversubscribed OpenMP threads slow down badly")
    max_rejected_share: float = Field(0.05, ge=0, le=1, description="refuse to write when a larger share of input "
                                      "rows was rejected by the data contract")
    max_unscored_share: float = Field(0.01, ge=0, le=1, description="refuse to write when a larger share of the "
                                      "requested entities could not be scored")
    api: ApiConfig = ApiConfig()
    crm: CrmConfig = CrmConfig()
    report: ReportConfig = Field(default_factory=ReportConfig,
                                 description="signalscore report: the playbook and what the pages show")

    @model_validator(mode="after")
    def _cut_offs_cover_zero(self) -> ServingConfig:
        for name, cuts in (("health_bands", self.health_bands), ("lead_grades", self.lead_grades)):
            if min(cuts.values()) > 0:
                raise ValueError(f"{name}: one band must start at 0 so that every probability has a band")
        return self
