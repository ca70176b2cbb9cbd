"""Compile catalog entries to Ibis expressions and evaluate them for many snapshots at once.

Every event-table feature is an aggregate over the rows joined to a snapshot on the entity and
`time < as_of` (point in time by construction: the join never lets a row at or after `as_of` in). Features
that share a source table and time column share one join and one aggregation, so adding a feature adds a
column to a query rather than a query.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from features.catalog import Feature
from features.contract import TABLES
from features.sources import DataSource

ENTITY_KEY = {"lead": "lead_id", "account": "account_id"}
ENTITY_TABLE = {"lead": "leads", "account": "accounts"}
ZERO_WHEN_NO_ROWS = {"count", "sum", "nunique", "open_at_as_of", "prior_outcomes", "decayed"}
EVENT_KINDS = {"count", "sum", "mean", "open_at_as_of", "trend", "decayed", "duration_median", "change"}
DERIVED_KINDS = {"ratio", "band"}  # computed from other features of the same snapshot
LATEST_KINDS = {"days_since", "latest"}  # the newest visible row decides: an as-of join, not a window scan
CONTRACT_KINDS = {"contract", "contract_days", "days_to_end", "prior_outcomes"}
ENTITY_KINDS = {"attribute", "keyword_map", "age_days"}
DAY = 86400.0
DAY_S = 86400
LN2 = math.log(2.0)


def _days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / DAY


def _where(j: ir.Table, where: dict[str, str | list[str]]) -> ir.BooleanValue:
    """`{"event": "login"}` keeps logins; a key ending in `!` negates (`{"event!": "login"}`)."""
    predicate: ir.BooleanValue = ibis.literal(True)
    for key, wanted in where.items():
        column = j[key.rstrip("!")]
        test = column.isin(wanted) if isinstance(wanted, list) else column == wanted
        predicate &= (~test) if key.endswith("!") else test
    return predicate


def _since(j: ir.Table, days: int | None, offset_days: int = 0) -> ir.BooleanValue:
    """Rows in [as_of - offset - days, as_of - offset), read off the precomputed integer age in seconds.

    Comparing whole-second ages is exact for whole-second as_of values (times are truncated to the second,
    and `t >= x` equals `floor(t) >= x` for a whole-second x); it avoids time-zone-aware interval
    arithmetic on every joined row, which dominated the cost.
    """
    predicate: ir.BooleanValue = j.age_ > offset_days * DAY if offset_days else ibis.literal(True)
    if days is not None:
        predicate &= j.age_ <= (offset_days + days) * DAY
    return predicate


def _drop_right(joined: ir.Table) -> ir.Table:
    """Left joins on key names keep the right side's copies of the keys; only the left ones matter."""
    return joined.drop(*[c for c in joined.columns if c in ("entity_id_right", "as_of_right", "as_of_s_right")])


def _event_aggregates(f: Feature, j: ir.Table) -> dict[str, ir.Value]:
    """The aggregate(s) one feature needs; trends need two (this window and the one before)."""
    pred = _where(j, f.where) & _since(j, f.window_days, f.offset_days)
    if f.kind == "count":
        return {f.name: j.t.count(where=pred)}
    if f.kind == "sum":
        return {f.name: j[f.column].sum(where=pred).cast("float64") * f.scale}
    if f.kind == "mean":
        return {f.name: j[f.column].cast("float64").mean(where=pred)}
    if f.kind == "decayed":
        weight = (-LN2 / f.half_life_days * j.age_.cast("float64") / DAY).exp()
        return {f.name: weight.sum(where=pred)}
    if f.kind == "duration_median":
        return {f.name: _days_between(j.t, j[f.column]).median(where=pred)}
    if f.kind == "change":
        before = _where(j, f.where) & _since(j, f.window_days, offset_days=f.window_days or 0)
        return {f"{f.name}__now": j[f.column].mean(where=pred), f"{f.name}__before": j[f.column].mean(where=before)}
    if f.kind == "open_at_as_of":
        return {f.name: j.t.count(where=pred & (j[f.column].isnull() | (j[f.column] >= j.as_of)))}
    if f.kind == "trend":
        before = _where(j, f.where) & _since(j, f.window_days, offset_days=f.window_days or 0)
        return {f"{f.name}__now": j.t.count(where=pred), f"{f.name}__before": j.t.count(where=before)}
    raise ValueError(f"feature {f.name}: kind {f.kind} is not an event aggregate")


def _lookback_days(feats: list[Feature]) -> int | None:
    days = []
    for f in feats:
        if f.window_days is None:
            return None
        days.append(f.window_days * (2 if f.kind in ("trend", "change") else 1) + f.offset_days)
    return max(days)


def _event_block(source: DataSource, snaps: ir.Table, entity: str, table: str, time_column: str,
                 feats: list[Feature]) -> ir.Table:
    key = ENTITY_KEY[entity]
    events = source.table(table)
    events = events.filter(events[key].notnull()).mutate(t=events[time_column],
                                                         ts_=events[time_column].epoch_seconds())
    lookback = _lookback_days(feats)
    # Whole seconds on both sides: t < as_of ⇔ floor(t) < as_of for a whole-second as_of, and integer
    # comparisons avoid time-zone-aware arithmetic on every joined row.
    condition = [snaps.entity_id == events[key], events.ts_ < snaps.as_of_s]
    if lookback is not None:
        condition.append(events.ts_ >= snaps.as_of_s - lookback * DAY_S)
    j = snaps.join(events, condition)
    j = j.mutate(age_=j.as_of_s - j.ts_)
    aggregates: dict[str, ir.Value] = {}
    for f in feats:
        aggregates.update(_event_aggregates(f, j))
    return j.group_by(["entity_id", "as_of"]).aggregate(**aggregates)


def _latest_block(source: DataSource, snaps: ir.Table, entity: str, f: Feature) -> ir.Table:
    """The newest matching row strictly before as_of (older than the window: missing)."""
    key = ENTITY_KEY[entity]
    table = source.table(f.source)
    time_column = f.time_column or TABLES[f.source].event_time
    rows = table.filter(table[key].notnull() & _where(table, f.where) & table[time_column].notnull())
    rows = rows.select(key_=rows[key], t_=rows[time_column], v_=rows[f.column or time_column])
    j = snaps.asof_join(rows, on=snaps.as_of > rows.t_, predicates=[snaps.entity_id == rows.key_])
    fresh = ibis.literal(True) if f.window_days is None else j.t_ >= j.as_of - ibis.interval(days=f.window_days)
    value = _days_between(j.as_of, j.t_) if f.kind == "days_since" else j.v_
    return j.select("entity_id", "as_of", **{f.name: ibis.ifelse(fresh, value, ibis.null(value.type()))})


def _distinct_block(source: DataSource, snaps: ir.Table, entity: str, table_name: str, time_column: str,
                    column: str, where: dict, feats: list[Feature]) -> ir.Table:
    """Distinct values per window, counted as values whose latest occurrence falls inside the window.

    An as-of join finds, for every (snapshot, value) pair, the value's latest row before as_of; counting
    the pairs whose latest row is recent enough gives every window at once, without the costly
    `count(distinct) filter (...)` over a window join.
    """
    key = ENTITY_KEY[entity]
    table = source.table(table_name)
    rows = table.filter(table[key].notnull() & table[column].notnull() & _where(table, where))
    rows = rows.select(key_=rows[key], v_=rows[column].cast("string"), t_=rows[time_column],
                       ts_=rows[time_column].epoch_seconds())
    pairs = rows.select("key_", "v_").distinct()
    probe = snaps.join(pairs, snaps.entity_id == pairs.key_).select("entity_id", "as_of", "as_of_s", pv=pairs.v_)
    j = probe.asof_join(rows, on=probe.as_of > rows.t_, predicates=[probe.entity_id == rows.key_,
                                                                    probe.pv == rows.v_])
    j = j.mutate(age_=j.as_of_s - j.ts_)
    counts = {f.name: j.t_.count(where=_since(j, f.window_days)) for f in feats}
    return j.group_by(["entity_id", "as_of"]).aggregate(**counts)


def _contract_block(source: DataSource, snaps: ir.Table, feats: list[Feature]) -> ir.Table:
    """Values of the contract that started last before as_of; outcomes only once they are known."""
    contracts = source.table("contracts").mutate(t=ibis._.start_date)
    j = snaps.join(contracts, [snaps.entity_id == contracts.account_id, contracts.t < snaps.as_of])
    aggregates: dict[str, ir.Value] = {}
    for f in feats:
        if f.kind == "contract":
            aggregates[f.name] = j[f.column].argmax(j.t)
        elif f.kind == "contract_days":
            aggregates[f"{f.name}__start"] = j.t.max()
            aggregates[f"{f.name}__end"] = j.end_date.argmax(j.t)
        elif f.kind == "days_to_end":
            aggregates[f"{f.name}__end"] = j.end_date.argmax(j.t)
        elif f.kind == "prior_outcomes":
            known = (j.outcome == f.equals) & j.outcome_at.notnull() & (j.outcome_at < j.as_of)
            aggregates[f.name] = j.t.count(where=known)
    return j.group_by(["entity_id", "as_of"]).aggregate(**aggregates)


def _entity_block(source: DataSource, snaps: ir.Table, entity: str, feats: list[Feature]) -> ir.Table:
    table = source.table(ENTITY_TABLE[entity])
    key = ENTITY_KEY[entity]
    columns = {f.name: table[f.column] for f in feats if f.kind == "attribute"}
    columns.update({f.name: _keyword_label(table[f.column], f.mapping) for f in feats if f.kind == "keyword_map"})
    columns.update({f"{f.name}__created": table.created_at for f in feats if f.kind == "age_days"})
    selected = table.select(entity_id=table[key], **columns)
    return _drop_right(snaps.left_join(selected, "entity_id"))


def _keyword_label(text: ir.StringValue, mapping: dict[str, list[str]]) -> ir.StringValue:
    """The first label whose keyword occurs in the (lower-cased) text; "other" when none does."""
    text = text.cast("string")
    padded = " " + text.lower() + " "
    branches = [(ibis.or_(*[padded.contains(k) for k in words]), label) for label, words in mapping.items()]
    return ibis.ifelse(text.isnull(), ibis.null("string"), ibis.cases(*branches, else_="other"))


def _band(value: ir.FloatingValue, bins: tuple[float, ...], labels: tuple[str, ...]) -> ir.StringValue:
    edges = list(itertools.pairwise(bins))
    branches = [((value >= low) & (value < high), label) for (low, high), label in zip(edges, labels, strict=True)]
    return ibis.cases(*branches, else_=ibis.null("string"))


def _finish(expr: ir.Table, feats: list[Feature], present: Callable[[Feature], bool]) -> ir.Table:
    """Turn helper columns into feature values, in catalog order, with typed nulls for absent tables."""
    values: dict[str, ir.Value] = {}
    for f in feats:
        if not present(f):
            values[f.name] = ibis.null("string" if f.categorical else "float64")
        elif f.kind in ZERO_WHEN_NO_ROWS:
            values[f.name] = expr[f.name].cast("float64").fill_null(0.0)
        elif f.kind == "age_days":
            values[f.name] = _days_between(expr.as_of, expr[f"{f.name}__created"])
        elif f.kind == "days_to_end":
            values[f.name] = _days_between(expr[f"{f.name}__end"], expr.as_of)
        elif f.kind == "contract_days":
            values[f.name] = _days_between(expr[f"{f.name}__end"], expr[f"{f.name}__start"])
        elif f.kind == "change":
            values[f.name] = expr[f"{f.name}__now"] - expr[f"{f.name}__before"]
        elif f.kind == "trend":
            now = expr[f"{f.name}__now"].cast("float64").fill_null(0.0)
            before = expr[f"{f.name}__before"].cast("float64").fill_null(0.0)
            values[f.name] = ibis.ifelse(before > 0, now / before, ibis.null("float64"))
        elif f.kind in DERIVED_KINDS:
            continue  # needs the other values first
        else:
            values[f.name] = expr[f.name].cast("string" if f.categorical else "float64")
    for f in feats:
        if f.kind == "ratio":
            num, den = values[f.numerator], values[f.denominator]
            values[f.name] = ibis.ifelse(den > 0, num / den, ibis.null("float64"))
        elif f.kind == "band":
            values[f.name] = _band(values[f.of], f.bins, f.labels)
    return expr.select("entity_id", "as_of", **{f.name: values[f.name] for f in feats})


def _dependencies(feats: list[Feature], all_feats: list[Feature]) -> list[Feature]:
    """Add the features a ratio is built from, so a subset of the catalog can still be built."""
    wanted = {f.name for f in feats}
    for f in feats:
        if f.kind == "ratio":
            wanted |= {f.numerator, f.denominator}
        elif f.kind == "band":
            wanted.add(f.of)
    return [f for f in all_feats if f.name in wanted] if wanted - {f.name for f in feats} else feats


def compile_features(source: DataSource, snapshots: pd.DataFrame, entity: str, feats: list[Feature],
                     catalog: list[Feature] | None = None) -> ir.Table:
    """One Ibis expression with a row per snapshot: entity_id, as_of and the features in catalog order."""
    needed = _dependencies(feats, catalog or feats)
    frame = snapshots[["entity_id", "as_of"]].copy()
    micros = frame["as_of"].astype("datetime64[us, UTC]").astype("int64")
    if (micros % 1_000_000 != 0).any():
        # Windows compare whole-second ages; a fractional as_of would widen them by up to a second.
        raise ValueError("as_of must fall on a whole second (e.g. a date or 2025-06-01T12:00:00)")
    frame["as_of_s"] = (micros // 1_000_000).astype("int64")
    snaps = ibis.memtable(frame).cast({"entity_id": "string", "as_of": "timestamp('UTC')", "as_of_s": "int64"})
    expr = snaps
    blocks: dict[tuple[str, str], list[Feature]] = defaultdict(list)
    distinct: dict[tuple, list[Feature]] = defaultdict(list)
    contract_feats: list[Feature] = []
    latest_feats: list[Feature] = []
    entity_feats: list[Feature] = []
    for f in needed:
        if not source.has(f.source):
            continue
        if f.kind in EVENT_KINDS:
            time_column = f.time_column or TABLES[f.source].event_time
            blocks[(f.source, time_column)].append(f)
        elif f.kind == "nunique":
            time_column = f.time_column or TABLES[f.source].event_time
            where = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in f.where.items()))
            distinct[(f.source, time_column, f.column, where)].append(f)
        elif f.kind in LATEST_KINDS:
            latest_feats.append(f)
        elif f.kind in CONTRACT_KINDS:
            contract_feats.append(f)
        elif f.kind in ENTITY_KINDS:
            entity_feats.append(f)
    parts = [_event_block(source, snaps, entity, t, c, fs) for (t, c), fs in blocks.items()]
    parts += [_distinct_block(source, snaps, entity, t, c, col, fs[0].where, fs)
              for (t, c, col, _), fs in distinct.items()]
    parts += [_latest_block(source, snaps, entity, f) for f in latest_feats]
    if contract_feats:
        parts.append(_contract_block(source, snaps, contract_feats))
    for part in parts:
        expr = _drop_right(expr.left_join(part, ["entity_id", "as_of"]))
    if entity_feats:
        expr = _entity_block(source, expr, entity, entity_feats)
    finished = _finish(expr, needed, lambda f: source.has(f.source))
    return finished.select("entity_id", "as_of", *[f.name for f in feats])


def build_features(source: DataSource, snapshots: pd.DataFrame, entity: str, feats: list[Feature],
                   catalog: list[Feature] | None = None) -> pd.DataFrame:
    """Evaluate the features; the only place the engine hands data to pandas."""
    if snapshots.empty:
        return pd.DataFrame(columns=["entity_id", "as_of", *[f.name for f in feats]])
    frame = compile_features(source, snapshots, entity, feats, catalog).to_pandas()
    frame = snapshots[["entity_id", "as_of"]].merge(frame, on=["entity_id", "as_of"], how="left")
    for f in feats:
        frame[f.name] = frame[f.name].astype(object if f.categorical else "float64")
        if f.categorical:
            frame[f.name] = frame[f.name].where(frame[f.name].notna(), None)
    return frame
