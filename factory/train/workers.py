"""Train independent runs of one experiment in parallel worker processes.

One TensorFlow process trains a small model with about one core busy, so on a machine with idle
cores, several runs (models x seeds) train at once. Each worker imports TensorFlow once, maps the
arrays the driver prepared once (`factory.data.save_arrays`), and gets an equal share of the cores
for TensorFlow's thread pools. Workers only
train and save each model to a temporary file; the driver alone renames it and writes
`results.json`, so resume, failures and exit codes behave exactly as in a serial run. A worker
that dies becomes a failed run with the reason, not a hung experiment. Ctrl-C is handled by the
driver, which then stops the workers at once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from factory.train.runner import EtaClock, Task, check_stop, failed_record, train_task

_state: dict = {}  # per worker process: keras, experiment, data, clock


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker if the driver dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere a dead driver's workers exit when they next ask for work


def _start_worker(resolved: dict, arrays: str, threads: int, clock: EtaClock) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    from factory.data import load_arrays
    from factory.build.keras_setup import import_keras
    from schemas import Experiment

    keras = import_keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    _state.update(keras=keras, experiment=Experiment.model_validate(resolved), clock=clock,
                  data=load_arrays(arrays))  # prepared once by the driver, mapped, not decoded


def _train(task: Task) -> tuple:
    return train_task(_state["keras"], _state["experiment"], _state["data"], task, _state["clock"])


class WorkerPool:
    """A pool of worker processes for the runs of one experiment."""

    def __init__(self, workers: int, resolved: dict, arrays: str, epochs_total: int):
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow
        threads = max(1, (os.cpu_count() or 1) // workers)
        clock = EtaClock(epochs_total, workers, context.Value("d", 0.0), context.Value("i", 0))
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                            initargs=(resolved, arrays, threads, clock))

    def run(self, tasks: list[Task], labels: dict[str, str]) -> Iterator[tuple[Task, tuple]]:
        """Submit every task now (the workers start at once); iterate to get (task, record) as each finishes."""
        pending: dict[Future, Task] = {self.executor.submit(_train, t): t for t in tasks}
        return self._finished(pending, labels)

    def _finished(self, pending: dict[Future, Task], labels: dict[str, str]) -> Iterator[tuple[Task, tuple]]:
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            check_stop()
            for future in done:
                task = pending.pop(future)
                try:
                    finished = future.result()
                except BrokenProcessPool as e:
                    finished = failed_record(task, labels[task.name], f"worker process died ({e})"), None
                except Exception as e:  # noqa: BLE001 - e.g. an unpicklable error from the worker
                    finished = failed_record(task, labels[task.name], f"{type(e).__name__} in a worker: {e}"), None
                yield task, finished

    def close(self) -> None:
        """Stop every worker now (after the last run, on Ctrl-C, or at the first failure)."""
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # running tasks would otherwise finish before the driver exits
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(timeout=5)
