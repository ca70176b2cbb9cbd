"""Render the feature catalog as `docs/features.md`, so the documentation cannot drift from the definitions.

Run `python -m features.docs` after changing the catalog; a test fails while the page is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from features.catalog import CATALOG, GROUPS, Feature

ENTITY_TITLE = {"lead": "Leads (conversion model)", "account": "Accounts (renewal model)"}
DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def _how(f: Feature) -> str:
    """A compact statement of what the engine computes, in the catalog's own terms."""
    parts = [f"`{f.kind}`"]
    if f.source:
        parts.append(f"of `{f.source}`" + (f".`{f.column}`" if f.column and f.kind not in ("band",) else ""))
    if f.where:
        conditions = ", ".join(
            f"{k.rstrip('!')} {'≠' if k.endswith('!') else '='} {'/'.join(v) if isinstance(v, list) else v}"
            for k, v in f.where.items()
        )
        parts.append(f"where {conditions}")
    if f.window != "all":
        parts.append(f"over {f.window}" + (f", {f.offset} back" if f.offset else ""))
    if f.time_column:
        parts.append(f"by `{f.time_column}`")
    if f.numerator:
        parts.append(f"= `{f.numerator}` ÷ `{f.denominator}`")
    if f.of:
        parts.append(f"of `{f.of}`: " + ", ".join(f.labels))
    if f.half_life_days:
        parts.append(f"half-life {f.half_life_days:g} days")
    return " ".join(parts)


def _sentences(f: Feature) -> str:
    """The sentence cell: the template, then the singular, the change wording and how categories are said."""
    parts = [f.template]
    if f.one:
        parts.append(f"1: {f.one}")
    if f.change_template:
        against = f"against `{f.previous}`" if f.previous else "rise or fall"
        parts.append(f"{against}: {f.change_template}")
    if f.words:
        parts.append("said as: " + ", ".join(f"{k} → {v}" for k, v in f.words.items()))
    return "<br>".join(parts)


def render() -> str:
    lines = [
        "# Feature catalog",
        "",
        "Generated from `features/catalog.py` by `python -m features.docs`; do not edit by hand.",
        "Every feature of a snapshot uses only rows strictly before its `as_of` (see `concepts.md`). Windows",
        "end just before `as_of`; a missing value means \"no data\" (for example no tickets table), never zero.",
        "How the sentences are chosen (a value that shows as 0 or 1, a change against the window before, a",
        "missing value) is explained in `explanations.md`.",
        "",
        f"{len(CATALOG)} features.",
    ]
    for entity, groups in GROUPS.items():
        lines += ["", f"## {ENTITY_TITLE[entity]}"]
        for group in groups:
            members = [f for f in CATALOG if f.entity == entity and f.group == group]
            lines += ["", f"### {group} ({len(members)})", "",
                      "| feature | description | unit | computed as | sentence | when 0 | when missing |",
                      "|---|---|---|---|---|---|---|"]
            lines += [
                f"| `{f.name}` | {f.description} | {f.unit} | {_how(f)} | {_sentences(f)} | {f.zero or '—'} "
                f"| {f.missing or '—'} |"
                for f in members
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    DOC_PATH.write_text(render())
    sys.stdout.write(f"wrote {DOC_PATH} ({len(CATALOG)} features)\n")


if __name__ == "__main__":
    main()
