"""Every run of an experiment in MLflow: one parent run per experiment, one child run per (model, seed).

The driver logs, never the place a run trains: it alone receives every finished record (and has
written its model file) whatever the backend, so serial runs, `--workers N` and Ray log the same
way. A child run holds the model's resolved spec as flattened params, every epoch's metrics
(step = epoch, from 0, as Keras's TensorBoard callback counts), tags (model, seed, spec hash,
versions, status) and the `.keras` model; the parent gets the tables, plots, report and
results.json at the end. `--resume` finds the parent by the output folder's tag and the children
by model and seed, so it creates no duplicate runs: a finished child is kept, an unfinished or
failed one that is trained again is replaced. MLflow is an optional extra, imported only here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from factory.errors import Issue, SpecError
from factory.train.progress import say

FOLDER_TAG = "factory.output_folder"   # the output folder's absolute path, as the parent's and children's tag
FOLDER_ID_TAG = "factory.folder_id"    # its hash: safe to quote in a search filter whatever the path holds
ROLE_TAG = "factory.role"              # "experiment" (the parent) or "run" (a child)
MODEL_TAG, SEED_TAG = "factory.model", "factory.seed"
PARENT_TAG = "mlflow.parentRunId"      # MLflow's own nesting of runs
_BATCH = 100                           # params or metrics per log_batch call, MLflow's limit for params


def require_mlflow():
    """The mlflow module; a clear, located error naming the install command when it is missing."""
    try:
        import mlflow
    except ImportError:
        raise SpecError([Issue("MLflow is not installed; logging to it needs "
                               "pip install 'factory[mlflow]'", loc=("tracking", "mlflow"))]) from None
    return mlflow


def flatten(value, prefix: str = "") -> dict[str, str]:
    """A spec as MLflow params: `layers.1.Dense.units` -> "64"; a list of plain values stays whole ("[28, 28]")."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: value if isinstance(value, str) else json.dumps(value)}


def spec_hash(spec: dict) -> str:
    """A short hash of a model's resolved spec: two runs with the same hash trained the same model."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


class MlflowLog:
    """The MLflow side of one `factory run`: the parent run, then one child run per finished record."""

    def __init__(self, options, name: str, out: Path, resume: bool, results: dict):
        require_mlflow()  # before any training: a missing extra is the user's to fix, said at once
        self.options = options
        self.out, self.results, self.resume = Path(out).resolve(), results, resume
        self.uri = options.tracking_uri or f"sqlite:///{self.out / 'mlflow.db'}"
        self.folder_id = hashlib.sha256(str(self.out).encode()).hexdigest()[:16]
        self.experiment_name = options.experiment or name
        self.client = self.experiment_id = self.parent = None

    def _connect(self) -> None:
        """Open the store and the MLflow experiment (made if new); a store that cannot be used is a SpecError."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        experiment = self.experiment_name
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial tables..."
        try:
            self.client = MlflowClient(tracking_uri=self.uri)
            found = self.client.get_experiment_by_name(experiment)
            if found is None:  # the default store keeps its artifacts in the output folder too
                location = (self.out / "mlartifacts").as_uri() if self.options.tracking_uri is None else None
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(found.experiment_id)
                self.experiment_id = found.experiment_id
        except MlflowException as e:
            raise SpecError([Issue(f"cannot use the MLflow store {self.uri}: {e.message}",
                                   loc=("tracking", "mlflow"))]) from None

    def _search(self, condition: str) -> list:
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`{FOLDER_ID_TAG}` = '{self.folder_id}' "
                                           f"and {condition}", page_token=token, max_results=1000,
                                           order_by=["attributes.start_time DESC"])
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def start(self) -> None:
        """The parent run (the one `--resume` continues, else a new one); kept runs it lacks are logged."""
        from mlflow.exceptions import MlflowException

        self._connect()
        try:
            earlier = self._search(f"tags.`{ROLE_TAG}` = 'experiment'") if self.resume else []
            if earlier:
                self.parent = earlier[0].info.run_id
                self.client.update_run(self.parent, status="RUNNING")
            else:
                tags = {FOLDER_TAG: str(self.out), FOLDER_ID_TAG: self.folder_id, ROLE_TAG: "experiment",
                        "factory.source": str(self.results.get("source"))}
                self.parent = self.client.create_run(self.experiment_id, tags=tags,
                                                     run_name=self.results["experiment"]["name"]).info.run_id
        except MlflowException as e:
            raise SpecError([Issue(f"cannot use the MLflow store {self.uri}: {e.message}",
                                   loc=("tracking", "mlflow"))]) from None
        for record in self.results["runs"]:  # kept by --resume: logged already unless a kill came between
            self.log_run(record, keep_finished=True)

    def _children(self, record: dict) -> list:
        return self._search(f"tags.`{PARENT_TAG}` = '{self.parent}' and tags.`{MODEL_TAG}` = '{record['model']}' "
                            f"and tags.`{SEED_TAG}` = '{record['seed']}'")

    def log_run(self, record: dict, keep_finished: bool = False) -> None:
        """One (model, seed) as a child run, replacing an earlier child of it (unless finished and kept).

        A store that fails now (a server gone) costs the run its MLflow entry, not the training: the
        record is safe in results.json, and `--resume` logs it later.
        """
        from mlflow.exceptions import MlflowException

        try:
            self._log_run(record, keep_finished)
        except MlflowException as e:
            say(f"MLflow: could not log {record['model']} seed {record['seed']} ({e.message}); "
                "--resume logs it later")

    def _log_run(self, record: dict, keep_finished: bool) -> None:
        from mlflow.entities import Metric, Param

        for child in self._children(record):
            if keep_finished and child.info.status == "FINISHED":
                return
            self.client.delete_run(child.info.run_id)  # an interrupted log, or a failed run trained again
        spec = self.results["experiment"]["models"].get(record["model"]) or {}  # {}: a run not in the spec's models
        versions = self.results.get("versions") or {}
        tags = {PARENT_TAG: self.parent, FOLDER_TAG: str(self.out), FOLDER_ID_TAG: self.folder_id, ROLE_TAG: "run",
                MODEL_TAG: record["model"], SEED_TAG: str(record["seed"]), "factory.label": record.get("label") or "",
                "factory.spec_hash": spec_hash(spec), "factory.status": record["status"],
                **{f"factory.version.{k}": str(v) for k, v in versions.items()}}
        if record.get("error"):
            tags["factory.error"] = record["error"][:5000]
        run_id = self.client.create_run(self.experiment_id, tags=tags,
                                        run_name=f"{record['model']}-seed{record['seed']}").info.run_id
        params = [Param(k, v) for k, v in {**flatten(spec), "seed": str(record["seed"])}.items()]
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, values in (record.get("history") or {}).items()
                   for step, value in enumerate(values) if value is not None]
        for figure in ("params", "seconds_per_epoch", "epochs_completed"):
            if isinstance(record.get(figure), (int, float)):
                metrics.append(Metric(f"factory.{figure}", float(record[figure]), now, 0))
        for i in range(0, len(params), _BATCH):
            self.client.log_batch(run_id, params=params[i:i + _BATCH])
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])
        if record.get("model_file"):
            self.client.log_artifact(run_id, str(self.out / record["model_file"]), artifact_path="model")
        self.client.set_terminated(run_id, "FINISHED" if record["status"] == "completed" else "FAILED")

    def close(self, finished: bool) -> None:
        """The parent's artifacts (tables, plots, report, results.json) and its status."""
        if self.parent is None:
            return
        from mlflow.exceptions import MlflowException

        from factory.results.models import RESULTS

        try:
            for name in [RESULTS, *(self.results.get("files") or [])]:
                if (self.out / name).is_file():
                    self.client.log_artifact(self.parent, str(self.out / name))
            self.client.set_terminated(self.parent, "FINISHED" if finished else "KILLED")
        except MlflowException as e:  # the results are safe in the folder; a later --resume logs them again
            say(f"MLflow: could not log the experiment's files ({e.message}); --resume logs them")
