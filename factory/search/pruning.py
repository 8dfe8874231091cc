"""Optuna's side of a trial inside the task that trains it: report each epoch, stop when pruned.

A trial trains wherever its task runs (this process, a worker process, a local Ray task); the task
opens the study from its journal file, which every process on the machine shares, reports the
objective at each epoch's end and stops training when the study's pruner says so. The driver
then records the trial as pruned at that epoch. Imports nothing of factory.train: the task
imports this module, only when it trains a trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

JOURNAL = "study.journal"  # the study's file in the output folder


@dataclass(frozen=True)
class TrialLink:
    """What a task needs to report to its trial: plain data, sent to worker processes and Ray tasks."""

    journal: str  # the study's journal file (Optuna's JournalFileBackend)
    study: str
    trial_id: int
    number: int  # the trial's number in the study (mlp-t07 is number 7)
    metric: str  # the history key of the objective, e.g. val_loss
    pruner: str  # none | median | hyperband
    epochs: int
    trials: int


def storage(journal: str):
    """Optuna's storage in the journal file `journal`: safe for several processes, no database needed."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(journal))


def make_pruner(kind: str, epochs: int, trials: int):
    """Optuna's pruner for `pruner:`; the median one starts judging after a fifth of the trials (1 to 5)."""
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, trials // 5)))
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    return optuna.pruners.NopPruner()


def reporter(keras, link: TrialLink):
    """A Keras callback reporting the objective to the trial each epoch; `.fields` says where it stopped."""
    import optuna

    study = optuna.load_study(study_name=link.study, storage=storage(link.journal),
                              pruner=make_pruner(link.pruner, link.epochs, link.trials))
    trial = optuna.trial.Trial(study, link.trial_id)

    class Reporter(keras.callbacks.Callback):
        fields: dict = {"pruned_epoch": None}

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(link.metric)
            if value is None or not math.isfinite(float(value)):
                return  # a NaN loss fails the run (TerminateOnNaN); nothing to report
            trial.report(float(value), epoch + 1)
            if trial.should_prune():
                self.fields = {"pruned_epoch": epoch + 1}
                self.model.stop_training = True

    return Reporter()
