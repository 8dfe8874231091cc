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

    def __init__(self, experiment, data, keras_backend: str = "tensorflow"):
        self.experiment, self.data, self.keras_backend = experiment, data, keras_backend

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        from factory.build.keras_setup import import_keras

        keras = import_keras(self.keras_backend)
        clock = EtaClock(sum(t.epochs for t in tasks))
        for task in tasks:
            yield task, train_task(keras, self.experiment, self.data, task, clock.tick)

    def close(self) -> None:
        pass


class PerKerasBackend:
    """Runs on several Keras backends, one run at a time: this process's backend here, any other in a worker.

    `--workers 1`: each backend's runs train one after the other, in the order of the plan (with
    more workers, `factory.train.workers.SharedSlots` trains them side by side).
    """

    def __init__(self, pools: dict[str, Backend], experiment):
        self.pools, self.experiment = pools, experiment
        self.workers = max(pool.workers for pool in pools.values())

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        for name, pool in self.pools.items():
            mine = [t for t in tasks if t.keras_backend(self.experiment) == name]
            if mine:
                yield from pool.run(mine)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def open_backend(kind: str, workers: int, experiment, data, scratch: Path, address: str | None = None,
                 keras_backends: tuple[str, ...] = ("tensorflow",), driver: str = "tensorflow",
                 runs: dict[str, int] | None = None) -> Backend:
    """The backend for `--backend kind` with up to `workers` runs at once, started but idle.

    `scratch` is a folder the process-pool backend may use for the arrays it shares with its workers.
    `keras_backends` are those the tasks train on; runs on `driver`, the backend this process imports
    Keras on, train in this process when `workers` is 1, runs on any other in a worker process.
    `runs`: how many runs each backend trains (default: as many on each), so that with several
    backends the `workers` processes are shared out by their runs (`process_shares`), and the
    backends share the `workers` slots.
    """
    if kind == "ray":
        from factory.train.ray_backend import RayPool

        return RayPool(address, workers, experiment.model_dump(mode="json"), data)
    if workers > 1 and len(keras_backends) > 1:
        import os

        from factory.train.workers import SharedSlots, WorkerPool, process_shares, shared_clock

        threads, clock = max(1, (os.cpu_count() or 1) // workers), shared_clock(workers)  # shares of all slots
        shared = SharedSlots({}, workers, experiment)
        shares = process_shares(workers, {name: (runs or {}).get(name, workers) for name in keras_backends})
        try:
            for name, processes in shares.items():
                shared.pools[name] = WorkerPool(processes, experiment.model_dump(mode="json"), data,
                                                scratch.with_name(f"{scratch.name}-{name}"), name, threads, clock)
        except BaseException:  # a full disk for the second backend's arrays: the first one's workers stop too
            shared.close()
            raise
        return shared
    pools: dict[str, Backend] = {}
    for name in keras_backends:
        if workers > 1 or name != driver:
            from factory.train.workers import WorkerPool

            folder = scratch if len(keras_backends) == 1 else scratch.with_name(f"{scratch.name}-{name}")
            pools[name] = WorkerPool(workers, experiment.model_dump(mode="json"), data, folder, name)
        else:
            pools[name] = Serial(experiment, data, name)
    if len(pools) == 1:
        return next(iter(pools.values()))
    return PerKerasBackend(pools, experiment)
