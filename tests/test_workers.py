"""Runs in worker processes give the same results as serial runs, and stop cleanly."""

import json
import os
import signal
import subprocess
import sys
import time

from factory.spec.loader import load
from factory.train.runner import run_experiment
from tests.conftest import ROOT, TINY
from tests.test_backends import MIXED, needs_jax
from tests.test_faults import SLOW_SECOND, cpu_ticks, finished_runs, start, wait_for, worker_processes


def histories(out):
    return {(r["model"], r["seed"]): r["history"] for r in json.loads((out / "results.json").read_text())["runs"]}


def test_two_workers_equal_serial(write, tmp_path):
    spec = write(TINY.replace("seeds: [0]", "seeds: [0, 1]"))
    assert run_experiment(load(spec), tmp_path / "serial", workers=1) == 0
    assert run_experiment(load(spec), tmp_path / "parallel", workers=2) == 0
    serial, parallel = histories(tmp_path / "serial"), histories(tmp_path / "parallel")
    assert list(serial) == list(parallel)  # results.json keeps the plan's order
    for key in serial:
        for metric, values in serial[key].items():
            assert max(abs(a - b) for a, b in zip(values, parallel[key][metric])) < 1e-6, (key, metric)
    files = sorted(p.name for p in (tmp_path / "parallel" / "models").iterdir())
    assert files == ["A-seed0.keras", "A-seed1.keras", "B-seed0.keras", "B-seed1.keras"]


def test_ctrl_c_with_workers_stops_them_and_keeps_finished_runs(write, tmp_path):
    spec, out = write(SLOW_SECOND.replace("epochs: 30", "epochs: 300")), tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "factory", "run", str(spec), "--out", str(out),
                                "--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    wait_for(lambda: finished_runs(out) == 1, process)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert time.monotonic() - started < 15, "Ctrl-C stops the workers at once"
    assert [r["model"] for r in json.loads((out / "results.json").read_text())["runs"]] == ["A"]
    assert not [p for p in (out / "models").iterdir() if p.name.startswith(".")]


@needs_jax
def test_mixed_backends_share_the_worker_slots_side_by_side(write, tmp_path, monkeypatch, capsys):
    from factory.train import workers

    start, submit, outcome = workers.WorkerPool.__init__, workers.WorkerPool.submit, workers.WorkerPool.outcome
    running: list[str] = []  # the backend of each run handed to a worker and not yet back
    seen: list[list[str]] = []
    started: dict[str, int] = {}  # the worker processes each backend's pool started

    def made(pool, *args, **kwargs):
        start(pool, *args, **kwargs)
        started[pool.keras_backend] = len(pool.processes)

    def submitted(pool, task, epochs_total):
        running.append(pool.keras_backend)
        seen.append(sorted(running))
        return submit(pool, task, epochs_total)

    def returned(pool, task, future):
        running.remove(pool.keras_backend)
        return outcome(pool, task, future)

    monkeypatch.setattr(workers.WorkerPool, "__init__", made)
    monkeypatch.setattr(workers.WorkerPool, "submit", submitted)  # the driver's side: in this process
    monkeypatch.setattr(workers.WorkerPool, "outcome", returned)
    assert run_experiment(load(write(MIXED)), tmp_path / "out", workers=2) == 0
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["model"], r["seed"], r["status"], r["keras_backend"]) for r in runs] == [
        (model, seed, "completed", backend) for model, backend in
        [("A-tensorflow", "tensorflow"), ("A-jax", "jax"), ("B", "tensorflow")] for seed in (0, 1)]
    assert max(len(s) for s in seen) == 2  # --workers 2: two runs at once over both backends
    # A-tensorflow seed 1 waits for the one TensorFlow process; A-jax seed 0 takes the free slot meanwhile
    assert seen[1] == ["jax", "tensorflow"], seen
    assert started == {"tensorflow": 1, "jax": 1}  # two processes in all, not two per backend
    assert "training 6 runs in 2 worker processes\n" in capsys.readouterr().err


def test_the_workers_processes_are_shared_out_by_each_backends_runs():
    from factory.train.workers import process_shares

    assert process_shares(2, {"tensorflow": 4, "jax": 2}) == {"tensorflow": 1, "jax": 1}
    assert process_shares(4, {"tensorflow": 6, "jax": 2}) == {"tensorflow": 3, "jax": 1}
    assert process_shares(16, {"tensorflow": 2, "jax": 3}) == {"tensorflow": 2, "jax": 3}  # no more than runs
    assert process_shares(2, {"tensorflow": 2, "jax": 2, "torch": 2}) == {"tensorflow": 1, "jax": 1, "torch": 1}


@needs_jax
def test_a_dead_workers_failed_run_names_its_backend(write, tmp_path):
    spec, out = write(SLOW_SECOND.replace("epochs: 30", "epochs: 300")), tmp_path / "out"
    process = start(spec, out, "--workers", "2", "--keras-backend", "jax")
    try:
        wait_for(lambda: finished_runs(out) == 1, process)
        os.kill(max(worker_processes(process.pid), key=cpu_ticks), signal.SIGKILL)  # the one training B
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [(r["model"], r["status"], r.get("keras_backend")) for r in runs] == [
        ("A", "completed", "jax"), ("B", "failed", "jax")], stderr
    assert runs[1]["error"] == "worker process died (killed by SIGKILL)"
