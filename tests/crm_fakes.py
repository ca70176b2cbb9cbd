"""Local stand-ins for the HubSpot and Salesforce APIs, with faults on demand.

Each fake answers the calls signalscore makes with the request and response shapes the vendors document:
HubSpot CRM v3 `POST /crm/v3/objects/{type}/batch/update` (≤ 100 inputs keyed by `idProperty`; 200, or 207 with
`errors[].context.ids`) and `batch/read`; Salesforce `PATCH /services/data/vXX.X/composite/sobjects/{SObject}/
{ExternalId}` (≤ 200 records, a list of results in request order) and `GET …/query?q=SOQL`. Both check the bearer
token. `writes` counts, per record, how many times a write was applied: the tests' measure of "exactly once".

Faults are queued with `fail_next(...)` and consumed by write calls in order:
`("429", seconds)`, `("500",)`, `("500_after_apply",)`, `("slow", seconds)` (applies, then answers late),
`("drop_before",)` / `("drop_after",)` (closes the connection without an answer, before / after applying),
`("hang",)` / `("hang_after_apply",)` (waits until `release()`), `("unattributed",)` (HubSpot: 207 whose error names
no record; the invalid record is not applied, the rest are).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-token-5f2c9a"


class AnyId:
    """Every id is known: the CRM holds every account the scoring job can name."""

    def __contains__(self, item: object) -> bool:
        return True


class FakeCrm:
    def __init__(self, vendor: str, known_ids: set[str] | None, *, object_name: str, key_field: str, fields: set[str],
                 token: str = TOKEN, batch_limit: int | None = None, api_version: str = "v62.0") -> None:
        self.vendor, self.object_name, self.key_field = vendor, object_name, key_field
        self.known_ids: set[str] | AnyId = AnyId() if known_ids is None else set(known_ids)
        self.fields, self.token, self.api_version = set(fields), token, api_version
        self.batch_limit = batch_limit or (100 if vendor == "hubspot" else 200)
        self.records: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        self.writes: Counter[str] = Counter()
        self.calls: list[tuple[str, str, int, int]] = []  # (method, path, records, status)
        self.faults: deque[tuple] = deque()
        self.lock_once: set[str] = set()  # Salesforce: these records answer UNABLE_TO_LOCK_ROW the first time
        self.invalid: set[str] = set()  # HubSpot "unattributed": these records fail validation
        self.hanging = threading.Event()  # set while a request hangs
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle

    def __enter__(self) -> FakeCrm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.vendor}://127.0.0.1:{self.port}/{self.object_name}"

    def fail_next(self, *faults: tuple) -> None:
        self.faults.extend(faults)

    def release(self) -> None:
        self._release.set()

    def kill_when_hanging(self, command: list[str], env: dict[str, str], timeout: float) -> None:
        """Run a writer, SIGKILL it while one of its calls hangs here, then let the hung request go."""
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert self.hanging.wait(timeout), "the writer never reached the call that hangs"
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            process.kill()
        self.release()

    def write_calls(self) -> list[tuple[str, str, int, int]]:
        return [c for c in self.calls if c[0] in ("POST", "PATCH") and not c[1].endswith("/read")]

    # -- vendor logic

    def _apply(self, entity_id: str, values: dict[str, Any]) -> None:
        with self._lock:
            self.records[entity_id].update(values)
            self.writes[entity_id] += 1

    def hubspot_update(self, body: dict) -> tuple[int, dict, list[str]]:
        """(status, answer, ids applied) for a batch update; unknown properties refuse the whole call."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs or len(inputs) > self.batch_limit:
            return 400, {"status": "error", "category": "VALIDATION_ERROR",
                         "message": f"inputs must hold 1 to {self.batch_limit} objects"}, []
        for item in inputs:
            unknown = set(item.get("properties", {})) - self.fields
            if item.get("idProperty") != self.key_field or unknown:
                return 400, {"status": "error", "category": "VALIDATION_ERROR",
                             "message": f"Property values were not valid: {sorted(unknown)}"}, []
            if not all(isinstance(v, str) for v in item["properties"].values()):
                return 400, {"status": "error", "category": "VALIDATION_ERROR",
                             "message": "property values must be strings"}, []
        results, missing, invalid, applied = [], [], [], []
        for item in inputs:
            eid = str(item["id"])
            if eid not in self.known_ids:
                missing.append(eid)
            elif eid in self.invalid:
                invalid.append(eid)
            else:
                applied.append(eid)
                results.append({"id": f"9{abs(hash(eid)) % 10**9}", "properties": dict(item["properties"]),
                                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-12-05T00:00:00Z",
                                "archived": False})
        errors = []
        if missing:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                           "message": "Could not get some COMPANY objects, they may be deleted or not exist.",
                           "context": {"ids": missing}})
        if invalid:  # HubSpot names the property, not the record
            errors.append({"status": "error", "category": "VALIDATION_ERROR",
                           "message": "Property values were not valid",
                           "context": {"propertyName": ["signalscore_band"]}})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": "2026-12-05T00:00:00Z",
                                  "completedAt": "2026-12-05T00:00:01Z"}
        if errors:
            answer.update(numErrors=len(missing) + len(invalid), errors=errors)
        return (207 if errors else 200), answer, applied

    def hubspot_read(self, body: dict) -> tuple[int, dict]:
        wanted = [str(i["id"]) for i in body.get("inputs", [])]
        props = body.get("properties", [])
        results = [{"id": "1", "properties": {p: self.records[i].get(p) for p in props} | {self.key_field: i},
                    "archived": False} for i in wanted if i in self.known_ids]
        missing = [i for i in wanted if i not in self.known_ids]
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            answer.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                                "message": "not found", "context": {"ids": missing}}])
        return (207 if missing else 200), answer

    def salesforce_upsert(self, body: dict) -> tuple[int, Any, list[str]]:
        records = body.get("records")
        if not isinstance(records, list) or not records or len(records) > self.batch_limit:
            return 400, [{"message": f"records must hold 1 to {self.batch_limit} sObjects",
                          "errorCode": "INVALID_BATCH_SIZE"}], []
        for record in records:
            unknown = set(record) - self.fields - {"attributes", self.key_field}
            if record.get("attributes", {}).get("type") != self.object_name or unknown:
                return 400, [{"message": f"No such column {sorted(unknown)} on sobject of type {self.object_name}",
                              "errorCode": "INVALID_FIELD"}], []
        results, applied = [], []
        for record in records:
            eid = str(record.get(self.key_field))
            if eid not in self.known_ids:  # an upsert would create the Account, which needs a Name
                results.append({"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                                              "message": "Required fields are missing: [Name]",
                                                              "fields": ["Name"]}]})
            elif eid in self.lock_once:
                self.lock_once.discard(eid)
                results.append({"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
                                                              "message": "unable to obtain exclusive access to this "
                                                                         "record", "fields": []}]})
            else:
                applied.append(eid)
                results.append({"id": f"001{abs(hash(eid)) % 10**12:012d}", "success": True, "errors": [],
                                "created": False})
        return 200, results, applied

    def salesforce_query(self, soql: str) -> tuple[int, Any]:
        match = re.fullmatch(r"SELECT (?P<cols>.+) FROM (?P<obj>\w+) WHERE (?P<key>\w+) IN \((?P<ids>.*)\)", soql)
        if not match or match["obj"] != self.object_name or match["key"] != self.key_field:
            return 400, [{"message": f"malformed query: {soql[:80]}", "errorCode": "MALFORMED_QUERY"}]
        columns = [c.strip() for c in match["cols"].split(",")]
        if set(columns) - self.fields - {self.key_field}:
            return 400, [{"message": "No such column", "errorCode": "INVALID_FIELD"}]
        ids = [i.replace("\\'", "'").replace("\\\\", "\\") for i in re.findall(r"'((?:[^'\\]|\\.)*)'", match["ids"])]
        rows = [{"attributes": {"type": self.object_name, "url": f"/services/data/{self.api_version}/sobjects/x"},
                 **{c: self.records[i].get(c) for c in columns}, self.key_field: i}
                for i in ids if i in self.known_ids]
        return 200, {"totalSize": len(rows), "done": True, "records": rows}

    # -- HTTP plumbing

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {fake.token}":
                    return True
                if fake.vendor == "hubspot":
                    self._answer(401, {"status": "error", "category": "INVALID_AUTHENTICATION",
                                       "message": "Authentication credentials not found."})
                else:
                    self._answer(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
                return False

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if not self._authorised():
                    return
                if fake.vendor == "salesforce" and parts.path == f"/services/data/{fake.api_version}/query":
                    status, answer = fake.salesforce_query(parse_qs(parts.query).get("q", [""])[0])
                    fake.calls.append(("GET", parts.path, 0, status))
                    self._answer(status, answer)
                    return
                self._answer(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])

            def do_POST(self) -> None:
                self._write("POST")

            def do_PATCH(self) -> None:
                self._write("PATCH")

            def _write(self, method: str) -> None:
                path = urlsplit(self.path).path
                hub = f"/crm/v3/objects/{fake.object_name}/batch/"
                sf = f"/services/data/{fake.api_version}/composite/sobjects/{fake.object_name}/{fake.key_field}"
                is_read = fake.vendor == "hubspot" and method == "POST" and path == hub + "read"
                is_write = (fake.vendor == "hubspot" and method == "POST" and path == hub + "update") or (
                    fake.vendor == "salesforce" and method == "PATCH" and path == sf)
                if not (is_read or is_write):
                    self._answer(404, {"status": "error", "message": f"no route {method} {path}"})
                    return
                fault = fake.faults.popleft() if is_write and fake.faults else ("ok",)
                if fault[0] == "drop_before":
                    fake.calls.append((method, path, 0, 0))
                    self._drop()
                    return
                body = self._body()
                if not self._authorised():
                    fake.calls.append((method, path, 0, 401))
                    return
                if is_read:
                    status, answer = fake.hubspot_read(body)
                    fake.calls.append((method, path, len(body.get("inputs", [])), status))
                    self._answer(status, answer)
                    return
                n = len(body.get("inputs") or body.get("records") or [])
                if fault[0] == "429":
                    fake.calls.append((method, path, n, 429))
                    self._answer(429, {"status": "error", "errorType": "RATE_LIMIT", "policyName": "SECONDLY",
                                       "message": "You have reached your secondly limit."},
                                 {"Retry-After": str(fault[1])})
                    return
                if fault[0] == "500":
                    fake.calls.append((method, path, n, 500))
                    self._answer(500, {"status": "error", "message": "internal error"})
                    return
                if fault[0] == "hang":
                    fake.calls.append((method, path, n, 0))
                    fake.hanging.set()
                    fake._release.wait(60)
                    self._drop()
                    return
                if fault[0] == "unattributed":
                    fake.invalid.add(str(body["inputs"][0]["id"]))
                status, answer, _ = fake.vendor_write(body)
                fake.calls.append((method, path, n, status))
                if fault[0] == "500_after_apply":
                    self._answer(500, {"status": "error", "message": "internal error"})
                elif fault[0] == "slow":
                    time.sleep(fault[1])
                    self._answer(status, answer)
                elif fault[0] == "drop_after":
                    self._drop()
                elif fault[0] == "hang_after_apply":
                    fake.hanging.set()
                    fake._release.wait(60)
                    self._drop()
                else:
                    self._answer(status, answer)

        return Handler

    def vendor_write(self, body: dict) -> tuple[int, Any, list[str]]:
        """Apply a write call's records (all its accepted records at once, as the vendors do)."""
        if self.vendor == "hubspot":
            status, answer, applied = self.hubspot_update(body)
            values = {str(i["id"]): i["properties"] for i in body.get("inputs", [])}
        else:
            status, answer, applied = self.salesforce_upsert(body)
            skip = ("attributes", self.key_field)
            values = {str(r.get(self.key_field)): {k: v for k, v in r.items() if k not in skip}
                      for r in body.get("records", [])}
        for eid in applied:
            self._apply(eid, values[eid])
        return status, answer, applied
