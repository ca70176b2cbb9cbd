"""Unattended scoring: one run per model at a time, a guard against broken input, and a ledger per run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from serving.runs import (
    EXIT_CODE_MEANING,
    ExitCode,
    GuardError,
    LockedError,
    RunLedger,
    check_guard,
    exit_code_table,
    latest_runs,
    lock_paths,
    new_run_id,
    previous_successful,
    scoring_lock,
)

ROOT = Path(__file__).resolve().parents[2]
RUN = "20261204T235959Z-renewal-a1b2c3"


def _python(script: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a snippet in a fresh interpreter: a second process, as a second `signalscore score` would be."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          env=env, timeout=30, **kwargs)


def _dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


# --------------------------------------------------------------------------------------------------- exit codes


def test_exit_codes_are_stable_and_each_has_a_sentence():
    assert {c.name: c.value for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "BAD_INPUT": 2, "ROWS_REJECTED": 3, "GUARD": 4, "LOCKED": 5, "PARTIAL": 6}
    assert set(EXIT_CODE_MEANING) == set(ExitCode)
    assert all(m.endswith(".") and m[0].isupper() and m.count(". ") == 0 for m in EXIT_CODE_MEANING.values())
    assert "validate" in ExitCode.ROWS_REJECTED.meaning
    assert len(exit_code_table().splitlines()) == len(ExitCode)


# -------------------------------------------------------------------------------------------------------- lock


def test_a_second_process_is_refused_with_the_holders_name(tmp_path):
    with scoring_lock(tmp_path, "renewal", RUN) as held:
        assert held.pid == os.getpid() and held.note is None
        done = _python("""
            import sys
            from pathlib import Path
            from serving.runs import LockedError, scoring_lock
            try:
                with scoring_lock(Path(sys.argv[1]), "renewal", "second"):
                    pass
            except LockedError as error:
                print(error)
                sys.exit(error.exit_code)
        """, str(tmp_path))
        assert done.returncode == ExitCode.LOCKED, done.stderr
        assert RUN in done.stdout and f"pid {os.getpid()}" in done.stdout
        assert socket.gethostname() in done.stdout and held.since in done.stdout
        # another model is not blocked
        with scoring_lock(tmp_path, "conversion", "other"):
            pass
    assert not lock_paths(tmp_path, "renewal")[1].exists()  # the sidecar goes with the lock


def test_a_second_thread_is_refused(tmp_path):
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with scoring_lock(tmp_path, "renewal", RUN):
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(LockedError, match=RUN), scoring_lock(tmp_path, "renewal", "second"):
            pass
    finally:
        done.set()
        thread.join(10)
    with scoring_lock(tmp_path, "renewal", "third"):
        pass


def test_the_lock_is_released_after_an_exception(tmp_path):
    with pytest.raises(ZeroDivisionError), scoring_lock(tmp_path, "renewal", RUN):
        1 / 0  # noqa: B018
    assert not lock_paths(tmp_path, "renewal")[1].exists()
    with scoring_lock(tmp_path, "renewal", "next") as held:
        assert held.note is None


def test_the_lock_of_a_killed_run_is_taken_over_with_a_note(tmp_path):
    done = _python("""
        import os, sys
        from pathlib import Path
        from serving.runs import scoring_lock
        with scoring_lock(Path(sys.argv[1]), "renewal", "killed-run"):
            os._exit(9)  # no cleanup at all, as with SIGKILL
    """, str(tmp_path))
    assert done.returncode == 9, done.stderr
    assert lock_paths(tmp_path, "renewal")[1].exists()  # the sidecar stayed behind
    with scoring_lock(tmp_path, "renewal", "next") as held:
        assert "killed-run" in held.note and "no longer running" in held.note


def test_a_sidecar_naming_a_dead_pid_is_stale(tmp_path):
    _, sidecar, _ = lock_paths(tmp_path, "renewal")
    pid = _dead_pid()
    sidecar.write_text(json.dumps({"run_id": "old-run", "pid": pid, "host": socket.gethostname(),
                                   "since": "2026-01-01T00:00:00+00:00"}))
    with scoring_lock(tmp_path, "renewal", "next") as held:
        assert f"pid {pid}" in held.note and "old-run" in held.note
        assert json.loads(sidecar.read_text())["run_id"] == "next"


def test_a_free_lock_whose_holder_still_runs_here_is_refused(tmp_path):
    """Someone deleted the lock file under a running run: taking it would make two writers."""
    _, sidecar, _ = lock_paths(tmp_path, "renewal")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sidecar.write_text(json.dumps({"run_id": "live-run", "pid": sleeper.pid, "host": socket.gethostname(),
                                       "since": "2026-01-01T00:00:00+00:00"}))
        with pytest.raises(LockedError, match=r"live-run.*still running"), scoring_lock(tmp_path, "renewal", "x"):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_forked_child_does_not_keep_the_lock_after_its_parent_dies(tmp_path):
    done = _python("""
        import os, sys
        from pathlib import Path
        from serving.runs import scoring_lock
        with scoring_lock(Path(sys.argv[1]), "renewal", "parent-run"):
            child = os.fork()
            if child == 0:  # lives on after its parent, its output away from the test's pipes
                import time
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                time.sleep(20)
                os._exit(0)
            print(child, flush=True)
            os._exit(0)
    """, str(tmp_path))
    child = int(done.stdout)
    try:
        with scoring_lock(tmp_path, "renewal", "next") as held:
            assert "parent-run" in held.note
    finally:
        os.kill(child, 9)


def test_model_names_cannot_escape_the_runs_folder(tmp_path):
    with pytest.raises(ValueError, match="model name"), scoring_lock(tmp_path, "../x", RUN):
        pass


# ------------------------------------------------------------------------------------------------------- guard

COUNTS = {
    "accounts": {"input": 1000, "accepted": 990, "rejected": 10},
    "tickets": {"input": 500, "accepted": 350, "rejected": 150},
    "contracts": {"input": 500, "accepted": 500, "rejected": 0},
}


def test_the_guard_passes_under_its_limits():
    verdict = check_guard(COUNTS, eligible=1000, scored=990, max_rejected_share=0.1, max_unscored_share=0.02)
    assert verdict.ok and verdict.reasons == []
    assert verdict.rejected_share == pytest.approx(160 / 2000)
    assert verdict.unscored_share == pytest.approx(0.01)


def test_the_guard_passes_at_its_limits_and_on_empty_input():
    assert check_guard(COUNTS, 1000, 920, max_rejected_share=0.08, max_unscored_share=0.08).ok
    empty = check_guard({"accounts": {"input": 0, "accepted": 0, "rejected": 0}}, 0, 0, 0.0, 0.0)
    assert empty.ok and empty.rejected_share == empty.unscored_share == 0.0


def test_the_guard_refuses_too_many_rejected_rows_naming_the_worst_table():
    verdict = check_guard(COUNTS, eligible=1000, scored=1000, max_rejected_share=0.05, max_unscored_share=0.05)
    assert not verdict.ok and len(verdict.reasons) == 1
    reason = verdict.reasons[0]
    assert "8.0%" in reason and "160 of 2,000" in reason and "limit of 5.0%" in reason
    assert "tickets" in reason and "30.0%" in reason and "150 of 500" in reason
    error = GuardError(verdict)
    assert error.exit_code == ExitCode.GUARD and error.verdict is verdict and reason in str(error)


def test_the_guard_refuses_too_many_unscored_entities():
    verdict = check_guard(COUNTS, eligible=2000, scored=1800, max_rejected_share=0.5, max_unscored_share=0.05)
    assert not verdict.ok
    assert verdict.reasons == ["10.0% of the eligible entities could not be scored (200 of 2,000), "
                               "above the limit of 5.0%."]


def test_the_guard_gives_both_reasons_and_enough_decimals_to_tell_figure_from_limit():
    verdict = check_guard(COUNTS, eligible=10_000, scored=9_496, max_rejected_share=0.079, max_unscored_share=0.05)
    assert len(verdict.reasons) == 2
    assert "5.04%" in verdict.reasons[1] and "limit of 5.00%" in verdict.reasons[1]


def test_the_guard_rejects_impossible_figures():
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_guard(COUNTS, 10, 10, 5, 0.1)
    with pytest.raises(ValueError, match="scored"):
        check_guard(COUNTS, 10, 11, 0.1, 0.1)


# ------------------------------------------------------------------------------------------------------ ledger


def _ledger(tmp_path: Path, **fields) -> RunLedger:
    return RunLedger.start(tmp_path, "renewal", registered_name="signalscore-renewal", alias="champion", **fields)


def test_the_ledger_is_written_at_start_and_at_finish(tmp_path):
    ledger = _ledger(tmp_path, as_of=datetime(2026, 12, 1, tzinfo=UTC), data="postgresql://bob:hunter2@db/crm",
                     population=["A1", "A2"])
    assert ledger.path == tmp_path / f"{ledger.run_id}.json"
    on_disk = json.loads(ledger.path.read_text())
    assert on_disk["status"] == "running" and on_disk["started_at"].endswith("+00:00")
    assert on_disk["as_of"] == "2026-12-01T00:00:00+00:00" and on_disk["population"] == 2
    assert "hunter2" not in ledger.path.read_text() and on_disk["data"] == "postgresql://bob:***@db/crm"

    ledger.update(model_version="7", rows_rejected_input=12, entities_eligible=100, entities_scored=98)
    ledger.record_sink("crm", target="sqlite:///crm.db?token=abc", written=90, unchanged=8, history=98)
    ledger.record_sink("parquet", target="scores/renewal/2026-12-01.parquet", written=98, failed=0)
    assert json.loads(ledger.path.read_text())["model_version"] == "7"  # progress is on disk at once
    ledger.finish("succeeded", ExitCode.OK, "98 entities scored")

    record = json.loads(ledger.path.read_text())
    assert record["status"] == "succeeded" and record["exit_code"] == 0 and record["message"] == "98 entities scored"
    assert (record["written"], record["unchanged"], record["failed"]) == (188, 8, 0)
    assert record["sinks"]["crm"] == {"target": "sqlite:///crm.db?token=***", "status": "done", "written": 90,
                                      "unchanged": 8, "failed": 0, "history": 98, "dead_letter": None}
    assert record["seconds"] >= 0 and record["finished_at"] >= record["started_at"]
    assert [p.name for p in tmp_path.iterdir()] == [ledger.path.name]  # no .tmp left behind
    with pytest.raises(RuntimeError, match="already finished"):
        ledger.finish("failed", ExitCode.FAILED)


def test_an_interrupted_write_leaves_the_previous_ledger_whole(tmp_path, monkeypatch):
    ledger = _ledger(tmp_path)

    def crash(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        ledger.update(model_version="7")
    monkeypatch.undo()
    assert json.loads(ledger.path.read_text())["status"] == "running"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_the_ledger_refuses_unknown_and_own_fields(tmp_path):
    with pytest.raises(ValueError, match="unknown ledger fields: modle_version"):
        _ledger(tmp_path, modle_version="7")
    with pytest.raises(ValueError, match="sets status itself"):
        _ledger(tmp_path, status="succeeded")
    with pytest.raises(ValueError, match="status must be one of"):
        _ledger(tmp_path).finish("done", 0)


def test_an_exception_finishes_the_ledger_with_its_exit_code(tmp_path):
    verdict = check_guard(COUNTS, 10, 10, 0.01, 0.01)
    with pytest.raises(GuardError), _ledger(tmp_path) as ledger:
        raise GuardError(verdict)
    assert (ledger.record["status"], ledger.record["exit_code"]) == ("refused", ExitCode.GUARD)
    with pytest.raises(KeyError), _ledger(tmp_path) as ledger:
        raise KeyError("x")
    assert (ledger.record["status"], ledger.record["exit_code"]) == ("failed", ExitCode.FAILED)
    assert json.loads(ledger.path.read_text())["message"] == "KeyError: 'x'"


def test_latest_runs_newest_first_and_previous_successful_skips_the_rest(tmp_path):
    outcomes = [("succeeded", 0), ("succeeded", 6), ("failed", 1), ("refused", 4), ("dry-run", 0)]
    ids = []
    for status, code in outcomes:
        ledger = _ledger(tmp_path)
        ledger.finish(status, code)
        ids.append(ledger.run_id)
    other = RunLedger.start(tmp_path, "conversion")
    other.finish("succeeded", 0)
    running = _ledger(tmp_path)
    (tmp_path / "renewal.lock.json").write_text("{}")  # a lock sidecar is not a ledger
    (tmp_path / f"{new_run_id('renewal')}.json").write_text("{half")  # unreadable: skipped

    newest = [r["run_id"] for r in latest_runs(tmp_path, "renewal", n=None)]
    assert newest == [running.run_id, *reversed(ids)]
    assert [r["run_id"] for r in latest_runs(tmp_path, n=2)] == [running.run_id, other.run_id]
    assert previous_successful(tmp_path, "renewal")["run_id"] == ids[0]
    assert previous_successful(tmp_path, "conversion")["run_id"] == other.run_id
    assert previous_successful(tmp_path / "missing", "renewal") is None


def test_run_ids_sort_by_time_and_name_the_model():
    early = new_run_id("renewal", datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC))
    late = new_run_id("conversion", datetime(2026, 12, 5, 0, 0, 0, tzinfo=UTC))
    assert early.startswith("20261204T235959Z-renewal-") and len(early.rsplit("-", 1)[1]) == 6
    assert early < late
