"""The fitted scorer and the MLflow pyfunc that carries it to serving.

The pyfunc is the contract between training and serving: it takes the feature columns exactly
as `signalscore features` writes them (strings for categories, missing allowed) and returns the calibrated
probability with one TreeSHAP contribution per feature. One `pred_contrib` call yields both the margin (the
contributions add up to it) and the explanation, so explaining costs nothing extra at serving time.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OrdinalEncoder


class CategoryEncoder:
    """Strings → integer codes that LightGBM treats as categories; unseen or missing values become missing."""

    def __init__(self, categorical: list[str]):
        self.categorical = categorical

    def fit(self, frame: pd.DataFrame) -> CategoryEncoder:
        self.encoder_ = None
        if self.categorical:
            self.encoder_ = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                           encoded_missing_value=np.nan, dtype=np.float64)
            self.encoder_.fit(self._strings(frame))
        return self

    def _strings(self, frame: pd.DataFrame) -> pd.DataFrame:
        # Missing stays missing (np.nan) rather than becoming the string "None".
        return frame[self.categorical].astype(object).where(frame[self.categorical].notna(), np.nan)

    def transform(self, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
        out = frame[columns].copy()
        if self.encoder_ is not None:
            codes = self.encoder_.transform(self._strings(frame))
            for i, name in enumerate(self.categorical):
                out[name] = codes[:, i]
        return out.astype("float64").to_numpy()


class MarginCalibrator:
    """A monotone map from the booster's raw margin to a probability, fitted on a later time slice."""

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> MarginCalibrator:
        if self.method == "isotonic":
            self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
            self.isotonic_.fit(margin, y)
        else:
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "isotonic":
            return self.isotonic_.predict(margin)
        return expit(self.slope_ * margin + self.intercept_)


@dataclass
class Scorer:
    """Booster + encoder + calibrator: everything needed to turn feature rows into the serving output."""

    booster: lgb.Booster
    encoder: CategoryEncoder
    calibrator: MarginCalibrator | None
    features: list[str]
    categorical: list[str]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.transform(frame, self.features)

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.matrix(frame), raw_score=True)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.predict(self.margin(frame))

    def predict_uncalibrated(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's own probability, before calibration: the 'before' of the reliability diagram."""
        return expit(self.margin(frame))

    def explain(self, frame: pd.DataFrame) -> pd.DataFrame:
        """probability, contrib_<feature> (log-odds), expected_value and baseline_probability per row."""
        contrib = np.asarray(self.booster.predict(self.matrix(frame), pred_contrib=True), dtype=np.float64)
        margin = contrib.sum(axis=1)
        expected = contrib[:, -1]
        out = {"probability": self.calibrator.predict(margin)}
        out.update({f"contrib_{name}": contrib[:, i] for i, name in enumerate(self.features)})
        out["expected_value"] = expected
        out["baseline_probability"] = self.calibrator.predict(expected)
        return pd.DataFrame(out, index=frame.index)


class SignalscorePyfunc(mlflow.pyfunc.PythonModel):
    """What MLflow stores: a Scorer with its booster kept as LightGBM's own text format."""

    def __init__(self, scorer: Scorer):
        self.model_text = scorer.booster.model_to_string()
        self.encoder = scorer.encoder
        self.calibrator = scorer.calibrator
        self.features = scorer.features
        self.categorical = scorer.categorical
        self._scorer: Scorer | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_scorer"] = None  # the booster travels as text, not as a pickled C handle
        return state

    def load_context(self, context) -> None:
        self._scorer = None

    def scorer(self) -> Scorer:
        if self._scorer is None:
            booster = lgb.Booster(model_str=self.model_text)
            self._scorer = Scorer(booster, self.encoder, self.calibrator, self.features, self.categorical)
        return self._scorer

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.scorer().explain(model_input)
