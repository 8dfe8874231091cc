"""Training control for one run: the spec's callbacks, keep best, precision, determinism, class weights, resume.

`TrainingControl` is everything `task.train_one` needs beyond `fit` itself: the Keras callbacks
(built by Keras from the spec's `{class_name, config}`), the class weights, the dtype policy and op
determinism for this run only, the state `--resume` continues from, and what the run's record says
about all of these. Plain data comes out: the history (each epoch once, `learning_rate` included)
and the record's fields.

Beside a learning-rate schedule, ReduceLROnPlateau multiplies the whole schedule by its factor
(Keras cannot set a scheduled rate): the optimizer gets a plain Keras schedule with scaled rates
(`schemas.schedules.ScheduleArgs.scaled_keras_config`), so a saved model loads without this package.
All of a run's ReduceLROnPlateau multiply one scale, as Keras's lower one constant rate in turn.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from factory.atomic import replacing
from factory.build.checks import class_labels
from schemas.schedules import schedule_of

HISTORY = "history.json"  # the epochs a run finished, beside Keras's BackupAndRestore state
STATE = "callbacks-epoch{}.json"  # the callbacks' state after that many epochs, beside HISTORY
# the best weights of the state's callback of that index (EarlyStopping's), taken at the end of that
# epoch: one file per callback, since two may hold different weights of one epoch (SwapEMAWeights between)
WEIGHTS = "weights-{}-epoch{}.npz"

# What a resumed run gives back to a callback, by the nearest class of its own: the rest is its
# configuration, built again from the spec. Best weights are kept in WEIGHTS files of their own.
RESUMED = {"EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
           "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
           "ScheduleScale": ("scale",)}


def keras_callback(keras, config: dict, scale=None) -> Any:
    """A Keras callback from its spec's `{class_name, config}` (`schemas.callbacks`).

    One that sets the learning rate (OURS) is Keras's own made to log the rate its epoch trained
    with; beside a learning-rate schedule it lowers the whole schedule through `scale`
    (`_schedule_scale`, one per optimizer) instead.
    """
    name = config["class_name"]
    if name in OURS:
        return OURS[name](keras, config["config"], scale)
    return getattr(keras.callbacks, name)(**config["config"])


def _schedule_scale(keras, schedule):
    """A callback holding the one multiplier of the optimizer's learning-rate `schedule`
    (`schemas.schedules`) that every ReduceLROnPlateau beside it lowers, in turn, as Keras's lower
    one constant rate: two halvings in one epoch quarter the schedule. It does nothing at the
    epochs; it is among fit's callbacks for the model it installs the scaled schedule on, and it
    is the one place the resume state keeps the scale.
    """

    class ScheduleScale(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._scale = 1.0

        @property
        def scale(self) -> float:
            """The schedule's rates are the spec's times this (1.0 until the first plateau)."""
            return self._scale

        @scale.setter
        def scale(self, scale: float) -> None:
            self._scale = scale
            # a plain Keras schedule, so the saved model needs no custom object
            self.model.optimizer.learning_rate = keras.optimizers.schedules.deserialize(
                schedule.scaled_keras_config(scale))
            # the traced train step (tf.function, jax.jit) holds the schedule it was traced with
            self.model.make_train_function(force=True)

    return ScheduleScale()


def _plateau(keras, config: dict, scale=None):
    """Keras's ReduceLROnPlateau (its wait, cooldown, min_delta and mode as they are), which leaves the
    logged `learning_rate` as `_learning_rate_recorder` wrote it, and, given the `scale` of a
    learning-rate schedule (`_schedule_scale`), multiplies the whole schedule on a plateau.

    Keras's own writes the optimizer's rate into the logs, which an earlier ReduceLROnPlateau of the
    same epoch may have lowered already: the history would show a rate the epoch did not train
    with. Keras refuses to set a schedule's rate. Here the rate before the plateau, `old`, becomes
    `max(old * factor, min_lr)` as in Keras, and the shared scale is multiplied by `new / old`.
    `min_lr` bounds a reduction, not the schedule's own decay.
    """

    class RecordedRateReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
        def on_epoch_end(self, epoch, logs=None):
            recorded = (logs or {}).get("learning_rate")
            super().on_epoch_end(epoch, logs)
            if recorded is not None:
                logs["learning_rate"] = recorded

        def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
            if scale is None:
                return super()._reduce_optimizer_lr(optimizer, epoch, name)
            old = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            if old <= np.float32(self.min_lr):  # as Keras compares it
                return False
            new = max(old * self.factor, self.min_lr)
            scale.scale = scale.scale * new / old
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new} "
                      f"(the schedule times {scale.scale:g}).")
            return True

    return RecordedRateReduceLROnPlateau(**config)


OURS = {"ReduceLROnPlateau": _plateau}  # the callbacks built here, not by Keras: they set the rate


def class_weights(written, y_train) -> dict[int, float] | None:
    """The `class_weight` for fit: as written, or `balanced` from the training labels, as scikit-learn
    computes it (examples / (classes * examples of the class))."""
    if written != "balanced":
        return dict(written) if written else None
    labels = class_labels(y_train)
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): float(len(labels) / (len(classes) * n)) for c, n in zip(classes, counts)}


def steps_per_epoch(spec, examples: int) -> int:
    """Schedule steps per epoch of a resolved model `spec`, the unit of `decay_steps`: Keras's own
    validation split (the first floor(n * (1 - split)) examples train) in batches. Every batch, also
    with `gradient_accumulation_steps`: Keras evaluates a schedule at its count of batches
    (`optimizer._iterations`), not at the applied updates."""
    training = spec.training
    if training.validation_split:
        examples = int(math.floor(examples * (1.0 - training.validation_split)))
    return math.ceil(examples / training.batch_size)


def steps_line(name: str, spec, examples: int) -> str:
    """`show`'s line of a model's steps per epoch, the unit of `decay_steps` and `warmup_steps`."""
    training, steps = spec.training, steps_per_epoch(spec, examples)
    used = f"{examples:,} training examples" + (f" less validation_split {training.validation_split}"
                                                if training.validation_split else "")
    accumulated = spec.compile.optimizer.args.gradient_accumulation_steps
    used += f", batch_size {training.batch_size}" + (
        f"; every batch counts, also with gradient_accumulation_steps {accumulated}" if accumulated else "")
    return (f"model {name}: {steps:,} steps per epoch ({used}); "
            f"decay_steps and warmup_steps count these: 10 epochs = {10 * steps:,} steps")


def best_monitor(training) -> tuple[str, str]:
    """What `keep: best` ranks epochs by: the first EarlyStopping's monitor and mode, else val_loss."""
    from schemas.callbacks import EarlyStopping

    for entry in training.callbacks:
        if isinstance(entry.args, EarlyStopping):
            return entry.args.monitor, entry.args.mode
    return "val_loss", "min"


class TrainingControl:
    """What one run needs besides `fit`: callbacks, class weights, dtype policy, determinism, resume.

    `backup` is the folder of this run's resume state (None: no resume within the run); `optimizer`
    the spec's optimizer (`schemas.optimizers`), whose schedule ReduceLROnPlateau lowers. Use as:
    `with control.applied(): build, compile, fit(..., callbacks=control.callbacks(), class_weight=...)`,
    then `control.history(fitted.history)` and `control.record()`.
    """

    def __init__(self, keras, training, y_train, backup: str | None = None, optimizer=None):
        self.keras, self.training, self.backup = keras, training, Path(backup) if backup else None
        self.schedule = schedule_of(optimizer) if optimizer is not None else None
        self.class_weight = class_weights(training.class_weight, y_train)
        self._keep = self._scale = None
        self._spec_callbacks: list = []
        self._log = None

    @contextmanager
    def applied(self) -> Iterator[None]:
        """This run's dtype policy and op determinism, restored afterwards (the next run may differ)."""
        before = self.keras.config.dtype_policy()
        tf_config, switch = None, False
        if self.training.deterministic and self.keras.backend.backend() == "tensorflow":
            # TensorFlow has no public way to ask or to switch it back; the next run may not want it.
            # Imported only here: a run on JAX must not import TensorFlow (JAX on CPU is deterministic).
            from tensorflow.python.framework import config as tf_config

            # switched on by the user (or TF_DETERMINISTIC_OPS) before this run: left on after it
            switch = not tf_config.is_op_determinism_enabled()
        if switch:
            tf_config.enable_op_determinism()
        self.keras.config.set_dtype_policy(self.training.precision)
        try:
            yield
        finally:
            self.keras.config.set_dtype_policy(before)
            if switch:
                tf_config.disable_op_determinism()

    def callbacks(self) -> list:
        """The learning-rate recorder, the schedule's scale (beside a ReduceLROnPlateau), the spec's
        callbacks, keep best and the resume state, in that order."""
        keras = self.keras
        out = [_learning_rate_recorder(keras)]
        configs = [entry.keras_config() for entry in self.training.callbacks]
        if self.schedule is not None and any(c["class_name"] in OURS for c in configs):
            self._scale = _schedule_scale(keras, self.schedule)
            out.append(self._scale)
        self._spec_callbacks = [keras_callback(keras, c, self._scale) for c in configs]
        out += self._spec_callbacks
        if self.training.keep == "best":
            monitor, mode = best_monitor(self.training)
            # Keras's own bookkeeping of the best epoch: never stops, restores the best weights at the end
            self._keep = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=self.training.epochs + 1,
                                                       restore_best_weights=True)
            out.append(self._keep)
        if self.backup is not None:
            # The callbacks' state and the log before Keras's state: killed between them, they hold one
            # epoch more than Keras's, and the resumed run takes the log up to Keras's epoch and the
            # callbacks' state of that epoch (the last two epochs' are kept for this).
            stateful = [c for c in [self._scale, *self._spec_callbacks, self._keep] if _resumed_attributes(c)]
            self._log = _epoch_log(keras, self.backup / HISTORY)
            out += [_callback_state(keras, self.backup, stateful), self._log,
                    keras.callbacks.BackupAndRestore(str(self.backup), double_checkpoint=True, delete_checkpoint=True)]
        return out

    def history(self, fitted: dict) -> dict[str, list[float]]:
        """Every epoch's figures once, as plain floats: those of earlier attempts (resume) first."""
        if self._log is not None:
            fitted = self._log.history
        return {k: [float(v) for v in vs] for k, vs in fitted.items()}

    def record(self, epochs_done: int) -> dict:
        """The run record's fields about training control."""
        return {"precision": self.training.precision, "keep": self.training.keep, "epochs_planned": self.training.epochs,
                "stopped_early": 0 < epochs_done < self.training.epochs,
                "kept_epoch": self._kept_epoch(epochs_done),
                "resumed_from_epoch": self._log.resumed_from if self._log is not None else None}

    def _kept_epoch(self, epochs_done: int) -> int | None:
        """The epoch whose weights the saved model holds: the last EarlyStopping to restore its best
        weights at the end of training wins (keep best's own comes last), else the last epoch."""
        restorers = [c for c in [*self._spec_callbacks, self._keep] if c is not None
                     and getattr(c, "restore_best_weights", False) and c.best_weights is not None]
        if restorers:
            return int(restorers[-1].best_epoch) + 1
        return None if self.training.keep == "best" else epochs_done or None


def _learning_rate_recorder(keras):
    """A callback that logs the optimizer's learning rate at each epoch's end as `learning_rate`.

    For a schedule that is its value at the step the next epoch starts from (times the
    ReduceLROnPlateau scale so far). Every ReduceLROnPlateau (`_plateau`) leaves this value in the
    logs, also after one of them lowered the rate.
    """

    class LearningRateRecorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LearningRateRecorder()


def _epoch_log(keras, path: Path):
    """A callback that keeps every finished epoch's logs in `path`, so a resumed run's history has each
    epoch once: the epochs before the one Keras resumes from come from the file."""

    class EpochLog(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.resumed_from = None

        def on_epoch_begin(self, epoch, logs=None):
            if self.resumed_from is None and epoch > 0:  # BackupAndRestore put fit at a later epoch
                self.resumed_from = epoch + 1
                saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
                self.history = {k: list(v[:epoch]) for k, v in saved.items()}
            elif self.resumed_from is None:
                self.resumed_from = 0  # a fresh start

        def on_epoch_end(self, epoch, logs=None):
            for k, v in (logs or {}).items():
                self.history.setdefault(k, []).append(float(v))
            path.parent.mkdir(parents=True, exist_ok=True)
            # whole or not at all if the process is killed; no fsync, like Keras's own state beside it
            with replacing(path) as tmp:
                tmp.write_text(json.dumps(self.history), encoding="utf-8")

    return EpochLog()


def _resumed_attributes(callback) -> tuple[str, ...]:
    """The attributes of `callback` a resumed run gives back (RESUMED, by its nearest class there)."""
    return next((RESUMED[c.__name__] for c in type(callback).__mro__ if c.__name__ in RESUMED), ())


def _plain(value):
    """`value` for JSON: a figure from the logs may be a NumPy number, which JSON does not take."""
    return value.item() if isinstance(value, np.generic) else value


def _callback_state(keras, folder: Path, callbacks: list):
    """A callback that keeps the state of `callbacks` after each epoch in `folder`, and gives it back to
    a run that BackupAndRestore resumes, so it goes on as the run before the kill would have.

    EarlyStopping's patience and best epoch (its best weights in a WEIGHTS file named by its index
    in `callbacks` and that epoch, written whole or not at all), ReduceLROnPlateau's patience and
    cooldown, and the schedule's scale (ScheduleScale, once for all ReduceLROnPlateau). The
    last two epochs' states are kept: Keras's own state is written after this one, so a kill
    between the two leaves it one epoch behind, and the resumed run takes the state of Keras's epoch.
    """

    class CallbackState(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begun = False

        def on_epoch_begin(self, epoch, logs=None):
            if not self.begun and epoch > 0:  # BackupAndRestore put fit at a later epoch
                self._restore(folder / STATE.format(epoch))
            self.begun = True

        def on_epoch_end(self, epoch, logs=None):
            folder.mkdir(parents=True, exist_ok=True)
            states = []
            for index, callback in enumerate(callbacks):
                state = {k: _plain(getattr(callback, k)) for k in _resumed_attributes(callback)}
                weights = getattr(callback, "best_weights", None)
                if weights is not None:
                    state["best_weights"] = WEIGHTS.format(index, callback.best_epoch + 1)
                    if callback.best_epoch == epoch:  # just taken: not on disk yet
                        with replacing(folder / state["best_weights"], suffix=".npz") as tmp:
                            np.savez(tmp, *weights)
                states.append(state)
            with replacing(folder / STATE.format(epoch + 1)) as tmp:
                tmp.write_text(json.dumps(states), encoding="utf-8")
            self._prune(epoch + 1)

        def _restore(self, path: Path):
            if not path.is_file():  # a state written before callbacks kept theirs: they start afresh
                return
            for callback, state in zip(callbacks, json.loads(path.read_text(encoding="utf-8")), strict=True):
                name = state.pop("best_weights", None)
                if name is not None:
                    with np.load(folder / name) as saved:
                        callback.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
                for k, v in state.items():
                    setattr(callback, k, v)

        def _prune(self, epochs: int):
            """Remove the states before the last two and the weights neither of those two names."""
            kept = [folder / STATE.format(n) for n in (epochs - 1, epochs)]
            for old in folder.glob(STATE.format("*")):
                if old not in kept:
                    old.unlink()
            named = {s.get("best_weights") for path in kept if path.is_file()
                     for s in json.loads(path.read_text(encoding="utf-8"))}
            for old in folder.glob(WEIGHTS.format("*", "*")):
                if old.name not in named:
                    old.unlink()

    return CallbackState()
