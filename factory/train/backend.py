"""The one interface every backend has, the serial backend, and the choice between backends.

A backend only executes tasks: `run(tasks)` yields `(task, (record, model bytes))` as each
finishes, and `close()` stops whatever still runs. It never writes the output folder and never
imports the orchestration (`factory.train.runner`); a test checks that.

Backends start when made (worker processes import TensorFlow, Ray starts), but train nothing
until `run` is called, which the runner does only after every model passed its pre-flight checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol

from factory.train.progress import EtaClock
from factory.train.task import Finished, Task, train_task


class Backend(Protocol):
    workers: int  # runs trained at once, for the ETA and --profile

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        """Start every task; yield each with its (record, model bytes) as it finishes."""

    def close(self) -> None:
        """Stop every task still running (after the last run, on Ctrl-C, or at the first failure)."""


class Serial:
    """Train the tasks one by one in this process: `--workers 1`, and distributed (multi-device) runs."""

    workers = 1

    def __init__(self, experiment, data):
        self.experiment, self.data = experiment, data

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        from factory.build.keras_setup import import_keras

        keras = import_keras()
        clock = EtaClock(sum(t.epochs for t in tasks))
        for task in tasks:
            yield task, train_task(keras, self.experiment, self.data, task, clock.tick)

    def close(self) -> None:
        pass


def open_backend(kind: str, workers: int, experiment, data, scratch: Path, address: str | None = None) -> Backend:
    """The backend for `--backend kind` with up to `workers` runs at once, started but idle.

    `scratch` is a folder the process-pool backend may use for the arrays it shares with its workers.
    """
    if kind == "ray":
        from factory.train.ray_backend import RayPool

        return RayPool(address, workers, experiment.model_dump(mode="json"), data)
    if workers > 1:
        from factory.train.workers import WorkerPool

        return WorkerPool(workers, experiment.model_dump(mode="json"), data, scratch)
    return Serial(experiment, data)
