"""One model on several devices (tf.distribute), and the same results on every backend for many runs."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from factory.spec.loader import load
from factory.train.runner import run_experiment
from tests.conftest import ROOT, TINY

SMALL = """\
name: dist
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 3, batch_size: 64, seeds: [0]}
models:
  A:
    layers: [Flatten, {Dense: {units: 16, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
"""

TWO_CPUS = """\
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from factory.spec.loader import load
from factory.train.runner import run_experiment
sets = ["training.distribute=mirrored", "training.devices=['/cpu:0', '/cpu:1']"] if sys.argv[3] == "mirrored" else []
sys.exit(run_experiment(load(sys.argv[1], sets), Path(sys.argv[2])))
"""


def val_loss(out):
    return json.loads((out / "results.json").read_text())["runs"][0]["history"]["val_loss"]


def python(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_mirrored_on_two_logical_cpus_matches_one_device(write, tmp_path):
    spec, script = write(SMALL), tmp_path / "two_cpus.py"
    script.write_text(TWO_CPUS)
    for mode in ("single", "mirrored"):
        result = python(script, spec, tmp_path / mode, mode)
        assert result.returncode == 0, result.stderr[-2000:]
    single, mirrored = val_loss(tmp_path / "single"), val_loss(tmp_path / "mirrored")
    assert max(abs(a - b) for a, b in zip(single, mirrored)) < 1e-3, (single, mirrored)
    assert json.loads((tmp_path / "mirrored" / "results.json").read_text())["experiment"]["models"]["A"][
        "training"]["devices"] == ["/cpu:0", "/cpu:1"]


def test_multi_worker_is_refused_before_training_with_the_reason(write, cli, tmp_path):
    code, _, err = cli("run", write(SMALL), "--out", tmp_path / "out", "--set", "training.distribute=multi_worker")
    assert code == 2 and "keras-team/keras#20585" in err and "epoch" not in err
    assert not (tmp_path / "out").exists(), "refused before touching the output folder"


def test_devices_need_mirrored(write):
    from factory.errors import SpecError

    with pytest.raises(SpecError, match="devices are for `distribute: mirrored`"):
        load(write(SMALL), ["training.devices=['/cpu:0']"])


CANARY = """\
import numpy as np, tensorflow as tf, keras
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
model.fit(np.ones((64, 8), "float32"), np.ones((64, 2), "float32"), batch_size=16, epochs=1, verbose=0)
print("TRAINED")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_canary_keras_still_cannot_fit_under_multi_worker_mirrored_strategy(tmp_path):
    """When this fails, Keras trains under MultiWorkerMirroredStrategy: lift MULTI_WORKER_BROKEN."""
    script = tmp_path / "canary.py"
    script.write_text(CANARY)
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = [subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "TF_CONFIG": json.dumps(
                                      {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})})
                 for i in range(2)]
    outputs = [p.communicate(timeout=240) for p in processes]
    trained = ["TRAINED" in out for out, _ in outputs]
    assert not any(trained), "Keras now trains under MultiWorkerMirroredStrategy: enable `multi_worker`"
    assert any("PerReplica" in err for _, err in outputs), [err[-500:] for _, err in outputs]


def histories(out):
    return {(r["model"], r["seed"]): r["history"] for r in json.loads((out / "results.json").read_text())["runs"]}


def test_same_seed_same_history_serially_with_workers_and_with_ray(write, tmp_path):
    pytest.importorskip("ray")
    spec = write(TINY.replace("seeds: [0]", "seeds: [0, 1]"))
    assert run_experiment(load(spec), tmp_path / "serial", workers=1) == 0
    assert run_experiment(load(spec), tmp_path / "workers", workers=2) == 0
    assert run_experiment(load(spec), tmp_path / "ray", workers=2, backend="ray") == 0
    serial = histories(tmp_path / "serial")
    for other in ("workers", "ray"):
        theirs = histories(tmp_path / other)
        assert list(theirs) == list(serial)
        for key, history in serial.items():
            for metric, values in history.items():
                assert max(abs(a - b) for a, b in zip(values, theirs[key][metric])) < 1e-6, (other, key, metric)
        assert sorted(p.name for p in (tmp_path / other / "models").iterdir()) == sorted(
            p.name for p in (tmp_path / "serial" / "models").iterdir())
