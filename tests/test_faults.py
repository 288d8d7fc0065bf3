"""Faults from outside, with real processes: signals, a second run, a full disk, damaged files.

The tournament runs as a separate `python -m tuneoff.cli` process where the fault needs
one (a signal, a concurrent run, a file-size limit); reruns and checks run in-process.
Every rerun must finish with the same test results as a run that was never disturbed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, write_trees

from tuneoff.cli import main
from tuneoff.store.results import read_result

# One player, 30 epochs of 8 steps (about 3 s of training).
FAULT_CONFIG = (
    TINY_CONFIG.split("[[players]]")[0].replace("epochs = 2", "epochs = 30")
    + """
[[players]]
name = "full"
model = { kind = "random", size = "tiny" }
strategy = { name = "full" }
"""
)


# The training loop's test-only pause: "STEP:PATH" makes a job create PATH ("{pid}": its process id)
# after optimizer step STEP and wait there for a signal (tuneoff/training/loop.py, pause_for_a_test).
PAUSE_AT = "TUNEOFF_TEST_PAUSE_AT"
SAFETY_NET = 600.0  # seconds; only a pause that never comes waits this long, no outcome depends on it


def wait_for_pauses(
    folder: Path, count: int, running=lambda: True, output=lambda: "", timeout: float = SAFETY_NET
) -> list[int]:
    """The pids in the first ``count`` "paused*" files the pause hook wrote in ``folder``."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [int(text) for f in sorted(folder.glob("paused*")) if (text := f.read_text().strip())]
        if len(pids) >= count:
            return pids[:count]
        if not running() or time.monotonic() > deadline:
            raise AssertionError(f"{len(pids)} of {count} jobs paused in {folder}:\n{output()}")
        time.sleep(0.05)


def _hear_sigint() -> None:
    """In the child, before exec: SIGINT back to its default, which Python turns into KeyboardInterrupt.
    A process that ignores SIGINT passes that on to its children, and a shell without job control
    starts its background commands that way."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Tuneoff:
    """A `tuneoff` command in its own process, its output collected line by line. ``pause_at``: "STEP:PATH"
    for the training loop's test-only pause (PAUSE_AT)."""

    def __init__(self, args: list[str], cwd: Path, preexec=None, prefix=(), pause_at: str | None = None):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        if pause_at is not None:
            env[PAUSE_AT] = pause_at
        if preexec is None and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            preexec = _hear_sigint  # pytest was started in the background (`pytest &` in a script)
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "tuneoff.cli", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def wait_for_pauses(self, folder: Path, count: int = 1) -> list[int]:
        """Until ``count`` jobs have paused (see PAUSE_AT); fails at once if the command has ended, and
        stops it (SIGTERM: a pool ends its workers too) if it is still running when the wait fails."""
        try:
            return wait_for_pauses(folder, count, lambda: self.proc.poll() is None, lambda: "".join(self.lines))
        except AssertionError:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            raise

    def finish(self, timeout: float = SAFETY_NET) -> tuple[int, str]:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code, "".join(self.lines)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "faults.toml").write_text(FAULT_CONFIG)
    data = write_trees(root / "sst5")
    reference = root / "reference"
    assert (
        main(["run", str(root / "faults.toml"), "--data-dir", str(data), "--out", str(reference), "--no-report"]) == 0
    )
    return root, data, read_result(reference / "players" / "full" / "seed-7" / "result.json")


def run_args(root: Path, data: Path, out: Path, *extra) -> list[str]:
    return ["run", str(root / "faults.toml"), "--data-dir", str(data), "--out", str(out), "--no-report", *extra]


def same_outcome(out: Path, reference: dict) -> None:
    result = read_result(out / "players" / "full" / "seed-7" / "result.json")
    assert result["status"] == "completed"
    assert result["test"]["accuracy"] == reference["test"]["accuracy"]
    assert result["test"]["confusion_matrix"] == reference["test"]["confusion_matrix"]
    assert result["history"]["steps"] == reference["history"]["steps"]


@pytest.mark.parametrize(
    "sig, code, status",
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "interrupted"),
        (signal.SIGKILL, -signal.SIGKILL, "running"),
    ],
)
def test_a_signal_mid_training_then_a_rerun_matches_an_undisturbed_run(setup, tmp_path, capsys, sig, code, status):
    root, data, reference = setup
    out = tmp_path / "run"
    proc = Tuneoff(run_args(root, data, out), tmp_path, pause_at=f"20:{tmp_path / 'paused'}")  # mid epoch 3
    assert proc.wait_for_pauses(tmp_path) == [proc.proc.pid]  # paused in the one process, after step 20
    proc.proc.send_signal(sig)
    got, text = proc.finish()
    assert got == code, text
    left = read_result(out / "players" / "full" / "seed-7" / "result.json")
    assert left["status"] == status and left["process"]["pid"] == proc.proc.pid
    assert not (out / "players" / "full" / "seed-7" / "checkpoint").exists()
    if sig == signal.SIGTERM:
        assert left["error"] == "stopped by SIGTERM before it finished" and "Traceback" not in text
    if sig == signal.SIGKILL:  # the leaderboard and report see that its process is gone
        assert main(["leaderboard", str(out)]) == 0
        board = json.loads((out / "leaderboard.json").read_text())
        assert board["unranked"][0]["status"] == "interrupted" and "which is gone" in board["unranked"][0]["error"]
    capsys.readouterr()
    assert main(run_args(root, data, out)) == 0
    if sig == signal.SIGKILL:
        assert "was left 'running' by `tuneoff run" in capsys.readouterr().out
    same_outcome(out, reference)


def test_a_second_run_into_the_same_folder_is_refused_and_changes_nothing(setup, tmp_path, capsys):
    root, data, reference = setup
    out = tmp_path / "run"
    first = Tuneoff(run_args(root, data, out), tmp_path, pause_at=f"3:{tmp_path}/paused")
    first.wait_for_pauses(tmp_path)  # held mid-training: the second run cannot find it finished
    capsys.readouterr()
    assert main(run_args(root, data, out, "--set", "protocol.seed=8")) == 2
    message = capsys.readouterr().out
    assert "in use by `tuneoff run" in message and f"(pid {first.proc.pid} on host" in message
    first.proc.send_signal(signal.SIGINT)
    assert first.finish()[0] == 130
    assert json.loads((out / "tournament.json").read_text())["config"]["protocol"]["seed"] == 7
    assert main(run_args(root, data, out)) == 0  # the first run's own rerun finishes it
    same_outcome(out, reference)  # untouched by the second


def _small_disk():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))


def test_a_full_disk_fails_the_player_cleanly_and_a_rerun_recovers(setup, tmp_path):
    root, data, reference = setup
    out = tmp_path / "run"
    got, text = Tuneoff(run_args(root, data, out), tmp_path, preexec=_small_disk).finish()
    assert got == 1, text
    failed = read_result(out / "players" / "full" / "seed-7" / "result.json")
    assert failed["status"] == "failed" and "File too large" in failed["error"]
    assert not (out / "players" / "full" / "seed-7" / "checkpoint").exists()  # no half-written checkpoint left
    assert json.loads((out / "leaderboard.json").read_text())["unranked"][0]["status"] == "failed"
    assert main(run_args(root, data, out)) == 0
    same_outcome(out, reference)


@pytest.fixture
def finished(setup, tmp_path):
    root, data, reference = setup
    out = tmp_path / "run"
    shutil.copytree(root / "reference", out)
    return root, data, reference, out


def test_a_damaged_result_is_trained_again(finished, capsys):
    root, data, reference, out = finished
    path = out / "players" / "full" / "seed-7" / "result.json"
    path.write_text(path.read_text()[:500])
    capsys.readouterr()
    assert main(run_args(root, data, out)) == 0
    assert "its results file is unreadable" in capsys.readouterr().out
    same_outcome(out, reference)


def test_a_damaged_tournament_file_is_named_and_rewritten_by_run(finished, capsys):
    root, data, reference, out = finished
    (out / "tournament.json").write_text('{\n  "config": {\n')
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    assert "tournament.json:3: damaged, not valid JSON" in capsys.readouterr().out
    assert not (out / "report.html").exists()
    assert main(run_args(root, data, out)) == 0
    assert "already completed with this config, skipped" in capsys.readouterr().out
    assert json.loads((out / "tournament.json").read_text())["config"]["tournament"]["name"] == "tiny"


def test_a_deleted_checkpoint_is_named_and_rebuilt(finished, capsys):
    root, data, reference, out = finished
    shutil.rmtree(out / "players" / "full" / "seed-7" / "checkpoint")
    capsys.readouterr()
    assert main(["predict", str(out), "--player", "full", "good"]) == 2
    assert "checkpoint/model/config.json: player 'full''s checkpoint is missing" in capsys.readouterr().out
    assert main(run_args(root, data, out)) == 0
    assert "its checkpoint is missing (checkpoint/model/config.json); training again" in capsys.readouterr().out
    assert main(["predict", str(out), "--player", "full", "good"]) == 0
    same_outcome(out, reference)


def test_report_and_leaderboard_on_a_foreign_folder_leave_every_file_as_it_was(tmp_path, capsys):
    mine = tmp_path / "photos"
    (mine / "figures").mkdir(parents=True)
    files = {
        mine / "figures" / "holiday.png": b"\x89PNG holiday",
        mine / "report.md": b"# my report\n",
        mine / "leaderboard.md": b"my league\n",
    }
    for path, data in files.items():
        path.write_bytes(data)
    for command in ("report", "leaderboard"):
        assert main([command, str(mine)]) == 2
        assert "not a tuneoff run folder" in capsys.readouterr().out
    assert sorted(p for p in mine.rglob("*") if p.is_file()) == sorted(files)
    assert all(path.read_bytes() == data for path, data in files.items())


def test_report_never_replaces_a_file_it_did_not_write(finished, capsys):
    root, data, reference, out = finished
    (out / "report.md").write_text("my own notes\n")
    assert main(["report", str(out)]) == 2
    assert "report.md: exists and was not written by tuneoff" in capsys.readouterr().out
    assert (out / "report.md").read_text() == "my own notes\n"


# root ignores file permissions; without these two capabilities it obeys them like any user
AS_A_USER = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
    if os.geteuid() == 0
    else []
)


def test_read_only_folders_are_refused_in_one_line(finished, tmp_path):
    root, data, reference, out = finished
    locked = tmp_path / "locked"
    locked.mkdir()
    for path in (locked, out, *out.rglob("*")):
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        got, text = Tuneoff(run_args(root, data, locked / "run"), tmp_path, prefix=AS_A_USER).finish()
        assert got == 2 and f"{locked / 'run'}: not writable (no write permission on {locked})" in text, text
        for command in ("leaderboard", "report"):
            got, text = Tuneoff([command, str(out)], tmp_path, prefix=AS_A_USER).finish()
            assert got == 2 and f"{out}: cannot be written (Permission denied)" in text, text
            assert "Traceback" not in text and len(text.strip().splitlines()) == 1
        got, text = Tuneoff(run_args(root, data, out), tmp_path, prefix=AS_A_USER).finish()
        assert got == 2 and f"{out}: not writable (no write permission on {out})" in text, text
    finally:
        for path in (locked, out, *out.rglob("*")):
            path.chmod(path.stat().st_mode | 0o200)


# --- issue 23: a retrain never loses the result it replaces; orphaned workers stop --------------------------


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_interrupted_retrain_keeps_the_result_it_replaces(setup, tmp_path, capsys):
    root, data, reference = setup
    out = tmp_path / "run"
    shutil.copytree(root / "reference", out)
    job = out / "players" / "full" / "seed-7"
    kept = {p: _digest(p) for p in sorted(job.rglob("*")) if p.is_file()}
    proc = Tuneoff(
        run_args(root, data, out, "--set", "protocol.learning_rate=3e-3"), tmp_path, pause_at=f"3:{tmp_path}/paused"
    )
    proc.wait_for_pauses(tmp_path)
    proc.proc.send_signal(signal.SIGINT)
    code, text = proc.finish()
    assert code == 130 and "its earlier result is kept" in text, text
    assert {p: _digest(p) for p in sorted(job.rglob("*")) if p.is_file()} == kept  # every file of it, unchanged
    capsys.readouterr()
    assert main(["leaderboard", str(out)]) == 0
    assert "full seed 7: stale, not ranked" in capsys.readouterr().out  # the old result, shown for what it is
    assert main(run_args(root, data, out, "--set", "protocol.learning_rate=3e-3")) == 0
    assert read_result(job / "result.json")["protocol"]["learning_rate"] == 3e-3


def test_a_failed_retrain_keeps_the_result_it_replaces(setup, tmp_path):
    root, data, reference = setup
    out = tmp_path / "run"
    shutil.copytree(root / "reference", out)
    job = out / "players" / "full" / "seed-7"
    kept = {p: _digest(p) for p in sorted(job.rglob("*")) if p.is_file()}
    # the retrain fails writing its checkpoint (a 1 MB file-size limit: a full disk)
    code, text = Tuneoff(
        run_args(root, data, out, "--set", "protocol.learning_rate=3e-3"), tmp_path, preexec=_small_disk
    ).finish(600)
    assert code == 1 and "its earlier result is kept" in text, text
    assert {p: _digest(p) for p in sorted(job.rglob("*")) if p.is_file()} == kept


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_orphaned_pool_workers_stop_record_it_and_a_resume_completes(setup, tmp_path):
    """kill -9 of a --jobs 2 run's parent: its workers notice within seconds, record their jobs interrupted and
    end; nothing is left running, and the next run trains both jobs once."""
    root, data, _ = setup
    out = tmp_path / "run"
    args = run_args(root, data, out, "--jobs", "2", "--set", "tournament.seeds=[7, 8]")
    proc = Tuneoff(args, tmp_path, pause_at=f"3:{tmp_path}/paused-{{pid}}")
    workers = proc.wait_for_pauses(tmp_path, count=2)
    proc.proc.kill()
    proc.finish()
    # a safety net: the watch checks every second and ends the worker within 30 s
    deadline = time.monotonic() + SAFETY_NET
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"orphaned workers {workers} still running"
        time.sleep(0.1)
    for seed in (7, 8):
        result = read_result(out / "players" / "full" / f"seed-{seed}" / "result.json")
        assert result["status"] == "interrupted" and "started it died" in result["error"], result["error"]
    assert main(args) == 0
    assert {read_result(out / "players" / "full" / f"seed-{s}" / "result.json")["status"] for s in (7, 8)} == {
        "completed"
    }


def test_a_resume_leaves_alone_a_job_a_live_process_holds(setup, tmp_path, capsys):
    from tuneoff.run.lifecycle import done_already
    from tuneoff.store.liveness import process_record
    from tuneoff.store.runfolder import RunFolder

    root, data, reference = setup
    out = tmp_path / "run"
    shutil.copytree(root / "reference", out)
    folder = RunFolder(out).job("full", "seed-7")
    folder.write_result({**folder.result(), "status": "running", "process": process_record()})  # this process: alive

    class Job:
        job_hash, identity = reference["job_hash"], reference["job"]

    skip, why = done_already(folder, Job())
    assert skip and "still being trained by" in why


# --- issue 28: nothing lost after the tournament ------------------------------------------------------------


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (links not followed) with its content's digest."""
    return {
        p.relative_to(folder).as_posix(): ("link" if p.is_symlink() else "dir" if p.is_dir() else _digest(p))
        for p in sorted(folder.rglob("*"))
    }


def changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


BOARD = ["leaderboard.json", "leaderboard.md", "manifest.json"]


def test_a_renamed_config_forced_into_the_folder_adopts_its_jobs(finished, capsys):
    """Before: every job skipped as 'already completed', none on the board, exit 0, and `leaderboard` then refused
    the folder. Now the results become the new tournament's, judged by identity; nothing else changes."""
    root, data, reference, out = finished
    extra = out / "players" / "extra" / "seed-7"  # the old tournament's player the new config does not have
    shutil.copytree(out / "players" / "full" / "seed-7", extra)
    (extra / "result.json").write_text(
        json.dumps({**read_result(extra / "result.json"), "player": {**reference["player"], "name": "extra"}})
    )
    (root / "renamed.toml").write_text(FAULT_CONFIG.replace('name = "tiny"', 'name = "renamed"'))
    before = tree(out)
    args = ["run", str(root / "renamed.toml"), "--data-dir", str(data), "--out", str(out), "--no-report"]
    capsys.readouterr()
    assert main(args) == 2  # without --force: refused, as before
    assert tree(out) == before
    assert main([*args, "--force"]) == 0
    text = capsys.readouterr().out
    assert "full seed-7: already completed with this config, skipped" in text and "0 jobs to train" in text
    assert "2 results recorded for another tournament are now 'renamed''s" in text
    board = json.loads((out / "leaderboard.json").read_text())
    assert [row["player"] for row in board["ranked"]] == ["full"] and not board["unranked"]
    assert (
        set(changed(before, tree(out))) - {"manifest.json"}
        == {  # the checkpoints: untouched
            "players/full/seed-7/result.json",
            "players/extra/seed-7/result.json",
            "tournament.json",
            *BOARD[:2],
        }
    )
    assert {read_result(p / "result.json")["tournament"] for p in (extra, out / "players" / "full" / "seed-7")} == {
        "renamed"
    }
    assert main(["leaderboard", str(out)]) == 0  # no result of another tournament is left to refuse it for
    same_outcome(out, reference)


def test_a_retrain_keeps_the_files_it_does_not_own(finished, capsys):
    root, data, reference, out = finished
    job = out / "players" / "full" / "seed-7"
    (job / "NOTES.md").write_text("# why this seed matters\n")
    (job / "mine").mkdir()
    (job / "mine" / "plot.png").write_bytes(b"\x89PNG mine")
    assert main(run_args(root, data, out, "--set", "protocol.epochs=1")) == 0
    assert read_result(job / "result.json")["protocol"]["epochs"] == 1  # retrained, swapped in
    assert (job / "NOTES.md").read_text() == "# why this seed matters\n"
    assert (job / "mine" / "plot.png").read_bytes() == b"\x89PNG mine"
    assert not (out / ".staging" / "full" / "seed-7.old").exists()


def test_a_swap_cut_short_after_its_renames_still_carries_the_users_files(tmp_path):
    from tuneoff.store.runfolder import JobFolder, RunFolder

    run = RunFolder(tmp_path)
    job = run.job("full", "seed-7")
    job.path.mkdir(parents=True)
    (job.path / "result.json").write_text("new")
    old = tmp_path / ".staging" / "full" / "seed-7.old"  # the earlier folder, as a crash left it
    old.mkdir(parents=True)
    (old / "result.json").write_text("old")
    (old / "NOTES.md").write_text("mine")
    (old / "0123456789abcdef-train_logits.npy").write_text("a cache tuneoff owns")
    run.recover()
    assert sorted(p.name for p in job.path.iterdir()) == ["NOTES.md", "result.json"]
    assert (job.path / "result.json").read_text() == "new" and not old.exists()
    assert JobFolder(job.path).foreign_files() == ["NOTES.md"]


def test_a_full_disk_during_a_retrain_is_one_line(finished, capsys, monkeypatch):
    import errno

    from tuneoff.strategies import STRATEGIES

    root, data, reference, out = finished
    job = out / "players" / "full" / "seed-7"
    kept = tree(job)

    def full_disk(self, model, tokenizer, checkpoint):
        raise OSError(errno.ENOSPC, "No space left on device", str(checkpoint.model / "model.safetensors"))

    monkeypatch.setattr(STRATEGIES.lookup("full"), "save", full_disk)
    capsys.readouterr()
    assert main(run_args(root, data, out, "--set", "protocol.epochs=1")) == 1
    text = capsys.readouterr().out
    assert "Traceback" not in text
    [line] = [t for t in text.splitlines() if "No space left on device" in t]
    assert line.startswith(
        "full seed-7 failed; its earlier result is kept: No space left on device: "
    ) and line.endswith("model.safetensors")
    assert tree(job) == kept


def test_a_write_that_fails_names_its_file_not_the_temporary_one(tmp_path, monkeypatch):
    import errno

    from tuneoff.store import files

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError) as caught:
        files.write_json(tmp_path / "result.json", {"a": 1})
    assert caught.value.filename == str(tmp_path / "result.json") and caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_a_stop_during_the_checks_leaves_nothing_and_a_lock_alone_is_no_obstacle(setup, tmp_path, monkeypatch, capsys):
    """Ctrl-C before the first job left only tuneoff.lock in a new --out, and every later run refused it as
    'not a tuneoff run folder'."""
    from tuneoff.run import tournament

    root, data, reference = setup
    out = tmp_path / "new" / "run"

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(tournament, "preflight", stop)
        assert main(run_args(root, data, out)) == 130
    assert not (tmp_path / "new").exists()  # what it created, removed
    out.mkdir(parents=True)  # as a SIGKILL at that moment leaves it
    (out / "tuneoff.lock").touch()
    (out / "tuneoff.lock.json").write_text(json.dumps({"pid": 1, "host": "elsewhere", "process_started": 0}))
    assert main(run_args(root, data, out)) == 0
    same_outcome(out, reference)


def _exported(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "README.md").is_file()


def test_export_to_a_symlink_writes_where_it_points_and_keeps_the_link(finished, tmp_path):
    root, data, reference, out = finished
    target, link = tmp_path / "models" / "full", tmp_path / "link"
    target.mkdir(parents=True)
    link.symlink_to(target)
    before = tree(out)
    assert main(["export", str(out), "--player", "full", "--to", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target) and _exported(target)
    (target / "extra.txt").write_text("replaced by --force")
    assert main(["export", str(out), "--player", "full", "--to", str(link), "--force"]) == 0
    assert link.is_symlink() and _exported(target) and not (target / "extra.txt").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["full"]  # nothing hidden left beside it
    assert tree(out) == before


def test_an_export_cleans_what_a_killed_one_left(finished, tmp_path, capsys):
    root, data, reference, out = finished
    to = tmp_path / "model"
    dead = [tmp_path / ".model.partial-999999999-deadbeef", tmp_path / ".model.partial-0badf00d"]  # old name too
    live = tmp_path / f".model.partial-{os.getpid()}-cafecafe"  # a live export's: left alone
    for folder in (*dead, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    assert main(["export", str(out), "--player", "full", "--to", str(to)]) == 0
    assert _exported(to) and not any(p.exists() for p in dead) and live.exists()
    # killed between its two renames: the earlier export is put back, and a second export needs --force
    shutil.rmtree(live)
    to.rename(tmp_path / ".model.old-999999999-deadbeef")
    capsys.readouterr()
    assert main(["export", str(out), "--player", "full", "--to", str(to)]) == 2
    assert f"--to {to}: folder not empty; --force replaces" in capsys.readouterr().out.replace("\n", "")
    assert _exported(to) and sorted(p.name for p in tmp_path.iterdir()) == ["model", "run"]


def test_an_export_error_names_the_users_folder_not_the_hidden_one(finished, tmp_path, monkeypatch, capsys):
    import errno

    from tuneoff.run import export

    root, data, reference, out = finished

    def full_disk(folder, result, staged, final):
        raise OSError(errno.ENOSPC, "No space left on device", str(staged / "model.safetensors"))

    monkeypatch.setattr(export, "write_model", full_disk)
    to = tmp_path / "model"
    capsys.readouterr()
    assert main(["export", str(out), "--player", "full", "--to", str(to)]) == 1
    text = capsys.readouterr().out.replace("\n", "")
    assert f"error: {to}/model.safetensors: No space left on device" in text and ".partial" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_renamed_class_makes_results_stale(tmp_path, capsys):
    """A class renamed in the data files (positive -> pos) was not stale: the fingerprint hashed label ids only."""
    config = tmp_path / "csv.toml"
    config.write_text(
        FAULT_CONFIG.replace("epochs = 30", "epochs = 1").replace(
            "[data]\nverify = false", '[data]\nname = "csv"\ntrain = "train.csv"\ndev = "dev.csv"\ntest = "test.csv"'
        )
    )

    def write(positive: str):
        for split in ("train", "dev", "test"):
            rows = "".join(
                f"a superb {split} film {i},{positive}\nan awful {split} film {i},negative\n" for i in range(4)
            )
            (tmp_path / f"{split}.csv").write_text("text,label\n" + rows)

    args = ["run", str(config), "--out", str(tmp_path / "run"), "--no-report"]
    write("positive")
    assert main(args) == 0
    write("pos")
    capsys.readouterr()
    assert main(args) == 0
    assert (
        "full seed-7: stale (data.classes: ['negative', 'positive'] in the result, ['negative', 'pos'] now); "
        "training again"
    ) in capsys.readouterr().out.replace("\n", "")
    result = read_result(tmp_path / "run" / "players" / "full" / "seed-7" / "result.json")
    assert result["labels"] == ["negative", "pos"]
