"""Faults during a run: SIGKILL then --resume, Ctrl-C, a concurrent run, an unwritable folder, a dead worker.

Each runs both ways a run trains: serially in the command's own process (`--workers 1`) and in
worker processes (`--workers 2`, the default on a machine with two or more cores).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factory.spec.loader import load
from factory.train.runner import LOCK, run_experiment
from tests.conftest import ROOT

SLOW_SECOND = """\
name: faults
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 2, batch_size: 64, seeds: [0]}
models:
  A:
    layers: [Flatten, {Dense: {units: 8, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
  B:
    training: {epochs: 30}
    layers: [Flatten, {Dense: {units: 8, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
"""


@pytest.fixture(params=[1, 2], ids=["serial", "workers"])
def workers(request) -> int:
    return request.param


def start(spec: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "factory", "run", str(spec), "--out", str(out), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"run ended early: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError("timed out")


def finished_runs(out: Path) -> int:
    try:
        return len(json.loads((out / "results.json").read_text())["runs"])
    except (OSError, ValueError):
        return 0


def test_sigkill_after_the_first_model_then_resume(write, tmp_path, workers):
    spec, out = write(SLOW_SECOND), tmp_path / "out"
    process = start(spec, out, "--workers", str(workers))
    wait_for(lambda: finished_runs(out) == 1, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for path in out.rglob("*"):  # every file left behind is complete
        if path.suffix == ".json":
            json.loads(path.read_text())
    for path in out.rglob("*.keras"):  # every model left behind is complete
        import zipfile

        assert zipfile.is_zipfile(path), path
    first = json.loads((out / "results.json").read_text())["runs"][0]
    model_bytes = (out / first["model_file"]).read_bytes()

    loaded = load(spec)
    assert run_experiment(loaded, out, resume=True, workers=workers) == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert json.dumps(runs[0], sort_keys=True) == json.dumps(first, sort_keys=True)
    assert (out / first["model_file"]).read_bytes() == model_bytes
    assert runs[1]["model"] == "B" and runs[1]["status"] == "completed" and runs[1]["epochs_completed"] == 30


def test_ctrl_c_keeps_what_finished_and_says_how_to_resume(write, tmp_path, workers):
    spec, out = write(SLOW_SECOND), tmp_path / "out"
    process = start(spec, out, "--workers", str(workers))
    wait_for(lambda: finished_runs(out) == 1, process)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"--out {out} --resume" in stderr
    results = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in results["runs"]] == ["A"] and results["finished"] is None
    assert (out / "report.html").is_file()
    assert not (out / LOCK).exists()


def test_a_second_run_on_the_same_folder_is_refused(write, tmp_path, cli, workers):
    spec, out = write(SLOW_SECOND), tmp_path / "out"
    process = start(spec, out, "--workers", str(workers))
    try:
        wait_for(lambda: (out / LOCK).exists(), process)
        code, _, err = cli("run", spec, "--out", out)
        assert code == 2
        assert f"another run (process {process.pid}) is using {out}" in err
    finally:
        process.kill()
        process.wait()
    # the killed run's lock died with it: a new run takes the folder over
    code, _, _ = cli("run", spec, "--out", out, "--set", "models.B.training.epochs=1", "--workers", workers)
    assert code == 0


def test_unwritable_output_folder_fails_before_training(write, tmp_path, cli, workers):
    if os.geteuid() == 0:
        target = Path("/proc/factory-cannot-write-here")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "out"
    code, _, err = cli("run", write(SLOW_SECOND), "--out", target, "--workers", workers)
    assert code == 2 and f"cannot write to output folder {target}" in err
    assert "epoch" not in err


def test_disk_full_while_writing_results_leaves_the_old_file_and_a_clear_error(write, tmp_path, monkeypatch, cli,
                                                                               workers):
    import errno

    from factory import atomic

    spec, out = write(SLOW_SECOND.replace("epochs: 30", "epochs: 1")), tmp_path / "out"
    assert cli("run", spec, "--out", out)[0] == 0
    before = (out / "results.json").read_bytes()
    for model in (out / "models").iterdir():  # runs without their model file are trained again on resume
        model.unlink()
    real_fsync = atomic.os.fsync

    def full(fd):  # the disk fills once the arrays for the workers are written: while the runs train
        if f"{os.sep}.data{os.sep}" in os.readlink(f"/proc/self/fd/{fd}"):
            return real_fsync(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)  # the driver's writes; workers only train
    code, _, err = cli("run", spec, "--out", out, "--resume", "--workers", workers)
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    # a run finished training (in a worker with --workers 2; A or B first) and writing its model hit the full disk
    assert code == 2 and any(f"cannot write {out / 'models' / f'{m}-seed0.keras'}: No space left on device" in err
                             for m in "AB"), err
    assert ("training 2 runs in 2 worker processes" in err) == (workers == 2)
    assert (out / "results.json").read_bytes() == before  # the complete old file, not a partial new one
    assert not [p for p in [*out.iterdir(), *(out / "models").iterdir()] if p.name.endswith(".tmp")]


def test_disk_full_before_the_workers_start_is_a_clear_error(write, tmp_path, monkeypatch, cli):
    import errno

    from factory import atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    code, _, err = cli("run", write(SLOW_SECOND), "--out", tmp_path / "out", "--workers", "2")
    monkeypatch.undo()
    assert code == 2 and "epoch" not in err
    assert (f"cannot write the arrays the worker processes share to {tmp_path / 'out' / '.data'}: "
            "No space left on device") in err
    assert not (tmp_path / "out" / ".data").exists()


def test_a_worker_killed_mid_run_is_a_failed_run_and_the_experiment_finishes(write, tmp_path):
    spec, out = write(SLOW_SECOND.replace("epochs: 30", "epochs: 300")), tmp_path / "out"
    process = start(spec, out, "--workers", "2")
    try:
        wait_for(lambda: finished_runs(out) == 1, process)
        busy = max(worker_processes(process.pid), key=cpu_ticks)  # the one training B
        os.kill(busy, signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1 and "Traceback" not in stderr
    results = json.loads((out / "results.json").read_text())
    assert results["finished"]
    assert [(r["model"], r["status"]) for r in results["runs"]] == [("A", "completed"), ("B", "failed")]
    assert results["runs"][1]["error"] == "worker process died (killed by SIGKILL)"
    assert "model B (2/2) seed 0 (1/1): FAILED: worker process died (killed by SIGKILL)" in stderr
    assert "1 run(s) failed: B seed 0" in stderr and (out / "report.html").is_file()


def worker_processes(pid: int) -> list[int]:
    """The worker processes of a running `factory run`: its spawned children, not the resource tracker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def hold_lock(out: Path) -> subprocess.Popen:
    """Another process holding the output folder's lock, until it is killed."""
    code = ("import sys, time; from pathlib import Path; from factory.train.folder import locked\n"
            "with locked(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(300)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_the_lock_refuses_while_its_holder_lives_and_dies_with_it(tmp_path):
    from factory.errors import SpecError
    from factory.train.folder import locked

    out = tmp_path / "out"
    out.mkdir()
    holder = hold_lock(out)
    try:
        with pytest.raises(SpecError, match=f"another run \\(process {holder.pid}\\) is using {out}; wait for it"):
            with locked(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK).read_text() == str(holder.pid)  # killed: its file stays, its lock does not
    with locked(out):
        assert (out / LOCK).read_text() == str(os.getpid())
    assert not (out / LOCK).exists()


def test_a_lock_file_naming_a_live_unrelated_process_does_not_block(write, tmp_path, cli):
    """A killed run's process id may be reused by any process: only a held lock counts."""
    spec, out = write(SLOW_SECOND.replace("epochs: 30", "epochs: 1")), tmp_path / "out"
    out.mkdir()
    (out / LOCK).write_text(str(os.getppid()))  # alive, and not a run
    code, _, err = cli("run", spec, "--out", out)
    assert code == 0, err
    assert not (out / LOCK).exists()
