"""Scores into HubSpot and Salesforce over their HTTP APIs, losing nothing and writing nothing twice.

A CRM is not a database we own: calls are metered, fail now and then, and a write whose answer never came back
may or may not have happened. So every CRM sink keeps a **journal** (SQLite, one file per target, under the
workspace's `sinks/`) with two tables:

- `acknowledged`: per entity, a digest of the values the CRM last confirmed. A record whose values have not
  changed since is not sent again (API quotas), however many runs go by.
- `outbox`: per run and entity, the payload and its state: `unchanged`, `pending`, `in_flight`, `sent`, `dead`.

A batch is marked `in_flight` before its call and settled after the answer, so a run killed in between leaves
its doubt on disk. Doubt is settled by **reading the records back** (HubSpot batch read, a Salesforce SOQL query):
a record that already holds the intended values is acknowledged, never sent again. The same read-back follows
every answer that leaves the outcome open: a 5xx, a timeout, a dropped connection, an error HubSpot does not tie
to a record. 429s are retried after `Retry-After`; the rest with exponential backoff and jitter (tenacity).
Records the CRM refuses (unknown id, a field it rejects) or that stay undeliverable after the last attempt go to
the run's dead-letter file with the reason (and whether a plain retry could help); once the cause is fixed,
`signalscore score --resume RUN_ID` sends what is left, after a read-back, without touching the rest.

Tokens come from environment variables, live only in the HTTP client's headers, and are scrubbed from any text
that leaves this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import httpx
import pandas as pd
import tenacity

from serving.config import CrmConfig
from serving.sinks import CRM_SCHEMES, SinkError, SinkResult

log = logging.getLogger(__name__)

VENDORS = CRM_SCHEMES
CRM_TARGETS = ("hubspot://[HOST[:PORT]][/OBJECT]", "salesforce://HOST[:PORT][/SOBJECT]")
DEFAULT_HOST = {"hubspot": "api.hubapi.com"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Salesforce per-record errors that say "try again", not "this record is wrong".
SALESFORCE_TRANSIENT = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})

Progress = Callable[..., None]  # progress(description, completed=None, total=None)


class CrmError(SinkError):
    """A CRM target that cannot be used as given (bad form, no token); the message says what to fix."""


# --- the target -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CrmTarget:
    """Where one sink writes: vendor, API base, object, the field that holds our entity id, the token's variable."""

    vendor: str
    base_url: str
    object_name: str
    key_field: str
    token_env: str
    api_version: str = ""

    @property
    def label(self) -> str:
        """The target as logs and ledgers show it; it holds no secret (the token is never part of a target)."""
        host = urlsplit(self.base_url).netloc
        return f"{self.vendor}://{host}/{self.object_name}"

    @property
    def journal_name(self) -> str:
        """A file name for this target's journal: readable, and distinct for distinct targets."""
        digest = hashlib.sha256(f"{self.base_url}|{self.object_name}|{self.key_field}".encode()).hexdigest()[:8]
        host = re.sub(r"[^A-Za-z0-9.-]", "_", urlsplit(self.base_url).netloc)
        return f"{self.vendor}-{host}-{self.object_name}-{digest}"


def parse_target(target: str, model: str, cfg: CrmConfig) -> CrmTarget:
    """`hubspot://[HOST[:PORT]][/OBJECT]` or `salesforce://HOST[:PORT][/SOBJECT]`, options in the query.

    HTTPS always, except on a loopback host (a local test double or proxy). Options: `token_env`, and
    `id_property` (HubSpot) / `external_id`, `api_version` (Salesforce); anything else is refused, so a typo
    cannot silently fall back to a default.
    """
    parts = urlsplit(target)
    vendor = parts.scheme.lower()
    if vendor not in VENDORS:
        raise CrmError(f"{target!r} is not a CRM target ({', '.join(CRM_TARGETS)})")
    if parts.username or parts.password:
        raise CrmError(f"{vendor} target {parts.hostname or ''!r}: put the token in an environment variable "
                       f"(token_env), never in the URL")
    host = parts.hostname or DEFAULT_HOST.get(vendor)
    if not host:
        raise CrmError(f"{target!r}: a Salesforce target needs the instance host, e.g. "
                       "salesforce://mycompany.my.salesforce.com")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    vendor_cfg = cfg.hubspot if vendor == "hubspot" else cfg.salesforce
    key_option = "id_property" if vendor == "hubspot" else "external_id"
    allowed = {"token_env", key_option} | ({"api_version"} if vendor == "salesforce" else set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise CrmError(f"{vendor} target: unknown option {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    objects = cfg.hubspot.object_types if vendor == "hubspot" else cfg.salesforce.sobjects
    object_name = parts.path.strip("/") or objects.get(model, "")
    if not object_name or "/" in object_name:
        raise CrmError(f"{vendor} target: no object for model {model!r}; name it in the path, e.g. "
                       f"{vendor}://{host}/{'companies' if vendor == 'hubspot' else 'Account'}")
    scheme = "http" if host in LOOPBACK else "https"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    key_field = options.get(key_option) or (cfg.hubspot.id_property if vendor == "hubspot"
                                             else cfg.salesforce.external_id)
    return CrmTarget(vendor=vendor, base_url=f"{scheme}://{netloc}", object_name=object_name, key_field=key_field,
                     token_env=options.get("token_env") or vendor_cfg.token_env,
                     api_version=options.get("api_version") or (cfg.salesforce.api_version
                                                                if vendor == "salesforce" else ""))


def read_token(target: CrmTarget) -> str:
    token = os.environ.get(target.token_env, "").strip()
    if not token:
        raise CrmError(f"{target.label}: the environment variable {target.token_env} holds no token; set it to the "
                       f"{'private app access token' if target.vendor == 'hubspot' else 'OAuth access token'}")
    return token


# --- what is written --------------------------------------------------------------------------------------------

def _reasons_text(reasons: object, limit: int) -> str:
    """The reasons as lines a CRM field shows well: "− sentence" for what lowers the score, "+ …" for what raises it."""
    if not isinstance(reasons, str) or not reasons:
        return ""
    lines = [f"{'−' if (r.get('points') or 0) < 0 else '+'} {r.get('sentence', '')}" for r in json.loads(reasons)]
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _iso_utc(value: object, date_only: bool) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    moment = pd.Timestamp(value)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return f"{moment:%Y-%m-%d}" if date_only else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_values(table: pd.DataFrame, model: str, fields: Mapping[str, str], cfg: CrmConfig) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """(entity id, {CRM field: value}) per row: score rounded, reasons as text, provenance as ISO dates."""
    def column(name: str) -> list[Any]:
        return table[name].tolist() if name in table.columns else [None] * len(table)

    makers: dict[str, Callable[[int], Any]] = {}
    score, band, route, reasons = column("score"), column("band"), column("route"), column("reasons")
    version, as_of, scored_at = column("model_version"), column("as_of"), column("scored_at")
    makers["score"] = lambda i: (None if score[i] is None or math.isnan(score[i])
                                 else round(float(score[i]), cfg.score_decimals))
    makers["band"] = lambda i: band[i]
    makers["route"] = lambda i: route[i] if isinstance(route[i], str) else None
    makers["reasons"] = lambda i: _reasons_text(reasons[i], cfg.reasons_max_chars)
    makers["model_version"] = lambda i: f"{model} v{version[i]}" if version[i] is not None else None
    makers["as_of"] = lambda i: _iso_utc(as_of[i], date_only=True)
    makers["scored_at"] = lambda i: _iso_utc(scored_at[i], date_only=False)
    unknown = sorted(set(fields) - set(makers))
    if unknown:
        raise CrmError(f"CRM fields: unknown output {', '.join(unknown)} (known: {', '.join(makers)})")
    for i, entity_id in enumerate(table["entity_id"].astype(str).tolist()):
        yield entity_id, {crm_field: makers[output](i) for output, crm_field in fields.items()}


def digest(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def same_value(a: object, b: object) -> bool:
    """Equal as a CRM stores them: empty equals missing, numbers equal as numbers ("72.5" == 72.5)."""
    if a in (None, "") or b in (None, ""):
        return a in (None, "") and b in (None, "")
    if not isinstance(a, bool) and not isinstance(b, bool):
        with contextlib.suppress(TypeError, ValueError):
            return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)  # type: ignore[arg-type]
    return str(a) == str(b)


# --- the journal ------------------------------------------------------------------------------------------------

@dataclass
class Entry:
    entity_id: str
    digest: str
    payload: dict[str, Any]
    attempts: int = 0


class Journal:
    """The sink's memory: what the CRM confirmed, and per run what is still to send (see the module docstring)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS acknowledged (
        entity_id TEXT PRIMARY KEY, digest TEXT NOT NULL, run_id TEXT NOT NULL, acknowledged_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS outbox (
        run_id TEXT NOT NULL, entity_id TEXT NOT NULL, digest TEXT NOT NULL, payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('unchanged', 'pending', 'in_flight', 'sent', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0, reason TEXT, retryable INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, entity_id));
    CREATE INDEX IF NOT EXISTS outbox_state ON outbox (run_id, state);
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)  # explicit transactions below
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a settled batch survives a power cut
        self.db.executescript(self.SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def planned(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM outbox WHERE run_id = ? LIMIT 1", (run_id,)).fetchone() is not None

    def plan(self, run_id: str, records: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Put every record of the run in the outbox: `unchanged` when the CRM confirmed these values already."""
        confirmed = dict(self.db.execute("SELECT entity_id, digest FROM acknowledged"))
        rows = [(run_id, entity_id, value_digest, json.dumps(payload),
                 "unchanged" if confirmed.get(entity_id) == value_digest else "pending")
                for entity_id, value_digest, payload in records]
        with self._transaction() as db:
            db.executemany("INSERT INTO outbox (run_id, entity_id, digest, payload, state) VALUES (?, ?, ?, ?, ?)",
                           rows)

    def reopen(self, run_id: str) -> int:
        """A resumed run gets another go at every record it did not write; returns how many.

        Resuming is what an operator does once the cause is fixed (the token, the missing CRM records, the
        outage), so records the CRM refused are tried again too. They are read back first, like any record in
        doubt: one may have landed after all.
        """
        with self._transaction() as db:
            return db.execute("UPDATE outbox SET state = 'in_flight' WHERE run_id = ? AND state = 'dead'",
                              (run_id,)).rowcount

    def entries(self, run_id: str, state: str) -> list[Entry]:
        rows = self.db.execute("SELECT entity_id, digest, payload, attempts FROM outbox WHERE run_id = ? AND "
                               "state = ? ORDER BY rowid", (run_id, state))
        return [Entry(e, d, json.loads(p), a) for e, d, p, a in rows]

    def start(self, run_id: str, entries: Sequence[Entry]) -> None:
        """Before the call: these records may be written from now on, so a crash leaves them in doubt, not lost."""
        with self._transaction() as db:
            db.executemany("UPDATE outbox SET state = 'in_flight', attempts = attempts + 1 WHERE run_id = ? AND "
                           "entity_id = ?", [(run_id, e.entity_id) for e in entries])
        for entry in entries:
            entry.attempts += 1

    def requeue(self, run_id: str, entries: Sequence[Entry]) -> None:
        """Records found not to hold their values after all: to be sent."""
        with self._transaction() as db:
            db.executemany("UPDATE outbox SET state = 'pending' WHERE run_id = ? AND entity_id = ?",
                           [(run_id, e.entity_id) for e in entries])

    def acknowledge(self, run_id: str, entries: Sequence[Entry]) -> None:
        """The CRM holds these values: sent for this run, and the reference for the next runs' change check."""
        if not entries:
            return
        now = datetime.now(UTC).isoformat()
        with self._transaction() as db:
            db.executemany("UPDATE outbox SET state = 'sent', reason = NULL, retryable = 0 WHERE run_id = ? AND "
                           "entity_id = ?", [(run_id, e.entity_id) for e in entries])
            db.executemany("INSERT INTO acknowledged (entity_id, digest, run_id, acknowledged_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (entity_id) DO UPDATE SET digest = excluded.digest, run_id = excluded.run_id, "
                           "acknowledged_at = excluded.acknowledged_at",
                           [(e.entity_id, e.digest, run_id, now) for e in entries])

    def give_up(self, run_id: str, failures: Mapping[str, str], retryable: bool) -> None:
        """Records that go to the dead-letter file, each with its reason."""
        if not failures:
            return
        with self._transaction() as db:
            db.executemany("UPDATE outbox SET state = 'dead', reason = ?, retryable = ? WHERE run_id = ? AND "
                           "entity_id = ?", [(why, int(retryable), run_id, e) for e, why in failures.items()])

    def counts(self, run_id: str) -> dict[str, int]:
        rows = self.db.execute("SELECT state, count(*) FROM outbox WHERE run_id = ? GROUP BY state", (run_id,))
        return {state: int(n) for state, n in rows}

    def dead(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT entity_id, reason, attempts, retryable, payload FROM outbox WHERE run_id = ? "
                               "AND state = 'dead' ORDER BY rowid", (run_id,))
        return [{"entity_id": e, "reason": r, "attempts": a, "retryable": bool(t), "payload": json.loads(p)}
                for e, r, a, t, p in rows]


# --- talking to the vendors -------------------------------------------------------------------------------------

class Transient(Exception):
    """The call may succeed if repeated; `doubtful` when the CRM may have applied it anyway."""

    def __init__(self, reason: str, *, doubtful: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.doubtful, self.retry_after = reason, doubtful, retry_after


class Refused(Exception):
    """The whole call was refused; `retryable` when fixing something outside the data (a token) would help."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason, self.retryable = reason, retryable


@dataclass
class Outcome:
    """A batch's answer, record by record."""

    succeeded: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # the CRM refused the record: reason
    again: dict[str, str] = field(default_factory=dict)  # a passing per-record failure: try once more
    doubtful: dict[str, str] = field(default_factory=dict)  # the answer does not say: read the record back


class Vendor(Protocol):
    def send(self, client: httpx.Client, entries: Sequence[Entry]) -> Outcome: ...

    def read(self, client: httpx.Client, entity_ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict]: ...


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110); None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(float(value), 0.0)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        from email.utils import parsedate_to_datetime

        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    return None


def _body_text(response: httpx.Response, limit: int = 300) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def check_status(response: httpx.Response, what: str) -> None:
    """Raise Transient / Refused for answers that are not about individual records."""
    status = response.status_code
    if status == 429:
        raise Transient(f"{what}: HTTP 429 rate limited", doubtful=False, retry_after=retry_after_seconds(response))
    if status >= 500:
        raise Transient(f"{what}: HTTP {status} {_body_text(response)}", doubtful=True,
                        retry_after=retry_after_seconds(response))
    if status in (401, 403):
        raise Refused(f"{what}: HTTP {status}, the token was refused ({_body_text(response)}); fix the token and "
                      "resume the run", retryable=True)
    if status >= 400:
        raise Refused(f"{what}: HTTP {status} {_body_text(response)}", retryable=False)


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise Transient(f"{what}: HTTP {response.status_code} with a body that is not JSON", doubtful=True) from exc


def _networked(action: Callable[[], Any]) -> Any:
    """Network trouble as a passing failure: doubtful unless the request never reached the CRM."""
    try:
        return action()
    except httpx.ConnectError as exc:  # never reached the CRM: nothing can have been applied
        raise Transient(f"cannot connect: {type(exc).__name__}", doubtful=False) from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise Transient(f"no answer: {type(exc).__name__}", doubtful=True) from exc


@dataclass
class HubSpot:
    """CRM objects API v3: batch update by a unique property (≤ 100 inputs), batch read to check."""

    target: CrmTarget

    def _url(self, action: str) -> str:
        return f"{self.target.base_url}/crm/v3/objects/{self.target.object_name}/batch/{action}"

    def send(self, client: httpx.Client, entries: Sequence[Entry]) -> Outcome:
        body = {"inputs": [{"id": e.entity_id, "idProperty": self.target.key_field, "properties": e.payload}
                           for e in entries]}
        response = client.post(self._url("update"), json=body)
        check_status(response, "batch update")
        answer = _json(response, "batch update")
        outcome = Outcome()
        unattributed: list[str] = []
        asked = {e.entity_id for e in entries}
        for error in answer.get("errors") or []:
            reason = f"{error.get('category', 'ERROR')}: {error.get('message', '')}".strip()
            ids = [str(i) for i in (error.get("context") or {}).get("ids") or [] if str(i) in asked]
            if ids:
                outcome.rejected.update(dict.fromkeys(ids, reason))
            else:
                unattributed.append(reason)
        rest = [e.entity_id for e in entries if e.entity_id not in outcome.rejected]
        if unattributed:  # HubSpot did not say which inputs failed: the records themselves will tell
            outcome.doubtful = dict.fromkeys(rest, "; ".join(unattributed))
        else:
            outcome.succeeded = rest
        return outcome

    def read(self, client: httpx.Client, entity_ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict]:
        body = {"idProperty": self.target.key_field, "inputs": [{"id": i} for i in entity_ids],
                "properties": [self.target.key_field, *fields]}
        response = client.post(self._url("read"), json=body)
        check_status(response, "batch read")
        found: dict[str, dict] = {}
        for result in _json(response, "batch read").get("results") or []:
            properties = result.get("properties") or {}
            key = properties.get(self.target.key_field)
            if key is not None:
                found[str(key)] = properties
        return found


@dataclass
class Salesforce:
    """sObject Collections upsert by external id (≤ 200 records, allOrNone false); SOQL to check."""

    target: CrmTarget

    @property
    def _root(self) -> str:
        return f"{self.target.base_url}/services/data/{self.target.api_version}"

    def send(self, client: httpx.Client, entries: Sequence[Entry]) -> Outcome:
        sobject, key = self.target.object_name, self.target.key_field
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": sobject}, key: e.entity_id, **e.payload} for e in entries]}
        response = client.patch(f"{self._root}/composite/sobjects/{sobject}/{key}", json=body)
        check_status(response, "sObject Collections upsert")
        results = _json(response, "sObject Collections upsert")
        outcome = Outcome()
        if not isinstance(results, list) or len(results) != len(entries):  # results come in request order
            outcome.doubtful = {e.entity_id: "the answer does not list one result per record" for e in entries}
            return outcome
        for entry, result in zip(entries, results, strict=True):
            if result.get("success"):
                outcome.succeeded.append(entry.entity_id)
                continue
            errors = result.get("errors") or [{}]
            code = str(errors[0].get("statusCode", "ERROR"))
            reason = "; ".join(f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}".strip() for e in errors)
            (outcome.again if code in SALESFORCE_TRANSIENT else outcome.rejected)[entry.entity_id] = reason
        return outcome

    def read(self, client: httpx.Client, entity_ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict]:
        key = self.target.key_field
        quoted = ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in entity_ids)
        soql = f"SELECT {', '.join([key, *fields])} FROM {self.target.object_name} WHERE {key} IN ({quoted})"
        response = client.get(f"{self._root}/query", params={"q": soql})
        found: dict[str, dict] = {}
        while True:
            check_status(response, "SOQL query")
            answer = _json(response, "SOQL query")
            for record in answer.get("records") or []:
                if record.get(key) is not None:
                    found[str(record[key])] = record
            following = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not following:
                return found
            response = client.get(f"{self.target.base_url}{following}")


# --- the sink ---------------------------------------------------------------------------------------------------

class CrmSink:
    """One CRM target for one model; `write(table, run_id)` sends the run's changed records (see module doc)."""

    def __init__(self, target: str, model: str, cfg: CrmConfig, state_dir: Path, *,
                 progress: Progress | None = None, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.spec = parse_target(target, model, cfg)
        self.model, self.cfg, self.state_dir = model, cfg, state_dir
        self.target = self.spec.label
        self.vendor_cfg = cfg.hubspot if self.spec.vendor == "hubspot" else cfg.salesforce
        self.fields = {out: crm for out, crm in self.vendor_cfg.fields.items()
                       if out != "route" or model == "conversion"}  # renewal has no route
        self.compared = [crm for out, crm in self.fields.items() if out not in set(cfg.unchanged_ignores)]
        self.progress = progress or (lambda *_, **__: None)
        self.sleep = sleep
        self.transport = transport
        self._token = read_token(self.spec)  # checked now: a missing token is found before any scoring work
        self.vendor: Vendor = HubSpot(self.spec) if self.spec.vendor == "hubspot" else Salesforce(self.spec)

    @property
    def journal_path(self) -> Path:
        return self.state_dir / f"{self.spec.journal_name}.sqlite"

    def dead_letter_path(self, run_id: str) -> Path:
        return self.state_dir / "dead-letter" / f"{run_id}.{self.spec.journal_name}.jsonl"

    def scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def write(self, table: pd.DataFrame, run_id: str) -> SinkResult:
        journal = Journal(self.journal_path)
        try:
            if journal.planned(run_id):
                again = journal.reopen(run_id)
                log.info("%s: resuming run %s (%d records to check and retry)", self.target, run_id, again)
            else:
                journal.plan(run_id, self._records(table))
            with self._client() as client:
                self._settle_doubts(client, journal, run_id)
                self._send_pending(client, journal, run_id)
            counts = journal.counts(run_id)
            dead_letter = self._write_dead_letter(journal, run_id)
        finally:
            journal.close()
        written, unchanged, failed = counts.get("sent", 0), counts.get("unchanged", 0), counts.get("dead", 0)
        log.info("%s: %d records written, %d unchanged, %d in the dead-letter file (run %s)", self.target, written,
                 unchanged, failed, run_id)
        return SinkResult(self.target, written=written, unchanged=unchanged, failed=failed, history=0,
                          dead_letter=dead_letter)

    # -- planning and files

    def _records(self, table: pd.DataFrame) -> list[tuple[str, str, dict[str, Any]]]:
        if table["entity_id"].isna().any() or table["entity_id"].astype(str).duplicated().any():
            raise CrmError(f"{self.target}: entity_id must be present and unique (one record per entity)")
        ignored = set(self.cfg.unchanged_ignores)
        records = []
        for entity_id, values in record_values(table, self.model, self.fields, self.cfg):
            payload = self._encode(values)
            compared = {self.fields[o]: payload[self.fields[o]] for o in self.fields
                        if o not in ignored and self.fields[o] in payload}
            records.append((entity_id, digest(compared), payload))
        return records

    def _encode(self, values: dict[str, Any]) -> dict[str, Any]:
        """HubSpot takes and returns property values as text ("" clears one); Salesforce takes JSON types."""
        if self.spec.vendor == "hubspot":
            return {k: "" if v is None else (repr(v) if isinstance(v, float) else str(v)) for k, v in values.items()}
        return values

    def _write_dead_letter(self, journal: Journal, run_id: str) -> str | None:
        path = self.dead_letter_path(run_id)
        dead = journal.dead(run_id)
        if not dead:
            path.unlink(missing_ok=True)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for row in dead:
                row = {"run_id": run_id, "target": self.target, **row, "reason": self.scrub(str(row["reason"]))}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return str(path)

    # -- HTTP

    def _client(self) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                            timeout=httpx.Timeout(self.cfg.timeout_seconds), transport=self.transport,
                            follow_redirects=False)

    def _retrying(self) -> tenacity.Retrying:
        backoff = tenacity.wait_exponential_jitter(multiplier=self.cfg.backoff_seconds,
                                                   max=self.cfg.backoff_max_seconds, jitter=self.cfg.backoff_seconds)
        limit = self.cfg.max_retry_after_seconds

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            told = getattr(error, "retry_after", None)
            return float(told) if told is not None else backoff(state)

        def told_too_long(state: tenacity.RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            told = getattr(error, "retry_after", None)
            return told is not None and told > limit

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s", self.target, state.attempt_number,
                        self.scrub(str(error)), state.upcoming_sleep)

        return tenacity.Retrying(stop=tenacity.stop_after_attempt(self.cfg.max_attempts) | told_too_long,
                                 wait=wait, retry=tenacity.retry_if_exception_type(Transient),
                                 sleep=self.sleep, before_sleep=before_sleep, reraise=True)

    def _call(self, action: Callable[[], Any]) -> Any:
        """One logical call under the retry policy; network trouble counts as a passing failure."""
        return self._retrying()(lambda: _networked(action))

    # -- settling

    def _read_back(self, client: httpx.Client, entries: Sequence[Entry]) -> tuple[list[Entry], list[Entry]]:
        """Split records in doubt into those the CRM already holds and those it does not."""
        found = self._call(lambda: self.vendor.read(client, [e.entity_id for e in entries], self.compared))
        held, missing = [], []
        for entry in entries:
            record = found.get(entry.entity_id)
            ok = record is not None and all(same_value(record.get(f), entry.payload.get(f)) for f in self.compared)
            (held if ok else missing).append(entry)
        return held, missing

    def _settle_doubts(self, client: httpx.Client, journal: Journal, run_id: str) -> None:
        """Records left in flight by a killed run, or dead for a passing reason: keep what landed, resend the rest."""
        doubtful = journal.entries(run_id, "in_flight")
        for start in range(0, len(doubtful), self.vendor_cfg.batch_size):
            batch = doubtful[start:start + self.vendor_cfg.batch_size]
            try:
                held, missing = self._read_back(client, batch)
            except (Transient, Refused) as error:
                journal.give_up(run_id, {e.entity_id: f"not checked: {error}" for e in batch}, retryable=True)
                continue
            journal.acknowledge(run_id, held)
            journal.requeue(run_id, missing)

    def _send_pending(self, client: httpx.Client, journal: Journal, run_id: str) -> None:
        pending = journal.entries(run_id, "pending")
        size = self.vendor_cfg.batch_size
        for start in range(0, len(pending), size):
            self._deliver(client, journal, run_id, pending[start:start + size])
            self.progress(f"writing to {self.target}", completed=min(start + size, len(pending)), total=len(pending))

    def _deliver(self, client: httpx.Client, journal: Journal, run_id: str, batch: list[Entry]) -> None:
        """Send one batch until each record is acknowledged or dead; doubt is settled by reading back first."""
        remaining = list(batch)
        in_doubt = False

        def attempt() -> None:
            nonlocal remaining, in_doubt
            if in_doubt:
                held, remaining = self._read_back(client, remaining)
                journal.acknowledge(run_id, held)
                in_doubt = False
            if not remaining:
                return
            journal.start(run_id, remaining)
            try:
                outcome = _networked(lambda: self.vendor.send(client, remaining))
            except Transient as error:
                in_doubt = error.doubtful
                raise
            self._settle(journal, run_id, remaining, outcome)
            by_id = {e.entity_id: e for e in remaining}
            if outcome.doubtful:
                held, missing = self._read_back(client, [by_id[i] for i in outcome.doubtful])
                journal.acknowledge(run_id, held)
                journal.give_up(run_id, {e.entity_id: self.scrub(outcome.doubtful[e.entity_id]) for e in missing},
                                retryable=False)
            remaining = [by_id[i] for i in outcome.again]
            if remaining:
                reasons = "; ".join(sorted(set(outcome.again.values())))
                raise Transient(f"{len(remaining)} records to try again: {reasons}", doubtful=False)

        try:
            self._retrying()(attempt)
        except Transient as error:  # out of attempts (or told to wait too long): dead, to be resumed later
            journal.give_up(run_id, {e.entity_id: self.scrub(f"gave up after {e.attempts} attempts: {error}")
                                     for e in remaining}, retryable=True)
        except Refused as error:
            journal.give_up(run_id, {e.entity_id: self.scrub(str(error)) for e in remaining},
                            retryable=error.retryable)

    def _settle(self, journal: Journal, run_id: str, sent: Sequence[Entry], outcome: Outcome) -> None:
        by_id = {e.entity_id: e for e in sent}
        journal.acknowledge(run_id, [by_id[i] for i in outcome.succeeded])
        journal.give_up(run_id, {i: self.scrub(why) for i, why in outcome.rejected.items()}, retryable=False)
