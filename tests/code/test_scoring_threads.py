"""`serving.threads`: LightGBM's OpenMP threads are capped while the scoring job and the API predict."""

from __future__ import annotations

import lightgbm  # noqa: F401  (loads the OpenMP runtime LightGBM uses)
import pandas as pd
from threadpoolctl import threadpool_info

from serving.scoring import _predict, predict


def _openmp_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}


class RecordingModel:
    """A pyfunc stand-in that notes the OpenMP thread limit in force while it predicts."""

    def __init__(self) -> None:
        self.seen: list[set[int]] = []

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.seen.append(_openmp_threads())
        return pd.DataFrame({"probability": [0.5] * len(rows)})


def test_predict_caps_openmp_threads_during_the_call_and_restores_them():
    before = _openmp_threads()
    model = RecordingModel()
    predict(model, pd.DataFrame({"x": range(3)}), threads=2)
    predict(model, pd.DataFrame({"x": range(3)}), threads=None)
    assert model.seen == [{2}, before]
    assert _openmp_threads() == before


def test_the_scoring_worker_thread_predicts_under_the_cap():
    model = RecordingModel()
    rows = pd.DataFrame({"x": range(5000)})
    chunks = list(_predict(model, rows, chunk=1000, progress=lambda *_, **__: None, threads=2))
    assert sum(len(output) for *_, output in chunks) == len(rows)
    assert model.seen and all(seen == {2} for seen in model.seen)
