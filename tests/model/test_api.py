"""The online scoring API: the batch's rows one request at a time; the token, clear errors, alias moves, the schema.

Both models are trained once (FAST settings) and scored by the batch at an earlier date and at the data's horizon;
the API must then answer exactly what the batch wrote.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from mlflow import MlflowClient
from typer.testing import CliRunner

from serving.api import ServedModel, create_app
from signalscore.cli import app as cli
from signalscore.config import load_settings
from signalscore.journey import run_train
from signalscore.serve import WatchedData, build_app
from signalscore.workspace import REGISTERED_NAME, Workspace
from training.registry import promote

with warnings.catch_warnings():  # starlette's notice about its own httpx dependency, not about this code
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow
FAST = ["training.threads=1", "training.tuning.trials=2", "training.evaluation.backtest_months=0"]
API = ["serving.api.alias_check_seconds=0", "serving.api.max_rows=50"]
TOKEN = "test-token-8f3a1c"  # not a secret: a temporary workspace's
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _horizon(data) -> pd.Timestamp:
    return pd.Timestamp(json.loads((data / "_meta.json").read_text())["horizon"])


def _cli(ws: Workspace, *args: str):
    result = CliRunner().invoke(cli, [*args, "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def scored(small_company, tmp_path_factory):
    """Both models trained; renewal scored a month before the horizon and at it, conversion at the horizon."""
    ws = Workspace(tmp_path_factory.mktemp("api") / "ws")
    for model in ("renewal", "conversion"):
        run_train(load_settings(None, FAST), ws, model, small_company)
    earlier = (_horizon(small_company) - pd.DateOffset(months=1)).strftime("%Y-%m-%d")
    _cli(ws, "score", "--model", "renewal", "--data", str(small_company), "--as-of", earlier)
    for model in ("renewal", "conversion"):
        _cli(ws, "score", "--model", model, "--data", str(small_company))
    return ws


@pytest.fixture(scope="module")
def api(scored, small_company):
    return build_app(load_settings(None, FAST + API), scored, small_company, ["renewal", "conversion"], token=TOKEN)


@pytest.fixture(scope="module")
def client(api):
    with TestClient(api) as c:
        yield c


def _batch(ws: Workspace, model: str, data) -> pd.DataFrame:
    return pd.read_parquet(ws.scores(model) / f"{_horizon(data):%Y-%m-%d}.parquet").set_index("entity_id")


def _assert_as_batch(row: dict, batch: pd.Series) -> None:
    """Every §7 column but scored_at as the batch wrote it: numbers to 1e-9, reasons and changes as parsed JSON."""
    for column, expected in batch.items():
        got = row[column]
        if column == "scored_at":
            continue
        if column in ("reasons", "change_reasons"):
            assert got == (json.loads(expected) if isinstance(expected, str) else None), column
        elif column == "as_of":
            assert pd.Timestamp(got) == expected
        elif isinstance(expected, float | np.floating):
            if np.isnan(expected):
                assert got is None, column
            else:
                assert got == pytest.approx(float(expected), abs=1e-9, rel=0), column
        else:
            assert got == expected, column
    assert set(row) - {"entity_id"} == set(batch.index)


def test_healthz_needs_no_token_and_names_each_models_version_and_alias(client, small_company):
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["data_horizon"].startswith(f"{_horizon(small_company):%Y-%m-%d}")
    assert {m: (h["registered_name"], h["alias"], h["version"]) for m, h in body["models"].items()} == {
        "renewal": (REGISTERED_NAME["renewal"], "champion", "1"),
        "conversion": (REGISTERED_NAME["conversion"], "champion", "1")}
    schema = client.get("/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert {"/v1/renewal/score", "/v1/conversion/entities/{entity_id}", "/healthz"} <= set(schema["paths"])


def test_every_v1_request_needs_the_bearer_token_which_is_never_logged(client, scored, caplog):
    caplog.set_level(logging.DEBUG)
    for method, path in (("get", "/v1/renewal/entities/A000001"), ("post", "/v1/conversion/score"),
                         ("get", "/v1/nosuchmodel/entities/x")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": f"Bearer {TOKEN}x"}):
            answer = client.request(method, path, headers=headers, json={"rows": [{"entity_id": "L1"}]})
            assert answer.status_code == 401, (path, headers)
            assert answer.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/conversion/score", headers=AUTH, json={"rows": [{"entity_id": "L1"}]}).status_code == 200
    assert TOKEN not in caplog.text


def test_serve_refuses_to_start_without_a_token_unless_told_to(scored, small_company, monkeypatch):
    monkeypatch.delenv("SIGNALSCORE_API_TOKEN", raising=False)
    started = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: started.append((app, options)))
    refused = CliRunner().invoke(cli, ["serve", "--model", "conversion", "--workspace", str(scored.root)])
    assert refused.exit_code == 2 and "SIGNALSCORE_API_TOKEN" in refused.output and not started
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    ok = CliRunner().invoke(cli, ["serve", "--model", "conversion", "--token-env", "MY_TOKEN", "--port", "8123",
                                  "--workspace", str(scored.root)])
    assert ok.exit_code == 0, ok.output
    assert started[-1][1]["port"] == 8123 and TOKEN not in ok.output and "MY_TOKEN" in ok.output
    assert CliRunner().invoke(cli, ["serve", "--no-auth", "--workspace", str(scored.root)]).exit_code == 0
    with pytest.raises(ValueError, match="empty bearer token"):
        create_app([ServedModel("renewal", REGISTERED_NAME["renewal"])], load_settings().serving, token=" ")


def test_an_entity_is_answered_as_the_batch_scored_it_at_the_same_as_of(client, scored, small_company):
    batch = _batch(scored, "renewal", small_company)
    assert batch["score_change"].notna().any()  # the earlier scoring gives the comparison something to show
    for entity_id in batch.index[[0, len(batch) // 2]]:
        answer = client.get(f"/v1/renewal/entities/{entity_id}", headers=AUTH)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_version"] == "1" and body["percentile_reference"]["entities"] == len(batch)
        assert body["row"]["entity_id"] == entity_id
        _assert_as_batch(body["row"], batch.loc[entity_id])


def test_unknown_or_ineligible_ids_and_unknown_models_are_404_with_a_plain_message(client, scored, small_company):
    unknown = client.get("/v1/renewal/entities/A999999", headers=AUTH)
    assert unknown.status_code == 404 and unknown.json() == {"detail": "unknown account 'A999999'"}
    leads = _batch(scored, "conversion", small_company)
    accounts = pd.read_parquet(small_company / "accounts.parquet").account_id.astype(str)
    ineligible = sorted(set(accounts) - set(_batch(scored, "renewal", small_company).index))[0]
    answer = client.get(f"/v1/renewal/entities/{ineligible}", headers=AUTH)
    assert answer.status_code == 404 and "not eligible" in answer.json()["detail"]
    assert client.get(f"/v1/conversion/entities/{leads.index[0]}", headers=AUTH).status_code == 200
    for answer in (client.get("/v1/churn/entities/A1", headers=AUTH),
                   client.post("/v1/churn/score", headers=AUTH, json={"rows": [{"entity_id": "A1"}]})):
        assert answer.status_code == 404 and "unknown model 'churn'" in answer.json()["detail"]


def test_posted_feature_rows_as_signalscore_features_writes_them_score_as_the_batch(client, scored, small_company,
                                                                                     tmp_path):
    features = tmp_path / "leads.parquet"
    horizon = f"{_horizon(small_company):%Y-%m-%dT%H:%M:%S}"
    _cli(scored, "features", "--model", "conversion", "--data", str(small_company), "--as-of", horizon,
         "--out", str(features))
    frame = pd.read_parquet(features).head(40)
    rows = [{k: None if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v))
             else v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in r.items()}
            for r in frame.to_dict("records")]  # missing → null, every digit kept: what a client sends
    answer = client.post("/v1/conversion/score", headers=AUTH, json={"rows": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["entity_id"] for r in body["rows"]] == frame.entity_id.tolist()  # in the order sent
    batch = _batch(scored, "conversion", small_company)
    assert {r["route"] for r in body["rows"]} <= {"sales", "nurture"}
    for row in body["rows"]:
        _assert_as_batch(row, batch.loc[row["entity_id"]])
    mixed = [rows[0], {k: v for k, v in rows[1].items() if k != "as_of"}, rows[2]]  # dated, undated, dated
    answered = client.post("/v1/conversion/score", headers=AUTH, json={"rows": mixed}).json()["rows"]
    assert [r["entity_id"] for r in answered] == [r["entity_id"] for r in mixed]
    assert answered[1]["as_of"] is None and answered[1]["score"] == body["rows"][1]["score"]
    _assert_as_batch(answered[2], batch.loc[answered[2]["entity_id"]])


def test_malformed_requests_are_422s_that_name_the_row_and_column(client):
    def rejected(body, **kwargs) -> list[dict]:
        answer = client.post("/v1/renewal/score", headers=AUTH, json=body, **kwargs)
        assert answer.status_code == 422, answer.text
        return answer.json()["detail"]

    wrong_type = rejected({"rows": [{"entity_id": "A1"}, {"entity_id": "A2", "logins_30d": "many"}]})
    assert (wrong_type[0]["row"], wrong_type[0]["column"]) == (1, "logins_30d")
    assert "row 1, column 'logins_30d'" in wrong_type[0]["message"]
    assert rejected({"rows": [{"logins_30d": 3}]})[0]["message"] == "row 0: column 'entity_id' is required"
    assert rejected({"rows": [{"entity_id": 7}]})[0]["column"] == "entity_id"  # ids are strings
    unknown = rejected({"rows": [{"entity_id": "A1", "logins_31d": 3}]})[0]
    assert unknown["message"].startswith("row 0: unknown column 'logins_31d'")
    assert rejected({"rows": [{"entity_id": "A1", "plan": 3}]})[0]["column"] == "plan"  # categories are strings
    too_many = rejected({"rows": [{"entity_id": f"A{i}"} for i in range(51)]})[0]
    assert "serving.api.max_rows" in too_many["message"]
    assert rejected({"rows": []})[0]["loc"] == ["body", "rows"]
    answer = client.post("/v1/renewal/score", headers={**AUTH, "Content-Type": "application/json"},
                         content=b'{"rows": [{"entity_id": "A1", "arr": NaN}]}')
    assert answer.status_code == 422 and answer.json()["detail"][0]["column"] == "arr"
    for body in (b"c\x01#\xff\xfe", b'{"rows": [', b"rows=1"):  # not UTF-8, cut short, not JSON at all
        answer = client.post("/v1/renewal/score", headers={**AUTH, "Content-Type": "application/json"},
                             content=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["message"]


def test_a_moved_alias_is_served_from_the_next_request(client, scored, small_company):
    name = REGISTERED_NAME["conversion"]
    client_ = MlflowClient()
    first = client_.get_model_version(name, "1")
    second = mlflow.register_model(first.source, name)  # the same model as a new version: only the number differs
    try:
        promote(client_, name, str(second.version), "test: the API follows the alias")
        answer = client.post("/v1/conversion/score", headers=AUTH, json={"rows": [{"entity_id": "L1"}]})
        assert answer.json()["model_version"] == str(second.version)
        assert answer.json()["rows"][0]["model_version"] == str(second.version)
        assert client.get("/healthz").json()["models"]["conversion"]["version"] == str(second.version)
    finally:
        promote(client_, name, "1", "test: back to the first version")
    answer = client.post("/v1/conversion/score", headers=AUTH, json={"rows": [{"entity_id": "L1"}]})
    assert answer.json()["model_version"] == "1"


def _schema_only_app():
    """The app as `serve` builds it, for its OpenAPI document only: building one touches neither MLflow nor data."""
    served = [ServedModel(m, REGISTERED_NAME[m]) for m in ("renewal", "conversion")]
    return create_app(served, load_settings(None, API).serving, token=TOKEN, data=lambda: None)


class _Forward:
    """An ASGI app that hands every request to the app the fixtures built (there is none yet at collection)."""

    app = None

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


# Loaded from the document rather than with from_asgi/from_fixture: the document does not depend on the trained
# models, and schemathesis' lazy fixture loader does not run under pytest 9. The requests go to the served app.
forward = _Forward()
schema = schemathesis.openapi.from_dict(_schema_only_app().openapi())
schema.app = forward


def test_the_schema_under_test_is_the_served_one(api):
    assert api.openapi() == _schema_only_app().openapi()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_the_schema_allows_or_forbids_makes_the_server_fail(case, api):
    forward.app = api
    case.call_and_validate(base_url="http://testserver", headers=AUTH)


def test_the_data_is_opened_again_when_the_folder_changes_at_most_every_check(small_company, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_company, data)
    now = [0.0]
    watched = WatchedData(load_settings(), data, "renewal", check_seconds=60, clock=lambda: now[0])
    first = watched()
    assert watched() is first and first.horizon == _horizon(small_company)
    meta = json.loads((data / "_meta.json").read_text())
    meta["horizon"] = "2025-12-01T00:00:00Z"  # a new extraction, at another horizon
    (data / "_meta.json").write_text(json.dumps(meta))
    assert watched() is first  # not looked at again before the check interval
    now[0] = 61.0
    assert watched().horizon == pd.Timestamp("2025-12-01", tz="UTC")
