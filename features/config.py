"""Configuration owned by `features/`: the generator, the schedule of snapshots and the label horizons."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GenerateConfig(_Section):
    """Size and shape of the generated company; the defaults meet the documented targets."""

    seed: int = 7
    accounts: int = Field(1200, ge=10, description="customers already on the books when the data starts")
    leads: int = Field(20000, ge=50, description="leads created over the whole period")
    months: int = Field(36, ge=6, description="months of history before --end")
    end: date = Field(date(2026, 1, 1), description="the extraction moment (horizon); fixed, never today")
    dirty: bool = False
    defect_rate: float = Field(0.0005, gt=0, lt=1, description="with dirty: share of each event table duplicated")


class FeaturesConfig(_Section):
    """Point-in-time rules (docs/concepts.md): horizons, eligibility, the as-of schedule and the engine."""

    conversion_horizon_days: int = Field(90, ge=1)
    renewal_horizon_days: int = Field(180, ge=1)
    max_lead_age_days: int = Field(365, ge=1)
    as_of_frequency: str = Field("MS", description="pandas offset alias of the training snapshots")
    backend: str = Field("duckdb", description="ibis backend that computes the features")
    threads: int = Field(1, ge=1, description="threads the engine may use")
    memory_limit: str = Field("3GB", description="DuckDB memory cap; larger joins spill to disk instead")
    generate: GenerateConfig = GenerateConfig()
