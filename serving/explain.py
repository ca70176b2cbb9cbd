"""Points that add up: TreeSHAP contributions rescaled from log-odds to score points.

The model's contributions add up to `margin − expected_value` in log-odds; the score is 100 × g(margin) for
a monotone calibration g. Multiplying every contribution by (score − baseline_score) / (margin −
expected_value) keeps each feature's share and sign and makes the points add up to the score exactly.
Reasons are the features with the most negative and most positive points, each said in a sentence from the
catalog (`sentence`: missing, zero, one, a move against the window before); docs/explanations.md has the rules.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from string import Formatter

import numpy as np
import pandas as pd

from features.catalog import Feature

CONTRIB = "contrib_"


def group_column(group: str) -> str:
    return "points_" + re.sub(r"[^a-z0-9]+", "_", group.lower()).strip("_")


def point_arrays(contrib: np.ndarray, probability: np.ndarray, baseline_probability: np.ndarray,
                 out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature points (rows × features, written to `out` when given), the score and the baseline score."""
    contrib = np.asarray(contrib, dtype=np.float64)
    score = 100.0 * np.asarray(probability, dtype=np.float64)
    baseline = 100.0 * np.asarray(baseline_probability, dtype=np.float64)
    log_odds = contrib.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(log_odds) > 1e-12, (score - baseline) / log_odds, 0.0)
    points = np.multiply(contrib, scale[:, None], out=out)
    # Rounding leaves ~1e-14; hand it to the largest point so the sum is exact to the last bit that matters.
    residual = (score - baseline) - points.sum(axis=1)
    if points.shape[1]:
        largest = np.abs(points).argmax(axis=1)
        points[np.arange(len(points)), largest] += residual
    return points, score, baseline


def contributions(output: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The pyfunc's contrib_<feature> columns as one float64 matrix (rows × features)."""
    if not features:
        return np.empty((len(output), 0))
    return np.ascontiguousarray(output[[CONTRIB + f for f in features]].to_numpy(dtype=np.float64))


def feature_points(output: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Per-feature points, the score and the baseline score, all float64."""
    points, score, baseline = point_arrays(contributions(output, features), output["probability"].to_numpy(),
                                           output["baseline_probability"].to_numpy())
    frame = pd.DataFrame(points, columns=features, index=output.index, copy=False)
    return frame, pd.Series(score, index=output.index), pd.Series(baseline, index=output.index)


def group_sums(points: np.ndarray, features: list[str], catalog: list[Feature]) -> tuple[list[str], np.ndarray]:
    """The factor groups in catalog order and each group's points per row (rows × groups).

    Each group's sum runs over its features in catalog order, row by row, so a row's sums do not depend on
    the other rows (scoring in chunks gives the same numbers).
    """
    group_of = {f.name: f.group for f in catalog if f.name in features}
    ordered = list(dict.fromkeys(group_of.values()))
    members = [[j for j, name in enumerate(features) if group_of.get(name) == g] for g in ordered]
    if not ordered:
        return [], np.empty((len(points), 0))
    sizes = [len(m) for m in members]
    by_group = points[:, [j for m in members for j in m]]
    return ordered, np.add.reduceat(by_group, np.cumsum([0, *sizes[:-1]]), axis=1)


def group_points(points: pd.DataFrame, catalog: list[Feature]) -> pd.DataFrame:
    groups, sums = group_sums(points.to_numpy(dtype=np.float64), list(points.columns), catalog)
    return pd.DataFrame({group_column(g): sums[:, i] for i, g in enumerate(groups)}, index=points.index)


def is_missing(value: object) -> bool:
    """None, NaN, NA and ±inf are "no data" (a ratio over nothing); everything else is a value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and not math.isfinite(value)


def _number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@lru_cache(maxsize=4096)
def value_spec(template: str) -> str:
    """The format spec of the template's first {value} ("" when it has none): how the sentence shows a number."""
    for _, name, spec, _ in Formatter().parse(template):
        if name == "value":
            return spec or ""
    return ""


def shown(value: float, spec: str) -> str:
    """The number as a sentence prints it with `spec`; a negative zero ("-0.0") prints as zero."""
    try:
        text = format(value, spec) if spec else str(value)
        zero = format(0, spec) if spec else "0"
    except (ValueError, TypeError):
        return str(value)
    return zero if text.lstrip("+-") == zero.lstrip("+-") else text


def shows_as(value: float, n: float, spec: str) -> bool:
    """Whether `value` prints like `n`: with ".0f", 0.3 days shows as 0 and 1.2 as 1; with ".0%", 0.004 as 0%."""
    if not spec:
        return value == n
    return shown(value, spec) == shown(n, spec)


def _fill(text: str, **words: object) -> str:
    """`text.format(**words)`; a value of an unexpected type (text where a number was expected) drops the specs."""
    try:
        return text.format(**words)
    except (ValueError, TypeError):
        return re.sub(r"\{(\w+)(?:![rsa])?:[^{}]*\}", r"{\1}", text).format(**words)


def movement(value: float, before: float, spec: str, fewer: str = "fewer") -> dict[str, object]:
    """The words of a change from `before` to `value`, shown with `spec`: {moved}, {compared}, {change}, ...

    Rises and falls are relative to `before` ("60% fewer than"); from nothing it is "up from none in", to
    nothing "down from 30 in"; a change that prints as no change, or rounds to 0%, "held at".
    """
    words: dict[str, object] = {"previous": before, "change": 0.0, "more_or_fewer": "more"}
    if shows_as(value, before, spec):
        return words | {"moved": "held at", "compared": "the same as"}
    up = value > before
    words |= {"moved": "rose to" if up else "fell to", "more_or_fewer": "more" if up else fewer}
    if up and shows_as(before, 0, spec):
        return words | {"compared": "up from none in"}
    if before <= 0 or value <= 0 or shows_as(value, 0, spec):
        return words | {"compared": f"{'up' if up else 'down'} from {shown(before, spec)} in"}
    change = abs(value - before) / before
    words["change"] = change
    if format(change, ".0%") == "0%":
        return words | {"moved": "held at", "compared": "about the same as"}
    return words | {"compared": f"{change:,.0%} {words['more_or_fewer']} than"}


def sentence(feature: Feature, value: object, previous_value: object = None) -> str:
    """The catalog's sentence for one value of a feature (and the same measure's value in the window before).

    Missing → `missing` (never "nan", never 0). A change/trend or a value with its previous one → the change
    wording; both showing as 0 → `zero`. Otherwise `zero` or `one` when the value shows as 0 or 1, else
    `template`. Categorical values are said with the feature's `words`. Pure: the same inputs give the same text.
    """
    if is_missing(value):
        return feature.missing or f"{feature.description}: no data"
    if isinstance(value, np.generic):
        value = value.item()
    if not _number(value):
        if isinstance(value, str):
            value = feature.words.get(value, value)
        return _fill(feature.template, value=value)
    spec = value_spec(feature.template)
    zero = bool(feature.zero) and shows_as(value, 0, spec)
    if feature.change_template:
        if feature.kind == "change":
            if shows_as(value, 0, spec):
                return _fill(feature.zero or feature.template, value=value)
            return _fill(feature.change_template, value=value, size=abs(value),
                         moved="rose by" if value > 0 else "fell by")
        if feature.kind == "trend":  # a ratio to the window before: the window before is 1
            before: float | None = 1.0
        elif feature.previous and _number(previous_value) and not is_missing(previous_value):
            before = float(previous_value)
        else:
            before = None  # no window before to compare with: the plain sentences below
        if before is not None and not (zero and (feature.kind == "trend" or shows_as(before, 0, spec))):
            return _fill(feature.change_template, value=value, **movement(value, before, spec, feature.fewer))
    if zero:
        return _fill(feature.zero, value=value)
    if feature.one and shows_as(value, 1, spec):
        return _fill(feature.one, value=value)
    return _fill(feature.template, value=value)


def json_value(value: object) -> object:
    """A value JSON can hold: None for missing, Python numbers for numpy ones."""
    if is_missing(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def top_indices(row: np.ndarray, top: int) -> list[int]:
    """Columns of the `top` most negative points (most negative first), then the `top` most positive."""
    order = np.argsort(row, kind="stable")
    negative = [int(j) for j in order[:top] if row[j] < 0]
    positive = [int(j) for j in order[::-1][:top] if row[j] > 0]
    return negative + positive


def reason(feature: Feature, value: object, points: float, previous_value: object = None) -> dict[str, object]:
    """One reason: {feature, group, value, points, sentence}."""
    return {"feature": feature.name, "group": feature.group, "value": json_value(value),
            "points": round(float(points), 4), "sentence": sentence(feature, value, previous_value)}


def reasons(points: pd.DataFrame, values: pd.DataFrame, catalog: list[Feature], top: int) -> list[str]:
    """A JSON list per row: the `top` most negative reasons first, then the `top` most positive.

    `values` holds the rows' feature values (rows aligned with `points`); where it also holds a feature's
    `previous` column, the sentence compares the two windows. Each row's text is what
    `json.dumps([reason(...) for j in top_indices(row, top)], default=str)` gives, built column-wise.
    """
    by_name = {f.name: f for f in catalog}
    features = [by_name[name] for name in points.columns]
    position = {name: i for i, name in enumerate(values.columns)}
    columns = [column_values(values.iloc[:, position[f.name]]) for f in features]
    previous = [column_values(values.iloc[:, position[f.previous]]) if f.previous in position else None
                for f in features]
    return reason_texts(points.to_numpy(dtype=np.float64), columns, previous, features, top)


# ---------------------------------------------------------------------------------------- the columnar path
# Scoring explains every row at once: the top points are picked by a few rounds of argmin/argmax over the points
# matrix rather than a sort per row, each distinct value of a feature is printed once and each distinct sentence
# rendered once, and the rows' JSON is one join of pre-rendered pieces. The text is exactly what the row-by-row
# rule above gives (tests/code/test_explain.py and test_changes.py compare the two).

Values = np.ndarray | pd.api.extensions.ExtensionArray  # one column's values, indexable by row position


def column_values(series: pd.Series) -> Values:
    """The column's values as `.iat` returns them: a NumPy array for numbers, else pandas' own array."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiub":
        return series.to_numpy()
    return series.array


def top_columns(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k smallest in stable-argsort order, and the k largest: `order[:k]` and `order[::-1][:k]` of
    `order = np.argsort(row, kind="stable")`. Rows holding NaN are the caller's to redo.

    k rounds of argmin (the first of equal values: the earlier column first, as the stable sort has it) and of
    argmax over the columns reversed (the later column first, as the reversed sort has it), each round masking
    what it took: for a small k far cheaper than sorting every row.
    """
    n, width = points.shape
    k = max(0, min(k, width))
    rows = np.arange(n)
    smallest, largest = np.empty((n, k), dtype=np.intp), np.empty((n, k), dtype=np.intp)
    if k == 0 or n == 0:
        return smallest, largest
    low, high = points.copy(), points[:, ::-1].copy()
    for i in range(k):
        smallest[:, i] = j = low.argmin(axis=1)
        low[rows, j] = np.inf
        largest[:, i] = j = high.argmax(axis=1)
        high[rows, j] = -np.inf
    return smallest, (width - 1) - largest


def smallest_stable(keys: np.ndarray, k: int) -> np.ndarray:
    """`np.argsort(keys, axis=1, kind="stable")[:, :k]` for keys without NaN or +inf (see `top_columns`)."""
    n, width = keys.shape
    k = max(0, min(k, width))
    rows = np.arange(n)
    out = np.empty((n, k), dtype=np.intp)
    keys = keys.copy()
    for i in range(k):
        out[:, i] = j = keys.argmin(axis=1)
        keys[rows, j] = np.inf
    return out


def rounded(x: np.ndarray) -> np.ndarray:
    """`round(v, 4)` of every element, as Python rounds it (the exact binary value, half to even).

    rint(v·10⁴)/10⁴ is the same double (an exact integer over 10⁴, divided with correct rounding) unless v·10⁴ lies
    within its rounding error (< 1e-7 below 1e9) of a half; those few, and anything non-finite or from 10⁵ up,
    are rounded by Python itself.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x * 1e4
        out = np.rint(z) / 1e4
        sure = (np.abs(z - np.floor(z) - 0.5) > 1e-6) & (np.abs(z) < 1e9)
    for i in np.flatnonzero(~sure):
        out[i] = round(float(x[i]), 4)
    return out


_WHOLE = 1000  # points pieces are tabled for |points| < 1000; larger ones are printed one by one
_INTEGER_PART = np.array([str(q) for q in range(-_WHOLE, _WHOLE)] + ["-0"], dtype=object)
_FRACTION = np.array(["." + (f"{r:04d}".rstrip("0") or "0") for r in range(10_000)], dtype=object)


def json_points(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`json.dumps(round(float(v), 4))` of every element, as two object arrays of pieces to put side by side.

    For |v| < 1000 the rounded double's repr is its 4-decimal digits with trailing zeros dropped ("-4.0",
    "0.0001", "-0.0"): an integer part and a fraction, both looked up from tables, so no number is printed.
    """
    r = rounded(x)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.rint(r * 1e4)
        tabled = np.abs(scaled) < _WHOLE * 10_000
    n = np.where(tabled, scaled, 0).astype(np.int64)
    whole, part = np.divmod(np.abs(n), 10_000)
    negative = np.signbit(r)
    index = np.where(negative, -whole, whole) + _WHOLE
    index[negative & (whole == 0)] = 2 * _WHOLE  # "-0": -0.0 and -0.x print their sign
    integer, fraction = _INTEGER_PART[index], _FRACTION[part]
    for i in np.flatnonzero(~tabled):
        integer[i], fraction[i] = json.dumps(float(r[i])), ""
    return integer, fraction


Piece = str | np.ndarray | tuple[np.ndarray, np.ndarray]  # one text, a text per item, or (code per item, texts)


def _per_item(piece: Piece) -> object:
    return piece[1][piece[0]] if isinstance(piece, tuple) else piece


def join_lists(n: int, rows: np.ndarray, lead: tuple[np.ndarray, np.ndarray], pieces: list[Piece],
               empty: str = "[]") -> list[str]:
    """Per row a JSON list of its items (`rows`: each item's row, ascending), each item its lead then `pieces`.

    `lead` is (code per item, texts): an item starts with "[" + text when first in its row, else ", " + text.
    Every piece of every row goes into one list, in order; each row is then one "".join of its slice.
    """
    if n == 0:
        return []
    codes, texts = lead
    counts = np.bincount(rows, minlength=n)
    width = len(pieces) + 1
    sizes = width * counts + 1  # the items' pieces, then "]" (or `empty` for a row without items)
    ends = np.cumsum(sizes)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    base = (ends - sizes)[rows] + width * within
    out = np.empty(int(ends[-1]), dtype=object)
    leads = np.concatenate(["[" + texts, ", " + texts]) if len(texts) else texts
    out[base] = leads[codes + len(texts) * (within > 0)]
    for i, piece in enumerate(pieces, 1):
        out[base + i] = _per_item(piece)
    out[ends - 1] = np.array([empty, "]"], dtype=object)[(counts > 0).astype(np.intp)]
    pieces, join = out.tolist(), "".join
    return [join(pieces[a:b]) for a, b in zip((ends - sizes).tolist(), ends.tolist(), strict=True)]


def json_text(value: object) -> str:
    """`json.dumps(value, default=str)`, with the common float and None cheaply."""
    if value is None:
        return "null"
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value, default=str)


def _key(value: object) -> object:
    """A dict key under which equal keys mean the same text everywhere: 0.0 and -0.0, 1 and 1.0 and True apart."""
    if isinstance(value, float):
        return type(value), value.__repr__()
    return type(value), value


def distinct(values: Values) -> tuple[np.ndarray, np.ndarray | list]:
    """Codes per element (equal codes: values that read and print the same) and one value per code (an array
    for a NumPy array of numbers, else a list)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        raw = values.view(f"i{values.dtype.itemsize}") if values.dtype.kind == "f" else values  # -0.0 ≠ 0.0
        _, first, codes = np.unique(raw, return_index=True, return_inverse=True)
        return codes.reshape(-1), values[first]
    codes = np.empty(len(values), dtype=np.intp)
    seen: dict[object, int] = {}
    reps: list = []
    for i, value in enumerate(values):
        try:
            code = seen.setdefault(_key(value), len(reps))
        except TypeError:  # unhashable: a code of its own
            code = len(reps)
        if code == len(reps):
            reps.append(value)
        codes[i] = code
    return codes, reps


def display_spec(feature: Feature) -> str | None:
    """The format spec whose text alone decides the feature's sentence for a number; None when more decides it.

    So when the feature has no change wording and every field of its sentences is {value:<spec>} with the
    template's own spec: `sentence` then reads the number only through format(value, spec).
    """
    if feature.change_template:
        return None
    spec = value_spec(feature.template)
    if not spec:
        return None
    try:
        for text in (feature.template, feature.zero, feature.one):
            for _, name, field_spec, conversion in Formatter().parse(text):
                if name is not None and (name != "value" or field_spec != spec or conversion is not None):
                    return None
        format(1.5, spec)
    except (ValueError, TypeError):
        return None
    return spec


class Sentences:
    """One feature's sentences as ', "sentence": "..."}' pieces, each rendered once: per printed value where that
    decides the sentence, else per value (and previous value). Kept for a whole run, across chunks."""

    def __init__(self, feature: Feature):
        self.feature = feature
        self.spec = display_spec(feature)
        self.pieces: dict[object, str] = {}

    def piece(self, value: object, previous_value: object = None) -> str:
        if self.spec and isinstance(value, (float, np.floating)):
            key: object = format(float(value), self.spec)  # "nan" and "inf" too: both say `missing`
        elif value is None:
            key = ("missing",)
        else:
            key = (_key(value), _key(previous_value))
        try:
            return self.pieces[key]
        except KeyError:
            pass
        except TypeError:  # unhashable: rendered each time
            return self._render(value, previous_value)
        piece = self.pieces[key] = self._render(value, previous_value)
        return piece

    def _render(self, value: object, previous_value: object = None) -> str:
        return f', "sentence": {json.dumps(sentence(self.feature, value, previous_value))}}}'

    def floats(self, values: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """`piece` of float values (no previous value): a code per value and the piece per code.

        Values that print alike (`display_classes`) share a code and one `piece` call, so a sentence costs a
        dictionary lookup per printed value, not a format call per value.
        """
        classes = display_classes(values, self.spec) if self.spec else None
        if classes is None:
            return np.arange(len(values)), [self.piece(v) for v in values.tolist()]
        _, first, codes = np.unique(classes, return_index=True, return_inverse=True)
        return codes.reshape(-1), [self.piece(v) for v in values[first].tolist()]


_FIXED = re.compile(r"\+?,?\.(\d)([f%])")  # "+.1f", ",.0f", ".0%": a sign, grouping, N decimals, fixed or percent


def display_classes(values: np.ndarray, spec: str) -> np.ndarray | None:
    """Per float an integer such that equal integers print alike with `spec`; None for a spec of another form.

    A fixed spec with N decimals prints the correctly rounded integer K = round(x·10ᴺ) (x·100 first for "%",
    as Python multiplies before it formats), plus the sign of a zero ("-0", "+0.0"); the class is 2K (+1 for a
    negative zero). rint(x·10ᴺ) is that K unless x·10ᴺ lies within rounding error of a half: those, and NaN,
    ±inf and anything from 10⁹ up, get a class of their own (they print by themselves, through `piece`).
    """
    match = _FIXED.fullmatch(spec)
    if match is None:
        return None
    x = values * 100.0 if match.group(2) == "%" else values
    with np.errstate(invalid="ignore", over="ignore"):
        z = x * 10.0 ** int(match.group(1))
        whole = np.rint(z)
        sure = (np.abs(z) < 1e9) & (np.abs(z - np.floor(z) - 0.5) > 1e-6)
    classes = 2 * np.where(sure, whole, 0).astype(np.int64) + (sure & (whole == 0) & np.signbit(x))
    unsure = np.flatnonzero(~sure)
    classes[unsure] = PRINTS_ALONE + np.arange(len(unsure))
    return classes


PRINTS_ALONE = 2**40  # display classes from here up hold one value each


def float_texts(values: np.ndarray, non_finite: dict[str, str] | None = None) -> list[str]:
    """Each float's repr ("12.0", "nan", "inf"); `non_finite` maps the reprs of NaN and ±inf to other text."""
    texts = repr(values.tolist())[1:-1].split(", ") if len(values) else []
    if non_finite is not None:
        for i in np.flatnonzero(~np.isfinite(values)):
            texts[i] = non_finite[texts[i]]
    return texts


JSON_VALUE = {"nan": "null", "inf": "null", "-inf": "null"}  # json_value: not finite is missing


def by_column(columns: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Items ordered by their column (stable), and where each column's run starts: `order[bounds[j]:bounds[j+1]]`."""
    keys = columns.astype(np.int16) if width < 2**15 else columns  # small ints: NumPy's stable sort is a radix sort
    order = np.argsort(keys, kind="stable")
    return order, np.concatenate([[0], np.cumsum(np.bincount(columns, minlength=width))])


def _value_pieces(said: Sentences, values: Values,
                  previous: Values | None) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Per element a code into the reasons' heads ('{"feature": ..., "value": V, "points": ') and one into their
    tails (', "sentence": "..."}'), and those heads and tails."""
    codes, reps = distinct(values)
    feature = said.feature
    head = f'{{"feature": {json.dumps(feature.name)}, "group": {json.dumps(feature.group)}, "value": '
    if previous is None and isinstance(reps, np.ndarray) and reps.dtype == np.float64:
        heads = [f'{head}{t}, "points": ' for t in float_texts(reps, JSON_VALUE)]
        said_codes, tails = said.floats(reps)
        return codes, heads, said_codes[codes], tails
    if previous is None:
        pairs = [(value, None) for value in reps]
    else:
        other, other_reps = distinct(previous)
        _, at, pair_codes = np.unique(codes * len(other_reps) + other, return_index=True, return_inverse=True)
        pairs = [(reps[codes[i]], other_reps[other[i]]) for i in at]
        codes = pair_codes.reshape(-1)
    heads = [f'{head}{json_text(json_value(value))}, "points": ' for value, _ in pairs]
    return codes, heads, codes, [said.piece(value, before) for value, before in pairs]


def reason_texts(points: np.ndarray, columns: list[Values], previous: list[Values | None], features: list[Feature],
                 top: int, sentences: dict[str, Sentences] | None = None) -> list[str]:
    """The reasons JSON per row from the points (rows × features), each feature's values and its previous ones.

    `sentences` (by feature name) keeps rendered sentences from one call to the next; missing ones are added.
    """
    sentences = {} if sentences is None else sentences
    n, width = points.shape
    k = min(top, width)
    if n == 0:
        return []
    if k <= 0:
        return ["[]"] * n
    negative, positive = top_columns(points, k)
    grid = np.concatenate([negative, positive], axis=1)
    keep = np.concatenate([np.take_along_axis(points, negative, axis=1) < 0,
                           np.take_along_axis(points, positive, axis=1) > 0], axis=1)
    grid[~keep] = -1
    for r in np.flatnonzero(~np.isfinite(points).all(axis=1)):  # NaN or inf: the row-by-row rule as it is
        chosen = top_indices(points[r], top)
        below = [j for j in chosen if points[r, j] < 0]
        grid[r] = -1
        grid[r, :len(below)] = below
        grid[r, k:k + len(chosen) - len(below)] = chosen[len(below):]
    flat = grid.ravel()
    slots = np.flatnonzero(flat >= 0)
    rows, feats = slots // (2 * k), flat[slots]
    codes, tail_codes = np.empty(len(slots), dtype=np.intp), np.empty(len(slots), dtype=np.intp)
    heads: list[str] = []
    tails: list[str] = []
    order, bounds = by_column(feats, width)
    for j in np.flatnonzero(np.diff(bounds)):
        at = order[bounds[j]:bounds[j + 1]]
        at_rows = rows[at]
        said = sentences.setdefault(features[j].name, Sentences(features[j]))
        feature_codes, feature_heads, feature_tail_codes, feature_tails = _value_pieces(
            said, columns[j][at_rows], None if previous[j] is None else previous[j][at_rows])
        codes[at], tail_codes[at] = len(heads) + feature_codes, len(tails) + feature_tail_codes
        heads += feature_heads
        tails += feature_tails
    integer, fraction = json_points(points[rows, feats])
    return join_lists(n, rows, (codes, np.array(heads, dtype=object)),
                      [integer, fraction, (tail_codes, np.array(tails, dtype=object))])
