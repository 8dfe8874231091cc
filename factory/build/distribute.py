"""`training.distribute`: one model on several devices (mirrored) or machines (multi_worker).

Thin on purpose: tf.distribute does the work. `batch_size` is the global batch in both modes (each
of N replicas gets batch_size / N examples per step), so a distributed run is comparable with a
single-device one. MultiWorkerMirroredStrategy must exist before any other TensorFlow work, so the
runner creates every strategy right after importing TensorFlow; in a multi-worker cluster only the
chief writes the output folder.
"""

from __future__ import annotations

import contextlib
import json
import os

_strategies: dict = {}

# Keras 3's model.fit fails under MultiWorkerMirroredStrategy ("Attempt to convert a value
# (PerReplica...) with an unsupported type"), even TensorFlow's own multi-worker tutorial:
# keras-team/keras#20585, tensorflow/tensorflow#72388. tests/test_distribute.py keeps a canary
# that fails once an installed Keras trains there, so this refusal is lifted then.
MULTI_WORKER_BROKEN = ("multi_worker cannot train with this Keras: Keras 3's model.fit fails under "
                       "tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585). Use "
                       "`distribute: mirrored` for several devices of one machine, or --workers / "
                       "--backend ray to spread many runs over cores and machines")


def strategy_for(training):
    """The tf.distribute strategy for a model's training section, or None (one device)."""
    if training.distribute == "none":
        return None
    key = (training.distribute, tuple(training.devices or ()))
    if key not in _strategies:
        import tensorflow as tf

        if training.distribute == "mirrored":
            _strategies[key] = tf.distribute.MirroredStrategy(devices=training.devices)
        else:
            _strategies[key] = tf.distribute.MultiWorkerMirroredStrategy()
    return _strategies[key]


def scope(training):
    """`with scope(training):` build and compile the model under its strategy (a no-op without one)."""
    strategy = strategy_for(training)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def check(experiment) -> None:
    """Refuse, before any training, what tf.distribute cannot do with the installed Keras."""
    from factory.errors import Issue, SpecError

    issues = [Issue(MULTI_WORKER_BROKEN, loc=("models", name, "training", "distribute"))
              for name, m in experiment.models.items() if m.training.distribute == "multi_worker"]
    if issues:
        raise SpecError(issues)


def prepare(experiment) -> None:
    """Create every strategy the experiment needs, before anything else runs on TensorFlow."""
    check(experiment)
    for model in experiment.models.values():
        strategy_for(model.training)


def uses_multi_worker(experiment) -> bool:
    return any(m.training.distribute == "multi_worker" for m in experiment.models.values())


def is_chief() -> bool:
    """Whether this process is the cluster's chief in TF_CONFIG (the first worker when none is named)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return True
    task = config.get("task") or {}
    if not task:
        return True
    if "chief" in (config.get("cluster") or {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0
