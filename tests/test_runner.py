"""The runner trains tiny real models and leaves consistent artifacts; failures are isolated."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from factory.data import DEBIAN_FASHION_MNIST, load_data
from factory.build.keras_setup import import_keras
from factory.spec.loader import load
from factory.train.runner import run_experiment
from tests.conftest import ROOT, TINY

keras = import_keras()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    spec = folder / "tiny.yaml"
    spec.write_text(TINY.replace("seeds: [0]", "seeds: [0, 1]"))
    code = run_experiment(load(spec), folder / "out")
    return code, folder / "out"


def test_run_writes_every_artifact(tiny_run):
    code, out = tiny_run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["format"] == 1 and results["finished"]
    assert set(results["versions"]) >= {"python", "tensorflow", "keras", "factory"}
    assert results["experiment"]["models"]["B"]["layers"][1] == {"Dense": {"units": 16}}
    runs = results["runs"]
    assert [(r["model"], r["seed"], r["status"]) for r in runs] == [
        ("A", 0, "completed"), ("A", 1, "completed"), ("B", 0, "completed"), ("B", 1, "completed")]
    for r in runs:
        assert set(r["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
        assert all(len(v) == 2 and all(math.isfinite(x) for x in v) for v in r["history"].values())
        assert r["params"] == {"A": 8 * 8 * 16 + 16 + 16 * 10 + 10, "B": 8 * 8 * 16 + 16 + 4 * 16 + 16 * 10 + 10}[r["model"]]
        assert r["seconds_per_epoch"] > 0 and (out / r["model_file"]).is_file()
    # different seeds give different histories; each model its own
    assert runs[0]["history"]["val_loss"] != runs[1]["history"]["val_loss"]
    assert runs[0]["history"]["val_loss"] != runs[2]["history"]["val_loss"]
    # the summary is the mean and sample std of the final values, computed by hand here
    finals = [r["history"]["val_loss"][-1] for r in runs if r["model"] == "A"]
    summary = results["summary"]["A"]["val_loss"]
    assert summary["n"] == 2 and summary["mean"] == pytest.approx(sum(finals) / 2)
    assert summary["std"] == pytest.approx(abs(finals[0] - finals[1]) / math.sqrt(2))


def test_tables_plots_and_report_hold_the_numbers(tiny_run):
    _, out = tiny_run
    results = json.loads((out / "results.json").read_text())
    mean = results["summary"]["A"]["val_loss"]["mean"]
    table = (out / "comparison.md").read_text()
    assert "| A | ReLU | 1,210 | 2 |" in table and f"{mean:.4f} ±" in table
    csv = (out / "comparison.csv").read_text().splitlines()
    assert csv[0].startswith("model,label,params,seeds,failed,final_val_loss_mean,final_val_loss_std")
    assert csv[1].startswith("A,ReLU,1210,2,0,") and f"{mean}" in csv[1]
    for name in ("val_loss.png", "val_accuracy.png", "loss.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.html").read_text()
    assert "<table>" in report and "BatchNorm + ReLU" in report and report.count("data:image/png;base64,") == 3
    assert "src='http" not in report and 'src="http' not in report  # self-contained


def test_saved_models_reload_in_safe_mode(tiny_run):
    _, out = tiny_run
    model = keras.models.load_model(out / "models" / "B-seed0.keras", safe_mode=True)
    assert model.count_params() == 1274


def test_defaults_keep_the_mathematics(tmp_path):
    """The tool's model A equals a hand-written model.fit with the same seed, epoch by epoch."""
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY.replace("epochs: 2", "epochs: 3"))
    loaded = load(spec, ["models={A: " + json.dumps(load(spec).experiment.model_dump(mode="json")["models"]["A"]) + "}"])
    assert run_experiment(loaded, tmp_path / "out") == 0
    ours = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]["history"]["val_loss"]

    data = load_data(loaded.experiment.data)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    theirs = model.fit(data.x_train, data.y_train, validation_data=(data.x_test, data.y_test), epochs=3,
                       batch_size=64, verbose=0).history["val_loss"]
    assert np.allclose(ours, theirs, atol=1e-5, rtol=0), (ours, theirs)


FAILING = """\
name: failing
data: {dataset: digits, train_size: 256}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
training: {epochs: 3, batch_size: 64}
models:
  exploding:
    compile: {optimizer: {SGD: 1.0e+12}, loss: mse}
    layers: [Flatten, {Dense: 1}]
  ok:
    layers: [Flatten, {Dense: {units: 10, activation: softmax}}]
  broken:
    layers: [Flatten, {Dense: {units: 10, activation: softmax}}]
"""


@pytest.fixture
def failing(write, monkeypatch):
    """FAILING's path; model `broken` raises in `fit` as a Keras error in epoch 1 would.

    Every spec mistake that used to fail in epoch 1 is now refused before training (the checks
    against the data), so the exception is injected: what is tested is what the runner does with it.
    """
    real_fit = keras.Model.fit

    def fit(self, *args, **kwargs):
        if self.name == "broken":
            raise ValueError("Arguments `target` and `output` must have the same rank (ndim). "
                             "Received: target.shape=(None,), output.shape=(None, 10)")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    return write(FAILING)


def test_nan_and_exceptions_fail_one_run_and_the_others_go_on(failing, tmp_path):
    code = run_experiment(load(failing), tmp_path / "out")
    assert code == 1
    runs = {r["model"]: r for r in json.loads((tmp_path / "out" / "results.json").read_text())["runs"]}
    assert runs["ok"]["status"] == "completed" and runs["ok"]["epochs_completed"] == 3
    assert runs["exploding"]["status"] == "failed"
    assert runs["exploding"]["error"].startswith("loss became inf in epoch") or "nan" in runs["exploding"]["error"]
    assert runs["exploding"]["epochs_completed"] < 3  # stopped, no epochs wasted
    assert runs["broken"]["status"] == "failed"
    assert runs["broken"]["error"].startswith("ValueError in epoch 1: Arguments `target` and `output` must have the same rank")
    assert "exploding" in (tmp_path / "out" / "report.html").read_text()


def test_fail_fast_stops_at_the_first_failure(failing, tmp_path):
    assert run_experiment(load(failing), tmp_path / "out", fail_fast=True) == 1
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [r["model"] for r in runs] == ["exploding"]


def test_resume_keeps_finished_runs_and_refuses_a_changed_spec(failing, write, tmp_path, cli):
    path = write(FAILING.replace("  exploding:\n    compile: {optimizer: {SGD: 1.0e+12}, loss: mse}\n    layers: [Flatten, {Dense: 1}]\n", ""))
    out = tmp_path / "out"
    assert run_experiment(load(path), out, fail_fast=True) == 1
    before = json.loads((out / "results.json").read_text())["runs"][0]
    assert run_experiment(load(path), out, resume=True) == 1  # broken still fails; ok is kept
    after = json.loads((out / "results.json").read_text())["runs"]
    assert after[0] == before
    code, _, err = cli("run", path, "--out", out, "--resume", "--set", "training.epochs=1")
    assert code == 2 and "cannot resume" in err and "training.epochs: 3 -> 1" in err


@pytest.mark.skipif(not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")
def test_real_fashion_mnist_trains(tmp_path, monkeypatch):
    monkeypatch.delenv("FACTORY_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # so the Debian files are the ones found
    loaded = load(ROOT / "experiments" / "abc.yaml", ["training.epochs=1", "data.train_size=3000",
                                                     "data.test_size=1000", "models={A: {layers: [Flatten, {Dense: {units: 64, activation: relu}}, {Dense: {units: 10, activation: softmax}}]}}"])
    assert run_experiment(loaded, tmp_path / "out") == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    data = load_data(loaded.experiment.data)
    assert data.x_train.shape == (3000, 28, 28) and data.x_train.max() == 1.0
    assert results["runs"][0]["history"]["val_accuracy"][0] > 0.6


def strict_json(text: str):
    """json.loads as jq and browsers read: NaN and Infinity are errors."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_results_json_is_strict_json_with_the_reason_for_each_null(failing, tmp_path):
    assert run_experiment(load(failing), tmp_path / "out") == 1
    results = strict_json((tmp_path / "out" / "results.json").read_text())
    exploding = next(r for r in results["runs"] if r["model"] == "exploding")
    nulls = [f"history.loss[{i}]" for i, v in enumerate(exploding["history"]["loss"]) if v is None]
    assert nulls and exploding["non_finite"][nulls[0]] in ("nan", "inf", "-inf")
    assert set(exploding["non_finite"]) >= set(nulls)


def test_artifacts_are_made_from_the_plain_results_json(tiny_run, tmp_path):
    from factory.results.artifacts import write_artifacts

    _, out = tiny_run
    written = write_artifacts(tmp_path, strict_json((out / "results.json").read_text()))
    assert sorted(p.name for p in written) == ["comparison.csv", "comparison.md", "loss.png", "report.html",
                                               "val_accuracy.png", "val_loss.png"]
    assert all(p.is_file() and p.parent == tmp_path for p in written)
    assert (tmp_path / "comparison.md").read_text() == (out / "comparison.md").read_text()


def test_the_results_line_lists_the_files_written(write, tmp_path, cli):
    path = write(TINY.replace("metrics: [accuracy]", "metrics: []"))
    code, _, err = cli("run", path, "--out", tmp_path / "out")
    assert code == 0
    line = next(line for line in err.splitlines() if line.startswith("results in "))
    listed = line.split("(", 1)[1].rstrip(")").split(", ")
    on_disk = sorted(p.name + ("/" if p.is_dir() else "") for p in (tmp_path / "out").iterdir()
                     if not p.name.startswith("."))
    assert sorted(listed) == on_disk, (listed, on_disk)
    assert "val_accuracy.png" not in listed and "loss.png" in listed


def test_a_failed_run_keeps_its_whole_reason(write, tmp_path, monkeypatch, cli):
    """Keras's message spans lines ("Exception encountered ...", then the cause); TF's graph trace is dropped."""
    message = ("Exception encountered when calling Sequential.call().\n\n"
               "Input 0 of layer \"dense\" is incompatible with the layer: expected axis -1 of input shape "
               "to have value 784, but received input with shape (None, 64)\n\n"
               "Arguments received by Sequential.call():\n  • inputs=tf.Tensor(shape=(None, 8, 8), dtype=float32)\n"
               "Detected at node StatefulPartitionedCall defined at (most recent call last):\n"
               "  File \"/usr/lib/python3.11/threading.py\", line 995, in _bootstrap\n"
               "\t [[{{node StatefulPartitionedCall}}]] [Op:__inference_multi_step_on_iterator_1234]")

    def fails(self, *args, **kwargs):
        raise ValueError(message)

    monkeypatch.setattr(keras.Model, "fit", fails)
    code, _, err = cli("run", write(TINY), "--out", tmp_path / "out")
    assert code == 1
    error = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]["error"]
    assert error.startswith("ValueError in epoch 1: Exception encountered when calling Sequential.call().\n")
    assert "expected axis -1 of input shape to have value 784, but received input with shape (None, 64)" in error
    assert "inputs=tf.Tensor(shape=(None, 8, 8)" in error
    assert "Detected at node" not in error and "File " not in error and "[[{{node" not in error
    # the terminal shows the cause on one line, and the report the whole reason
    assert ("model A (1/2) seed 0 (1/1): FAILED: ValueError in epoch 1: Input 0 of layer \"dense\" is incompatible "
            "with the layer: expected axis -1 of input shape to have value 784, but received input with shape "
            "(None, 64)\n") in err
    assert "784, but received input with shape (None, 64)" in (tmp_path / "out" / "report.html").read_text()


def test_running_again_moves_the_previous_results_aside_and_says_so(write, tmp_path, cli):
    path, out = write(TINY.replace("epochs: 2", "epochs: 1")), tmp_path / "out"
    assert cli("run", path, "--out", out)[0] == 0
    first = json.loads((out / "results.json").read_text())
    first_model = (out / "models" / "A-seed0.keras").read_bytes()
    code, _, err = cli("run", path, "--out", out, "--set", "models.A.layers.1.Dense.units=8")
    assert code == 0
    kept = out / "previous" / first["finished"][:19].replace(":", "-")
    assert f"the previous results in {out}/ were moved to {kept}/" in err
    assert json.loads((kept / "results.json").read_text()) == first
    assert (kept / "models" / "A-seed0.keras").read_bytes() == first_model
    assert {p.name for p in kept.iterdir()} >= {"comparison.md", "report.html", "val_loss.png", "models"}
    second = json.loads((out / "results.json").read_text())
    assert second["experiment"]["models"]["A"]["layers"][1]["Dense"]["units"] == 8
    assert second["started"] >= first["finished"]


def test_a_spec_error_leaves_the_previous_results_where_they_are(write, tmp_path, cli):
    path, out = write(TINY.replace("epochs: 2", "epochs: 1")), tmp_path / "out"
    assert cli("run", path, "--out", out)[0] == 0
    before = (out / "results.json").read_bytes()
    code, _, err = cli("run", path, "--out", out, "--set", "models.A.layers.1.Dense.units=1000000000000")
    assert code == 2 and "would have" in err
    assert (out / "results.json").read_bytes() == before and not (out / "previous").exists()


HUGE = """\
name: huge
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
training: {epochs: 1, batch_size: 64}
models:
  ok:
    layers: [Flatten, {Dense: {units: 10, activation: softmax}}]
  big:
    layers: [Flatten, {Dense: 1000000000000}, {Dense: {units: 10, activation: softmax}}]
  bigger:
    layers: [Flatten, {Dense: 1000000000000}, {Dense: 1000000000000}, {Dense: {units: 10, activation: softmax}}]
"""


def test_every_model_is_checked_before_any_task_reaches_the_workers(write, tmp_path, monkeypatch, cli):
    from factory.train import workers

    submitted = []
    real_run = workers.WorkerPool.run
    monkeypatch.setattr(workers.WorkerPool, "run", lambda self, *a: submitted.append(a) or real_run(self, *a))
    code, _, err = cli("run", write(HUGE), "--out", tmp_path / "out", "--workers", "2")
    assert code == 2
    assert "models.big.layers[1].Dense.units: model big would have" in err
    assert "models.bigger.layers[2].Dense.units: model bigger would have" in err
    assert submitted == [] and "epoch" not in err


# review item 2: a run never deletes or overwrites files it did not write ------------------------


@pytest.mark.parametrize("foreign", ["figure1.png", "report.html", "models/my_best_model.keras"])
def test_a_folder_of_someone_elses_files_is_refused_and_left_as_it_was(write, tmp_path, cli, foreign):
    out = tmp_path / "project"
    (out / "models").mkdir(parents=True)
    (out / foreign).write_bytes(b"the user's own")
    code, _, err = cli("run", write(TINY), "--out", out)
    assert code == 2 and "epoch" not in err
    assert (f"{out} holds files that no results.json of an earlier run accounts for: {foreign}; a run would mix "
            "its outputs with them (or replace them): move them away, or choose another --out") in err
    assert (out / foreign).read_bytes() == b"the user's own"
    assert not (out / "results.json").exists()


def test_running_again_moves_only_what_the_previous_run_wrote(write, tmp_path, cli):
    path, out = write(TINY.replace("epochs: 2", "epochs: 1")), tmp_path / "out"
    assert cli("run", path, "--out", out)[0] == 0
    first = json.loads((out / "results.json").read_text())
    assert first["files"] == ["comparison.md", "comparison.csv", "val_loss.png", "val_accuracy.png", "loss.png",
                              "report.html"]
    for name in ("figure1.png", "notes.html", "models/my_best_model.keras"):
        (out / name).write_bytes(b"the user's own")
    # files under the names a run writes that results.json does not account for: refused, untouched
    code, _, err = cli("run", path, "--out", out)
    assert code == 2 and "epoch" not in err
    assert "holds files that no results.json of an earlier run accounts for: figure1.png, " \
           "models/my_best_model.keras;" in err
    (out / "figure1.png").unlink()
    (out / "models" / "my_best_model.keras").unlink()
    code, _, err = cli("run", path, "--out", out)
    assert code == 0
    kept = out / "previous" / first["finished"][:19].replace(":", "-")
    assert sorted(p.name for p in kept.iterdir()) == sorted(first["files"] + ["results.json", "models"])
    assert sorted(p.name for p in (kept / "models").iterdir()) == ["A-seed0.keras", "B-seed0.keras"]
    assert (out / "notes.html").read_bytes() == b"the user's own"  # not a name a run writes: left alone


def test_a_users_file_under_a_name_the_next_run_writes_is_refused_not_replaced(write, tmp_path, cli):
    """Beside an earlier run's results.json, a plot or model file it does not account for is the user's."""
    out = tmp_path / "out"
    assert cli("run", write(TINY.replace("epochs: 2", "epochs: 1")), "--out", out)[0] == 0
    (out / "val_mae.png").write_bytes(b"the user's own")
    (out / "models" / "C-seed0.keras").write_bytes(b"the user's own")
    code, _, err = cli("run", write(TINY.replace("metrics: [accuracy]", "metrics: [mae]"), "t3.yaml"), "--out", out)
    assert code == 2 and "accounts for: val_mae.png, models/C-seed0.keras;" in err
    assert (out / "val_mae.png").read_bytes() == (out / "models" / "C-seed0.keras").read_bytes() == b"the user's own"


# review item 5: --resume refuses runs trained on other data ---------------------------------------

NPZ = """\
name: own
data: {dataset: own.npz}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
training: {epochs: 1, batch_size: 16, seeds: [0, 1]}
models:
  A:
    layers: [{Dense: {units: 3, activation: softmax}}]
"""


def test_resume_refuses_when_the_data_changed_and_says_what(write, tmp_path, cli):
    from factory import data

    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((40, 4)), "y_train": rng.integers(0, 3, 40),
              "x_test": rng.random((10, 4)), "y_test": rng.integers(0, 3, 10)}
    np.savez(tmp_path / "own.npz", **arrays)
    path, out = write(NPZ), tmp_path / "out"
    assert cli("run", path, "--out", out, "--fail-fast")[0] == 0
    recorded = json.loads((out / "results.json").read_text())["data_fingerprint"]
    assert recorded["x_train"]["shape"] == [40, 4] and recorded["x_train"]["dtype"] == "float32"
    assert recorded["y_test"]["shape"] == [10] and len(recorded["y_test"]["blake2b"]) == 32
    results = (out / "results.json").read_bytes()
    assert cli("run", path, "--out", out, "--resume")[0] == 0  # the same data: resumes
    arrays["y_train"] = (arrays["y_train"] + 1) % 3  # same shapes, other labels
    np.savez(tmp_path / "own.npz", **arrays)
    data._cache.clear()  # a new process would read the file again
    code, _, err = cli("run", path, "--out", out, "--resume")
    assert code == 2 and "epoch" not in err
    assert (f"cannot resume in {out}: the data changed since that run: y_train: its values differ "
            "(same shape and dtype)") in err
    np.savez(tmp_path / "own.npz", **{**arrays, "x_train": arrays["x_train"][:30], "y_train": arrays["y_train"][:30]})
    data._cache.clear()
    code, _, err = cli("run", path, "--out", out, "--resume")
    assert code == 2 and "x_train.shape: [40, 4] -> [30, 4]" in err and "y_train.shape: [40] -> [30]" in err
    assert json.loads((out / "results.json").read_text())["data_fingerprint"] == recorded


def test_the_data_fingerprint_is_fast_on_fashion_mnist_sized_arrays():
    import time

    from factory.data import Dataset
    from factory.train.document import data_fingerprint

    big = Dataset(np.ones((60000, 28, 28), np.float32), np.ones(60000, np.uint8),
                  np.ones((10000, 28, 28), np.float32), np.ones(10000, np.uint8), "test")
    start = time.perf_counter()
    data_fingerprint(big)
    assert time.perf_counter() - start < 2.0  # about 0.3 s for these 220 MB on the development machine
