"""A job's record: one writer of its status (store.record.Record) for final jobs and tuning trials alike, used by
every executor's end of a job (a stopped run, a dead worker, a Ray task that came back or did not)."""

import json
from types import SimpleNamespace

import pytest
from conftest import TINY_CONFIG

from tuneoff.plan.jobs import plan, plan_tuning
from tuneoff.plan.loading import load_config
from tuneoff.run.lifecycle import not_returned, settle, stopped, worker_died
from tuneoff.run.task import Task
from tuneoff.store.liveness import shown
from tuneoff.store.record import Final, Record, Trial
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status

SHA = {"train": "x"}
LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
TUNED = (
    TINY_CONFIG.replace('overridable = ["learning_rate"]', "overridable = []").replace(
        "protocol = { learning_rate = 5e-3 }", ""
    )
    + "\n[tuning]\nlearning_rates = [1e-4, 1e-2]\nepochs = 2\n"
)


@pytest.fixture
def jobs(tmp_path):
    """A final job and a tuning trial of the tiny config, and the run folder they go in."""
    (tmp_path / "plain.toml").write_text(TINY_CONFIG)
    (tmp_path / "tuned.toml").write_text(TUNED)
    final = plan(load_config(tmp_path / "plain.toml"), SHA)[0]
    trial = plan_tuning(load_config(tmp_path / "tuned.toml"), SHA, "full", {})[0]
    return final, trial, RunFolder(tmp_path / "run")


def task(job, run: RunFolder) -> Task:
    return Task(job, (SimpleNamespace(labels=LABELS), []), run.job(job.name, job.label), run)


def on_disk(folder, kind) -> dict:
    return json.loads((folder.path / ("result.json" if kind is Final else "tuning.json")).read_text())


def test_the_kind_of_a_job_names_its_folder_and_says_whether_it_reads_the_test_split(jobs):
    final, trial, _ = jobs
    assert final.kind is Final and final.label == "seed-7" and Final.tested
    assert trial.kind is Trial and trial.label == "tune-lr-0.0001-seed-7" and not Trial.tested
    assert trial.identity["kind"] == "tuning" and "kind" not in final.identity  # the hashes are unchanged


@pytest.mark.parametrize("which", ["final", "trial"])
def test_a_record_starts_running_and_ends_once_in_its_own_file(jobs, which):
    final, trial, run = jobs
    job = final if which == "final" else trial
    folder = run.job(job.name, job.label)
    record = Record.start(job, folder, LABELS)
    assert on_disk(folder, job.kind)["status"] == "running" and record.status is Status.RUNNING
    if job.kind.tested:  # a trial never saves one
        folder.checkpoint.folder.mkdir(parents=True)
    record.interrupt("Ctrl-C before it finished")
    written = on_disk(folder, job.kind)
    assert written["status"] == "interrupted" and written["error"] == "Ctrl-C before it finished"
    assert written["finished_at"] and not folder.checkpoint.folder.exists()  # an unfinished job keeps no checkpoint
    assert Record.found(job.kind, folder).status is Status.INTERRUPTED
    assert Record.found(Trial if job.kind is Final else Final, folder) is None  # the other kind's file is absent


def test_a_diverged_job_is_failed_and_says_so(jobs):
    final, _, run = jobs
    record = Record.start(final, run.job(final.name, final.label), LABELS)
    record.fail("training loss became nan at step 3", diverged=True)
    written = on_disk(record.folder, Final)
    assert written["status"] == "failed" and written["diverged"] is True


@pytest.mark.parametrize("which", ["final", "trial"])
def test_a_stopped_run_records_what_it_left_running_interrupted(jobs, which):
    """A pool or Ray run that stops: a job left 'running' is interrupted, trials as final jobs; one that ended
    stays as it ended; ``unrecorded`` (Ray) also records a job that has no record yet."""
    final, trial, run = jobs
    job = final if which == "final" else trial
    stopped(task(job, run), "stopped with the run", unrecorded=True)
    assert on_disk(run.job(job.name, job.label), job.kind)["status"] == "interrupted"
    Record.start(job, run.job(job.name, job.label), LABELS).fail("a crash")
    stopped(task(job, run), "stopped with the run")
    assert on_disk(run.job(job.name, job.label), job.kind)["status"] == "failed"


@pytest.mark.parametrize("which", ["final", "trial"])
def test_a_job_whose_worker_died_is_interrupted_then_failed_once_retries_are_spent(jobs, which):
    final, trial, run = jobs
    job = final if which == "final" else trial
    folder = run.job(job.name, job.label)
    Record.start(job, folder, LABELS)
    worker_died(task(job, run), "its worker process died (signal 9, SIGKILL)", final=False)
    assert on_disk(folder, job.kind)["status"] == "interrupted"
    assert on_disk(folder, job.kind)["error"].endswith("; tried again")
    worker_died(task(job, run), "its worker process died (signal 9, SIGKILL)", final=True)  # died before writing
    assert on_disk(folder, job.kind)["status"] == "failed"


def test_a_trial_trained_on_ray_comes_back_with_its_record(jobs, tmp_path):
    """The driver settles a returned task by its kind's record: a completed trial is completed (it was once read
    as a final job's missing result, and counted as a failure)."""
    _, trial, run = jobs
    scratch = RunFolder(tmp_path / "scratch").job(trial.name, trial.label)
    record = Record.start(trial, scratch)
    record.doc.update(
        history={"epochs": [{"dev_accuracy": 0.5}]}, best_epoch=1, best_dev_accuracy=0.5, train_seconds=1.0
    )
    record.complete()
    back = settle(task(trial, run), scratch.pack())
    assert back is not None and back["status"] == "completed"
    assert run.job(trial.name, trial.label).trial()["status"] == "completed"


def test_a_task_that_came_back_empty_is_failed_beside_the_earlier_result(jobs):
    """A Ray task that died every try, or whose worker refused: failed, and an earlier result stays."""
    final, _, run = jobs
    target = run.job(final.name, final.label)
    Record.start(final, target, LABELS).interrupt("earlier")
    not_returned(task(final, run), "refused to train on 10.0.0.2: it has transformers 0.0.1")
    assert on_disk(target, Final)["error"] == "earlier"
    assert on_disk(target.staged(), Final)["status"] == "failed"


def test_a_result_left_running_by_a_dead_process_shows_interrupted(jobs):
    final, _, run = jobs
    doc = Final.fresh(final, LABELS)
    assert shown(doc) is doc  # this process is alive
    gone = {**doc, "process": {**doc["process"], "pid": doc["process"]["pid"], "process_started": 0.0}}
    assert shown(gone)["status"] == Status.INTERRUPTED and "which is gone" in shown(gone)["error"]
