"""Run each (model, seed) as a Ray task, on a local Ray instance or an existing cluster (`--address`).

Ray is an optional extra (`pip install 'factory[ray]'`), imported only when `--backend ray` asks
for it. The prepared arrays go into Ray's object store once and every task reads them from there;
each task returns its record and its model as bytes, so the driver alone writes the output folder,
exactly as with local workers. On a cluster, every node needs this package installed.
"""

from __future__ import annotations

from typing import Iterator

from factory.errors import Issue, SpecError
from factory.train.progress import EtaClock, check_stop
from factory.train.task import Finished, Task, failed_record, failure_reason, train_task

_state: dict = {}  # per Ray worker process: keras, imported once on the backend of its environment


def _train_remote(task: Task, resolved: dict, arrays: tuple) -> Finished:
    from factory.build.keras_setup import import_keras
    from factory.data import Dataset
    from schemas import Experiment

    experiment = Experiment.model_validate(resolved)  # milliseconds, beside seconds of training
    if "keras" not in _state:  # each task asks Ray for one CPU: one thread
        _state["keras"] = import_keras(task.keras_backend(experiment), threads=1)
    data = Dataset(*arrays) if isinstance(arrays, tuple) else arrays  # a folder: re-opened from its file list
    return train_task(_state["keras"], experiment, data, task, EtaClock(task.epochs).tick)


class RayPool:
    """Submits runs as Ray tasks; iterating yields (task, (record, model bytes)) as each finishes."""

    def __init__(self, address: str | None, cpus: int, resolved: dict, data):
        import os

        os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every run's progress line, not "repeated 3x"
        try:
            import ray
        except ImportError:
            raise SpecError([Issue("--backend ray needs Ray: pip install 'factory[ray]'")]) from None
        self.ray, self.workers = ray, cpus
        self.started = not ray.is_initialized()
        if self.started:
            try:
                ray.init(address=address, num_cpus=None if address else cpus, include_dashboard=False,
                         logging_level="ERROR", configure_logging=True)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise SpecError([Issue(f"cannot start or reach Ray at {address or 'a new local instance'}: "
                                       f"{e}")]) from None
        self.resolved = resolved
        self.arrays = ray.put(data if hasattr(data, "stream") else
                              (data.x_train, data.y_train, data.x_test, data.y_test, data.source))
        self.remote = ray.remote(num_cpus=1, max_retries=0)(_train_remote)
        self.pending: dict = {}

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        self.pending = {self._on_backend(t).remote(t, self.resolved, self.arrays): t for t in tasks}
        return self._finished()

    def _on_backend(self, task: Task):
        """The remote function for `task`'s Keras backend: Ray keeps worker processes per environment,
        so a process that imported Keras on one backend never gets a run on another."""
        return self.remote.options(runtime_env={"env_vars": {"KERAS_BACKEND": self._keras_backend(task)}})

    def _keras_backend(self, task: Task) -> str:
        return task.own_keras_backend() or self.resolved["models"][task.name]["training"]["keras_backend"]

    def _finished(self) -> Iterator[tuple[Task, Finished]]:
        ray = self.ray
        while self.pending:
            done, _ = ray.wait(list(self.pending), num_returns=1, timeout=0.5)
            check_stop()
            for ref in done:
                task = self.pending.pop(ref)
                try:
                    finished = ray.get(ref)
                except ray.exceptions.RayError as e:  # a crashed worker, a lost node, a task error
                    finished = failed_record(task, f"Ray: {type(e).__name__}: {failure_reason(e)}",
                                             self._keras_backend(task)), None
                yield task, finished

    def close(self) -> None:
        for ref in list(self.pending):
            self.ray.cancel(ref, force=True)
        self.pending.clear()
        if self.started:
            self.ray.shutdown()
