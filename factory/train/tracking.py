"""Tracking runs outside the output folder's own files: TensorBoard event files and MLflow runs.

Two halves. Where a run trains (this process, a worker process, a Ray task), `tensorboard_callbacks`
gives Keras's own `TensorBoard` callback writing into `<out>/tensorboard/<model>-seed<seed>/` (a
path the task carries; local workers and a local Ray share the filesystem). In the driver, a
`Tracker` receives each finished record in order, as the output folder does: it writes the
HParams dashboard's entry for the run (model, what differs from the first model, seed; the final
metrics are the run's last scalars) and hands the record to MLflow (`factory.train.mlflow_log`)
when asked for. TensorFlow, TensorBoard and MLflow are imported only when tracking asks for them.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from factory.errors import SpecError
from factory.results.differences import describe_models
from factory.results.models import model_info
from factory.train.progress import say
from schemas.tracking import TensorBoard

TENSORBOARD = "tensorboard"  # the folder under the output folder


def log_dir(out: Path, name: str, seed: int) -> Path:
    """The TensorBoard folder of one run: `<out>/tensorboard/<model>-seed<seed>`."""
    return Path(out).resolve() / TENSORBOARD / f"{name}-seed{seed}"


def with_log_dirs(tasks: list, experiment, out: Path) -> list:
    """The tasks, each told its TensorBoard folder when the experiment's tracking turns TensorBoard on."""
    if experiment.tracking.tensorboard is None:
        return tasks
    return [dataclasses.replace(t, log_dir=str(log_dir(out, t.name, t.seed))) for t in tasks]


def tensorboard_callbacks(keras, experiment, task) -> list:
    """Keras's `TensorBoard` callback for this run when the task has a log folder, else nothing.

    The folder is emptied first: a run trained again (after `--resume`, or a failed one retried)
    keeps only its latest events, never two overlapping curves.
    """
    if getattr(task, "log_dir", None) is None:
        return []
    shutil.rmtree(task.log_dir, ignore_errors=True)
    options = experiment.tracking.tensorboard.model_dump()
    if isinstance(options["profile_batch"], list):
        options["profile_batch"] = tuple(options["profile_batch"])
    return [keras.callbacks.TensorBoard(log_dir=task.log_dir, **options)]


def with_tensorboard(experiment):
    """The experiment with TensorBoard on at its default options unless its tracking already has it (`--tensorboard`)."""
    if experiment.tracking.tensorboard is not None:
        return experiment
    tracking = experiment.tracking.model_copy(update={"tensorboard": TensorBoard()})
    return experiment.model_copy(update={"tracking": tracking})


def keep_previous(out: Path, moved: Path | None) -> None:
    """Move an earlier run's TensorBoard folder beside the rest of its results in `previous/<time>/`."""
    folder = Path(out) / TENSORBOARD
    if moved is not None and folder.is_dir():
        folder.rename(Path(moved) / TENSORBOARD)


class Tracker:
    """The driver's side of tracking: told of each finished run in order, and of the end."""

    def __init__(self, experiment, out: Path, resume: bool, results: dict, locate=lambda error: error):
        self.out, self.results, self.locate = Path(out), results, locate  # locate: positions for a SpecError
        self.tensorboard = experiment.tracking.tensorboard is not None
        self.mlflow = None
        if experiment.tracking.mlflow is not None:
            from factory.train.mlflow_log import MlflowLog

            try:
                self.mlflow = MlflowLog(experiment.tracking.mlflow, experiment.name, self.out, resume, results)
            except SpecError as e:
                raise locate(e) from None

    def start(self) -> None:
        """Before training, after every check: MLflow's store and parent run are opened (a store that
        cannot be used is a SpecError), and the runs `--resume` kept reach it if they had not."""
        if self.mlflow is not None:
            try:
                self.mlflow.start()
            except SpecError as e:
                raise self.locate(e) from None

    def finished(self, record: dict) -> None:
        """One run finished (completed or failed): its HParams entry, its MLflow child run."""
        if self.tensorboard:
            write_hparams(self.out, self.results, record)
        if self.mlflow is not None:
            self.mlflow.log_run(record)

    def close(self, finished: bool) -> None:
        """After the tables, plots and report are written: the HParams setup, MLflow's artifacts and status."""
        if self.tensorboard and self.results["runs"]:
            write_hparams_config(self.out, self.results)
            say(f"TensorBoard: tensorboard --logdir {self.out / TENSORBOARD}")
        if self.mlflow is not None:
            self.mlflow.close(finished)
            say(f"MLflow: experiment '{self.mlflow.experiment_name}' in {self.mlflow.uri}"
                + (f" (mlflow ui --backend-store-uri {self.mlflow.uri})" if self.mlflow.uri.startswith("sqlite") else ""))


def open_tracker(loaded, experiment, out: Path, resume: bool, results: dict) -> Tracker:
    """The tracker of this run; a tracking setting that cannot work (MLflow missing, now or when
    `start` opens its store) is a SpecError located in the spec."""
    return Tracker(experiment, out, resume, results, loaded.locate)


def hparams_of(results: dict, record: dict) -> dict:
    """What the HParams dashboard shows of a run: its model, label, what differs from the first model, seed."""
    info = model_info(results)
    first = next(iter(info))
    if record["model"] == first:
        differs = "(the first model)"
    else:  # a run of a model the experiment does not list (a search trial) has nothing to compare here
        differs = describe_models(info[first], info[record["model"]]) if record["model"] in info else ""
    return {"model": record["model"], "label": record.get("label") or record["model"], "differs": differs,
            "seed": record["seed"], "status": record["status"]}


def metric_tags(history_keys) -> list[tuple[str, str, str]]:
    """(tag, group, name) of each recorded metric as Keras's TensorBoard callback writes it:
    `val_loss` is `epoch_loss` in the run's `validation` folder, `loss` in its `train` folder."""
    return [(f"epoch_{key.removeprefix('val_')}", "validation" if key.startswith("val_") else "train", key)
            for key in history_keys]


def write_hparams(out: Path, results: dict, record: dict) -> None:
    """The run's HParams session (its values; the metrics are read from its scalars) in its TensorBoard folder."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    folder = log_dir(out, record["model"], record["seed"])
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        hp.hparams(hparams_of(results, record), trial_id=folder.name)
    writer.close()


def write_hparams_config(out: Path, results: dict) -> None:
    """The HParams dashboard's columns: each value's domain and each recorded metric, at `tensorboard/`.

    Rewritten whole at the end of every run into the folder (a resumed run adds runs), so the
    folder's own event files (never a run's, which live in subfolders) are replaced.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    runs = results["runs"]
    values = [hparams_of(results, r) for r in runs]
    hparams = [hp.HParam("model", hp.Discrete(sorted({v["model"] for v in values}))),
               hp.HParam("label"), hp.HParam("differs"),
               hp.HParam("seed", hp.Discrete(sorted({v["seed"] for v in values}))),
               hp.HParam("status", hp.Discrete(sorted({v["status"] for v in values})))]
    keys = list(dict.fromkeys(k for r in runs for k in r.get("history") or {}))
    metrics = [hp.Metric(tag, group=group, display_name=name) for tag, group, name in metric_tags(keys)]
    root = Path(out).resolve() / TENSORBOARD
    for old in root.glob("events.out.tfevents.*"):
        old.unlink()
    writer = tf.summary.create_file_writer(str(root))
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)
    writer.close()
