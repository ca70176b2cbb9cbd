"""What an unattended scoring run needs around the scoring itself: exit codes, a lock, a guard and a ledger.

`signalscore score` runs at night from a scheduler, with nobody watching. So:

- its **exit code** tells the scheduler what happened without parsing any output (`ExitCode`);
- a **lock** per model keeps two runs (a retry started while the first still runs, a manual run during the
  nightly one) from interleaving upserts into the same CRM tables (`scoring_lock`);
- a **guard** refuses to overwrite yesterday's good scores when today's input is broken: many rejected rows
  or many entities without a score mean a broken feed, not a changed business (`check_guard`);
- a **ledger** file per run answers "what happened last night, with which model, and what did it write"
  long after the terminal is gone (`RunLedger`, `latest_runs`, `previous_successful`).

Only the standard library is used: the lock is `fcntl.flock` (POSIX only), which the OS releases by itself
when the holding process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum, IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------- exit codes


class ExitCode(IntEnum):
    """The process exit codes of `signalscore`, stable so that schedulers and scripts can branch on them.

    3 belongs to `signalscore validate` ("rows were rejected"); it is listed so that nothing else reuses it.
    """

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    ROWS_REJECTED = 3
    GUARD = 4
    LOCKED = 5
    PARTIAL = 6

    @property
    def meaning(self) -> str:
        """One plain sentence, for `--help`, the docs and the end of a run."""
        return EXIT_CODE_MEANING[self]


EXIT_CODE_MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "The command did what it was asked to do.",
    ExitCode.FAILED: "An unexpected error stopped the command; the message and the log say where.",
    ExitCode.BAD_INPUT: "An option, the configuration or the data is wrong (for example a missing table or "
                        "column), and the message names what to fix.",
    ExitCode.ROWS_REJECTED: "Used by `validate` only: some input rows break the data contract and were rejected.",
    ExitCode.GUARD: "Scoring refused to write anything because too many input rows were rejected or too many "
                    "entities could not be scored.",
    ExitCode.LOCKED: "Another scoring run of the same model holds the lock, so this one did not start.",
    ExitCode.PARTIAL: "Some rows could not be written to a sink; all the others were written.",
}


def exit_code_table() -> str:
    """All codes, one line each ("4  GUARD  Scoring refused …"), as the CLI and the docs print them."""
    return "\n".join(f"{code.value}  {code.name:<13} {code.meaning}" for code in ExitCode)


# -------------------------------------------------------------------------------------------------------- lock

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HELD_FDS: set[int] = set()  # lock and gate descriptors this process holds, closed in forked children
GATE_TIMEOUT = 10.0  # seconds; the gate is held for milliseconds, so waiting longer means something is stuck


def _close_inherited_locks() -> None:
    """A forked child must not keep its parent's lock alive after the parent dies.

    flock belongs to the open file description, which `fork` shares: an orphaned child (a multiprocessing
    worker, say) would hold the lock forever. Closing the child's copy (never unlocking, which would release
    the parent's lock too) leaves the parent the only holder.
    """
    for fd in list(_HELD_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_FDS.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


class LockedError(RuntimeError):
    """Another scoring run of the same model holds the lock; the message says which run, where and since when."""

    exit_code = ExitCode.LOCKED
    ledger_status = "refused"

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


@dataclass(frozen=True)
class HeldLock:
    """The lock this run holds; `note` is set when it took over a lock left behind by a dead run."""

    model: str
    run_id: str
    pid: int
    host: str
    since: str
    path: Path
    note: str | None = None


def lock_paths(runs_dir: Path, model: str) -> tuple[Path, Path, Path]:
    """(lock file, holder sidecar, gate) of a model; none of them looks like a ledger to `latest_runs`."""
    _check_name(model)
    return runs_dir / f"{model}.lock", runs_dir / f"{model}.lock.json", runs_dir / f"{model}.lock.gate"


@contextlib.contextmanager
def scoring_lock(runs_dir: Path, model: str, run_id: str = "", *,
                 gate_timeout: float = GATE_TIMEOUT) -> Iterator[HeldLock]:
    """Hold the one lock that lets a scoring run of `model` write; raise `LockedError` at once if it is taken.

    Why a lock: two runs of one model would interleave their upserts, and the CRM would end up with a mix of
    two model versions or two `as_of`s. Runs of different models do not share tables and do not block each other.

    The OS lock (`flock` on `runs/<model>.lock`) decides who holds it, and the OS drops it when the holder dies,
    so a crashed run never blocks the next night. The sidecar `runs/<model>.lock.json` only says who holds it
    (run id, pid, host, since) for the message. A sidecar left by a dead run is taken over, with a note in
    `HeldLock.note` (and the log) for the ledger. Refused instead: a free OS lock whose sidecar names a process
    that is still alive on this host (someone deleted the lock file under a running run).

    A short-lived gate (`runs/<model>.lock.gate`) serialises "take the lock and write the sidecar" against
    "read the sidecar and judge", so the sidecar a refusal names is always the holder's. Threads of one process
    exclude each other too (each `open` is its own flock). The lock is released on leaving the block, by
    exception or not. Local filesystems only: flock across NFS hosts depends on the NFS setup.
    """
    lock_path, sidecar, gate = lock_paths(runs_dir, model)
    runs_dir.mkdir(parents=True, exist_ok=True)
    me = {"run_id": run_id or "(no run id)", "model": model, "pid": os.getpid(), "host": socket.gethostname(),
          "since": _iso(_now())}
    with _gate(gate, gate_timeout):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = _read_json(sidecar)
            raise LockedError(_held_message(model, holder, lock_path), holder) from None
        _HELD_FDS.add(fd)
        try:
            previous = _read_json(sidecar)
            if previous and _alive_here(previous) and previous.get("pid") != os.getpid():
                raise LockedError(_orphaned_sidecar_message(model, previous, lock_path, sidecar), previous)
            note = _takeover_note(previous) if previous else None
            _write_json_atomic(sidecar, me)
        except BaseException:
            _unlock(fd)
            raise
    if note:
        log.warning("%s", note)
    try:
        yield HeldLock(model, me["run_id"], me["pid"], me["host"], me["since"], lock_path, note)
    finally:
        _release(fd, sidecar, gate, me, gate_timeout)


def _release(fd: int, sidecar: Path, gate: Path, me: dict[str, Any], gate_timeout: float) -> None:
    """Remove our sidecar, then unlock; under the gate when it can be had, without it rather than never.

    A forked child leaving the `with` block (its copy of the descriptor is already closed) touches nothing:
    the lock and the sidecar are its parent's.
    """
    if os.getpid() != me["pid"]:
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_gate(gate, gate_timeout))
        except LockedError:
            log.warning("releasing the scoring lock of %s without its gate (%s is stuck)", me["model"], gate)
        try:
            if _read_json(sidecar) == me:
                with contextlib.suppress(FileNotFoundError):
                    sidecar.unlink()
        finally:
            _unlock(fd)


def _unlock(fd: int) -> None:
    """Unlock and close a descriptor this process still holds (one closed at fork is not ours any more)."""
    if fd not in _HELD_FDS:
        return
    _HELD_FDS.discard(fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _gate(path: Path, timeout: float) -> Iterator[None]:
    """A lock held only around the few milliseconds of taking, judging or releasing the scoring lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() > deadline:
                    raise LockedError(f"{path} has been held for more than {timeout:g} s, which only a stuck "
                                      f"process does; find it with `fuser {path}`") from None
                time.sleep(0.01)
    except BaseException:
        os.close(fd)
        raise
    _HELD_FDS.add(fd)
    try:
        yield
    finally:
        _unlock(fd)


def _describe(holder: Mapping[str, Any]) -> str:
    return (f"run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
            f"since {holder.get('since', '?')})")


def _held_message(model: str, holder: dict[str, Any] | None, lock_path: Path) -> str:
    if not holder:
        return (f"another scoring run of {model!r} holds {lock_path}, but it left no readable "
                f"{lock_path.name}.json saying which; find it with `fuser {lock_path}`")
    message = f"another scoring run of {model!r} holds the lock: {_describe(holder)}"
    if holder.get("host") == socket.gethostname() and not _pid_alive(holder.get("pid")):
        message += (f"; pid {holder.get('pid')} is no longer running, so a process it started still holds "
                    f"{lock_path} — find it with `fuser {lock_path}` and stop it")
    else:
        message += "; wait for it to finish, or stop it"
    return message


def _orphaned_sidecar_message(model: str, holder: Mapping[str, Any], lock_path: Path, sidecar: Path) -> str:
    return (f"the scoring lock of {model!r} is free, but {sidecar} names {_describe(holder)}, which is still "
            f"running on this host: {lock_path} was probably deleted under it. Wait for that run to finish; if "
            f"pid {holder.get('pid')} is not a scoring run, delete {sidecar}")


def _takeover_note(previous: Mapping[str, Any]) -> str:
    if previous.get("host") == socket.gethostname():
        why = f"pid {previous.get('pid')} is no longer running"
    else:
        why = "the OS lock was free, so that run has ended"
    return f"took over the scoring lock left by {_describe(previous)}: it ended without releasing it ({why})"


def _alive_here(holder: Mapping[str, Any]) -> bool:
    return holder.get("host") == socket.gethostname() and _pid_alive(holder.get("pid"))


def _pid_alive(pid: Any) -> bool:
    """Whether a process with this pid runs on this host; a zombie (exited, not yet reaped) does not count."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


# ------------------------------------------------------------------------------------------------------- guard


@dataclass
class GuardVerdict:
    """Whether the run may write, and in plain sentences why not; the shares are kept for the ledger and logs."""

    ok: bool
    reasons: list[str]
    rejected_share: float
    unscored_share: float

    def __str__(self) -> str:
        return " ".join(self.reasons) if self.reasons else "the guard passes"


class GuardError(RuntimeError):
    """The guard refused the run: nothing was written, and yesterday's scores stay in place."""

    exit_code = ExitCode.GUARD
    ledger_status = "refused"

    def __init__(self, verdict: GuardVerdict) -> None:
        super().__init__(str(verdict))
        self.verdict = verdict


def check_guard(validation_counts: Mapping[str, Mapping[str, int]], eligible: int, scored: int,
                max_rejected_share: float, max_unscored_share: float) -> GuardVerdict:
    """Refuse to write when the input looks broken rather than the business changed.

    A sink upsert overwrites each entity's previous score, so a run on half the data would replace good scores
    with bad ones. The two symptoms of a broken feed: a large share of input rows rejected by the data contract
    (`Validation.counts`, summed over the tables), and a large share of eligible entities left without a score.
    A share equal to its limit passes. No input rows, or no eligible entity, count as a share of 0: there is
    nothing to be wrong about, and nothing would be overwritten.
    """
    for name, limit in (("max_rejected_share", max_rejected_share), ("max_unscored_share", max_unscored_share)):
        if not 0.0 <= limit <= 1.0:
            raise ValueError(f"{name} must lie between 0 and 1, not {limit}")
    if eligible < 0 or scored < 0 or scored > eligible:
        raise ValueError(f"scored ({scored}) must lie between 0 and eligible ({eligible})")
    total_in = sum(int(c["input"]) for c in validation_counts.values())
    total_rejected = sum(int(c["rejected"]) for c in validation_counts.values())
    rejected_share = total_rejected / total_in if total_in else 0.0
    unscored = eligible - scored
    unscored_share = unscored / eligible if eligible else 0.0

    reasons = []
    if rejected_share > max_rejected_share:
        reason = (f"{_pct(rejected_share, max_rejected_share)} of the input rows were rejected "
                  f"({total_rejected:,} of {total_in:,} over {len(validation_counts)} tables), above the limit "
                  f"of {_pct(max_rejected_share, rejected_share)}")
        worst = _worst_table(validation_counts)
        if worst:
            name, c = worst
            reason += (f"; the worst table is {name}, with {_pct(c['rejected'] / c['input'])} rejected "
                       f"({int(c['rejected']):,} of {int(c['input']):,})")
        reasons.append(reason + ".")
    if unscored_share > max_unscored_share:
        reasons.append(f"{_pct(unscored_share, max_unscored_share)} of the eligible entities could not be scored "
                       f"({unscored:,} of {eligible:,}), above the limit of "
                       f"{_pct(max_unscored_share, unscored_share)}.")
    return GuardVerdict(not reasons, reasons, rejected_share, unscored_share)


def _worst_table(counts: Mapping[str, Mapping[str, int]]) -> tuple[str, Mapping[str, int]] | None:
    rows = [(name, c) for name, c in counts.items() if c["input"] and c["rejected"]]
    if not rows:
        return None
    return max(rows, key=lambda row: (row[1]["rejected"] / row[1]["input"], row[1]["rejected"], row[0]))


def _pct(share: float, other: float | None = None) -> str:
    """A share in percent, with as many decimals as it takes to differ visibly from `other` (its limit).

    "5.0% … above the limit of 5.0%" would read as a bug; "5.04% … above the limit of 5.00%" does not.
    """
    for decimals in range(1, 7):
        text = f"{share * 100:.{decimals}f}%"
        if other is None or share == other or text != f"{other * 100:.{decimals}f}%":
            return text
    return f"{share * 100}%"


# ------------------------------------------------------------------------------------------------------ ledger

RUN_ID = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<model>[A-Za-z0-9_.-]+)-(?P<token>[0-9a-f]{6})$")
FINAL_STATUSES = ("succeeded", "failed", "refused", "dry-run")
STATUSES = ("running", *FINAL_STATUSES)
# Every field of a ledger, in the order the file shows them; `None` until known.
FIELDS = (
    "run_id", "status", "model", "registered_name", "alias", "model_version", "as_of", "data", "data_horizon",
    "population", "started_at", "finished_at", "seconds", "rows_rejected_input", "entities_eligible",
    "entities_scored", "sinks", "written", "unchanged", "failed", "exit_code", "message", "host", "pid", "notes",
)
# Set by the ledger itself, never by `start` / `update`.
_OWN_FIELDS = {"run_id", "status", "model", "started_at", "finished_at", "seconds", "written", "unchanged",
               "failed", "exit_code", "host", "pid"}
SINK_FIELDS = ("target", "status", "written", "unchanged", "failed", "history", "dead_letter")
SINK_STATUSES = ("pending", "done", "partial", "failed")  # partial: some records sit in a dead-letter file
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.IGNORECASE)


def new_run_id(model: str, now: datetime | None = None) -> str:
    """`20261204T235959Z-<model>-<6 hex>`: sorts by start time, and two runs in one second still differ."""
    _check_name(model)
    return f"{(now or _now()).astimezone(UTC):%Y%m%dT%H%M%SZ}-{model}-{secrets.token_hex(3)}"


@dataclass
class RunLedger:
    """The record of one scoring run, `runs/<run_id>.json`, rewritten atomically whenever it changes.

    Written at the start (status "running") so that a run killed outright still leaves a trace, and at the end
    with its outcome. Each write replaces the whole file (temporary file + rename), so a reader never sees half
    a JSON document. Use it as a context manager so that an exception finishes it as "failed" (or "refused",
    with the exit code the exception carries: `GuardError`, `LockedError`) instead of leaving it "running".

    Typical order: `run_id = new_run_id(model)`; `with scoring_lock(runs, model, run_id) as held:`;
    `with RunLedger.start(runs, model, run_id=run_id, ...) as run:`; `run.note(held.note)` if any; ….
    """

    path: Path
    record: dict[str, Any]
    _t0: float = field(default_factory=time.monotonic, repr=False)

    @classmethod
    def start(cls, runs_dir: Path, model: str, *, run_id: str | None = None, **fields: Any) -> RunLedger:
        """Create and write the ledger of a new run; `fields` are any of `FIELDS` the caller knows already."""
        _check_name(model)
        run_id = run_id or new_run_id(model)
        match = RUN_ID.match(run_id)
        if not match or match["model"] != model:
            raise ValueError(f"run id {run_id!r} is not of the form <YYYYmmddTHHMMSSZ>-{model}-<6 hex>")
        runs_dir.mkdir(parents=True, exist_ok=True)
        path = runs_dir / f"{run_id}.json"
        if path.exists():
            raise FileExistsError(f"{path} exists: a run id names one run only")
        record: dict[str, Any] = dict.fromkeys(FIELDS)
        record.update(run_id=run_id, status="running", model=model, started_at=_iso(_now()), population="all",
                      sinks={}, written=0, unchanged=0, failed=0, host=socket.gethostname(), pid=os.getpid(),
                      notes=[], message="")
        ledger = cls(path, record)
        ledger._set(fields)
        ledger._write()
        return ledger

    @classmethod
    def reopen(cls, runs_dir: Path, run_id: str) -> RunLedger:
        """Take up an unfinished run again (`signalscore score --resume`): its ledger is "running" once more.

        Resumable: a run that failed, that was killed (still "running", its lock free: the caller holds it now),
        or that succeeded with some records not written (exit code 6). A run that wrote everything, a refused
        run and a dry run have nothing to resume.
        """
        path = runs_dir / f"{run_id}.json"
        record = _read_json(path)
        if record is None:
            raise FileNotFoundError(f"no ledger {path}: check the run id with `ls {runs_dir}`")
        status, code = record.get("status"), record.get("exit_code")
        if status in ("refused", "dry-run") or (status == "succeeded" and code == ExitCode.OK):
            raise ValueError(f"run {run_id} has nothing to resume: it ended {status!r} with exit code {code}")
        previous = f"{status}" + (f" (exit code {code})" if code is not None else ", killed or still running")
        record.update(status="running", finished_at=None, seconds=None, exit_code=None, message="",
                      host=socket.gethostname(), pid=os.getpid())
        ledger = cls(path, record)
        ledger.note(f"resumed at {_iso(_now())} after it ended {previous}")
        return ledger

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    def unfinished_sinks(self) -> dict[str, str]:
        """Sink name → target (as recorded, passwords hidden) of the sinks this run has not fully written."""
        return {name: sink["target"] for name, sink in self.record["sinks"].items() if sink.get("status") != "done"}

    @property
    def finished(self) -> bool:
        return self.record["status"] != "running"

    def update(self, **fields: Any) -> None:
        """Record what became known (model version, counts, sinks…) and rewrite the file.

        Rewriting at once means a run that dies later still shows how far it got. `sinks` replaces all sinks;
        `record_sink` adds one. The totals written / unchanged / failed always follow from the sinks.
        """
        self._check_open()
        self._set(fields)
        self._write()

    def record_sink(self, name: str, *, target: str, written: int = 0, unchanged: int = 0, failed: int = 0,
                    history: int | str | None = None, status: str = "done", dead_letter: str | None = None) -> None:
        """Record (or replace) what one sink received; `target` loses any password before it is stored.

        A sink is recorded as "pending" before it is written, so a run that dies leaves the list of sinks it
        still owed; `signalscore score --resume` writes the ones not "done".
        """
        self._check_open()
        if status not in SINK_STATUSES:
            raise ValueError(f"sink status must be one of {', '.join(SINK_STATUSES)}, not {status!r}")
        sinks = dict(self.record["sinks"])
        sinks[name] = {"target": target, "status": status, "written": written, "unchanged": unchanged,
                       "failed": failed, "history": history, "dead_letter": dead_letter}
        self._set({"sinks": sinks})
        self._write()

    def note(self, text: str | None) -> None:
        """Append a sentence for the operator (a lock taken over, a guard figure); `None` is ignored."""
        if text:
            self._check_open()
            self.record["notes"] = [*self.record["notes"], str(text)]
            self._write()

    def finish(self, status: str, exit_code: int, message: str = "") -> dict[str, Any]:
        """Write the outcome; a ledger is finished once, so a second call is a bug in the caller."""
        self._check_open()
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        code = ExitCode(int(exit_code))  # a ValueError for a code with no documented meaning
        self.record.update(status=status, exit_code=code.value, message=str(message),
                           finished_at=_iso(_now()), seconds=round(time.monotonic() - self._t0, 3))
        self._write()
        return dict(self.record)

    def __enter__(self) -> RunLedger:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Never leave a ledger "running": an exception finishes it with the exit code it carries, or 1."""
        if self.finished:
            return
        if error is None:
            self.finish("failed", ExitCode.FAILED, "the run ended without recording its outcome")
            return
        code = getattr(error, "exit_code", ExitCode.FAILED)
        if code not in set(ExitCode) or code == ExitCode.OK:
            code = ExitCode.FAILED
        status = getattr(error, "ledger_status", "failed")
        if status not in FINAL_STATUSES:
            status = "failed"
        text = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        self.finish(status, code, text)

    def _check_open(self) -> None:
        if self.finished:
            raise RuntimeError(f"the ledger of {self.run_id} is already finished ({self.record['status']})")

    def _set(self, fields: Mapping[str, Any]) -> None:
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown ledger fields: {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}")
        own = set(fields) & _OWN_FIELDS
        if own:
            raise ValueError(f"the ledger sets {', '.join(sorted(own))} itself")
        for name, value in fields.items():
            value = _plain(value, name)
            if name == "data":
                value = redact_location(value)
            elif name == "population":
                value = _population(value)
            elif name == "sinks":
                value = _sinks(value)
            elif name == "notes":
                value = [str(v) for v in (value or [])]
            self.record[name] = value
        if "sinks" in fields:
            for total in ("written", "unchanged", "failed"):
                self.record[total] = sum(int(s[total] or 0) for s in self.record["sinks"].values())

    def _write(self) -> None:
        _write_json_atomic(self.path, self.record)


def latest_runs(runs_dir: Path, model: str | None = None, n: int | None = 10) -> list[dict[str, Any]]:
    """The newest `n` ledgers (all of them for `None`), newest first, optionally of one model only.

    Newest means latest `started_at`; an unreadable ledger is skipped with a warning rather than hiding the rest.
    """
    records = [r for r in (_read_json(p, warn=True) for p in _ledger_files(runs_dir, model)) if r]
    records.sort(key=lambda r: (_sort_time(r.get("started_at")), str(r.get("run_id"))), reverse=True)
    return records if n is None else records[:max(n, 0)]


def previous_successful(runs_dir: Path, model: str) -> dict[str, Any] | None:
    """The newest run of `model` that succeeded in full (status "succeeded", exit code 0), or None.

    Failed, refused, dry and still running runs are skipped, and so is a run that succeeded with exit code 6
    (some sink rows failed): "the last good run" must mean every row landed.
    """
    for record in latest_runs(runs_dir, model, n=None):
        if record.get("status") == "succeeded" and record.get("exit_code") == ExitCode.OK:
            return record
    return None


def _ledger_files(runs_dir: Path, model: str | None) -> Iterator[Path]:
    if not runs_dir.is_dir():
        return
    for path in runs_dir.glob("*.json"):
        match = RUN_ID.match(path.stem)
        if match and (model is None or match["model"] == model):
            yield path


def _sort_time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text)).astimezone(UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _population(value: Any) -> str | int:
    """"all", or how many ids were asked for (a list of ids counts as its length)."""
    if value == "all":
        return value
    if isinstance(value, Sequence) and not isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"population must be 'all' or a number of ids, not {value!r}")


def _sinks(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise ValueError("sinks must map a sink name to {target, written, unchanged, failed, history}")
    sinks = {}
    for name, sink in value.items():
        extra = set(sink) - set(SINK_FIELDS)
        if extra or "target" not in sink:
            raise ValueError(f"sink {name!r} needs a target and only {', '.join(SINK_FIELDS)}, "
                             f"not {', '.join(sorted(extra)) or 'no target'}")
        defaults = {"written": 0, "unchanged": 0, "failed": 0, "status": "done"}
        entry = {key: sink.get(key, defaults.get(key)) for key in SINK_FIELDS}
        entry["target"] = redact_location(entry["target"])
        sinks[str(name)] = entry
    return sinks


# -------------------------------------------------------------------------------------------------- helpers


def _check_name(model: str) -> None:
    """A model name becomes part of file names: letters, digits, `_`, `.` and `-` only, so no path escapes."""
    if not _SAFE_NAME.match(model) or model in (".", ".."):
        raise ValueError(f"model name {model!r} may contain only letters, digits, '_', '.' and '-'")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """ISO-8601 in UTC with fixed microseconds, so that two runs started in one second still order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _plain(value: Any, name: str) -> Any:
    """JSON-ready: datetimes (pandas Timestamps too) to ISO-8601 UTC, paths to text, numpy scalars to Python.

    A naive datetime is taken to be UTC already, as every time in signalscore is.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return _plain(value.value, name)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, name) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item(), name)
    raise TypeError(f"ledger field {name!r}: {type(value).__name__} is not a plain value")


def redact_location(value: Any) -> Any:
    """Drop credentials from a data location: URL passwords, secret-looking query parameters and dict keys.

    A ledger is read by whoever looks after the job, and it outlives any password rotation.
    """
    if isinstance(value, Mapping):
        return {k: "***" if _SECRET_KEY.search(str(k)) and v is not None else redact_location(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_location(v) for v in value]
    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        text = value
        if parts.password is not None:
            user, host = parts.netloc.rsplit("@", 1)
            text = text.replace(parts.netloc, f"{user.split(':', 1)[0]}:***@{host}", 1)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            hidden = [(k, "***" if _SECRET_KEY.search(k) else v) for k, v in pairs]
            if hidden != pairs:
                text = text.replace(f"?{parts.query}", f"?{urlencode(hidden, safe='*/:')}", 1)
        return text
    except ValueError:
        return "<unparseable location, not shown>"


def _read_json(path: Path, warn: bool = False) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        if warn:
            log.warning("skipping unreadable %s: %s", path, error)
        return None
    return value if isinstance(value, dict) else None


def _write_json_atomic(path: Path, value: Mapping[str, Any]) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over `path`.

    Rename is atomic within a directory, so `path` always holds either the old or the new document, even if
    the process dies half-way; the temporary file is removed when writing fails.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"  # fails before any file exists
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut only once the folder is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
