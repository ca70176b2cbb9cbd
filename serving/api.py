"""The online scoring API: the batch scoring's table (DESIGN §7) for posted feature rows or one entity looked up.

Why a second door to the same numbers: the nightly job scores everyone once a day, while a web form, a CRM button or
a lead router wants one lead or account now. The API scores with the batch's own code (`serving.batch.assemble`, the
pyfunc loaded as `serving.scoring.load_serving_model` loads it), so an answer is the row `signalscore score` writes
for that entity at the same `as_of`; only the percentile's population differs (`Reference`).

`create_app` builds the app from what its caller opened: the registry is MLflow's configured one and the data a
callable that returns a validated `DataSource`, so serving neither imports `signalscore` nor reads configuration,
environment or files at import time. This module deliberately has no `from __future__ import annotations`: FastAPI
reads the endpoints' annotations at runtime, and the request and response models are built per model inside
`create_app`, where string annotations could not be resolved.
"""

import contextlib
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import mlflow
import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.catalog import Feature
from features.config import FeaturesConfig
from features.dataset import ENTITY_TABLE, build_dataset, model_features
from features.sources import DataError, DataSource, to_utc
from serving.batch import assemble
from serving.config import ServingConfig
from serving.explain import group_column
from serving.scoring import load_serving_model, model_inputs, predict, previous_scores

log = logging.getLogger(__name__)

DataProvider = Callable[[], DataSource]
ENTITY_WORD = {"conversion": "lead", "renewal": "account"}
WHY_INELIGIBLE = {
    "conversion": "an open lead then: created before it, neither converted nor disqualified, and young enough",
    "renewal": "an account with a contract active then",
}


@dataclass(frozen=True)
class ServedModel:
    """One model the API serves: its name in URLs (conversion / renewal), its registered name, and where the batch
    scorings of it live (`scores/<model>/`: what changed is measured against them and the percentile ranked in them;
    None: neither)."""

    model: str
    registered_name: str
    scores_folder: Path | None = None


class ModelUnavailable(RuntimeError):
    """No version can serve: the alias names none, or the version cannot be loaded. Answered with 503."""


# ---------------------------------------------------------------------------------------------------------------------
# The version behind the alias, followed as the alias moves


@dataclass(frozen=True)
class _Loaded:
    """One loaded model version and what scoring needs from it; replaced whole when the alias moves, so a request
    that started with one version finishes with it."""

    pyfunc: mlflow.pyfunc.PyFuncModel
    version: str
    names: list[str]
    catalog: list[Feature]
    categorical: frozenset[str]
    metadata: dict | None
    loaded_at: datetime
    predict_lock: threading.Lock = field(default_factory=threading.Lock, compare=False)


class _Slot:
    """One served model: asks the registry which version the alias names at most every `check_seconds`, and loads
    that version when it changed. A registry that does not answer keeps the loaded version serving."""

    def __init__(self, served: ServedModel, alias: str, check_seconds: float, clock: Callable[[], float]):
        self.served, self.alias = served, alias
        self._check_seconds, self._clock = check_seconds, clock
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._checked = -math.inf
        self.error: str | None = None

    def current(self) -> _Loaded:
        with self._lock:
            now = self._clock()
            if self._loaded is not None and now - self._checked < self._check_seconds:
                return self._loaded
            self._checked = now
            name = self.served.registered_name
            try:
                version = str(MlflowClient().get_model_version_by_alias(name, self.alias).version)
            except MlflowException as error:
                return self._keep(f"the registry has no version of {name} behind alias {self.alias!r} "
                                  f"(train one, or promote a version): {_first_line(error)}")
            if self._loaded is None or version != self._loaded.version:
                try:
                    loaded = self._load()
                except (MlflowException, OSError, KeyError) as error:
                    return self._keep(f"{name} version {version} cannot be loaded: {_first_line(error)}")
                if self._loaded is not None:
                    log.info("%s: alias %s moved from version %s to %s; serving %s now", name, self.alias,
                             self._loaded.version, loaded.version, loaded.version)
                else:
                    log.info("%s: serving version %s (alias %s)", name, loaded.version, self.alias)
                self._loaded = loaded
            self.error = None
            return self._loaded

    def _keep(self, problem: str) -> _Loaded:
        """The version already loaded, when there is one; else the model is unavailable."""
        self.error = problem
        if self._loaded is None:
            raise ModelUnavailable(problem)
        log.warning("%s; still serving version %s", problem, self._loaded.version)
        return self._loaded

    def _load(self) -> _Loaded:
        pyfunc, version = load_serving_model(self.served.registered_name, self.alias)
        names = model_inputs(pyfunc)
        try:
            catalog = model_features(self.served.model, names)
        except KeyError as error:
            raise KeyError(f"its inputs are not all in this code's feature catalog ({error.args[0]})") from None
        return _Loaded(pyfunc, version, names, catalog, frozenset(f.name for f in catalog if f.categorical),
                       pyfunc.metadata.metadata, pd.Timestamp.now(tz="UTC").to_pydatetime())

    def health(self) -> dict[str, Any]:
        try:
            loaded = self.current()
        except ModelUnavailable:
            loaded = None
        return {"registered_name": self.served.registered_name, "alias": self.alias,
                "version": loaded.version if loaded else None, "loaded_at": loaded.loaded_at if loaded else None,
                "error": self.error}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


# ---------------------------------------------------------------------------------------------------------------------
# The batch scorings on disk: previous scores (what changed) and the percentile's population


@dataclass(frozen=True)
class Reference:
    """The population a percentile is taken in: the latest batch scoring of the model (`scores/<model>/<as_of>`).

    A score's percentile is the one it would have had in that scoring, with the entity's own row (if it was scored
    there) replaced by this score: the same rank, ties averaged, that the batch gives. So an entity scored on the data
    the batch scored gets the batch's percentile to the last bit, and any other score a rank among those entities.
    """

    as_of: pd.Timestamp
    model_version: str
    sorted_scores: np.ndarray
    by_entity: pd.Series  # entity_id → score in that scoring

    def percentiles(self, entity_ids: Sequence[str], scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        less = np.searchsorted(self.sorted_scores, scores, side="left").astype(np.float64)
        ties = np.searchsorted(self.sorted_scores, scores, side="right") - less
        own = self.by_entity.reindex(pd.Index(entity_ids, dtype=object)).to_numpy(dtype=np.float64)
        inside = ~np.isnan(own)
        less -= inside & (own < scores)  # the entity's old row leaves the population; this score takes its place
        ties -= inside & (own == scores)
        population = len(self.sorted_scores) + (~inside)
        rank = less + ties / 2 + 1  # the average of the positions a tie group holds, as pandas' rank(method="average")
        return np.where(np.isfinite(scores), rank / population * 100.0, np.nan)


class _Scorings:
    """The batch scorings of one model, read again only when the folder's files change (a stat per request)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self._lock = threading.Lock()
        self._signature: tuple = ()
        self._previous: dict[str, tuple[pd.DataFrame | None, pd.DataFrame | None]] = {}
        self._reference: Reference | None = None
        self._reference_read = False

    def _fresh(self) -> None:
        """Forget what was read when a scoring was written, replaced or removed since."""
        if self.folder is None:
            return
        files = [*self.folder.glob("*.parquet"), *self.folder.glob("details/*.parquet")]
        signature = tuple(sorted((str(p), s.st_mtime_ns, s.st_size) for p in files for s in [p.stat()]))
        if signature != self._signature:
            self._signature, self._previous, self._reference, self._reference_read = signature, {}, None, False

    def previous(self, as_of: pd.Timestamp | None, entity_ids: Sequence[str]
                 ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The scoring the batch compares against at `as_of` (the latest earlier one; without an as_of: the latest
        of all), cut to the entities asked about (the comparison is per entity, so the answer is the same)."""
        if self.folder is None:
            return None, None
        key = "latest" if as_of is None else f"{as_of:%Y-%m-%d}"
        with self._lock:
            self._fresh()
            if key not in self._previous:
                before, details = previous_scores(self.folder, pd.Timestamp.max.tz_localize("UTC")
                                                  if as_of is None else as_of)
                if len(self._previous) >= 16:
                    self._previous.pop(next(iter(self._previous)))
                self._previous[key] = (before, details)
            before, details = self._previous[key]
        wanted = set(entity_ids)
        return (None if before is None else before[before["entity_id"].isin(wanted)],
                None if details is None else details[details["entity_id"].isin(wanted)])

    def reference(self) -> Reference | None:
        if self.folder is None:
            return None
        with self._lock:
            self._fresh()
            if not self._reference_read:
                self._reference_read = True
                latest = max(self.folder.glob("*.parquet"), key=lambda p: p.stem, default=None)
                if latest is not None:
                    scored = pd.read_parquet(latest, columns=["entity_id", "model_version", "score"])
                    scored = scored[np.isfinite(scored["score"].to_numpy(dtype=np.float64))]
                    scored = scored.drop_duplicates("entity_id")
                    versions = scored["model_version"].astype(str).unique()
                    self._reference = Reference(
                        pd.Timestamp(latest.stem, tz="UTC"), ", ".join(sorted(versions)),
                        np.sort(scored["score"].to_numpy(dtype=np.float64)),
                        pd.Series(scored["score"].to_numpy(dtype=np.float64),
                                  index=pd.Index(scored["entity_id"].astype(str).to_numpy(dtype=object))))
            return self._reference


# ---------------------------------------------------------------------------------------------------------------------
# Request and response models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(BaseModel):
    feature: str
    group: str
    value: float | str | bool | None = Field(description="the feature's value (null: no data)")
    points: float = Field(description="the feature's share of score − baseline_score, in score points")
    sentence: str


class GroupChange(BaseModel):
    group: str
    points: float = Field(description="the change of the group's points since the previous scoring")


class FeatureChange(BaseModel):
    feature: str
    group: str
    before: float | str | bool | None
    after: float | str | bool | None
    points: float = Field(description="the change of the feature's points since the previous scoring")
    sentence: str


class ChangeReasons(BaseModel):
    groups: list[GroupChange]
    features: list[FeatureChange]


class PercentileReference(BaseModel):
    """Which batch scoring the percentiles rank in (`Reference`)."""

    as_of: datetime
    model_version: str = Field(description="the version(s) that scored it")
    entities: int


class Message(BaseModel):
    detail: str


class RowError(BaseModel):
    """One thing wrong with a request: where (FastAPI's `loc`, and the row and column when it is in a row)."""

    loc: list[str | int]
    msg: str
    type: str
    row: int | None = Field(None, description="the row's position in `rows`, from 0")
    column: str | None = None
    message: str = Field(description="a sentence naming the row and column")


class Invalid(BaseModel):
    detail: list[RowError]
    message: str = Field(description="the first few errors' sentences")


class ModelHealth(BaseModel):
    registered_name: str
    alias: str
    version: str | None = Field(description="the version serving now (null: none can)")
    loaded_at: datetime | None
    error: str | None = Field(description="why the alias could not be followed, when it could not")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    models: dict[str, ModelHealth]
    data_horizon: datetime | None = Field(description="the as_of of GET …/entities/{id} (null: no data given)")
    data_error: str | None = None


def _text_time(value: Any) -> Any:
    """A time must come as ISO 8601 text: a bare number would be read as seconds since 1970, never what was meant."""
    if value is None or isinstance(value, str | date):
        return value
    raise ValueError("expected an ISO 8601 date or time as text, e.g. 2025-06-01 or 2025-06-01T00:00:00Z")


AsOf = Annotated[datetime | date | None, BeforeValidator(_text_time)]


def _feature_field(feature: Feature) -> tuple[Any, Any]:
    """A feature column as `signalscore features` writes it: a string for a category, else a finite number; null
    (or left out) for missing."""
    described = f"{feature.description} ({feature.unit}; {feature.group})"
    if feature.categorical:
        return StrictStr | None, Field(None, description=described)
    return Annotated[float | None, Field(strict=True, allow_inf_nan=False)], Field(None, description=described)


def _models(model: str, max_rows: int) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """The request, score response and entity response models of one model, from its feature catalog.

    Built from the catalog rather than from a version's signature, so the OpenAPI document does not change when
    the alias moves; a version that takes fewer columns ignores the others.
    """
    catalog = model_features(model)
    title = model.capitalize()
    row = create_model(
        f"{title}FeatureRow", __base__=_Strict,
        __doc__=f"One {ENTITY_WORD[model]}'s feature row, as `signalscore features --model {model}` writes it.",
        entity_id=(StrictStr, Field(min_length=1, description=f"the {ENTITY_WORD[model]} id")),
        as_of=(AsOf, Field(None, description="the snapshot the features describe (naive: UTC); it "
                                      "chooses the previous scoring for score_change. Left out: compared with the "
                                      "latest batch scoring")),
        label=(Annotated[float | None, Field(strict=True, allow_inf_nan=False)],
               Field(None, description="ignored (`signalscore features` writes it)")),
        **{f.name: _feature_field(f) for f in catalog},
    )
    request = create_model(
        f"{title}ScoreRequest", __base__=_Strict,
        rows=(list[row], Field(min_length=1, max_length=max_rows,
                               description=f"at most {max_rows} rows (serving.api.max_rows)")),
    )
    groups = list(dict.fromkeys(f.group for f in catalog))
    scored = create_model(
        f"{title}Score",
        __doc__="One row of the serving table (DESIGN §7; docs/explanations.md says how the points add up).",
        entity_id=(str, ...), as_of=(datetime | None, ...), model=(str, ...), model_version=(str, ...),
        probability=(float, Field(description="calibrated probability")),
        score=(float, Field(description="100 × probability")),
        percentile=(float | None, Field(description="rank in the latest batch scoring (see percentile_reference); "
                                        "null when there is none")),
        band=(str, Field(description="renewal: healthy / at_risk / critical; conversion: grade A–D")),
        route=(str | None, Field(description="conversion: sales / nurture")),
        baseline_score=(float, Field(description="the score of the model's expected margin")),
        **{group_column(g): (float | None, Field(None, description=f"points of {g}")) for g in groups},
        reasons=(list[Reason], Field(description="negative reasons first")),
        score_change=(float | None, Field(description="score − the previous batch scoring's score")),
        change_reasons=(ChangeReasons | None, Field(description="what moved since the previous batch scoring")),
        scored_at=(datetime, ...),
    )
    envelope: dict[str, Any] = {
        "model": (str, ...), "registered_name": (str, ...), "alias": (str, ...), "model_version": (str, ...),
        "percentile_reference": (PercentileReference | None, ...),
    }
    response = create_model(f"{title}ScoreResponse", rows=(list[scored], ...), **envelope)
    entity = create_model(f"{title}EntityResponse", row=(scored, ...), **envelope)
    return request, response, entity


# ---------------------------------------------------------------------------------------------------------------------
# Scoring


def _feature_frame(rows: Sequence[BaseModel], loaded: _Loaded) -> pd.DataFrame:
    """entity_id, as_of and the version's input columns, typed as the batch's frame is (float64; categories as
    objects with None for missing), so the pyfunc sees what it sees in batch."""
    columns: dict[str, Any] = {
        "entity_id": pd.Series([r.entity_id for r in rows], dtype=object),
        "as_of": pd.to_datetime([None if r.as_of is None else to_utc(r.as_of) for r in rows], utc=True),
    }
    for name in loaded.names:
        values = [getattr(r, name) for r in rows]
        columns[name] = (pd.Series(values, dtype=object) if name in loaded.categorical
                         else np.array([np.nan if v is None else v for v in values], dtype=np.float64))
    return pd.DataFrame(columns)


def _score(frame: pd.DataFrame, loaded: _Loaded, served: ServedModel, cfg: ServingConfig, scorings: _Scorings,
           reference: Reference | None) -> pd.DataFrame:
    """The serving table for the frame's rows, in their order: one prediction, then `assemble` per as_of date (each
    date has its own previous scoring), percentiles from the reference."""
    with loaded.predict_lock:
        output = predict(loaded.pyfunc, frame[loaded.names].reset_index(drop=True), cfg.threads)
    output = output.reset_index(drop=True)
    scored_at = pd.Timestamp.now(tz="UTC")
    dates = frame["as_of"].dt.strftime("%Y-%m-%d").fillna("")
    parts, order = [], []
    for day, positions in dates.groupby(dates, sort=False).indices.items():
        rows = frame.iloc[positions].reset_index(drop=True)
        previous, details = scorings.previous(rows["as_of"].iloc[0] if day else None, rows["entity_id"].tolist())
        parts.append(assemble(rows, output.iloc[positions].reset_index(drop=True), model=served.model,
                              version=loaded.version, catalog=loaded.catalog, cfg=cfg, previous=previous,
                              previous_details=details, scored_at=scored_at, model_metadata=loaded.metadata))
        order.append(positions)
    table = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    table = table.iloc[np.argsort(np.concatenate(order), kind="stable")].reset_index(drop=True)
    table["percentile"] = (np.nan if reference is None
                           else reference.percentiles(table["entity_id"].tolist(), table["score"].to_numpy()))
    return table


def _plain(value: Any) -> Any:
    """A table cell as JSON holds it: None for missing, Python numbers and datetimes."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows with reasons and change_reasons parsed from their JSON text."""
    records = []
    for record in table.to_dict("records"):
        row = {key: _plain(value) for key, value in record.items()}
        row["reasons"] = json.loads(row["reasons"]) if isinstance(row["reasons"], str) else []
        row["change_reasons"] = json.loads(row["change_reasons"]) if isinstance(row["change_reasons"], str) else None
        records.append(row)
    return records


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class SafeJSONResponse(JSONResponse):
    """JSON that cannot fail on what a client sent: non-finite numbers become null (JSON has none), and text that
    is not valid Unicode (a lone surrogate) is escaped rather than answered with a 500."""

    def render(self, content: Any) -> bytes:
        clean = _finite(content)
        try:
            return json.dumps(clean, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(clean, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


# ---------------------------------------------------------------------------------------------------------------------
# Errors a client can act on


def _described(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error, with the row and column it is about and a sentence that names them."""
    loc = tuple(error.get("loc", ()))
    kind, msg = str(error.get("type", "")), str(error.get("msg", ""))
    row = loc[2] if len(loc) >= 3 and loc[:2] == ("body", "rows") and isinstance(loc[2], int) else None
    column = str(loc[3]) if row is not None and len(loc) >= 4 else None
    if row is not None and column is not None:
        if kind == "extra_forbidden":
            text = f"row {row}: unknown column {column!r} (the accepted columns are listed in /docs)"
        elif kind == "missing":
            text = f"row {row}: column {column!r} is required"
        else:
            shown = repr(error.get("input"))
            text = f"row {row}, column {column!r}: {msg} (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
    elif row is not None:
        text = f"row {row}: {msg}"
    elif loc[:2] == ("body", "rows") and kind == "too_long":
        text = f"rows: {msg} per request (serving.api.max_rows); send them in several requests"
    else:
        where = ".".join(str(part) for part in loc[1:] if part != "") or "body"
        text = f"{where}: {msg}"
    return {"loc": list(loc), "msg": msg, "type": kind, "row": row, "column": column, "message": text}


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_described(e) for e in exc.errors()]
    summary = "; ".join(e["message"] for e in errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5
                                                            else "")
    return SafeJSONResponse(status_code=422, content={"detail": errors, "message": summary})


async def _unreadable(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """A body FastAPI cannot even parse (bytes that are not UTF-8 JSON) is malformed input like any other: a 422.

    FastAPI answers it with a bare 400 of its own; every other HTTP error keeps its status and FastAPI's body.
    """
    if exc.status_code != 400:
        return await http_exception_handler(request, exc)
    message = f"the request body cannot be read as JSON ({exc.detail})"
    error = {"loc": ["body"], "msg": message, "type": "json_invalid", "row": None, "column": None,
             "message": message}
    return SafeJSONResponse(status_code=422, content={"detail": [error], "message": message})


def _unavailable(request: Request, exc: ModelUnavailable) -> JSONResponse:
    return SafeJSONResponse(status_code=503, content={"detail": str(exc)})


# ---------------------------------------------------------------------------------------------------------------------
# The app


def create_app(models: Sequence[ServedModel], cfg: ServingConfig, *, token: str | None,
               data: DataProvider | None = None, features_cfg: FeaturesConfig | None = None,
               clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The API for `models`: POST /v1/{model}/score, GET /v1/{model}/entities/{id} (with `data`), GET /healthz.

    `token`: the bearer token every /v1 request must carry; None serves without authentication, which the caller
    must have been asked for explicitly. `data` returns the validated data the entity endpoints score from (at its
    horizon); it is called per request, from several threads, and is expected to be cheap when the data did not
    change (queries on what it returns are made one at a time here). MLflow must already point at the registry.
    """
    if token is not None and not token.strip():
        raise ValueError("an empty bearer token would let anyone in; pass None to serve without authentication")
    if not models:
        raise ValueError("no model to serve")
    api = cfg.api
    slots = {m.model: _Slot(m, cfg.alias, api.alias_check_seconds, clock) for m in models}
    scorings = {m.model: _Scorings(m.scores_folder) for m in models}
    features_cfg = features_cfg or FeaturesConfig()
    data_lock = threading.Lock()  # one query at a time on the data's connection (DuckDB's is not thread-safe)
    horizon_rows = _HorizonRows(features_cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        """Load every model and open the data before the first request, so it does not pay for them."""
        for slot in slots.values():
            try:
                slot.current()
            except ModelUnavailable as error:
                log.warning("%s", error)
        if data is not None:
            try:
                source = data()
                with data_lock:
                    for name, slot in slots.items():
                        with contextlib.suppress(ModelUnavailable):
                            horizon_rows.rows(source, name, slot.current().names)
            except DataError as error:
                log.warning("the data cannot be opened: %s", error)
        yield

    app = FastAPI(
        title="signalscore scoring API", version="1",
        summary="Lead conversion and customer health scores with their reasons, as the nightly scoring writes them.",
        description="Bearer-token authentication on every /v1 endpoint (see docs/serving.md, \"Online API\").",
        default_response_class=SafeJSONResponse, lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _unreadable)
    app.add_exception_handler(ModelUnavailable, _unavailable)

    bearer = HTTPBearer(auto_error=False, description="the token in the server's token environment variable")
    expected = None if token is None else token.encode("utf-8")

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if expected is None:
            return
        given = b"" if credentials is None else credentials.credentials.encode("utf-8", "surrogateescape")
        if credentials is None or not secrets.compare_digest(given, expected):
            raise HTTPException(401, "a valid bearer token is required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(authorized)] if expected is not None else []
    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": Message, "description": "no bearer token, or a wrong one"},
        503: {"model": Message, "description": "no version of the model can serve, or the data cannot be opened"},
    }

    @app.get("/healthz", response_model=Health, tags=["health"], responses={503: {"model": Health}})
    def healthz() -> JSONResponse:
        """Liveness and what serves: per model the registered name, alias and version (no authentication)."""
        report = {name: slot.health() for name, slot in slots.items()}
        horizon, problem = None, None
        if data is not None:
            try:
                horizon = data().horizon
            except DataError as error:
                problem = str(error)
        ok = all(r["version"] is not None for r in report.values()) and problem is None
        body = Health(status="ok" if ok else "unavailable", models=report,
                      data_horizon=None if horizon is None else horizon.to_pydatetime(), data_error=problem)
        return SafeJSONResponse(status_code=200 if ok else 503, content=body.model_dump(mode="json"))

    def envelope(served: ServedModel, loaded: _Loaded, reference: Reference | None) -> dict[str, Any]:
        return {"model": served.model, "registered_name": served.registered_name, "alias": cfg.alias,
                "model_version": loaded.version,
                "percentile_reference": None if reference is None else {
                    "as_of": reference.as_of.to_pydatetime(), "model_version": reference.model_version,
                    "entities": len(reference.sorted_scores)}}

    def add_routes(served: ServedModel) -> None:
        request_model, response_model, entity_model = _models(served.model, api.max_rows)
        slot, scored = slots[served.model], scorings[served.model]
        word = ENTITY_WORD[served.model]

        def score(body: request_model) -> dict[str, Any]:  # type: ignore[valid-type]
            loaded, reference = slot.current(), scored.reference()
            table = _score(_feature_frame(body.rows, loaded), loaded, served, cfg, scored, reference)
            return {**envelope(served, loaded, reference), "rows": _records(table)}

        score.__doc__ = (f"Score {word} feature rows (the columns `signalscore features --model {served.model}` "
                         "writes) with the serving version: the batch scoring's columns, reasons parsed.")
        app.post(f"/v1/{served.model}/score", response_model=response_model, tags=[served.model],
                 dependencies=guarded, responses={**errors, 422: {"model": Invalid, "description": "a row or "
                                                                  "column is wrong; the message names them"}},
                 summary=f"Score {word} feature rows")(score)
        if data is None:
            return

        def entity(entity_id: str) -> dict[str, Any]:
            loaded = slot.current()
            try:
                with data_lock:
                    source = data()
                    as_of = source.horizon
                    frame = horizon_rows.entity(source, served.model, loaded.names, entity_id)
                    if frame.empty:
                        raise HTTPException(404, _not_scorable(source, served.model, entity_id, as_of))
            except DataError as error:
                raise HTTPException(503, f"the data cannot be opened: {error}") from None
            reference = scored.reference()
            table = _score(frame.drop(columns="label"), loaded, served, cfg, scored, reference)
            return {**envelope(served, loaded, reference), "row": _records(table)[0]}

        entity.__doc__ = (f"Score one {word} from the current data at its horizon: the row `signalscore score "
                          f"--model {served.model}` writes for it at the same as_of (the percentile ranks it in the "
                          "latest batch scoring).")
        app.get(f"/v1/{served.model}/entities/{{entity_id}}", response_model=entity_model, tags=[served.model],
                dependencies=guarded, responses={**errors, 422: {"model": Invalid, "description": "not a request"},
                                                 404: {"model": Message, "description": f"no such {word}, "
                                                       "or not eligible at the data's horizon"}},
                summary=f"Score one {word} from the data")(entity)

    for served in models:
        add_routes(served)

    known = ", ".join(slots)

    @app.post("/v1/{model}/score", dependencies=guarded, include_in_schema=False)
    def unknown_model(model: str) -> None:
        raise HTTPException(404, f"unknown model {model!r}: this server scores {known}")

    @app.get("/v1/{model}/entities/{entity_id}", dependencies=guarded, include_in_schema=False)
    def unknown_model_entity(model: str, entity_id: str) -> None:
        unknown_model(model)
    return app


class _HorizonRows:
    """Every eligible entity's feature row at the data's horizon, built once per data version and model inputs.

    Building one entity's features costs nearly as much as building all of them (the engine scans the event tables
    either way: seconds at a few million events), so a lookup answers from rows built when the server starts or
    the data changes. A feature row depends on its own entity's history only, so it equals the one
    `build_dataset(..., entity_ids=[id])` would give.
    """

    def __init__(self, cfg: FeaturesConfig) -> None:
        self.cfg = cfg
        self._built: dict[str, tuple[DataSource, tuple[str, ...], pd.DataFrame]] = {}

    def rows(self, source: DataSource, model: str, names: Sequence[str]) -> pd.DataFrame:
        built = self._built.get(model)
        if built is None or built[0] is not source or built[1] != tuple(names):
            started = time.perf_counter()
            frame = build_dataset(source, model, [source.horizon], self.cfg, names=list(names))
            self._built[model] = built = (source, tuple(names), frame.reset_index(drop=True))
            log.info("%s: features of %d entities at %s built in %.1f s", model, len(frame),
                     f"{source.horizon:%Y-%m-%d}", time.perf_counter() - started)
        return built[2]

    def entity(self, source: DataSource, model: str, names: Sequence[str], entity_id: str) -> pd.DataFrame:
        frame = self.rows(source, model, names)
        return frame[frame["entity_id"] == entity_id].reset_index(drop=True)


def _not_scorable(source: DataSource, model: str, entity_id: str, as_of: pd.Timestamp) -> str:
    """Why an id has no score: unknown (among the rows that passed the data contract), or not eligible then."""
    table, key = ENTITY_TABLE[model]
    word = ENTITY_WORD[model]
    known = source.has(table) and int(source.table(table).filter(source.table(table)[key] == entity_id)
                                      .count().to_pandas()) > 0
    if not known:
        return f"unknown {word} {entity_id!r}"
    return f"{word} {entity_id!r} is not eligible at {as_of:%Y-%m-%d %H:%M}Z: it is not {WHY_INELIGIBLE[model]}"
