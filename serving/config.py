"""Configuration owned by `serving/`: which model alias serves, bands, grades, routing and reasons."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    max_rejected_share: float = Field(0.05, ge=0, le=1, description="refuse to write when a larger share of input "
                                      "rows was rejected by the data contract")
    max_unscored_share: float = Field(0.01, ge=0, le=1, description="refuse to write when a larger share of the "
                                      "requested entities could not be scored")

    @model_validator(mode="after")
    def _cut_offs_cover_zero(self) -> ServingConfig:
        for name, cuts in (("health_bands", self.health_bands), ("lead_grades", self.lead_grades)):
            if min(cuts.values()) > 0:
                raise ValueError(f"{name}: one band must start at 0 so that every probability has a band")
        return self
