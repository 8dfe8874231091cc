"""Train one task (a model at a seed) and return plain data: its record and its model as bytes.

Every backend runs `train_task`, in this process, a worker process or a Ray task; the driver alone
writes the output folder. A failed run (NaN loss, an exception in `fit`) is a record with
`status: failed` and the whole reason, never an exception that stops the other runs.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from factory.errors import SpecError
from factory.train import tracking
from factory.train.progress import check_stop, say

Finished = tuple  # (record, the trained model as .keras bytes or None): what every backend yields per task


@dataclass(frozen=True)
class Task:
    """One (model, seed) to train: what a backend needs besides the experiment and the data."""

    name: str
    seed: int
    label: str
    epochs: int
    where: str  # the progress prefix: "[2/3] model B (2/3) seed 0 (1/1)"
    backup: str | None = None  # the folder of this run's resume state (factory.train.callbacks)
    log_dir: str | None = None  # its TensorBoard folder when tracking asks for one (factory.train.tracking)
    spec: Any = None  # the model's resolved spec as plain data, where it is not the experiment's (a trial)
    trial: Any = None  # factory.search.pruning.TrialLink of a search trial: report each epoch, maybe prune

    def own_keras_backend(self) -> str | None:
        """The Keras backend of a task that carries its own spec (a search trial); None: its model's."""
        return self.spec["training"]["keras_backend"] if self.spec is not None else None

    def keras_backend(self, experiment) -> str:
        """The Keras backend this task trains on: its own spec's (a search trial), else its model's in `experiment`."""
        return self.own_keras_backend() or experiment.models[self.name].training.keras_backend


_TRACE_LINES = ("Detected at node", "File ", "[[", "Graph execution error")
LONGEST_REASON = 20_000  # characters kept in results.json; a message that long is already unreadable


def failure_reason(error: BaseException) -> str:
    """An exception's whole text, without TensorFlow's graph trace (node names, file lines).

    Keras's own messages span several lines ("Exception encountered when calling ...", then the
    cause), and the cause is what the user needs, so every other line is kept.
    """
    lines = [line.rstrip() for line in str(error).splitlines()]
    useful = [line for line in lines if not line.strip().startswith(_TRACE_LINES)]
    paragraphs = "\n".join(useful if any(useful) else lines).split("\n\n")  # one blank line between Keras's parts
    text = "\n\n".join(p.strip("\n") for p in paragraphs if p.strip()) or type(error).__name__
    return text if len(text) <= LONGEST_REASON else text[:LONGEST_REASON - 3] + "..."


_WRAPPERS = ("Exception encountered when calling", "Arguments received by")  # Keras's, around the cause


def short_reason(error: str, limit: int = 300) -> str:
    """A failed run's error on one terminal line: its first line, or the cause where Keras wraps it.

    "ValueError in epoch 1: Exception encountered when calling Sequential.call()." says nothing;
    the next line says what went wrong, so that line takes the wrapper's place.
    """
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    head = lines[0] if lines else ""
    wrapper = next((w for w in _WRAPPERS if w in head), None)
    cause = next((line for line in lines[1:] if not line.startswith(_WRAPPERS)), None)
    if wrapper and cause:
        head = head[:head.index(wrapper)] + cause
    return head if len(head) <= limit else head[:limit - 3] + "..."


def failed_record(task: Task, error: str, keras_backend: str) -> dict:
    """The record of a run that never reported back (its worker process died, Ray lost it) on `keras_backend`."""
    return {"model": task.name, "label": task.label, "seed": task.seed, "status": "failed", "error": error,
            "keras_backend": keras_backend,
            "params": None, "history": {}, "epochs_completed": 0, "seconds_per_epoch": None,
            "build_seconds": 0.0, "train_seconds": 0.0, "validation_seconds": 0.0}


def train_task(keras, experiment, data, task: Task, eta: Callable[[float], str]) -> Finished:
    """Train one task; return its record and its model as `.keras` bytes (None if it failed).

    Bytes, not a file: the run may happen in another process or on another machine, and the
    driver alone writes the output folder. `eta(epoch_seconds)` returns the time left to show.
    """
    spec = experiment.models[task.name] if task.spec is None else _model(task.spec)
    extra = [] if task.trial is None else [_trial_reporter(keras, task.trial)]
    callbacks = [*tracking.tensorboard_callbacks(keras, experiment, task), *extra]
    record, model = train_one(keras, task.name, spec, task.seed, data, task.where, eta, task.backup, callbacks)
    record["keras_backend"] = keras.backend.backend()  # the backend this process really trained on
    for callback in extra:
        record.update(callback.fields)
    if model is None or task.trial is not None:  # a trial's model is not kept: best.yaml remakes it
        return record, None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="factory-model-") as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        blob = path.read_bytes()
    record["save_seconds"] = time.perf_counter() - started
    return record, blob


def _model(spec: dict):
    from schemas.experiment import Model

    return Model.model_validate(spec)


def _trial_reporter(keras, link):
    from factory.search.pruning import reporter

    return reporter(keras, link)


def train_one(keras, name: str, spec, seed: int, data, where: str, eta, backup: str | None = None,
              callbacks=()) -> tuple[dict, Any]:
    """Train one model at one seed; return its record (plain data) and the trained model (or None).

    `backup`: the folder where the run keeps the state a `--resume` continues from (None: none);
    `callbacks`: Keras callbacks to add (tracking's TensorBoard, a search's pruning).
    """
    from factory.train.callbacks import TrainingControl

    control = TrainingControl(keras, spec.training, data.y_train, backup, spec.compile.optimizer)
    with control.applied():  # precision and determinism, for this run only
        return _train_one(keras, name, spec, seed, data, where, eta, control, callbacks)


def _train_one(keras, name, spec, seed, data, where, eta, control, callbacks) -> tuple[dict, Any]:
    from factory.build import distribute
    from factory.build.adapt import prepare_model
    from factory.build.compiler import build_model, compile_model
    from factory.data.feeding import fit_arguments

    started = time.perf_counter()
    keras.utils.set_random_seed(seed)  # as a hand-written script would, just before building
    with distribute.scope(spec.training):
        model = build_model(name, spec, data.input_shape, getattr(data, "input_dtype", None))
        model = prepare_model(keras, model, data, spec.training.validation_split)  # on the training split
        # Keras 3.15 with TF 2.21 fails ("You must feed a value for placeholder tensor") when
        # steps_per_execution > 1 runs under a tf.distribute strategy: one step at a time there.
        compile_model(model, spec.compile, 1 if spec.training.distribute != "none" else None)
    build_seconds = time.perf_counter() - started
    training = spec.training
    recorder = _epoch_recorder(keras, where, training.epochs, eta)
    record: dict[str, Any] = {"model": name, "label": spec.label, "seed": seed, "status": "completed",
                              "error": None, "params": int(model.count_params())}
    history: dict[str, list[float]] = {}
    try:
        fitted = model.fit(**fit_arguments(data, training, seed), epochs=training.epochs, verbose=0,
                           callbacks=[keras.callbacks.TerminateOnNaN(), recorder, *control.callbacks(), *callbacks],
                           class_weight=control.class_weight)
        history = control.history(fitted.history)
    except (KeyboardInterrupt, SpecError):
        raise
    except Exception as e:  # one model's failure must not stop the others
        record.update(status="failed",
                      error=f"{type(e).__name__} in epoch {recorder.epochs_done + 1}: {failure_reason(e)}")
    bad = next((i for i, v in enumerate(history.get("loss", [])) if not math.isfinite(v)), None)
    if bad is not None:
        record.update(status="failed", error=f"loss became {history['loss'][bad]} in epoch {bad + 1}; "
                                             "training stopped (lower the learning rate?)")
    done = recorder.epoch_seconds
    record.update(history=history, epochs_completed=recorder.epochs_done,
                  seconds_per_epoch=sum(done) / len(done) if done else None,
                  build_seconds=build_seconds, train_seconds=sum(done) - recorder.validation_seconds,
                  validation_seconds=recorder.validation_seconds, **control.record(recorder.epochs_done))
    return record, (model if record["status"] == "completed" else None)


def _epoch_recorder(keras, where: str, epochs: int, eta):
    """A Keras callback that times epochs and validation and prints one progress line per epoch."""

    class EpochRecorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_seconds: list[float] = []
            self.validation_seconds = 0.0
            self.epochs_done = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_test_begin(self, logs=None):
            self._test_start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            check_stop()  # once per compiled call (steps_per_execution batches)

        def on_test_batch_end(self, batch, logs=None):
            check_stop()

        def on_test_end(self, logs=None):
            self.validation_seconds += time.perf_counter() - self._test_start

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._start
            self.epoch_seconds.append(seconds)
            self.epochs_done = epoch + 1
            figures = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items()
                                if isinstance(v, (int, float)) and k != "learning_rate")
            say(f"{where}: epoch {epoch + 1}/{epochs}  {figures}  ({seconds:.1f}s; ETA {eta(seconds)})")

    return EpochRecorder()
