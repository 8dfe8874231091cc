"""Resume inside a run: SIGKILL a model in epoch 7 of 20, run again with --resume, and it continues.

A real SIGKILL of the whole command (its worker processes die with it), serially and in worker
mode. The killed model goes on from its last completed epoch (Keras's BackupAndRestore, kept in the
output folder's `.resume/`), its finished history has each epoch once, and the run finished before
the kill is untouched byte for byte.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factory.train.folder import RESUME
from tests.conftest import ROOT

SPEC = """\
name: mid
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 2, batch_size: 8, seeds: [0]}
models:
  A:
    layers: [Flatten, {Dense: {units: 8, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
  B:
    training:
      epochs: 20
      callbacks: [{ReduceLROnPlateau: {monitor: val_loss, patience: 1, factor: 0.5}}]
    layers: [Flatten, {Dense: {units: 32, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
"""


def run(spec: Path, out: Path, workers: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "factory", "run", str(spec), "--out", str(out),
                             "--workers", str(workers), *extra], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def epochs_saved(out: Path) -> int:
    """The epochs of B that Keras's BackupAndRestore state holds (the epoch a resume starts after)."""
    try:
        return json.loads((out / RESUME / "B-seed0" / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def a_finished(out: Path) -> bool:
    try:
        return any(r["model"] == "A" for r in json.loads((out / "results.json").read_text())["runs"])
    except (OSError, ValueError):
        return False


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "workers"])
def test_sigkill_in_epoch_7_then_resume_continues_from_the_last_completed_epoch(write, tmp_path, workers):
    spec, out = write(SPEC), tmp_path / "out"
    process = run(spec, out, workers)
    deadline = time.monotonic() + 300
    while not (a_finished(out) and epochs_saved(out) >= 6):  # B is in epoch 7
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, as a kill -9 of the session
    process.wait()
    killed_at = epochs_saved(out)  # read again: the kill may have landed after the next save
    assert 6 <= killed_at < 20, killed_at
    assert (out / RESUME / "B-seed0").is_dir()
    before = json.loads((out / "results.json").read_text())
    a_record, = before["runs"]
    a_bytes = (out / a_record["model_file"]).read_bytes()

    resumed = run(spec, out, workers, "--resume")
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    b_epochs = [line.split("epoch ")[1].split()[0] for line in stderr.splitlines() if "model B" in line and ": epoch " in line]
    assert b_epochs[0] == f"{killed_at + 1}/20" and b_epochs[-1] == "20/20", b_epochs  # not from epoch 1

    results = json.loads((out / "results.json").read_text())
    a_after, b = results["runs"]
    assert a_after == a_record and (out / a_record["model_file"]).read_bytes() == a_bytes
    assert b["status"] == "completed" and b["resumed_from_epoch"] == killed_at + 1 and b["epochs_completed"] == 20
    assert {len(v) for v in b["history"].values()} == {20}  # each epoch exactly once
    rates = b["history"]["learning_rate"]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))  # the lowered rate was restored
    assert not (out / RESUME).exists()  # removed when the run finished


def test_a_run_without_resume_starts_over(write, tmp_path):
    spec, out = write(SPEC.replace("epochs: 20", "epochs: 3")), tmp_path / "out"
    state = out / RESUME / "B-seed0"
    state.mkdir(parents=True)
    (state / "history.json").write_text(json.dumps({"loss": [9.0, 9.0]}))
    process = run(spec, out, 1)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    b = json.loads((out / "results.json").read_text())["runs"][1]
    assert b["resumed_from_epoch"] == 0 and 9.0 not in b["history"]["loss"] and len(b["history"]["loss"]) == 3
    assert not (out / RESUME).exists()
