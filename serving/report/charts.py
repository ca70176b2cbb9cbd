"""Inline SVG charts, drawn in Python: no script, no font and no library is fetched when a page opens.

Colours are the Okabe–Ito palette (distinguishable with every common colour-vision deficiency), and nothing is
said by colour alone: every bar carries its number, every chart a <title> and a <desc> that say what it shows,
and the pages put the same numbers in a table next to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from serving.report.fmt import compact, day, number, signed

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999"}
GAIN, LOSS, NEUTRAL, INK, GRID = OKABE_ITO["blue"], OKABE_ITO["vermillion"], "#8a8a8a", "#222222", "#d9d9d9"
NAMED_BANDS = {"healthy": "green", "at_risk": "orange", "critical": "vermillion"}
BY_RANK = ("blue", "sky", "orange", "vermillion", "purple", "yellow", "black")


def band_colours(bands: Sequence[str]) -> dict[str, str]:
    """A colour per band: the health bands' own, else by rank (best first)."""
    return {b: OKABE_ITO[NAMED_BANDS.get(b, BY_RANK[i % len(BY_RANK)])] for i, b in enumerate(bands)}


def _text(x: float, y: float, content: str, anchor: str = "start", size: int = 12, weight: str = "normal",
          fill: str = INK, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}"{extra}>{escape(content)}</text>')


def _svg(ident: str, width: int, height: int, title: str, desc: str, body: list[str], data: str = "") -> Markup:
    """The chart's frame: role img, labelled by its <title> and described by its <desc> for screen readers."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}" class="chart" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-title {ident}-desc"{data}>'
            f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _nice_ceiling(value: float) -> float:
    """1, 2, 5 × 10ⁿ at or above value: round axis ends."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


# -------------------------------------------------------------------------------------------- waterfall


def _waterfall_range(levels: list[float]) -> tuple[float, float]:
    """The score axis, zoomed to where the bars move (whole tens, at least 20 points wide, within 0–100)."""
    lo = max(0.0, math.floor(min(levels) / 10) * 10 - 10)
    hi = min(100.0, math.ceil(max(levels) / 10) * 10 + (10 if max(levels) % 10 == 0 else 0))
    if hi - lo < 20:
        lo = max(0.0, hi - 20)
        hi = max(hi, lo + 20)
    return lo, hi


def waterfall(baseline: float, steps: list[tuple[str, float]], score: float, ident: str, score_colour: str = INK,
              width: int = 600) -> Markup:
    """From the baseline score, each factor group's points, to the score: floating bars on a zoomed 0–100 axis."""
    row, top, left, right = 26, 8, 168, 64
    levels = [baseline]
    for _, points in steps:
        levels.append(levels[-1] + points)
    lo, hi = _waterfall_range([*levels, score])
    height = top + row * (len(steps) + 2) + 28
    span = width - left - right

    def x(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * span

    body = [f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{height - 26}" stroke="{GRID}"/>' +
            _text(x(t), height - 10, f"{t:.0f}", "middle", 11) for t in np.arange(lo, hi + 0.1, 10)]
    body.append(_bar_row(0, "Baseline", lo, baseline, number(baseline), NEUTRAL, x, top, row,
                         f' data-role="baseline" data-points="{baseline!r}"'))
    for i, (group, points) in enumerate(steps, 1):
        start, end = levels[i - 1], levels[i]
        colour = LOSS if points < 0 else GAIN
        body.append(f'<line x1="{x(start):.1f}" x2="{x(start):.1f}" y1="{top + row * (i - 1) + 4}" '
                    f'y2="{top + row * i + 22}" stroke="{INK}" stroke-dasharray="2 2" stroke-width="0.8"/>')
        body.append(_bar_row(i, group, min(start, end), max(start, end), signed(points), colour, x, top, row,
                             f' data-group="{escape(group)}" data-points="{points!r}"'))
    last = len(steps) + 1
    body.append(_bar_row(last, "Score", lo, score, number(score), score_colour, x, top, row,
                         f' data-role="score" data-points="{score!r}"', bold=True))
    moves = "; ".join(f"{g} {signed(p)}" for g, p in steps)
    desc = (f"Waterfall from the baseline score {number(baseline)} to the score {number(score)}, one bar per factor "
            f"group: {moves}. Points below zero take from the score, points above add to it. "
            f"The axis runs from {lo:.0f} to {hi:.0f}.")
    return _svg(ident, width, height, "Points per factor group, from the baseline to the score", desc, body,
                f' data-baseline="{baseline!r}" data-score="{score!r}"')


def _bar_row(i: int, label: str, start: float, end: float, value: str, colour: str, x, top: int, row: int,
             data: str, bold: bool = False) -> str:
    y = top + row * i
    width = max(x(end) - x(start), 1.0)
    weight = "bold" if bold else "normal"
    return (f'<g class="wf-row"{data}>' + _text(8, y + 16, label, size=12, weight=weight) +
            f'<rect x="{x(start):.1f}" y="{y + 4}" width="{width:.1f}" height="{row - 8}" fill="{colour}"/>' +
            _text(x(end) + 6 if value[0] != "−" else x(start) - 6, y + 16, value,
                  "start" if value[0] != "−" else "end", 12, weight) + "</g>")


# ---------------------------------------------------------------------------------------------- history


def history_chart(points: list[tuple[pd.Timestamp, float, str]], ident: str, colours: dict[str, str],
                  cut_offs: dict[str, float] | None = None, width: int = 520, height: int = 190) -> Markup:
    """The score at every scoring of the account, with the band cut-offs as dashed lines."""
    left, right, top, bottom = 34, 88, 10, 26
    span_x, span_y = width - left - right, height - top - bottom
    times = [p[0].timestamp() for p in points]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)

    def x(t: float) -> float:
        return left + (span_x / 2 if t1 == t0 else (t - t0) / (t1 - t0) * span_x)

    def y(v: float) -> float:
        return top + (1 - v / 100) * span_y

    body = [f'<line x1="{left}" x2="{left + span_x}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{GRID}"/>' +
            _text(left - 4, y(v) + 4, f"{v}", "end", 10) for v in (0, 50, 100)]
    for band, cut in sorted((cut_offs or {}).items(), key=lambda kv: -kv[1]):
        if 0 < cut < 1:
            body.append(f'<line x1="{left}" x2="{left + span_x}" y1="{y(100 * cut):.1f}" y2="{y(100 * cut):.1f}" '
                        f'stroke="{colours.get(band, NEUTRAL)}" stroke-dasharray="5 3"/>' +
                        _text(left + span_x + 4, y(100 * cut) + 4, f"{band.replace('_', ' ')} ≥ {100 * cut:.0f}",
                              size=10))
    if len(points) > 1:
        path = " ".join(f"{x(t):.1f},{y(p[1]):.1f}" for t, p in zip(times, points, strict=True))
        body.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="1.5"/>')
    for t, (as_of, score, band) in zip(times, points, strict=True):
        body.append(f'<circle cx="{x(t):.1f}" cy="{y(score):.1f}" r="4.5" fill="{colours.get(band, NEUTRAL)}" '
                    f'stroke="{INK}" stroke-width="1" data-as-of="{day(as_of)}" data-score="{score!r}">'
                    f'<title>{day(as_of)}: {number(score)} ({escape(band)})</title></circle>')
    if points:
        body.append(_text(left, height - 6, day(points[0][0]), "start", 10))
        if len(points) > 1:
            body.append(_text(left + span_x, height - 6, day(points[-1][0]), "end", 10))
    said = ", ".join(f"{day(a)} {number(s)} ({b.replace('_', ' ')})" for a, s, b in points[-12:])
    desc = (f"Score at each of {len(points)} scorings, on a 0–100 axis" + (f"; the latest: {said}" if said else ""))
    return _svg(ident, width, height, "Score history", desc, body)


# ------------------------------------------------------------------------------------------------ trends


def no_data_chart(title: str, reason: str, ident: str, width: int = 340, height: int = 120) -> Markup:
    """A signal that is not in the data: hatched and labelled, so it can never be read as a flat zero."""
    body = [f'<defs><pattern id="{ident}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="8" stroke="{GRID}" stroke-width="3"/>'
            f'</pattern></defs>',
            f'<rect x="1" y="1" width="{width - 2}" height="{height - 2}" fill="url(#{ident}-hatch)" '
            f'stroke="{NEUTRAL}" stroke-dasharray="4 3"/>',
            f'<rect x="{width / 2 - 130:.0f}" y="{height / 2 - 22:.0f}" width="260" height="40" fill="#ffffff" '
            f'stroke="{NEUTRAL}"/>',
            _text(width / 2, height / 2 - 5, "No data", "middle", 13, "bold"),
            _text(width / 2, height / 2 + 12, reason[:48], "middle", 11)]
    return _svg(ident, width, height, f"{title}: no data", f"No data for this signal: {reason}.", body,
                ' data-no-data="true"')


def trend_chart(title: str, kind: str, labels: list[str], values: np.ndarray, ident: str,
                low: float | None = None, high: float | None = None, width: int = 340, height: int = 120) -> Markup:
    """Weekly bars for a count (a week without rows is 0); dots joined within runs for a level (gaps stay gaps)."""
    left, right, top, bottom = 40, 8, 8, 22
    span_x, span_y = width - left - right, height - top - bottom
    finite = values[np.isfinite(values)]
    lo = low if low is not None else (min(0.0, float(finite.min())) if finite.size else 0.0)
    hi = high if high is not None else _nice_ceiling(float(finite.max()) if finite.size else 1.0)
    if kind == "count":
        lo, hi = 0.0, _nice_ceiling(float(finite.max()) if finite.size else 1.0)
    step = span_x / len(values)

    def y(v: float) -> float:
        return top + (1 - (v - lo) / ((hi - lo) or 1.0)) * span_y

    body = [f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{GRID}"/>' +
            _text(left - 4, y(v) + 4, compact(v) if abs(v) >= 1000 else f"{v:g}", "end", 10)
            for v in ((lo, 0.0, hi) if lo < 0 < hi else (lo, hi))]
    body += [_text(left, height - 6, labels[0], "start", 10), _text(width - right, height - 6, labels[-1], "end", 10)]
    body += (_count_marks if kind == "count" else _level_marks)(values, labels, left, step, y)
    return _svg(ident, width, height, title, _trend_desc(title, kind, labels, values), body,
                f' data-trend-kind="{kind}"')


def _count_marks(values: np.ndarray, labels: list[str], left: float, step: float, y) -> list[str]:
    marks = []
    for i, v in enumerate(values):
        bar = max(y(0) - y(v), 0.0)
        marks.append(f'<rect x="{left + i * step + 1:.1f}" y="{y(v):.1f}" width="{max(step - 2, 1):.1f}" '
                     f'height="{bar:.1f}" fill="{GAIN}"><title>week to {labels[i]}: {v:g}</title></rect>')
    return marks


def _level_marks(values: np.ndarray, labels: list[str], left: float, step: float, y) -> list[str]:
    marks, run = [], []
    for i, v in enumerate([*values, np.nan]):
        if np.isfinite(v):
            run.append(f"{left + (i + 0.5) * step:.1f},{y(v):.1f}")
            marks.append(f'<circle cx="{left + (i + 0.5) * step:.1f}" cy="{y(v):.1f}" r="3" fill="{GAIN}">'
                         f'<title>week to {labels[i]}: {v:.2f}</title></circle>')
            continue
        if len(run) > 1:
            marks.insert(0, f'<polyline points="{" ".join(run)}" fill="none" stroke="{GAIN}" stroke-width="1.2"/>')
        run = []
    return marks


def _trend_desc(title: str, kind: str, labels: list[str], values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    where = f"{len(values)} weeks to {labels[-1]}"
    if not finite.size:
        return f"{title}: nothing recorded in the {where}."
    if kind == "count":
        return (f"{title}, {where}: latest week {values[-1]:g}, weekly mean {finite.mean():.1f}, "
                f"lowest {finite.min():g}, highest {finite.max():g}.")
    latest = int(np.flatnonzero(np.isfinite(values))[-1])
    weeks = "1 week" if finite.size == 1 else f"{finite.size} weeks"
    return (f"{title}, {where}: {weeks} with data, the latest {values[latest]:.2f} in the week to "
            f"{labels[latest]}; mean {finite.mean():.2f}.")


def values_table(labels: list[str], values: np.ndarray, unit: str, digits: int) -> Markup:
    """A chart's numbers as a table (its text alternative); a week without rows says so instead of a number."""
    cells = "".join(f'<tr><td>{w}</td><td class="num">' +
                    (f"{v:,.{digits}f}".replace("-", "−") if np.isfinite(v) else '<span class="muted">no rows</span>')
                    + "</td></tr>" for w, v in zip(labels, values, strict=True))
    return Markup(f'<table><thead><tr><th>week to</th><th class="num">{escape(unit)}</th></tr></thead>'
                  f"<tbody>{cells}</tbody></table>")


# -------------------------------------------------------------------------------------------- portfolio


def band_chart(rows: list[dict], colours: dict[str, str], ident: str, currency: str = "", width: int = 340) -> Markup:
    """Accounts and ARR per band, as shares: two bars per band, each labelled with its figures."""
    left, right, row = 70, 130, 22
    height = 12 + len(rows) * (2 * row + 10)
    span = width - left - right
    body = []
    for i, r in enumerate(rows):
        y = 6 + i * (2 * row + 10)
        colour = colours.get(r["band"], NEUTRAL)
        label = r["band"].replace("_", " ")
        body.append(f'<g data-band="{escape(r["band"])}" data-accounts="{r["accounts"]}" data-arr="{r["arr"]!r}">' +
                    _text(4, y + 15, label, size=12, weight="bold") +
                    f'<rect x="{left}" y="{y + 2}" width="{max(span * r["share"], 1):.1f}" height="{row - 6}" '
                    f'fill="{colour}"/>' +
                    _text(left + max(span * r["share"], 1) + 4, y + 14, f'{r["accounts"]:,} accounts '
                          f'({100 * r["share"]:.0f}%)', size=11) +
                    f'<rect x="{left}" y="{y + row}" width="{max(span * r["arr_share"], 1):.1f}" height="{row - 6}" '
                    f'fill="{colour}" fill-opacity="0.55" stroke="{colour}"/>' +
                    _text(left + max(span * r["arr_share"], 1) + 4, y + row + 12,
                          f'ARR {currency}{compact(r["arr"])} ({100 * r["arr_share"]:.0f}%)', size=11) + "</g>")
    desc = "; ".join(f'{r["band"].replace("_", " ")}: {r["accounts"]:,} accounts ({100 * r["share"]:.0f}%), ARR '
                     f'{currency}{compact(r["arr"])} ({100 * r["arr_share"]:.0f}%)' for r in rows)
    return _svg(ident, width, height, "Accounts and ARR per band", desc + ".", body)
