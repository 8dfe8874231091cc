"""Tracking: the `tracking:` section, TensorBoard event files and MLflow runs, read back and compared with results.json."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, spec_errors

SPEC = """\
name: tracked
data: {dataset: digits, train_size: 300, test_size: 100}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 2, batch_size: 64, seeds: [0, 1]}
models:
  A:
    label: small
    layers:
      - Flatten
      - Dense: {units: 8, activation: relu}
      - Dense: {units: 10, activation: softmax}
  B:
    label: wider
    layers:
      - Flatten
      - Dense: {units: 16, activation: relu}
      - Dense: {units: 10, activation: softmax}
"""

# The issue's syntax, verbatim (the contract).
ISSUE_TRACKING = """\
tracking:
  tensorboard: true                 # logs under the output folder, one run per (model, seed)
  mlflow:                           # optional extra: pip install 'factory[mlflow]'
    tracking_uri: sqlite:///mlflow.db   # default: a local store in the output folder
    experiment: fashion-abc         # default: the experiment's name
"""


def spec_file(folder: Path, tracking: str = "") -> Path:
    path = folder / "tracked.yaml"
    path.write_text(SPEC + textwrap.dedent(tracking), encoding="utf-8")
    return path


def results_of(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


# --- the spec --------------------------------------------------------------------------------


def test_the_issue_tracking_section_validates_verbatim(tmp_path):
    from factory.spec.loader import load

    tracking = load(spec_file(tmp_path, ISSUE_TRACKING)).experiment.tracking
    assert tracking.tensorboard.update_freq == "epoch" and tracking.tensorboard.histogram_freq == 0
    assert tracking.mlflow.tracking_uri == "sqlite:///mlflow.db" and tracking.mlflow.experiment == "fashion-abc"


def test_tracking_is_off_unless_asked_and_options_are_keras_names(tmp_path):
    from factory.spec.loader import load

    assert load(spec_file(tmp_path)).experiment.tracking.model_dump() == {"tensorboard": None, "mlflow": None}
    tracking = load(spec_file(tmp_path, "tracking: {tensorboard: {update_freq: 5, histogram_freq: 1}, "
                                        "mlflow: true}\n")).experiment.tracking
    assert (tracking.tensorboard.update_freq, tracking.tensorboard.histogram_freq) == (5, 1)
    assert tracking.mlflow.tracking_uri is None and tracking.mlflow.experiment is None
    assert load(spec_file(tmp_path, "tracking: {tensorboard: false, mlflow: false}\n")
                ).experiment.tracking.model_dump() == {"tensorboard": None, "mlflow": None}


def test_tracking_mistakes_are_located_with_did_you_mean(tmp_path):
    path = spec_file(tmp_path, """\
        tracking:
          tensorbord: true
          mlflow: {tracking_url: x}
        """)
    assert spec_errors(path) == [
        f"{path}:19:3: tracking.tensorbord: unknown key 'tensorbord'; did you mean 'tensorboard'?",
        f"{path}:20:12: tracking.mlflow.tracking_url: unknown key 'tracking_url'; did you mean 'tracking_uri'?"]
    path = spec_file(tmp_path, """\
        tracking:
          tensorboard: {update_freq: epochs, histogram_frq: 1}
          mlflow: yes please
        """)
    assert spec_errors(path) == [
        f"{path}:19:30: tracking.tensorboard.update_freq: update_freq is epoch, batch or a number of batches, "
        "got 'epochs'; did you mean 'epoch'?",
        f"{path}:19:38: tracking.tensorboard.histogram_frq: unknown key 'histogram_frq'; did you mean 'histogram_freq'?",
        f"{path}:20:11: tracking.mlflow: expected true, false or a mapping of MLflow options, got 'yes please'"]


# --- TensorBoard -----------------------------------------------------------------------------


def scalars(folder: Path) -> dict[str, list[float]]:
    """{tag: values by step} of the scalars in one TensorBoard folder (Keras writes them as tensors)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: [float(tensor_util.make_ndarray(e.tensor_proto)) for e in sorted(events.Tensors(tag), key=lambda e: e.step)]
            for tag in events.Tags()["tensors"] if tag.startswith("epoch_")}


def hparams_session(folder: Path) -> dict:
    """The HParams session values written in one run's TensorBoard folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    info = metadata.parse_session_start_info_plugin_data(
        events.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content)
    values = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        values[key] = getattr(value, kind)
    return values


def hparams_experiment(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return metadata.parse_experiment_plugin_data(events.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content)


def check_tensorboard(out: Path) -> None:
    """Every run's event files hold its history per epoch; its HParams session says what it is."""
    results = results_of(out)
    assert len(results["runs"]) == 4
    for run in results["runs"]:
        folder = out / "tensorboard" / f"{run['model']}-seed{run['seed']}"
        train, validation = scalars(folder / "train"), scalars(folder / "validation")
        for key, values in run["history"].items():
            if key == "learning_rate":
                continue
            written = validation[f"epoch_{key[4:]}"] if key.startswith("val_") else train[f"epoch_{key}"]
            assert written == pytest.approx(values, rel=1e-6), (run["model"], run["seed"], key)
        session = hparams_session(folder)
        assert session["model"] == run["model"] and session["seed"] == run["seed"]
        assert session["label"] == run["label"] and session["status"] == "completed"
        assert session["differs"] == ("(the first model)" if run["model"] == "A" else "Dense: units=8 -> 16")
    experiment = hparams_experiment(out / "tensorboard")
    assert [h.name for h in experiment.hparam_infos] == ["model", "label", "differs", "seed", "status"]
    assert {(m.name.group, m.name.tag, m.display_name) for m in experiment.metric_infos} == {
        ("train", "epoch_loss", "loss"), ("train", "epoch_accuracy", "accuracy"),
        ("validation", "epoch_loss", "val_loss"), ("validation", "epoch_accuracy", "val_accuracy"),
        ("train", "epoch_learning_rate", "learning_rate")}  # every run's history records its learning rate


def test_tensorboard_flag_logs_each_run_and_mlflow_is_never_imported(tmp_path):
    """`--tensorboard` without editing the file; serial, in a fresh process that never imports MLflow."""
    spec, out = spec_file(tmp_path), tmp_path / "out"
    code = ("import sys; from factory.cli import main; rc = main(['run', %r, '--out', %r, '--workers', '1', "
            "'--tensorboard']); print('mlflow imported' if 'mlflow' in sys.modules else 'no mlflow'); "
            "sys.exit(rc)" % (str(spec), str(out)))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("no mlflow")
    assert results_of(out)["experiment"]["tracking"]["tensorboard"]["update_freq"] == "epoch"
    check_tensorboard(out)


def test_a_new_run_moves_the_tensorboard_folder_aside_with_the_previous_results(tmp_path):
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    spec, out = spec_file(tmp_path, "tracking: {tensorboard: true}\n"), tmp_path / "out"
    spec.write_text(spec.read_text().replace("seeds: [0, 1]", "seeds: [0]").replace("epochs: 2", "epochs: 1"))
    assert run_experiment(load(spec), out) == 0
    first = {p.relative_to(out) for p in (out / "tensorboard").rglob("*") if p.is_file()}
    assert run_experiment(load(spec), out) == 0
    previous, = (out / "previous").iterdir()
    assert {p.relative_to(previous) for p in (previous / "tensorboard").rglob("*") if p.is_file()} == first
    assert len(list((out / "tensorboard" / "A-seed0" / "train").iterdir())) == 1  # only the new run's events


def test_tensorboard_options_reach_keras_and_the_run_folder_starts_empty(tmp_path):
    from factory.build.keras_setup import import_keras
    from factory.spec.loader import load
    from factory.train.task import Task
    from factory.train.tracking import tensorboard_callbacks, with_log_dirs

    keras = import_keras()
    experiment = load(spec_file(tmp_path, "tracking: {tensorboard: {update_freq: 5, histogram_freq: 2, "
                                          "profile_batch: [2, 3]}}\n")).experiment.resolved()
    task, = with_log_dirs([Task("A", 1, "small", 2, "[1/1]")], experiment, tmp_path / "out")
    assert task.log_dir == str((tmp_path / "out" / "tensorboard" / "A-seed1").resolve())
    stale = Path(task.log_dir) / "train" / "events.out.tfevents.old"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    callback, = tensorboard_callbacks(keras, experiment, task)
    assert isinstance(callback, keras.callbacks.TensorBoard) and callback.log_dir == task.log_dir
    assert (callback.update_freq, callback.histogram_freq, callback.write_graph) == (5, 2, False)
    assert (callback._start_batch, callback._stop_batch) == (2, 3)
    assert not stale.exists(), "a run trained again keeps only its latest events"
    assert tensorboard_callbacks(keras, load(spec_file(tmp_path)).experiment, Task("A", 1, "small", 2, "")) == []


# --- MLflow ----------------------------------------------------------------------------------


def mlflow_runs(out: Path):
    """(parent runs, child runs by (model, seed)) of the default store in the output folder."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("factory.role") == "experiment"]
    children = [r for r in runs if r.data.tags.get("factory.role") == "run"]
    by_key = {(r.data.tags["factory.model"], int(r.data.tags["factory.seed"])): r for r in children}
    assert len(by_key) == len(children), "one child run per (model, seed)"
    return client, parents, by_key


def check_mlflow(out: Path) -> tuple:
    """The MLflow store holds one parent and one child per run of results.json, with the same numbers."""
    from factory.train.mlflow_log import flatten, spec_hash

    results = results_of(out)
    client, parents, children = mlflow_runs(out)
    parent, = parents
    assert parent.info.status == "FINISHED"
    assert set(children) == {(r["model"], r["seed"]) for r in results["runs"]}
    for run in results["runs"]:
        child = children[(run["model"], run["seed"])]
        assert child.info.status == "FINISHED" and child.info.run_name == f"{run['model']}-seed{run['seed']}"
        tags = child.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        spec = results["experiment"]["models"][run["model"]]
        assert tags["factory.spec_hash"] == spec_hash(spec)
        assert tags["factory.version.tensorflow"] == results["versions"]["tensorflow"]
        assert tags["factory.version.keras"] == results["versions"]["keras"]
        assert child.data.params == {**flatten(spec), "seed": str(run["seed"])}
        assert child.data.params["layers.1.Dense.units"] == ("8" if run["model"] == "A" else "16")
        for key, values in run["history"].items():
            logged = sorted(client.get_metric_history(child.info.run_id, key), key=lambda m: m.step)
            assert [m.step for m in logged] == list(range(len(values)))
            assert [m.value for m in logged] == pytest.approx(values, rel=1e-12)
        model, = client.list_artifacts(child.info.run_id, "model")
        assert model.path == f"model/{run['model']}-seed{run['seed']}.keras"
        assert model.file_size == (out / run["model_file"]).stat().st_size
    logged = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert logged >= {"results.json", "report.html", "comparison.md", "val_loss.png"}
    return parent.info.run_id, {k: c.info.run_id for k, c in children.items()}


def test_mlflow_serial_then_resume_creates_no_duplicate_runs(tmp_path):
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    pytest.importorskip("mlflow")
    spec, out = spec_file(tmp_path, "tracking: {mlflow: true}\n"), tmp_path / "out"
    assert run_experiment(load(spec), out, workers=1) == 0
    parent, children = check_mlflow(out)

    # As if killed after B/1 trained and was logged but before results.json kept it; and after A/1
    # was kept in results.json but before its child run was logged.
    results = results_of(out)
    results["runs"] = [r for r in results["runs"] if (r["model"], r["seed"]) != ("B", 1)]
    (out / "results.json").write_text(json.dumps(results), encoding="utf-8")
    client, _, _ = mlflow_runs(out)
    client.delete_run(children[("A", 1)])
    assert run_experiment(load(spec), out, resume=True, workers=1) == 0
    again, now = check_mlflow(out)
    assert again == parent, "--resume continues the parent run"
    assert {k: v for k, v in now.items() if k in {("A", 0), ("B", 0)}} == {
        k: v for k, v in children.items() if k in {("A", 0), ("B", 0)}}, "kept runs keep their child runs"
    assert now[("B", 1)] != children[("B", 1)] and now[("A", 1)] != children[("A", 1)]

    # A resume with nothing left to train changes nothing in MLflow.
    assert run_experiment(load(spec), out, resume=True, workers=1) == 0
    assert check_mlflow(out) == (parent, now)


def test_mlflow_and_tensorboard_with_two_worker_processes(tmp_path):
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    pytest.importorskip("mlflow")
    spec, out = spec_file(tmp_path, "tracking: {tensorboard: true, mlflow: true}\n"), tmp_path / "out"
    assert run_experiment(load(spec), out, workers=2) == 0
    check_mlflow(out)
    check_tensorboard(out)


def test_mlflow_and_tensorboard_with_local_ray(tmp_path):
    """Ray tasks write their event files into the output folder; the driver logs to MLflow as the records arrive."""
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    pytest.importorskip("mlflow")
    pytest.importorskip("ray")
    spec, out = spec_file(tmp_path, "tracking: {tensorboard: true, mlflow: true}\n"), tmp_path / "out"
    assert run_experiment(load(spec), out, workers=2, backend="ray") == 0
    check_mlflow(out)
    check_tensorboard(out)


def test_mlflow_missing_is_a_clear_error_before_training(tmp_path, monkeypatch, cli):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError, as when not installed
    spec, out = spec_file(tmp_path, "tracking:\n  mlflow: true\n"), tmp_path / "out"
    code, _, err = cli("run", spec, "--out", out, "--workers", "1")
    assert code == 2
    assert err.strip() == (f"{spec}:19:11: tracking.mlflow: MLflow is not installed; logging to it needs "
                           "pip install 'factory[mlflow]'")
    assert not (out / "results.json").exists() and not (out / "tensorboard").exists()


def test_an_unusable_mlflow_store_stops_the_run_before_training(tmp_path, cli):
    pytest.importorskip("mlflow")
    spec, out = spec_file(tmp_path, "tracking:\n  mlflow: {tracking_uri: 'bogus://nowhere'}\n"), tmp_path / "out"
    code, _, err = cli("run", spec, "--out", out, "--workers", "1")
    assert code == 2 and "Traceback" not in err
    assert f"\n{spec}:19:11: tracking.mlflow: cannot use the MLflow store bogus://nowhere: " in err
    assert not (out / "results.json").exists()
