"""`signalscore import`: vendor exports into a data folder, wired for the CLI (the work is `features.exports`).

Kept out of `cli.py` so the command there stays a few lines: option parsing, the run and what a person reads
(one line per file, every note, where rejected rows went, the next command to run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from features.export_mapping import load_mapping, mapping_path, vendors
from features.exports import ImportedTables, load_export, rejected_path, write_export
from features.sources import DataError, read_meta

Echo = Callable[[str], None]


def parse_files(values: list[str]) -> dict[str, Path] | Path:
    """`--file Lead=leads.csv` (repeatable) as {file name: path}; one bare path is the mapping's first file."""
    if len(values) == 1 and "=" not in values[0]:
        return Path(values[0])
    files: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise DataError(f"--file {value!r}: expected NAME=PATH, e.g. --file Lead=leads.csv")
        files[name.strip()] = Path(path.strip())
    return files


def choose_mapping(vendor: str | None, mapping: Path | None) -> str | Path:
    """Exactly one of --vendor and --mapping."""
    if (vendor is None) == (mapping is None):
        raise DataError(f"pass --vendor ({', '.join(vendors())}) or --mapping FILE (your own mapping), not both")
    return mapping if mapping is not None else str(vendor)


def mapping_yaml(source: str | Path) -> str:
    """The mapping file's text, comments included, to copy and edit (`--print-mapping > my.yaml`)."""
    load_mapping(source)  # a broken mapping is reported, not printed
    return mapping_path(source).read_text()


def run_import(source: str | Path, files: list[str], out: Path, horizon: str | None, replace: bool,
               echo: Echo) -> ImportedTables:
    """Read the exports, write `<out>/<table>.parquet`, and say what happened to every row and column."""
    if not files:
        mapping = load_mapping(source)
        listed = ", ".join(f"{k}=… ({r.table or 'lookup'})" for k, r in mapping.files.items())
        raise DataError(f"{mapping.label}: no --file given; it reads {listed}")
    imported = load_export(source, parse_files(files), horizon=horizon)
    written = write_export(imported, out, horizon=horizon, replace=replace)
    mapping = imported.mapping
    echo(f"{mapping.name}: {mapping.title}")
    for report in imported.reports:
        echo(f"  {report.line()}")
    for note in imported.notes:
        echo(f"note: {note}")
    echo("wrote " + ", ".join(f"{path} ({len(imported[t]):,} rows)" for t, path in written.items()))
    for report in imported.reports:
        if len(report.rejected):
            echo(f"rejected rows with their reason: {rejected_path(out, mapping, report.key)}")
    if horizon is None and "horizon" not in read_meta(out):
        echo("no --horizon given: pass the extraction moment so `validate` can check that nothing lies after it")
    echo(f"next: signalscore validate --data {out}")
    return imported
