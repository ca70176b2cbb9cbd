"""What the LightGBM model must beat on the same time hold-out: a logistic regression and a rule scorecard.

Both take the feature columns exactly as `signalscore features` writes them (strings for categories, missing
allowed), so the comparison measures the learner, not the data preparation. The logistic regression is the
strongest simple model we can make fair; the scorecard is what a customer-success or marketing-ops team would
build by hand, so beating it is the claim a buyer actually cares about.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import rankdata
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

MISSING_CATEGORY = "__missing__"
NEUTRAL_POINTS = 50.0
MIN_ABS_RHO = 0.01


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """Compress heavy tails (event counts, ARR) so a handful of huge accounts do not set every coefficient.

    Monotone, odd and ≈ identity near zero, so bounded features (shares, small counts) are barely changed;
    NaN stays NaN so the imputer still sees what was missing.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def _as_float(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Nullable ints/booleans and ±inf all become plain float64 with NaN: one missing value for sklearn."""
    out = pd.DataFrame(
        {c: frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in columns}, index=frame.index
    )
    return out.replace([np.inf, -np.inf], np.nan)


def _as_strings(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Missing becomes its own category: for a lead, an empty field often says something about the lead."""
    out = frame[columns].astype(object)
    return out.where(frame[columns].notna(), MISSING_CATEGORY).astype(str)


def _check_rows(frame: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(y) != len(frame):
        raise ValueError(f"y has {len(y)} values for {len(frame)} rows; they are matched by position")
    return y


class LogisticBaseline:
    """Logistic regression on the same feature columns (strings for categories, NaN allowed).

    Numeric columns get signed log1p → median imputation with missing indicators → standardisation, so the
    baseline is not handicapped by skewed counts or by missingness the trees can use; categories are one-hot
    with missing as a category. Numeric columns that are entirely missing in training carry no information
    and are dropped (listed in `dropped_`) rather than imputed with an arbitrary constant.
    """

    def __init__(self, features: list[str], categorical: list[str], c: float = 1.0, seed: int = 0):
        unknown = sorted(set(categorical) - set(features))
        if unknown:
            raise ValueError(f"categorical columns not among the features: {unknown}")
        self.features = list(features)
        self.categorical = [f for f in features if f in set(categorical)]
        self.c = c
        self.seed = seed

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        y = _check_rows(frame, y)
        numeric = [f for f in self.features if f not in set(self.categorical)]
        values = _as_float(frame, numeric)
        self.dropped_ = [c for c in numeric if values[c].isna().all()]
        self.numeric_ = [c for c in numeric if c not in set(self.dropped_)]
        self.categorical_ = list(self.categorical)
        if not self.numeric_ and not self.categorical_:
            raise ValueError("no usable feature columns: every numeric column is entirely missing")
        self.pipeline_ = self._pipeline().fit(self._inputs(frame), y)
        return self

    def _pipeline(self) -> Pipeline:
        parts = []
        if self.numeric_:
            numeric = make_pipeline(FunctionTransformer(signed_log1p, feature_names_out="one-to-one"),
                                    SimpleImputer(strategy="median", add_indicator=True),
                                    StandardScaler())
            parts.append(("numeric", numeric, self.numeric_))
        if self.categorical_:
            onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False)
            parts.append(("categorical", onehot, self.categorical_))
        model = LogisticRegression(C=self.c, solver="lbfgs", max_iter=5000, random_state=self.seed)
        return Pipeline([("columns", ColumnTransformer(parts, verbose_feature_names_out=True)), ("model", model)])

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Only the fitted columns, in fitted order, typed as the pipeline expects; the input is never touched."""
        return pd.concat([_as_float(frame, self.numeric_), _as_strings(frame, self.categorical_)], axis=1)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("LogisticBaseline.fit() must be called before predict_proba()")
        return self.pipeline_.predict_proba(self._inputs(frame))[:, 1]

    def coefficients(self) -> pd.Series:
        """Coefficient per transformed column (standardised units), for a model card."""
        names = self.pipeline_.named_steps["columns"].get_feature_names_out()
        return pd.Series(self.pipeline_.named_steps["model"].coef_[0], index=names, name="coefficient")


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation without scipy's warnings on constant input: a constant measure just gets 0."""
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def _percentile(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mid-rank percentile in the training distribution, 0..100; NaN stays NaN.

    Mid-rank keeps tied values (e.g. the many zeros of a count) at the centre of their tie instead of at
    its bottom, so a zero count is not scored as the worst possible value when most accounts share it.
    """
    below = np.searchsorted(sorted_values, x, side="left")
    at_or_below = np.searchsorted(sorted_values, x, side="right")
    out = 100.0 * (below + at_or_below) / (2.0 * len(sorted_values))
    return np.where(np.isnan(x), np.nan, out)


class Scorecard:
    """A rule scorecard of the kind customer-success tools use: each measure scored 0–100 against the training
    distribution, averaged per factor group, groups weighted by configuration; a logistic map turns the 0–100
    score into a probability so Brier/log loss/ECE can be compared (ROC AUC only needs the score).

    Only numeric measures are scored; categorical columns (non-numeric dtype) are skipped and listed in
    `skipped_`, because CS scorecards rate measures against thresholds, not categories. A measure's direction
    is read from the sign of its Spearman correlation with the label on the training rows (a CS team would know
    it); measures with |rho| < 0.01 or no values are dropped and listed in `dropped_`.
    """

    def __init__(self, features: list[str], group_of: dict[str, str], weights: dict[str, float]):
        ungrouped = [f for f in features if f not in group_of]
        if ungrouped:
            raise ValueError(f"features without a factor group: {ungrouped}")
        negative = {g: w for g, w in weights.items() if w < 0}
        if negative:
            raise ValueError(f"scorecard weights must be >= 0: {negative}")
        self.features = list(features)
        self.group_of = dict(group_of)
        self.weights = dict(weights)

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> Scorecard:
        y = _check_rows(frame, y)
        numeric = [f for f in self.features if _is_measure(frame[f])]
        self.skipped_ = [f for f in self.features if f not in set(numeric)]
        values = _as_float(frame, numeric)
        self.directions_: dict[str, int] = {}
        self.dropped_: list[str] = []
        self.sorted_values_: dict[str, np.ndarray] = {}
        for name in numeric:
            direction = self._direction(values[name].to_numpy(), y)
            if direction == 0:
                self.dropped_.append(name)
                continue
            self.directions_[name] = direction
            self.sorted_values_[name] = np.sort(values[name].dropna().to_numpy())
        if not self.directions_:
            raise ValueError("the scorecard has no measure: no numeric feature is related to the label")
        self.groups_ = self._groups()
        self.weights_ = self._normalised_weights()
        return self

    @staticmethod
    def _direction(x: np.ndarray, y: np.ndarray) -> int:
        seen = ~np.isnan(x)
        if seen.sum() < 2:
            return 0
        rho = _spearman(x[seen], y[seen])
        return 0 if abs(rho) < MIN_ABS_RHO else int(np.sign(rho))

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for name in self.directions_:
            groups.setdefault(self.group_of[name], []).append(name)
        return groups

    def _normalised_weights(self) -> dict[str, float]:
        """Weights of the groups that have a measure, summing to 1.

        An unlisted group weighs as the mean configured weight (neither favoured nor ignored); if every group
        in play is weighted 0 the configuration says nothing, so the groups weigh equally.
        """
        default = float(np.mean(list(self.weights.values()))) if self.weights else 1.0
        raw = {g: float(self.weights.get(g, default)) for g in self.groups_}
        total = sum(raw.values())
        if total <= 0:
            return {g: 1.0 / len(raw) for g in raw}
        return {g: w / total for g, w in raw.items()}

    def measure_points(self, frame: pd.DataFrame) -> pd.DataFrame:
        """0..100 per measure used (direction applied, missing → 50): the scorecard's own explanation."""
        if not hasattr(self, "directions_"):
            raise NotFittedError("Scorecard.fit() must be called before scoring")
        values = _as_float(frame, list(self.directions_))
        out = {}
        for name, direction in self.directions_.items():
            pct = _percentile(self.sorted_values_[name], values[name].to_numpy())
            pct = pct if direction > 0 else 100.0 - pct
            out[name] = np.where(np.isnan(pct), NEUTRAL_POINTS, pct)
        return pd.DataFrame(out, index=frame.index)

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        measures = self.measure_points(frame)
        total = np.zeros(len(frame))
        for group, names in self.groups_.items():
            weight = self.weights_[group]
            if weight > 0:
                total += weight * measures[names].to_numpy().mean(axis=1)
        return total

    def calibrate(self, frame: pd.DataFrame, y: np.ndarray) -> Scorecard:
        """Fit points → probability on a slice after the training rows, as the model's calibration is."""
        y = _check_rows(frame, y)
        scaled = self.points(frame).reshape(-1, 1) / 100.0  # 0..1 keeps lbfgs well conditioned
        lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(scaled, y)
        self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "slope_"):
            raise NotFittedError("Scorecard.calibrate() must be called before predict_proba(): "
                                 "the 0-100 points are not probabilities until mapped on a later slice")
        return expit(self.slope_ * self.points(frame) / 100.0 + self.intercept_)


def _is_measure(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.CategoricalDtype)
