"""One entity's explanation in the terminal: the score, the points per factor group, the reasons, what changed.

Read from the scoring output (scores/<model>/<as_of>.parquet), so the terminal says exactly what the CRM got.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 24


class NotScored(LookupError):
    """No scoring run holds this entity (or none exists yet): the message says what to run."""


def scored_row(folder: Path, entity_id: str, as_of: str | None = None) -> tuple[pd.Series, pd.Series | None]:
    """The entity's row in the latest (or the given) scoring, and its row in the scoring before, if any."""
    files = sorted(folder.glob("*.parquet"))
    if as_of is not None:
        files = [f for f in files if f.stem <= pd.Timestamp(as_of).strftime("%Y-%m-%d")]
    if not files:
        raise NotScored(f"no scores in {folder}{' up to ' + as_of if as_of else ''}: run `signalscore score` first")
    latest = pd.read_parquet(files[-1])
    rows = latest[latest.entity_id.astype(str) == str(entity_id)]
    if rows.empty:
        raise NotScored(f"{entity_id} is not in the scoring of {files[-1].stem} ({len(latest):,} entities; "
                        "only eligible entities are scored)")
    previous = None
    if len(files) > 1:
        before = pd.read_parquet(files[-2])
        match = before[before.entity_id.astype(str) == str(entity_id)]
        previous = match.iloc[0] if not match.empty else None
    return rows.iloc[0], previous


def _bar(points: float, scale: float) -> Text:
    """A signed bar: red to the left for points lost, blue to the right for points gained (colour-blind safe)."""
    cells = round(abs(points) / scale * BAR_WIDTH) if scale > 0 else 0
    half = " " * BAR_WIDTH
    if points < 0:
        return Text(half[cells:]) + Text("█" * cells, style="red") + Text("│") + Text(half)
    return Text(half) + Text("│") + Text("█" * cells, style="blue") + Text(half[cells:])


def _groups(row: pd.Series) -> Table:
    columns = [c for c in row.index if c.startswith("points_")]
    scale = max([abs(float(row[c])) for c in columns] + [1e-9])
    table = Table(title=f"From the baseline {row['baseline_score']:.1f} to the score {row['score']:.1f}",
                  show_edge=False, box=None)
    table.add_column("factor group")
    table.add_column("points", justify="right")
    table.add_column("")
    for column in sorted(columns, key=lambda c: float(row[c])):
        name = column.removeprefix("points_").replace("_", " ").capitalize()
        table.add_row(name, f"{float(row[column]):+.1f}", _bar(float(row[column]), scale))
    return table


def _reasons(row: pd.Series) -> Table:
    table = Table(title="Why", show_edge=False, box=None)
    table.add_column("")
    table.add_column("points", justify="right")
    table.add_column("reason")
    for reason in json.loads(row["reasons"] or "[]"):
        mark = Text("▼", style="red") if reason["points"] < 0 else Text("▲", style="blue")
        table.add_row(mark, f"{reason['points']:+.1f}", reason["sentence"])
    return table


def _changes(row: pd.Series, previous: pd.Series | None) -> Text | Table:
    if pd.isna(row.get("score_change")) or row.get("change_reasons") is None:
        return Text("First scoring of this entity: nothing to compare with yet.", style="italic")
    change = json.loads(row["change_reasons"])
    since = f" since {pd.Timestamp(previous['as_of']):%Y-%m-%d}" if previous is not None else ""
    table = Table(title=f"What changed{since}: {row['score_change']:+.1f} points", show_edge=False, box=None)
    table.add_column("what")
    table.add_column("points", justify="right")
    table.add_column("detail")
    for group in change.get("groups", []):
        table.add_row(group["group"], f"{group['points']:+.1f}", "")
    for moved in change.get("features", []):
        before = "no data" if moved["before"] is None else moved["before"]
        after = "no data" if moved["after"] is None else moved["after"]
        table.add_row(f"  {moved['feature']}", f"{moved['points']:+.1f}", f"{before} → {after}: {moved['sentence']}")
    return table


def explanation(row: pd.Series, previous: pd.Series | None = None) -> Panel:
    """The whole explanation as one rich renderable."""
    band = row["band"]
    route = f", route {row['route']}" if isinstance(row.get("route"), str) else ""
    head = Text.assemble(
        (f"{row['entity_id']}  ", "bold"), (f"score {row['score']:.1f}", "bold"),
        f"  ({band}{route}; probability {row['probability']:.3f}, percentile {row['percentile']:.0f})",
    )
    title = f"{row['model']} v{row['model_version']} as of {pd.Timestamp(row['as_of']):%Y-%m-%d}"
    return Panel(Group(head, Text(""), _groups(row), Text(""), _reasons(row), Text(""), _changes(row, previous)),
                 title=title, expand=False)
