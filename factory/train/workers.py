"""Train independent runs of one experiment in parallel worker processes.

One TensorFlow process trains a small model with about one core busy, so on a machine with idle
cores, several runs (models x seeds) train at once. Each worker imports Keras on its pool's backend
(TensorFlow, JAX or PyTorch) once, maps the arrays the driver prepared once (a pinned copy of
the prepared-data cache entry, `factory.data.cache.pin`, else `factory.data.save_arrays`), and
gets an equal share of the cores for the backend's thread pools. Runs on several backends share
the slots (`SharedSlots`). The workers start (and import their backend) as soon as the pool is
made, while the driver runs its checks; no task reaches them before `run`. Workers only train and
return each model as bytes; the driver alone writes the output folder. A worker that dies becomes
a failed run with the reason, not a hung experiment. Ctrl-C is the driver's, which then stops
the workers at once.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterator

from factory.data.cache import pin
from factory.errors import Issue, SpecError
from factory.train.progress import EtaClock, check_stop
from factory.train.task import Finished, Task, failed_record, train_task

_state: dict = {}  # per worker process: keras, experiment, data, clock


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker if the driver dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere a dead driver's workers exit when they next ask for work


def _start_worker(resolved: dict, arrays: str, threads: int, clock: EtaClock, keras_backend: str) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    from factory.build.keras_setup import import_keras, own_process
    from factory.data import load_arrays
    from schemas import Experiment

    own_process()  # a worker only trains factory's runs
    keras = import_keras(keras_backend, threads)
    _state.update(keras=keras, experiment=Experiment.model_validate(resolved), clock=clock,
                  data=load_arrays(arrays) if isinstance(arrays, str) else arrays)  # mapped, or a folder re-opened


def _ready() -> None:
    """Nothing: submitted once per worker so that every worker starts (and imports TensorFlow) now."""


def _train(task: Task, epochs_total: int) -> Finished:
    _state["clock"].epochs_total = epochs_total
    return train_task(_state["keras"], _state["experiment"], _state["data"], task, _state["clock"].tick)


def _mapped_from(data) -> Path | None:
    """The folder `data`'s arrays are mapped from already (the prepared-data cache), for the workers to map too."""
    from factory.data import ARRAYS

    files = [Path(getattr(getattr(data, name), "filename", None) or "") for name in ARRAYS]
    folder = files[0].parent
    if files == [folder / f"{name}.npy" for name in ARRAYS] and (folder / "source.txt").is_file():
        return folder
    return None


class WorkerPool:
    """A pool of worker processes on one Keras backend for the runs of one experiment, started at once, idle until `run`."""

    def __init__(self, workers: int, resolved: dict, data, scratch: Path, keras_backend: str = "tensorflow",
                 threads: int | None = None, clock: EtaClock | None = None):
        """`threads`: each worker's share of the cores (default: an equal share among `workers`);
        `clock`: an ETA clock shared with other pools (`SharedSlots`), else the pool's own."""
        from factory.data import save_arrays

        self.workers, self.scratch, self.keras_backend = workers, Path(scratch), keras_backend
        self.pinned = None  # the pinned copy of a prepared-data cache entry the workers map, removed at close
        if hasattr(data, "stream"):  # a folder or a table: its file list travels, not arrays
            shared = data
        else:  # arrays: mapped from (a pinned copy of) the prepared-data cache entry, else written for the workers
            cached = _mapped_from(data)
            self.pinned = pin(cached) if cached is not None else None
            shared = str(self.pinned or self.scratch)
        try:
            if shared == str(self.scratch):
                save_arrays(data, self.scratch)
        except OSError as e:  # a full disk before any training: the user's to fix, not a traceback
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise SpecError([Issue(f"cannot write the arrays the worker processes share to {self.scratch}: "
                                   f"{e.strerror or e}")]) from None
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        clock = clock or shared_clock(workers)
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                            initargs=(resolved, shared, threads, clock, keras_backend))
        for _ in range(workers):  # a spawning pool starts one process per submission
            self.executor.submit(_ready)
        self.processes = list((getattr(self.executor, "_processes", None) or {}).values())

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        """Submit every task now; iterate to get (task, (record, model bytes)) as each finishes."""
        epochs_total = sum(t.epochs for t in tasks)
        pending: dict[Future, Task] = {self.submit(t, epochs_total): t for t in tasks}
        return self._finished(pending)

    def submit(self, task: Task, epochs_total: int) -> Future:
        """Queue `task` for the next idle worker; `epochs_total`: the epochs of every run, for the ETA.

        A pool whose worker died takes no more tasks: their futures then hold that failure too.
        """
        try:
            return self.executor.submit(_train, task, epochs_total)
        except BrokenProcessPool as e:
            future: Future = Future()
            future.set_exception(e)
            return future

    def outcome(self, task: Task, future: Future) -> Finished:
        """The (record, model bytes) of a finished `future` of `task`: a failed record if its worker died."""
        try:
            return future.result()
        except BrokenProcessPool:
            return failed_record(task, f"worker process died ({self._deaths()})", self.keras_backend), None
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable error from the worker
            return failed_record(task, f"{type(e).__name__} in a worker: {e}", self.keras_backend), None

    def _finished(self, pending: dict[Future, Task]) -> Iterator[tuple[Task, Finished]]:
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            check_stop()
            for future in done:
                task = pending.pop(future)
                yield task, self.outcome(task, future)

    def _deaths(self) -> str:
        """How the pool's processes ended: "killed by SIGKILL", "exit code 1", ..."""
        deadline = time.monotonic() + 2
        for process in self.processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        # The pool's own thread may be reaping a dead worker at this very moment, and then its exit
        # code reads None for an instant (both wait for the same process): read it again.
        while any(p.exitcode is None for p in self.processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        causes = []
        for process in self.processes:
            code = process.exitcode
            if code is not None and code < 0:
                causes.append(f"killed by {signal.Signals(-code).name}")
            elif code:
                causes.append(f"exit code {code}")
        own = {c for c in causes if c != "killed by SIGTERM"}  # the pool terminates the rest itself
        return ", ".join(sorted(own or set(causes))) or "ended without a result"

    def close(self) -> None:
        """Stop every worker now (after the last run, on Ctrl-C, or at the first failure)."""
        processes = self.processes + list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # running tasks would otherwise finish before the driver exits
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(timeout=5)
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.pinned is not None:
            shutil.rmtree(self.pinned, ignore_errors=True)


def shared_clock(workers: int) -> EtaClock:
    """An ETA clock that the worker processes of one or several pools count their epochs on."""
    context = multiprocessing.get_context("spawn")
    return EtaClock(0, workers, context.Value("d", 0.0), context.Value("i", 0))


def process_shares(workers: int, runs: dict[str, int]) -> dict[str, int]:
    """How many of `workers` processes each Keras backend gets, by its number of `runs` (plan order kept).

    Each backend gets one process (a backend needs one to train at all, so with more backends
    than `workers` there is one process more per extra backend), then each further process goes
    to the backend with the most runs per process, none getting more processes than it has runs.
    """
    shares = {name: 1 for name in runs}
    while sum(shares.values()) < workers:
        more = [name for name in runs if shares[name] < runs[name]]
        if not more:
            break
        shares[max(more, key=lambda name: runs[name] / shares[name])] += 1
    return shares


class SharedSlots:
    """Worker pools on several Keras backends that share `workers` slots: at most that many runs train at once.

    A process runs Keras on one backend only, so each backend has a pool of its own; tasks are
    handed out in the plan's order, each to its backend's pool as soon as a slot is free, so runs
    of different backends train side by side and a backend whose runs are done leaves its slots
    to the others. A slot goes to the first waiting task whose pool has an idle process, so that
    a task never holds a slot while it queues behind its own backend's busy processes.
    """

    def __init__(self, pools: dict[str, WorkerPool], workers: int, experiment):
        self.pools, self.workers, self.experiment = pools, workers, experiment

    @property
    def process_count(self) -> int:
        """The worker processes of every pool together (the slots are `workers`)."""
        return sum(pool.workers for pool in self.pools.values())

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, Finished]]:
        epochs_total = sum(t.epochs for t in tasks)
        waiting = list(tasks)  # plan order
        pending: dict[Future, tuple[WorkerPool, Task]] = {}
        while waiting or pending:
            for task in list(waiting):
                if len(pending) >= self.workers:
                    break
                pool = self.pools[task.keras_backend(self.experiment)]
                if sum(p is pool for p, _ in pending.values()) < pool.workers:
                    waiting.remove(task)
                    pending[pool.submit(task, epochs_total)] = pool, task
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            check_stop()
            for future in done:
                pool, task = pending.pop(future)
                yield task, pool.outcome(task, future)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
