"""Resume inside a run: SIGKILL a model in epoch 7 of 20, run again with --resume, and it continues.

A real SIGKILL of the whole command (its worker processes die with it), serially and in worker
mode. The killed model goes on from its last completed epoch (Keras's BackupAndRestore, kept in the
output folder's `.resume/`), its finished history has each epoch once, and the run finished before
the kill is untouched byte for byte. The callbacks go on with their state from before the kill
(patience, best epoch and weights, the schedule's scale), as if the run had not been killed.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
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


def test_a_state_of_another_spec_is_discarded_and_the_run_starts_from_epoch_1(write, tmp_path):
    """Killed in epoch 5 of 20 at learning rate 0.001, resumed with 3 epochs at 0.01: Keras's state
    (6 epochs, the old optimizer) must not be restored into the new spec, nor end a run of 3 epochs."""
    only_b = SPEC.replace(SPEC[SPEC.index("  A:"):SPEC.index("  B:")], "")  # no finished run, no results.json
    spec, out = write(only_b), tmp_path / "out"
    process = run(spec, out, 1)
    deadline = time.monotonic() + 300
    while epochs_saved(out) < 4:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "results.json").exists()
    changed = write(only_b.replace("optimizer: adam", "optimizer: {Adam: 0.01}").replace("epochs: 20", "epochs: 3"),
                    name="changed.yaml")
    resumed = run(changed, out, 1, "--resume")
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert ("model B seed 0: its mid-run state was discarded (the model's spec changed since); "
            "it starts from epoch 1") in stderr
    b = json.loads((out / "results.json").read_text())["runs"][-1]
    assert b["status"] == "completed" and b["resumed_from_epoch"] == 0 and b["epochs_completed"] == 3
    assert len(b["history"]["loss"]) == 3 and b["history"]["learning_rate"][0] == pytest.approx(0.01)


def test_resume_state_with_all_epochs_or_no_stamp_is_discarded(tmp_path):
    from factory.train.folder import STAMP, match_resume_states, resume_stamp, resume_state

    experiment = {"models": {"B": {"training": {"epochs": 4}}}}
    state = resume_state(tmp_path, "B", 0)
    state.mkdir(parents=True)
    (state / "training_metadata.json").write_text('{"epoch": 4, "batch": 0}')
    assert match_resume_states(tmp_path, experiment, {}, [("B", 0)]) == [
        "model B seed 0: its mid-run state was discarded (it does not say which spec and data it belongs to); "
        "it starts from epoch 1"]
    assert json.loads((state / STAMP).read_text()) == resume_stamp(experiment["models"]["B"], {})
    (state / "training_metadata.json").write_text('{"epoch": 4, "batch": 0}')
    assert match_resume_states(tmp_path, experiment, {}, [("B", 0)]) == [
        "model B seed 0: its mid-run state was discarded (it holds 4 epochs, the run plans 4); it starts from epoch 1"]
    (state / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    assert match_resume_states(tmp_path, experiment, {}, [("B", 0)]) == []  # the same run: continued
    assert match_resume_states(tmp_path, experiment, {"x_train": 1}, [("B", 0)]) == [
        "model B seed 0: its mid-run state was discarded (the data changed since); it starts from epoch 1"]


def test_resume_of_a_folder_written_before_new_settings_and_with_tensorboard_toggled(write, tmp_path):
    """results.json of an older version lacks `training.keras_backend` and `tracking`: not a change."""
    from factory.spec.loader import load
    from factory.train.folder import previous_runs
    from factory.train.tracking import with_tensorboard

    experiment = load(write(SPEC)).experiment.resolved()
    old = experiment.model_dump(mode="json")
    del old["tracking"]
    for part in [old["training"], *(m["training"] for m in old["models"].values())]:
        del part["keras_backend"]
    run_record = {"model": "A", "seed": 0, "status": "completed"}
    (tmp_path / "results.json").write_text(json.dumps({"experiment": old, "runs": [run_record]}))
    assert previous_runs(tmp_path, experiment.model_dump(mode="json")) == [run_record]
    assert previous_runs(tmp_path, with_tensorboard(experiment).model_dump(mode="json")) == [run_record]
    changed = experiment.model_dump(mode="json")
    changed["training"]["batch_size"] = 9
    with pytest.raises(Exception, match=r"the experiment changed since that run: training.batch_size: 8 -> 9"):
        previous_runs(tmp_path, changed)


# The learning rate is the monitor: it is the same figure in an uninterrupted and a resumed run,
# whatever the randomness of the epochs trained again. Falling (a schedule, halved on plateaus), it
# never improves in mode max: epoch 1 is the best (and kept), the first ReduceLROnPlateau halves the
# schedule at epochs 3, 5, 7 and 9, the second at 5 and 9 (there the two quarter it, on one scale
# kept once), and EarlyStopping stops at epoch 11.
CONTROL = """\
name: control
data: {dataset: digits}
compile:
  optimizer: {SGD: {learning_rate: {CosineDecay: {initial_learning_rate: 0.05, decay_steps: 10000}}}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
training:
  epochs: 20
  batch_size: 8
  seeds: [0]
  keep: best
  callbacks:
    - EarlyStopping: {monitor: learning_rate, mode: max, patience: 10, restore_best_weights: true}
    - ReduceLROnPlateau: {monitor: learning_rate, mode: max, patience: 2, factor: 0.5}
    - ReduceLROnPlateau: {monitor: learning_rate, mode: max, patience: 4, factor: 0.5}
models:
  B:
    layers: [Flatten, {Dense: {units: 32, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
"""


def test_sigkill_then_resume_keeps_the_callbacks_state(write, tmp_path):
    """Killed after its best epoch and its first plateau, the resumed run stops at the same epoch, keeps
    the same (pre-kill) best weights and lowers the rate at the same epochs as an uninterrupted run."""
    from factory.build.keras_setup import import_keras
    from factory.data import load_data
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    spec, out = write(CONTROL), tmp_path / "out"
    process = run(spec, out, 1)
    deadline = time.monotonic() + 300
    while epochs_saved(out) < 4:  # past the best epoch (1) and the first plateau (3)
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = epochs_saved(out)
    assert 4 <= killed_at < 11, killed_at
    state = out / RESUME / "B-seed0"
    # the last two epochs' states, the best weights of EarlyStopping and keep best (1 and 4 after the scale)
    kept = sorted(p.name for p in state.glob("*-epoch*"))
    best = ["weights-1-epoch1.npz", "weights-4-epoch1.npz"]
    assert kept in ([f"callbacks-epoch{killed_at}.json", *best],
                    [f"callbacks-epoch{killed_at}.json", f"callbacks-epoch{killed_at + 1}.json", *best],
                    [f"callbacks-epoch{killed_at - 1}.json", f"callbacks-epoch{killed_at}.json", *best]), kept

    resumed = run(spec, out, 1, "--resume")
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    b, = json.loads((out / "results.json").read_text())["runs"]
    assert b["resumed_from_epoch"] == killed_at + 1 and not (out / RESUME).exists()

    assert run_experiment(load(spec), tmp_path / "whole", workers=1) == 0
    whole, = json.loads((tmp_path / "whole" / "results.json").read_text())["runs"]
    assert (whole["epochs_completed"], whole["stopped_early"], whole["kept_epoch"]) == (11, True, 1)
    assert (b["epochs_completed"], b["stopped_early"], b["kept_epoch"]) == (11, True, 1)
    assert b["history"]["learning_rate"] == pytest.approx(whole["history"]["learning_rate"], rel=1e-6)
    rates = whole["history"]["learning_rate"]
    assert [i + 1 for i in range(1, 11) if rates[i] < 0.9 * rates[i - 1]] == [4, 6, 8, 10]  # lowered after 3, 5, 7, 9
    # halved after 3 and 7, quartered after 5 and 9 (the schedule's own decay is under 3% an epoch)
    assert [rates[i] / rates[i - 1] for i in (3, 5, 7, 9)] == pytest.approx([0.5, 0.25, 0.5, 0.25], rel=0.03)

    # the saved model holds epoch 1's weights, taken before the kill: its loss is epoch 1's val_loss
    keras = import_keras()
    data = load_data(load(spec).experiment.data, tmp_path)
    model = keras.models.load_model(out / b["model_file"])
    assert model.evaluate(data.x_test, data.y_test, verbose=0)[0] == pytest.approx(b["history"]["val_loss"][0], rel=1e-4)


def test_a_state_one_epoch_ahead_of_keras_is_not_taken(tmp_path):
    """Killed after the callbacks' state of epoch 5 was written but before Keras's: Keras resumes after
    epoch 4, so the callbacks get epoch 4's state (the last two are kept), best weights included."""
    from factory.build.keras_setup import import_keras
    from factory.train.callbacks import _callback_state

    keras = import_keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    def attempt():
        stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
        state = _callback_state(keras, tmp_path, [stop])
        for callback in (stop, state):
            callback.set_model(model)
        stop.on_train_begin()
        return stop, state

    stop, state = attempt()
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8, 0.9]):
        model.set_weights([np.full((2, 1), float(epoch)), np.zeros(1)])  # the weights "trained" in that epoch
        state.on_epoch_begin(epoch)
        stop.on_epoch_end(epoch, {"loss": loss})
        state.on_epoch_end(epoch, {"loss": loss})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["callbacks-epoch4.json", "callbacks-epoch5.json",
                                                          "weights-0-epoch2.npz"]
    stop, state = attempt()
    state.on_epoch_begin(4)  # BackupAndRestore's state says 4 epochs
    assert (stop.wait, stop.best, stop.best_epoch) == (2, 0.5, 1)
    assert np.array_equal(stop.best_weights[0], np.full((2, 1), 1.0))


def test_two_callbacks_keeping_different_weights_of_one_epoch_each_get_their_own_back(tmp_path):
    """As EarlyStopping and keep best with SwapEMAWeights between them: the first keeps the raw
    weights, the second the EMA's, both of epoch 2. A resumed run gives each its own."""
    from factory.build.keras_setup import import_keras
    from factory.train.callbacks import _callback_state

    keras = import_keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    def attempt():
        raw, ema = (keras.callbacks.EarlyStopping(monitor="loss", patience=p, restore_best_weights=True) for p in (5, 9))
        state = _callback_state(keras, tmp_path, [raw, ema])
        for callback in (raw, ema, state):
            callback.set_model(model)
            callback.on_train_begin()
        return raw, ema, state

    raw, ema, state = attempt()
    for epoch, loss in enumerate([1.0, 0.5]):
        state.on_epoch_begin(epoch)
        model.set_weights([np.full((2, 1), 1.0 + epoch), np.zeros(1)])
        raw.on_epoch_end(epoch, {"loss": loss})
        model.set_weights([np.full((2, 1), -5.0 - epoch), np.zeros(1)])  # the EMA's, swapped in
        ema.on_epoch_end(epoch, {"loss": loss})
        state.on_epoch_end(epoch, {"loss": loss})
    assert sorted(p.name for p in tmp_path.glob("weights-*")) == [  # epoch 1's too, for epoch 1's state
        "weights-0-epoch1.npz", "weights-0-epoch2.npz", "weights-1-epoch1.npz", "weights-1-epoch2.npz"]
    raw, ema, state = attempt()
    state.on_epoch_begin(2)  # BackupAndRestore's state says 2 epochs
    assert (raw.best_epoch, ema.best_epoch) == (1, 1)
    assert np.array_equal(raw.best_weights[0], np.full((2, 1), 2.0))
    assert np.array_equal(ema.best_weights[0], np.full((2, 1), -6.0))
