"""Keras backends per run (training.keras_backend, --keras-backend): each trains, they mix, their files load
across backends, and what a backend lacks is an error before training."""

from __future__ import annotations

import json
from pathlib import Path
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from factory.build.keras_setup import installed
from tests.conftest import ROOT, TINY, spec_errors

INSTALLED = [b for b in ("tensorflow", "jax", "torch") if installed(b)]
needs_jax = pytest.mark.skipif(not installed("jax"), reason="jax is an optional extra: pip install 'factory[jax]'")

NAN = """\
  exploding:
    compile: {optimizer: {SGD: 1.0e+12}, loss: mse}
    layers: [Flatten, {Dense: 1}]
"""


def _python(code: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter on this worktree: a process that has not imported Keras yet."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


@pytest.mark.parametrize("backend", INSTALLED)
def test_a_tiny_experiment_trains_on_each_installed_backend(backend, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY + NAN)
    out = tmp_path / "out"
    run = ["run", str(spec), "--out", str(out), "--workers", "1", "--keras-backend", backend]
    code = ("import sys; from factory.cli import main; "
            f"rc = main({run!r}); again = main({run + ['--resume']!r}); "  # resuming trains only the failed run
            "print('exit', rc, again, 'tensorflow' in sys.modules)")
    done = _python(code)
    assert "resuming: 2 finished run(s) kept, 1 to train" in done.stderr + done.stdout
    results = json.loads((out / "results.json").read_text())
    runs = {r["model"]: r for r in results["runs"]}
    assert [(m, r["status"], r["keras_backend"]) for m, r in runs.items()] == [
        ("A", "completed", backend), ("B", "completed", backend), ("exploding", "failed", backend)], done.stderr
    assert "loss became" in runs["exploding"]["error"]  # TerminateOnNaN and the failed record, on every backend
    assert results["versions"]["keras_backends"] == backend and results["versions"][backend] not in ("", None)
    imported_tensorflow = backend == "tensorflow"  # nothing else imports it, in the driver or for saving
    assert done.stdout.split()[-4:] == ["exit", "1", "1", str(imported_tensorflow)], done.stdout + done.stderr


MIXED = TINY.replace("seeds: [0]", "seeds: [0, 1]").replace("""\
  B:
    label: BatchNorm + ReLU""", """\
    sweep: {training.keras_backend: [tensorflow, jax]}
  B:
    label: BatchNorm + ReLU""")


@needs_jax
def test_one_experiment_mixes_backends_and_their_files_load_on_the_other(tmp_path):
    from factory.build.keras_setup import import_keras
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED)
    assert run_experiment(load(spec), tmp_path / "out", workers=1) == 0  # this process: TensorFlow
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["model"], r["seed"], r["keras_backend"]) for r in results["runs"]] == [
        ("A-tensorflow", 0, "tensorflow"), ("A-tensorflow", 1, "tensorflow"),
        ("A-jax", 0, "jax"), ("A-jax", 1, "jax"), ("B", 0, "tensorflow"), ("B", 1, "tensorflow")]
    assert {"tensorflow", "jax", "jaxlib"} <= set(results["versions"])
    table = (tmp_path / "out" / "comparison.md").read_text()

    # --resume with nothing left to train: each run's backend and the versions stay as recorded.
    results["versions"]["jax"] = "0.0.1-recorded"
    results["versions"]["keras"] = "3.0.0-recorded"  # no backend's own: only the nothing-to-train rule keeps it
    (tmp_path / "out" / "results.json").write_text(json.dumps(results))
    assert run_experiment(load(spec), tmp_path / "out", workers=1, resume=True) == 0
    resumed = json.loads((tmp_path / "out" / "results.json").read_text())
    assert resumed["versions"] == results["versions"]
    assert [r["keras_backend"] for r in resumed["runs"]] == [r["keras_backend"] for r in results["runs"]]
    assert "ReLU (keras_backend=jax)" in table and "ReLU (keras_backend=tensorflow)" in table
    assert "| A-jax vs A-tensorflow | training.keras_backend: tensorflow -> jax | 2 |" in table  # the paired test

    # The JAX-trained file, loaded under TensorFlow here and under JAX in a fresh process: same predictions.
    run = next(r for r in results["runs"] if r["model"] == "A-jax" and r["seed"] == 0)
    path = tmp_path / "out" / run["model_file"]
    x = np.random.default_rng(0).random((16, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    keras = import_keras()
    assert keras.backend.backend() == "tensorflow"
    here = keras.saving.load_model(path).predict(x, verbose=0)
    done = _python("from factory.build.keras_setup import import_keras; import numpy as np; "
                   f"keras = import_keras('jax'); x = np.load({str(tmp_path / 'x.npy')!r}); "
                   f"np.save({str(tmp_path / 'jax.npy')!r}, keras.saving.load_model({str(path)!r}).predict(x, verbose=0))")
    assert done.returncode == 0, done.stderr
    assert np.allclose(here, np.load(tmp_path / "jax.npy"), atol=1e-5, rtol=0)


def test_a_backend_not_installed_is_an_error_before_training(cli, write, tmp_path, monkeypatch):
    from factory.build import keras_setup

    monkeypatch.setattr(keras_setup, "installed", lambda backend: backend != "torch")
    spec = write(TINY.replace("  B:\n    label: BatchNorm + ReLU\n",
                              "  B:\n    label: BatchNorm + ReLU\n    training: {keras_backend: torch}\n"))
    code, _, err = cli("run", spec, "--out", tmp_path / "out")
    assert code == 2 and err.splitlines() == [
        f"{spec}:14:31: models.B.training.keras_backend: Keras backend torch is not installed here: pip install "
        "torch (its CPU build: --index-url https://download.pytorch.org/whl/cpu) (see README, Backends)"]
    assert not (tmp_path / "out" / "results.json").exists()


def test_keras_backend_on_the_command_line_is_located_there(cli, write, monkeypatch):
    from factory.build import keras_setup

    monkeypatch.setattr(keras_setup, "installed", lambda backend: backend != "torch")
    code, _, err = cli("run", write(TINY), "--keras-backend", "torch")
    assert code == 2 and err.startswith("<--set training.keras_backend=torch>:1:24: training.keras_backend: "
                                        "Keras backend torch is not installed here")


def test_distribute_needs_tensorflow_located_at_the_models_key(write):
    path = write(TINY.replace("training: {epochs: 2, batch_size: 64, seeds: [0]}",
                              "training: {epochs: 2, batch_size: 64, seeds: [0], keras_backend: jax}")
                 .replace("    label: ReLU\n", "    label: ReLU\n    training: {distribute: mirrored}\n"))
    assert spec_errors(path) == [f"{path}:8:28: models.A.training.distribute: `distribute: mirrored` is "
                                 "tf.distribute: it needs `keras_backend: tensorflow`, not jax"]
    assert spec_errors(write(TINY), "training.distribute=mirrored", "training.keras_backend=jax")[0].endswith(
        "`distribute: mirrored` is tf.distribute: it needs `keras_backend: tensorflow`, not jax")


LOOKUP = """\
name: ids
data: {dataset: digits, scale: false}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
training: {epochs: 1, batch_size: 64, seeds: [0]}
models:
  ids:
    input_shape: [3]
    input_dtype: int64
    layers:
      - IntegerLookup: {vocabulary: [1, 2, 3, 4], output_mode: multi_hot}
      - Dense: {units: 10, activation: softmax}
"""


def test_a_layer_keras_builds_only_with_tensorflow_is_located_at_validate_on_another_backend(cli, write):
    path = write(LOOKUP.replace("    input_shape: [3]\n", "    training: {keras_backend: jax}\n    input_shape: [3]\n"))
    expected = (f"{path}:11:24: models.ids.layers[0].IntegerLookup: IntegerLookup runs through tf.data: Keras "
                "builds it only with TensorFlow, not on jax; train this model on tensorflow "
                "(`training: {keras_backend: tensorflow}`)")
    code, _, err = cli("validate", path)
    assert code == 2 and err.splitlines() == [expected]
    # the command line's backend too (it is a --set of training.keras_backend), at the layer
    assert spec_errors(write(LOOKUP), "training.keras_backend=torch")[0].endswith(
        "IntegerLookup runs through tf.data: Keras builds it only with TensorFlow, not on torch; train this "
        "model on tensorflow (`training: {keras_backend: tensorflow}`)")
    assert cli("validate", write(LOOKUP))[0] == 0  # on tensorflow it is fine


def test_a_search_offering_another_backend_to_such_a_layer_is_located_at_the_spaces_value(cli, write):
    path = write(LOOKUP + "    search:\n      trials: 2\n      space:\n"
                          "        \"training.keras_backend\": {choice: [tensorflow, jax]}\n")
    code, _, err = cli("validate", path)
    assert code == 2 and err.splitlines() == [
        f"{path}:15:57: models.ids.search.space.training.keras_backend.choice[1]: layers[0] IntegerLookup runs "
        "through tf.data: Keras builds it only with TensorFlow, not on jax; train this model on tensorflow "
        "(leave jax out of the space)"]


def test_the_tensorflow_only_layers_are_the_ones_keras_refuses_without_tensorflow():
    """Drift: TENSORFLOW_ONLY_LAYERS is exactly Keras's layers whose source says they require TensorFlow."""
    import inspect

    import keras

    from schemas.experiment import TENSORFLOW_ONLY_LAYERS

    refusing = {name for name in dir(keras.layers) if inspect.isclass(getattr(keras.layers, name))
                and issubclass(getattr(keras.layers, name), keras.layers.Layer)
                and f"Layer {name} requires TensorFlow" in inspect.getsource(getattr(keras.layers, name))}
    assert refusing == TENSORFLOW_ONLY_LAYERS


@needs_jax
def test_a_listed_layer_really_refuses_on_jax_when_tensorflow_is_kept_out():
    done = _python("from factory.build import keras_setup\n"
                   "keras = keras_setup.import_keras('jax')\n"
                   "from schemas.experiment import TENSORFLOW_ONLY_LAYERS\n"
                   "for name in sorted(TENSORFLOW_ONLY_LAYERS):\n"
                   "    try:\n"
                   "        getattr(keras.layers, name)()\n"
                   "    except ImportError as e:\n"
                   "        print(name, 'refuses' if 'requires TensorFlow' in str(e) else e)\n"
                   "    except Exception as e:\n"
                   "        print(name, 'other', type(e).__name__)\n", timeout=300)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    from schemas.experiment import TENSORFLOW_ONLY_LAYERS

    assert done.returncode == 0, done.stderr
    # a layer whose constructor needs arguments fails otherwise first; the drift test above reads its source
    assert lines.keys() == TENSORFLOW_ONLY_LAYERS and "refuses" in lines.values()
    assert lines["IntegerLookup"] == lines["StringLookup"] == "refuses"


def test_an_unknown_backend_names_the_choices(write):
    assert spec_errors(write(TINY), "training.keras_backend=mxnet") == [
        "<--set training.keras_backend=mxnet>:1:24: training.keras_backend: input should be 'tensorflow', "
        "'jax' or 'torch', got 'mxnet' (text)"]


def test_a_prepared_dataset_is_mapped_from_the_cache_until_its_source_changes(tmp_path, monkeypatch):
    from factory import data as data_module
    from factory.data import load_data
    from factory.train.document import data_fingerprint
    from schemas import Data

    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    source = tmp_path / "d.npz"
    np.savez(source, x_train=rng.integers(0, 255, (50, 4, 4)), y_train=np.arange(50) % 3,
             x_test=rng.integers(0, 255, (10, 4, 4)), y_test=np.arange(10) % 3)
    spec = Data(dataset="d.npz")

    def fresh_load():
        data_module._cache.clear()  # as a new process would: only the disk cache remains
        return load_data(spec, tmp_path)

    first = fresh_load()
    with monkeypatch.context() as m:  # a hit never decodes
        m.setattr(data_module, "_npz_arrays", lambda path: pytest.fail("decoded again"))
        second = fresh_load()
    assert isinstance(first.x_train, np.memmap) and isinstance(second.x_train, np.memmap)  # stored, then mapped
    assert Path(first.x_train.filename) == Path(second.x_train.filename)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
        assert getattr(first, name).dtype == getattr(second, name).dtype
    assert second.x_train.max() == 1.0 and second.source == first.source  # scaled, as prepared
    assert data_fingerprint(second) == data_fingerprint(first) == data_fingerprint(fresh_load())
    assert (Path(second.x_train.filename).parent / "fingerprint.json").is_file()

    other = Data(dataset="d.npz", scale=False)  # another preparation: another entry
    data_module._cache.clear()
    assert load_data(other, tmp_path).x_train.max() > 1
    np.savez(source, x_train=rng.integers(0, 255, (40, 4, 4)), y_train=np.arange(40) % 3,
             x_test=rng.integers(0, 255, (10, 4, 4)), y_test=np.arange(10) % 3)
    changed = fresh_load()
    assert len(changed.x_train) == 40 and Path(changed.x_train.filename).parent != Path(first.x_train.filename).parent


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    from factory import data as data_module
    from factory.data import load_data
    from schemas import Data

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "file" / "cache"))
    np.savez(tmp_path / "d.npz", x_train=np.ones((5, 2)), y_train=np.zeros(5), x_test=np.ones((2, 2)),
             y_test=np.zeros(2))
    data_module._cache.clear()
    dataset = load_data(Data(dataset="d.npz"), tmp_path)
    assert len(dataset.x_train) == 5 and not isinstance(dataset.x_train, np.memmap)


def test_validating_and_loading_data_import_no_backend(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.ones((5, 2)), y_train=np.zeros(5), x_test=np.ones((2, 2)),
             y_test=np.zeros(2))
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY.replace("dataset: digits", "dataset: d.npz"))
    done = _python(f"import sys; from factory.cli import main; from factory.data import load_data; "
                   f"from factory.spec.loader import load; rc = main(['validate', {str(spec)!r}]); "
                   f"loaded = load({str(spec)!r}); load_data(loaded.experiment.data, loaded.path.parent); "
                   f"load_data(loaded.experiment.data, loaded.path.parent); "  # decoded, then from memory
                   "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'jax', 'keras', 'torch')))")
    assert done.stdout.split()[-2:] == ["0", "[]"], done.stdout + done.stderr


@needs_jax
def test_ray_tasks_run_on_their_own_backend(tmp_path):
    pytest.importorskip("ray")
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED.replace("seeds: [0, 1]", "seeds: [0]"))
    assert run_experiment(load(spec), tmp_path / "out", workers=2, backend="ray") == 0
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["model"], r["keras_backend"]) for r in runs] == [
        ("A-tensorflow", "tensorflow"), ("A-jax", "jax"), ("B", "tensorflow")]


@needs_jax
def test_a_process_that_imported_keras_keeps_its_backend_and_sends_the_runs_to_a_worker(tmp_path):
    from factory.build.keras_setup import import_keras
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    import_keras()  # as a notebook that used tf.keras before would have
    spec = tmp_path / "jax.yaml"
    spec.write_text(TINY.replace("seeds: [0]}", "seeds: [0], keras_backend: jax}"))
    assert run_experiment(load(spec), tmp_path / "out", workers=1) == 0
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["model"], r["keras_backend"]) for r in runs] == [("A", "jax"), ("B", "jax")]


@needs_jax
def test_jax_worker_processes_map_the_cached_arrays_without_a_copy(tmp_path, monkeypatch):
    from factory import data as data_module
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.random((200, 8, 8)), y_train=np.arange(200) % 10,
             x_test=rng.random((50, 8, 8)), y_test=np.arange(50) % 10)
    spec = tmp_path / "jax.yaml"
    spec.write_text(TINY.replace("dataset: digits", "dataset: d.npz")
                    .replace("seeds: [0]}", "seeds: [0], keras_backend: jax}"))
    monkeypatch.setattr(data_module, "save_arrays", lambda *a: pytest.fail("the arrays were copied for the workers"))
    assert run_experiment(load(spec), tmp_path / "out", workers=2) == 0
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["model"], r["status"], r["keras_backend"]) for r in runs] == [
        ("A", "completed", "jax"), ("B", "completed", "jax")]


@needs_jax
@pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda _: ())(0)) < 2, reason="needs two cores to share")
def test_a_jax_worker_given_one_core_computes_on_one_thread_and_may_still_run_on_any_core():
    code = """if True:
        import os
        from factory.build.keras_setup import import_keras
        keras = import_keras("jax", threads=1)  # a worker's share of the cores
        import jax.numpy as jnp

        def ticks():
            out = {}
            for thread in os.listdir("/proc/self/task"):
                fields = open(f"/proc/self/task/{thread}/stat").read().rsplit(")", 1)[1].split()
                out[thread] = int(fields[11]) + int(fields[12])  # utime + stime
            return out

        x = jnp.ones((1000, 1000)); (x @ x).block_until_ready()
        before = ticks()
        for _ in range(30):
            x = (x @ x) / 1000.0
        x.block_until_ready()
        after = ticks()
        spent = {k: t - before.get(k, 0) for k, t in after.items()}
        busy = [k for k, t in spent.items() if t > 0.1 * sum(spent.values())]  # not a thread that only dispatched
        allowed = {len(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}
        print("busy", len(busy), "allowed", sorted(allowed))
    """
    done = _python(code)
    every = len(os.sched_getaffinity(0))
    assert done.stdout.split()[-4:] == ["busy", "1", "allowed", f"[{every}]"], done.stdout + done.stderr


def _npz(path: Path, seed: int, n: int = 200) -> None:
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.random((n, 8, 8)), y_train=np.arange(n) % 10,
             x_test=rng.random((50, 8, 8)), y_test=np.arange(50) % 10)


def test_a_same_size_file_with_an_older_mtime_is_not_served_stale(tmp_path, monkeypatch):
    from factory import data as data_module
    from factory.data import cache, load_data
    from schemas import Data

    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0, raising=False)  # remember every digest: a memo's stale case too
    source, spec = tmp_path / "d.npz", Data(dataset="d.npz")
    _npz(source, 0)
    old = source.stat()

    def fresh_load():
        data_module._cache.clear()  # as a new process would: only the disk cache remains
        return load_data(spec, tmp_path)

    first = np.array(fresh_load().x_train)
    assert (tmp_path / "cache" / cache.DIGESTS).is_file()
    time.sleep(0.05)  # past the timestamp granularity
    _npz(source, 1)  # other values, the same size, written in place (a restore, cp -p)
    os.utime(source, ns=(old.st_atime_ns, old.st_mtime_ns))  # and an older mtime: the cached version's
    assert source.stat().st_size == old.st_size and source.stat().st_ino == old.st_ino
    second = fresh_load()
    assert not np.array_equal(first, second.x_train)
    assert np.array_equal(np.array(second.x_train), np.array(fresh_load().x_train))  # and that one is kept


def test_a_cache_entry_removed_or_replaced_while_runs_map_it(tmp_path, monkeypatch):
    import shutil

    from factory import data as data_module
    from factory.data import cache, load_data
    from factory.spec.loader import load
    from factory.train import workers
    from factory.train.runner import run_experiment
    from schemas import Data

    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path / "cache"))
    _npz(tmp_path / "d.npz", 0)
    data_module._cache.clear()
    held = load_data(Data(dataset="d.npz"), tmp_path)  # this process maps the entry
    entry, expected = Path(held.x_train.filename).parent, np.array(held.x_train)
    shutil.rmtree(entry)  # as a clean-up does
    data_module._cache.clear()
    again = load_data(Data(dataset="d.npz"), tmp_path)  # another run decodes and stores it again
    assert Path(again.x_train.filename).parent == entry and np.array_equal(held.x_train, expected)

    # Worker processes open the entry seconds after the driver chose it: a clean-up meanwhile.
    start = workers.WorkerPool.__init__

    def started_then_cleaned(pool, *args, **kwargs):
        start(pool, *args, **kwargs)
        shutil.rmtree(entry)

    monkeypatch.setattr(workers.WorkerPool, "__init__", started_then_cleaned)
    spec = tmp_path / "t.yaml"
    spec.write_text(TINY.replace("dataset: digits", "dataset: d.npz").replace("epochs: 2", "epochs: 1"))
    assert run_experiment(load(spec), tmp_path / "out", workers=2) == 0
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["model"], r["status"]) for r in runs] == [("A", "completed"), ("B", "completed")]
    assert not list((tmp_path / "cache").glob(cache.PIN + "*"))  # the pinned copy went with the workers


@needs_jax
def test_show_builds_on_the_models_backend_and_says_which_each_trains_on(cli, write, tmp_path):
    spec = tmp_path / "jax.yaml"
    spec.write_text(TINY.replace("seeds: [0]}", "seeds: [0], keras_backend: jax}"))
    done = _python(f"import sys; from factory.cli import main; rc = main(['show', {str(spec)!r}]); "
                   "print(rc, 'tensorflow' in sys.modules)")
    assert done.stdout.startswith("keras_backend: jax (every model trains on it, and is built on it here)\n")
    assert "model B: 1,274 parameters" in done.stdout and done.stdout.split()[-2:] == ["0", "False"], done.stderr

    code, out, _ = cli("show", write(MIXED))  # this process has TensorFlow: the JAX model is built on it
    assert code == 0 and out.splitlines()[0] == (
        "keras_backend: built here on tensorflow; trained on jax: A-jax "
        "(the layers, shapes and parameters are the same on every backend)")


@needs_jax
def test_show_on_the_command_lines_keras_backend_builds_there(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    done = _python(f"import sys; from factory.cli import main; rc = main(['show', {str(spec)!r}, "
                   "'--keras-backend', 'jax']); print(rc, 'tensorflow' in sys.modules)")
    line = "keras_backend: jax (every model trains on it, and is built on it here)\n"
    assert done.stdout.startswith(line), done.stderr
    assert "model B: 1,274 parameters" in done.stdout and done.stdout.split()[-2:] == ["0", "False"], done.stderr


COUNT_COMPILATION_CACHE = (
    "import collections, json, sys; import jax.monitoring; seen = collections.Counter(); "
    "jax.monitoring.register_event_listener(lambda event, **_: seen.update([event])); "
    "from factory.build.keras_setup import own_process; own_process(); "  # as `factory` and `python -m factory` do
    "from factory.cli import main; rc = main(sys.argv[1:]); "
    "print(json.dumps({'rc': rc, 'hits': seen['/jax/compilation_cache/cache_hits'], "
    "'misses': seen['/jax/compilation_cache/cache_misses'], 'dir': jax.config.jax_compilation_cache_dir, "
    "'kind': type(__import__('jax._src.compilation_cache', fromlist=['_cache'])._cache).__name__}))")
JAX_CACHE_SETTINGS = ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE",
                      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_COMPILATION_CACHE_MAX_SIZE")


def _jax_process(args: list[str], env: dict, code: str = COUNT_COMPILATION_CACHE) -> dict:
    """Run `code` with `args` in a fresh process with `env` and no JAX cache setting of the caller's; its last JSON line."""
    env = {**{k: v for k, v in os.environ.items() if k not in JAX_CACHE_SETTINGS}, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_on_jax(spec: Path, out: Path, env: dict) -> dict:
    return _jax_process(["run", str(spec), "--out", str(out), "--workers", "1", "--keras-backend", "jax"], env)


LOADS_HERE = ("import json, sys; from pathlib import Path; from factory.build import xla_cache; "
              "folder = Path(sys.argv[1]) / 'xla' / xla_cache.machine_digest(); folder.mkdir(parents=True); "
              "print(json.dumps({'loads': xla_cache.loads_here(folder), 'answer': (folder / 'loads-here').read_text()}))")


@needs_jax
def test_a_jax_process_loads_the_programs_an_earlier_one_compiled_and_trains_the_same(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    env = {"FACTORY_CACHE_DIR": str(tmp_path / "cache")}
    check = _jax_process([str(tmp_path / "cache")], env, LOADS_HERE)  # once per machine folder, remembered
    assert check["answer"] == ("yes" if check["loads"] else "no")
    if not check["loads"]:
        pytest.skip("this CPU's XLA refuses programs it compiled itself (jax-ml/jax#38445): factory keeps none here")
    first = _run_on_jax(spec, tmp_path / "first", env)
    second = _run_on_jax(spec, tmp_path / "second", env)
    histories = [[r["history"] for r in json.loads((tmp_path / out / "results.json").read_text())["runs"]]
                 for out in ("first", "second")]
    folder = Path(first["dir"])
    assert folder.parent == tmp_path / "cache" / "xla", first  # beside the prepared datasets, one folder per machine
    assert first["rc"] == 0 and first["hits"] == 0 and first["misses"] > 0, first  # a fresh folder: all compiled
    assert len(list(folder.glob("*-cache"))) == first["misses"]  # ... and kept, even the quick ones, whole
    assert first["kind"] == "_WholeFiles" and not list(folder.glob(".*.tmp"))  # written whole, then renamed
    assert second["rc"] == 0 and second["misses"] == 0 and second["hits"] == first["misses"], second
    assert histories[0] == histories[1]  # a loaded program computes what the compiled one did


@needs_jax
def test_a_compilation_cache_jax_was_given_is_kept_and_jaxs_switch_turns_ours_off(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.split("  B:")[0])
    cache = {"FACTORY_CACHE_DIR": str(tmp_path / "cache")}
    mine = _run_on_jax(spec, tmp_path / "a", {**cache, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "mine")})
    assert mine["rc"] == 0 and mine["dir"] == str(tmp_path / "mine") and not (tmp_path / "cache" / "xla").exists()
    off = _run_on_jax(spec, tmp_path / "b", {**cache, "JAX_ENABLE_COMPILATION_CACHE": "false"})
    assert off["rc"] == 0 and off["hits"] == off["misses"] == 0, off
    assert not (tmp_path / "cache" / "xla").exists()


@needs_jax
def test_factory_used_as_a_library_leaves_jaxs_cache_settings_alone(tmp_path):
    code = ("import json; import jax; from factory.build.keras_setup import import_keras; import_keras('jax'); "
            "print(json.dumps({'dir': jax.config.jax_compilation_cache_dir}))")
    assert _jax_process([], {"FACTORY_CACHE_DIR": str(tmp_path / "cache")}, code) == {"dir": None}
    assert not (tmp_path / "cache" / "xla").exists()


@needs_jax
def test_an_unwritable_compilation_cache_only_costs_the_compiling(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    (tmp_path / "file").write_text("not a folder")
    done = _run_on_jax(spec, tmp_path / "out", {"FACTORY_CACHE_DIR": str(tmp_path / "file" / "cache")})
    assert done["rc"] == 0 and done["dir"] is None and done["hits"] == done["misses"] == 0, done


@needs_jax
def test_where_xla_refuses_its_own_programs_nothing_is_kept(tmp_path):
    from factory.build import xla_cache

    code = ("import json, sys; from pathlib import Path; from factory.build import xla_cache; "
            "folder = Path(sys.argv[1]) / 'xla' / xla_cache.machine_digest(); folder.mkdir(parents=True); "
            "(folder / xla_cache.LOADS_HERE).write_text('no'); "
            "print(json.dumps({'dir': str(xla_cache.keep_compiled_programs())}))")
    assert _jax_process([str(tmp_path / "cache")], {"FACTORY_CACHE_DIR": str(tmp_path / "cache")}, code) == {
        "dir": "None"}


XLA_CACHE_SNIPPET = """\
import json, os, sys, time
from pathlib import Path
import jax, jax.numpy as jnp
from factory.build import xla_cache
out = {}
"""


def _snippet(tmp_path, body: str, env: dict | None = None) -> dict:
    code = XLA_CACHE_SNIPPET + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    return _jax_process([str(tmp_path)], {"FACTORY_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}, code)


@needs_jax
def test_the_check_that_xla_loads_its_own_programs_is_remembered_and_a_no_asked_again_a_day_later(tmp_path):
    done = _snippet(tmp_path, """
        folder = Path(sys.argv[1]) / "m"; folder.mkdir()
        out["here"] = xla_cache.loads_here(folder)
        out["said"] = (folder / "loads-here").read_text()
        xla_cache._round_trip = lambda: False  # from now on, as on a CPU whose XLA refuses its programs
        out["remembered"] = xla_cache.loads_here(folder)
        (folder / "loads-here").unlink()
        out["refused"] = xla_cache.loads_here(folder)
        out["said_no"] = (folder / "loads-here").read_text()
        xla_cache._round_trip = lambda: True  # what failed passes again
        out["within_a_day"] = xla_cache.loads_here(folder)
        old = time.time() - xla_cache.ASK_AGAIN_SECONDS - 60
        os.utime(folder / "loads-here", (old, old))
        out["a_day_later"] = xla_cache.loads_here(folder)
    """)
    assert done == {"here": True, "said": "yes", "remembered": True, "refused": False, "said_no": "no",
                    "within_a_day": False, "a_day_later": True}, done


@needs_jax
def test_the_check_gives_file_descriptor_2_back(tmp_path):
    code = XLA_CACHE_SNIPPET + "xla_cache._round_trip(); print('python after', file=sys.stderr); " \
        "sys.stderr.flush(); os.write(2, b'raw after'); print(json.dumps(out))"
    env = {k: v for k, v in os.environ.items() if k not in JAX_CACHE_SETTINGS}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and "python after" in done.stderr and "raw after" in done.stderr, done.stderr


@needs_jax
def test_the_kept_programs_follow_jaxs_file_names_and_the_machine_folder_the_versions(tmp_path):
    done = _snippet(tmp_path, """
        from jax._src import lru_cache
        out["suffix"] = lru_cache._CACHE_SUFFIX
        before = xla_cache.machine_digest()
        jax.__version__ = "0.0.0"
        out["new_folder_on_upgrade"] = xla_cache.machine_digest() != before
    """)
    assert done == {"suffix": xla_cache_entry_suffix(), "new_folder_on_upgrade": True}, done


def xla_cache_entry_suffix() -> str:
    from factory.build import xla_cache

    return xla_cache.ENTRY


@needs_jax
def test_starting_cleans_up_and_jax_without_its_checking_option_still_keeps_programs(tmp_path):
    done = _snippet(tmp_path, """
        root = Path(os.environ["FACTORY_CACHE_DIR"]) / "xla"
        (root / "old-jaxlib").mkdir(parents=True)
        old = time.time() - 31 * 86400
        os.utime(root / "old-jaxlib", (old, old))
        from jax._src import config
        del config.compilation_cache_check_contents  # as in jax before 0.9.1
        folder = xla_cache.keep_compiled_programs()
        jax.jit(lambda x: x * 3.0)(jnp.arange(2.0)).block_until_ready()
        out["left"] = sorted(p.name for p in root.iterdir()) == [folder.name]
        out["kept"] = len(list(folder.glob("*-cache")))
    """)
    assert done["left"] and done["kept"] >= 1, done


@needs_jax
def test_a_size_limit_given_to_jax_is_jaxs_to_keep(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.split("  B:")[0])
    done = _run_on_jax(spec, tmp_path / "out", {"FACTORY_CACHE_DIR": str(tmp_path / "cache"),
                                               "JAX_COMPILATION_CACHE_MAX_SIZE": str(64 << 20)})
    assert done["rc"] == 0 and done["kind"] == "LRUCache" and done["misses"] > 0, done
    assert Path(done["dir"]).parent == tmp_path / "cache" / "xla"


def test_the_kept_programs_stay_under_their_size_and_unused_folders_go(tmp_path, monkeypatch):
    from factory.build import xla_cache

    root = tmp_path / "xla"
    folder = root / "current"
    folder.mkdir(parents=True)
    now = time.time()
    for i in range(10):  # 10 entries of 100 bytes, entry i last used i hours ago
        entry = folder / f"jit_f{i}-key{ENTRY_SUFFIX}"
        entry.write_bytes(b"x" * 100)
        os.utime(entry, (now - 3600 * i, now - 3600 * i))
    partial = folder / ".jit_h-key-cache.old.tmp"
    partial.write_bytes(b"cut")
    os.utime(partial, (now - 7200, now - 7200))
    fresh_partial = folder / ".jit_h-key-cache.now.tmp"  # another process writing right now
    fresh_partial.write_bytes(b"...")
    (root / "old-jaxlib").mkdir()
    (root / "old-jaxlib" / "jit_g-key-cache").write_bytes(b"y")
    os.utime(root / "old-jaxlib", (now - 31 * 86400, now - 31 * 86400))
    (root / "other-cpu").mkdir()  # used within STALE_DAYS: kept
    monkeypatch.setattr(xla_cache, "MAX_BYTES", 1000)
    xla_cache._forget_unused(root, folder)
    kept = [".jit_h-key-cache.now.tmp", "cleaned"]
    assert sorted(p.name for p in folder.iterdir()) == kept + [f"jit_f{i}-key-cache" for i in range(10)]
    assert sorted(p.name for p in root.iterdir()) == ["current", "other-cpu"]
    monkeypatch.setattr(xla_cache, "MAX_BYTES", 800)  # over, but cleaned up a moment ago: not scanned again yet
    xla_cache._forget_unused(root, folder)
    assert len(list(folder.iterdir())) == 12
    os.utime(folder / "cleaned", (now - 7200, now - 7200))  # down to 600 bytes, the least recently used first
    xla_cache._forget_unused(root, folder)
    assert sorted(p.name for p in folder.iterdir()) == kept + [f"jit_f{i}-key-cache" for i in range(6)]


def test_an_entry_jax_could_not_read_is_replaced_by_the_program_it_compiled_instead(tmp_path):
    code = ("import json, sys; from pathlib import Path; import jax, jax.numpy as jnp, jax.monitoring, collections; "
            "seen = collections.Counter(); "
            "jax.monitoring.register_event_listener(lambda event, **_: seen.update([event])); "
            "from factory.build import xla_cache; folder = xla_cache.keep_compiled_programs(); "
            "print(jax.jit(lambda x: x * 2.0 + 1.0)(jnp.arange(3.0)).tolist()); "
            "print(json.dumps({'hits': seen['/jax/compilation_cache/cache_hits'], "
            "'misses': seen['/jax/compilation_cache/cache_misses'], 'dir': str(folder)}))")
    env = {"FACTORY_CACHE_DIR": str(tmp_path / "cache")}
    first = _jax_process([], env, code)
    if first["dir"] == "None":
        pytest.skip("this CPU's XLA refuses programs it compiled itself (jax-ml/jax#38445): factory keeps none here")
    [entry] = Path(first["dir"]).glob("jit__lambda-*-cache")
    whole = entry.read_bytes()
    entry.write_bytes(whole[:len(whole) // 2])  # cut short (say, by a tool that copied the folder)
    env_with_warnings = {**env, "PYTHONWARNINGS": "default"}
    damaged = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                             env={**{k: v for k, v in os.environ.items() if k not in JAX_CACHE_SETTINGS},
                                  "PYTHONPATH": str(ROOT), **env_with_warnings})
    assert damaged.returncode == 0 and damaged.stdout.splitlines()[0] == "[1.0, 3.0, 5.0]", damaged.stderr
    assert "persistent compilation cache" not in damaged.stderr  # it compiles instead, and says nothing
    assert entry.read_bytes() != whole[:len(whole) // 2]  # ... and the entry is replaced (its compile time differs)
    again = _jax_process([], env, code)
    assert again["misses"] == 0 and again["hits"] >= 1, again


ENTRY_SUFFIX = "-cache"


def test_the_prepared_data_clean_up_leaves_the_kept_programs_alone(tmp_path):
    from factory.data import cache

    for i in range(cache.KEPT + 3):
        (tmp_path / f"{i:032x}").mkdir()
        os.utime(tmp_path / f"{i:032x}", (1000 + i, 1000 + i))
    (tmp_path / "xla" / "machine").mkdir(parents=True)
    os.utime(tmp_path / "xla", (1, 1))  # older than every entry
    cache._forget_oldest(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i:032x}" for i in range(3, cache.KEPT + 3)] + ["xla"]


def test_an_entry_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from factory import atomic  # what the kept programs' entries are written with (xla_cache._WholeFiles.put)

    target = tmp_path / "jit_f-key-cache"

    def refuse(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError):
        atomic.write_bytes(target, b"program")
    assert list(tmp_path.iterdir()) == []  # no cut-short entry, no partial file left
    monkeypatch.undo()
    atomic.write_bytes(target, b"program")
    assert target.read_bytes() == b"program" and list(tmp_path.iterdir()) == [target]


OPTIONAL = ("sklearn", "matplotlib", "pandas")


@pytest.mark.parametrize("backend", INSTALLED)
def test_keras_loads_without_its_optional_packages_in_factorys_own_processes_and_they_import_afterwards(backend):
    code = ("import sys; from factory.build import keras_setup as k; {own}k.import_keras({backend!r}); "
            "print(*sorted(m for m in {optional!r} if m in sys.modules)); "
            "import matplotlib.pyplot, sklearn.datasets; print(len(sklearn.datasets.load_digits().target))")
    lean = _python(code.format(own="k.own_process(); ", backend=backend, optional=OPTIONAL))
    assert lean.returncode == 0 and lean.stdout.splitlines() == ["", "1797"], lean.stdout + lean.stderr
    library = _python(code.format(own="", backend=backend, optional=OPTIONAL))  # a notebook: Keras as always
    installed_ones = sorted(m for m in OPTIONAL if installed_module(m))
    assert library.stdout.splitlines()[0].split() == installed_ones, library.stdout + library.stderr


def installed_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


SITECUSTOMIZE = """\
import importlib.util, json, os, sys

class RecordWhenKerasIsImported:  # writes which optional packages were loaded once `import keras` finished
    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        exec_module = spec.loader.exec_module

        def run(module):
            exec_module(module)
            with open(os.path.join(os.environ["SEEN_DIR"], f"{os.getpid()}.json"), "w") as f:
                json.dump(sorted(m for m in %r if sys.modules.get(m) is not None), f)

        spec.loader.exec_module = run
        return spec

sys.meta_path.insert(0, RecordWhenKerasIsImported())
""" % (OPTIONAL,)


@pytest.mark.skipif(not installed("jax"), reason="jax is an optional extra: pip install 'factory[jax]'")
def test_the_factory_command_and_its_workers_load_keras_lean(tmp_path):
    """Every process `python -m factory` and the `factory` script start imports Keras without the optional packages."""
    np.savez(tmp_path / "d.npz", x_train=np.random.rand(64, 4), y_train=np.arange(64) % 2,
             x_test=np.random.rand(16, 4), y_test=np.arange(16) % 2)
    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY.replace("{dataset: digits}", "{dataset: d.npz}"))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    script = Path(sys.executable).parent / "factory"
    commands = {"run": [sys.executable, "-m", "factory", "run", str(spec), "--out", str(tmp_path / "out"),
                        "--workers", "2", "--keras-backend", "jax"],
                "show": [str(script) if script.exists() else sys.executable, *(() if script.exists() else
                         ("-m", "factory")), "show", str(spec), "--keras-backend", "jax"]}
    for name, command in commands.items():
        seen = tmp_path / name
        seen.mkdir()
        env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}", "SEEN_DIR": str(seen)}
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        processes = [json.loads(f.read_text()) for f in seen.glob("*.json")]
        assert len(processes) == (3 if name == "run" else 1), (name, processes)  # run: the driver and two workers
        assert all(p == [] for p in processes), (name, processes)
