"""Train every model of an experiment over its seeds, and write the results as each run finishes.

The runner returns plain data: one record per (model, seed) with its history, status and timings,
kept in `results.json` (rewritten atomically after every run). Tables, plots and the report are
made from that data alone. A failed run (NaN loss, an exception) is recorded and the others go on.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from factory import __version__
from factory.results import stats
from factory.atomic import replacing, write_bytes, write_json, write_text
from factory.errors import Issue, SpecError
from factory.spec.loader import Loaded

RESULTS = "results.json"
RESULTS_FORMAT = 1
LOCK = ".factory.lock"
ARTIFACTS = ("comparison.md", "comparison.csv", "val_loss.png", "val_accuracy.png", "loss.png", "report.html")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _say(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


_stop = threading.Event()


@contextmanager
def interruptible() -> Iterator[None]:
    """Make Ctrl-C stop the run at the next safe point, never inside a finalizer.

    A KeyboardInterrupt raised while a finalizer or weakref callback runs is only printed
    ("Exception ignored in ...", with a traceback) and training goes on. So the handler only sets
    a flag; `check_stop` raises KeyboardInterrupt from ordinary code: after each compiled call and
    test batch during training, every 0.5 s while waiting for workers, and between phases.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()

    def handler(signum, frame):
        _stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_stop() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, wherever its first raise was swallowed."""
    if _stop.is_set():
        raise KeyboardInterrupt


class Timings:
    """Seconds spent per phase, for `--profile` and results.json."""

    def __init__(self):
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    def report(self, wall: float, workers: int = 1) -> str:
        lines = ["where the time went:" + (f" (per-model phases summed over {workers} worker processes, "
                                           "which ran at the same time)" if workers > 1 else "")]
        for name, seconds in self.phases.items():
            lines.append(f"  {name:<34} {seconds:8.2f} s  {100 * seconds / wall:5.1f}%")
        lines.append(f"  {'total (whole process)':<34} {wall:8.2f} s")
        return "\n".join(lines)


# output folder --------------------------------------------------------------------------------------


def prepare_folder(out: Path) -> Path:
    """Create the output folder and prove it is writable, before any training."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError([Issue(f"output folder {out} is a file; choose another --out")])
    try:
        (out / "models").mkdir(parents=True, exist_ok=True)
        with replacing(out / ".write-test"):
            pass
        (out / ".write-test").unlink()
    except OSError as e:
        raise SpecError([Issue(f"cannot write to output folder {out}: {e.strerror or e}")]) from None
    return out


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold the output folder for this process; a second run on the same folder is refused."""
    lock = out / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise SpecError([Issue(f"another run (process {pid}) is using {out}; wait for it, or "
                                       "choose another --out")]) from None
            lock.unlink(missing_ok=True)  # left by a run that was killed
    else:  # pragma: no cover - only if another process races us twice
        raise SpecError([Issue(f"cannot lock {out}")])
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _differences(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(f"{sub} removed")
            elif key not in old:
                out.append(f"{sub} added")
            else:
                out += _differences(old[key], new[key], sub)
        return out
    if old != new:
        return [f"{path}: {json.dumps(old)} -> {json.dumps(new)}"]
    return []


# training -------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    return {"python": platform.python_version(), "tensorflow": tensorflow.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__, "factory": __version__,
            "platform": platform.platform()}


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
            _say(f"{where}: epoch {epoch + 1}/{epochs}  {figures}  ({seconds:.1f}s; ETA {eta(seconds)})")

    return EpochRecorder()


@dataclass(frozen=True)
class Task:
    """One (model, seed) to train."""

    name: str
    seed: int
    where: str  # the progress prefix: "[2/3] model B (2/3) seed 0 (1/1)"


class EtaClock:
    """Time left over the whole experiment: mean epoch time so far x epochs left / parallel workers.

    With worker processes, the two counters are shared `multiprocessing.Value`s.
    """

    def __init__(self, epochs_total: int, workers: int = 1, seconds=None, epochs=None):
        self.epochs_total, self.workers = epochs_total, workers
        self.seconds, self.epochs = seconds, epochs
        self._seconds, self._epochs = 0.0, 0

    def tick(self, seconds: float) -> str:
        if self.seconds is not None:
            with self.seconds.get_lock():
                self.seconds.value += seconds
                self.epochs.value += 1
                total, done = self.seconds.value, self.epochs.value
        else:
            self._seconds += seconds
            self._epochs += 1
            total, done = self._seconds, self._epochs
        left = max(self.epochs_total - done, 0)
        return _clock(total / done * left / self.workers)


Finished = tuple  # (record, the trained model as .keras bytes or None): what every backend returns


def train_task(keras, experiment, data, task: Task, clock: EtaClock) -> Finished:
    """Train one task; return its record and its model as `.keras` bytes (None if it failed).

    Bytes, not a file: the run may happen in another process or on another machine, and the
    driver alone writes the output folder.
    """
    import tempfile

    spec = experiment.models[task.name]
    record, model = train_one(keras, task.name, spec, task.seed, data, task.where, clock.tick)
    if model is None:
        return record, None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="factory-model-") as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        blob = path.read_bytes()
    record["save_seconds"] = time.perf_counter() - started
    return record, blob


def failed_record(task: Task, label: str, error: str) -> dict:
    """The record of a run that never reported back (its worker process died)."""
    return {"model": task.name, "label": label, "seed": task.seed, "status": "failed", "error": error,
            "params": None, "history": {}, "epochs_completed": 0, "seconds_per_epoch": None,
            "build_seconds": 0.0, "train_seconds": 0.0, "validation_seconds": 0.0}


def train_one(keras, name: str, spec, seed: int, data, where: str, eta) -> tuple[dict, Any]:
    """Train one model at one seed; return its record (plain data) and the trained model (or None)."""
    from factory.build.compiler import build_model, compile_model

    from factory.build import distribute

    started = time.perf_counter()
    keras.utils.set_random_seed(seed)  # as a hand-written script would, just before building
    with distribute.scope(spec.training):
        model = build_model(name, spec, data.input_shape)
        # Keras 3.15 with TF 2.21 fails ("You must feed a value for placeholder tensor") when
        # steps_per_execution > 1 runs under a tf.distribute strategy: one step at a time there.
        compile_model(model, spec.compile, 1 if spec.training.distribute != "none" else None)
    build_seconds = time.perf_counter() - started
    training = spec.training
    recorder = _epoch_recorder(keras, where, training.epochs, eta)
    validation = ({"validation_split": training.validation_split} if training.validation_split
                  else {"validation_data": (data.x_test, data.y_test)})
    record: dict[str, Any] = {"model": name, "label": spec.label, "seed": seed, "status": "completed",
                              "error": None, "params": int(model.count_params())}
    history: dict[str, list[float]] = {}
    try:
        fitted = model.fit(data.x_train, data.y_train, epochs=training.epochs,
                           batch_size=training.batch_size, shuffle=training.shuffle, verbose=0,
                           callbacks=[keras.callbacks.TerminateOnNaN(), recorder], **validation)
        history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    except (KeyboardInterrupt, SpecError):
        raise
    except Exception as e:  # one model's failure must not stop the others
        reason = failure_reason(e)
        record.update(status="failed", error=f"{type(e).__name__} in epoch {recorder.epochs_done + 1}: {reason}")
    bad = next((i for i, v in enumerate(history.get("loss", [])) if not math.isfinite(v)), None)
    if bad is not None:
        record.update(status="failed", error=f"loss became {history['loss'][bad]} in epoch {bad + 1}; "
                                             "training stopped (lower the learning rate?)")
    done = recorder.epoch_seconds
    record.update(history=history, epochs_completed=recorder.epochs_done,
                  seconds_per_epoch=sum(done) / len(done) if done else None,
                  build_seconds=build_seconds, train_seconds=sum(done) - recorder.validation_seconds,
                  validation_seconds=recorder.validation_seconds)
    return record, (model if record["status"] == "completed" else None)


_TRACE_LINES = ("Detected at node", "File ", "[[", "Graph execution error")


def failure_reason(error: BaseException) -> str:
    """The informative line of an exception: TensorFlow's op errors bury it under a graph trace."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_TRACE_LINES)]
    text = (useful or lines or [type(error).__name__])[0]
    return text if len(text) <= 300 else text[:297] + "..."


# the experiment -------------------------------------------------------------------------------------


class Results:
    """The contents of results.json, rewritten atomically after every finished run."""

    def __init__(self, out: Path, loaded: Loaded, experiment, resolved: dict):
        self.path = out / RESULTS
        self.experiment = experiment
        self.data = {"format": RESULTS_FORMAT, "source": str(loaded.path), "experiment": resolved,
                     "versions": {}, "started": _now(), "finished": None, "runs": [], "summary": {},
                     "timings": {}}

    @property
    def runs(self) -> list[dict]:
        return self.data["runs"]

    def model_info(self) -> dict[str, dict]:
        specs = self.data["experiment"]["models"]
        return {n: {"label": m.label, "color": m.color, "linestyle": m.linestyle, "layers": specs[n]["layers"]}
                for n, m in self.experiment.models.items()}

    def save(self) -> None:
        order = {(n, s): i for i, (n, s) in enumerate(plan(self.experiment))}
        self.runs.sort(key=lambda r: order.get((r["model"], r["seed"]), len(order)))
        self.data["summary"] = stats.summarize(self.runs, list(self.experiment.models))
        try:
            write_json(self.path, self.data)
        except OSError as e:
            raise SpecError([Issue(f"cannot write {self.path}: {e.strerror or e}")]) from None


def plan(experiment) -> list[tuple[str, int]]:
    return [(name, seed) for name, m in experiment.models.items() for seed in m.training.seeds]


def write_artifacts(out: Path, results: Results) -> None:
    """comparison.md/.csv, the plots and report.html, from the plain data in `results`."""
    import yaml

    from factory.results.plots import write_plots
    from factory.results.report import write_report

    runs, info = results.runs, results.model_info()
    rows = stats.comparison_rows(runs, info)
    pairs = stats.pair_rows(runs, info, {n: m["layers"] for n, m in info.items()})
    title = f"Experiment {results.experiment.name}"
    write_text(out / "comparison.md", f"# {title}\n\n" + stats.markdown(rows)
               + ("\n## Differences between models\n\n" + stats.pair_markdown(pairs) if pairs else ""))
    write_text(out / "comparison.csv", stats.csv_text(rows))
    plots = write_plots(runs, info, out)
    spec_yaml = yaml.safe_dump(results.data["experiment"], sort_keys=False, allow_unicode=True)
    write_report(out / "report.html", title, rows, runs, plots, spec_yaml, results.data["versions"], pairs)
    _say("\n" + stats.plain_text(rows))
    for pair in pairs:
        _say(f"{pair['b']} vs {pair['a']}: {pair['differs']}: {pair['verdict']}")


def run_experiment(loaded: Loaded, out: Path, resume: bool = False, fail_fast: bool = False,
                   profile: bool = False, workers: int = 1, backend: str = "local",
                   address: str | None = None) -> int:
    """Train every (model, seed) of the experiment into `out`; return the exit code (0, 1 or 130).

    With `workers` > 1, independent runs train in that many processes (see factory.train.workers); with
    `backend="ray"`, as Ray tasks (see factory.train.ray_backend). Each run still calls
    `set_random_seed(seed)` before building, so the results are the same.
    """
    wall_start = time.perf_counter()
    before_runner = process_seconds()  # interpreter start, imports, loading the spec
    experiment = loaded.experiment.resolved()
    resolved = experiment.model_dump(mode="json")
    from factory.build import distribute

    try:
        distribute.check(experiment)
    except SpecError as e:
        raise loaded.locate(e) from None
    if distribute.uses_multi_worker(experiment) and not distribute.is_chief():
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="factory-worker-"))  # only the chief writes the output folder
        _say(f"multi-worker: this worker is not the chief; its own results go to {out}")
    out = prepare_folder(out)
    with folder_lock(out), interruptible():
        results = Results(out, loaded, experiment, resolved)
        _remove_partial_files(out)
        kept = _previous_runs(out, resolved) if resume else []
        if not resume:
            _clear(out)
        results.runs.extend(kept)
        timings = Timings()
        todo = [(n, s) for n, s in plan(experiment) if (n, s) not in {(r["model"], r["seed"]) for r in kept}]
        if kept:
            _say(f"resuming: {len(kept)} finished run(s) kept, {len(todo)} to train")
        tasks = _tasks(experiment, todo, out)
        workers = max(1, min(workers or 1, len(tasks)))
        if any(m.training.distribute != "none" for m in experiment.models.values()):
            workers = 1  # a distributed run already spans devices or processes of its own
        epochs_total = sum(experiment.models[t.name].training.epochs for t in tasks)
        interrupted = False
        pool = None
        arrays = out / ".data"
        try:
            with timings.phase("load data"):
                from factory.data import load_data, save_arrays

                try:
                    data = load_data(experiment.data, loaded.path.parent)
                except SpecError as e:
                    raise loaded.locate(e) from None
            _say(f"data: {data.describe()}")
            check_stop()
            epochs = {n: m.training.epochs for n, m in experiment.models.items()}
            labels = {n: m.label for n, m in experiment.models.items()}
            if backend == "ray" and tasks:
                from factory.train.ray_backend import RayPool

                _say(f"training {len(tasks)} runs as Ray tasks ({address or f'local Ray, {workers} CPUs'})")
                with timings.phase("start Ray"):
                    pool = RayPool(address, workers, resolved, data)
                stream = pool.run(tasks, labels, epochs)
            elif workers > 1:  # started first: the workers import TensorFlow while this process checks
                from factory.train.workers import WorkerPool

                with timings.phase("write data for the workers"):
                    save_arrays(data, arrays)
                _say(f"training {len(tasks)} runs in {workers} worker processes")
                pool = WorkerPool(workers, resolved, str(arrays), epochs_total)
                stream = pool.run(tasks, labels)
            with timings.phase("import TensorFlow"):
                from factory.build import distribute
                from factory.build.keras_setup import import_keras

                keras = import_keras()
                distribute.prepare(experiment)  # multi-worker strategies must come before other TF work
                results.data["versions"] = versions()
            with timings.phase("build models (check)"):
                _check_models(loaded, experiment, data)
            check_stop()
            if pool is None:
                clock = EtaClock(epochs_total)
                stream = ((t, train_task(keras, experiment, data, t, clock)) for t in tasks)
            for task, (record, blob) in stream:
                check_stop()
                _finish(out, task, record, blob, results, timings)
                status = "completed" if record["status"] == "completed" else f"FAILED: {record['error']}"
                _say(f"{task.where}: {status}")
                if record["status"] == "failed" and fail_fast:
                    _say("stopping at the first failure (--fail-fast)")
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if pool is not None:
                pool.close()
            shutil.rmtree(arrays, ignore_errors=True)
        results.data["finished"] = None if interrupted else _now()
        results.data["timings"] = dict(timings.phases)
        results.save()
        with timings.phase("write tables, plots, report"):
            write_artifacts(out, results)
        _say(f"\nresults in {out}/ (results.json, comparison.md, comparison.csv, val_loss.png, report.html)")
        if profile:
            if before_runner is not None:
                timings.phases = {"start-up (Python, spec)": before_runner, **timings.phases}
            _say(timings.report(time.perf_counter() - wall_start + (before_runner or 0.0), workers))
        if interrupted:
            _say(f"interrupted: finished runs are kept. Resume with:\n  python -m factory run {loaded.path} "
                 f"--out {out} --resume")
            return 130
    failed = [r for r in results.runs if r["status"] == "failed"]
    if failed:
        _say(f"{len(failed)} run(s) failed: " + "; ".join(f"{r['model']} seed {r['seed']}" for r in failed))
    return 1 if failed else 0


def _tasks(experiment, todo: list[tuple[str, int]], out: Path) -> list[Task]:
    models, total = list(experiment.models), len(plan(experiment))
    tasks = []
    for index, (name, seed) in enumerate(plan(experiment), start=1):
        if (name, seed) in todo:
            seeds = experiment.models[name].training.seeds
            where = (f"[{index}/{total}] model {name} ({models.index(name) + 1}/{len(models)}) "
                     f"seed {seed} ({seeds.index(seed) + 1}/{len(seeds)})")
            tasks.append(Task(name, seed, where))
    return tasks


def _finish(out: Path, task: Task, record: dict, blob: bytes | None, results: Results, timings: Timings) -> None:
    """Write a finished run's model (atomically), then record the run in results.json."""
    for phase, key in (("build", "build_seconds"), ("train", "train_seconds"),
                       ("validate", "validation_seconds"), ("save", "save_seconds")):
        timings.add(f"{task.name}: {phase}", record.get(key, 0.0))
    if record["status"] == "completed" and blob is not None:
        final = out / "models" / f"{task.name}-seed{task.seed}.keras"
        try:
            write_bytes(final, blob)
        except OSError as e:
            raise SpecError([Issue(f"cannot write {final}: {e.strerror or e}")]) from None
        record["model_file"] = str(final.relative_to(out))
    results.runs.append(record)
    with timings.phase("write results.json"):
        results.save()


def process_seconds() -> float | None:
    """Seconds since this process started (Linux /proc), or None where that cannot be read."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _check_models(loaded: Loaded, experiment, data) -> None:
    """Check every model before training (no weights allocated), so a bad spec fails in seconds."""
    from factory.build.compiler import check_model

    for name, spec in experiment.models.items():
        try:
            check_model(name, spec, data.input_shape)
        except SpecError as e:
            raise loaded.locate(e) from None


def _previous_runs(out: Path, resolved: dict) -> list[dict]:
    path = out / RESULTS
    if not path.is_file():
        return []
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpecError([Issue(f"cannot resume: {path} is unreadable ({e})")]) from None
    changes = _differences(previous.get("experiment"), resolved)
    if changes:
        raise SpecError([Issue(f"cannot resume in {out}: the experiment changed since that run: "
                               + "; ".join(changes[:10]) + ". Run without --resume to start afresh, "
                               "or use another --out")])
    return [r for r in previous.get("runs", []) if r.get("status") == "completed"
            and (not r.get("model_file") or (out / r["model_file"]).is_file())]


def _clear(out: Path) -> None:
    """Remove a previous run's results so a fresh run never mixes with them."""
    for name in (RESULTS, *ARTIFACTS):
        (out / name).unlink(missing_ok=True)
    for model in (out / "models").glob("*.keras"):
        model.unlink()


def _remove_partial_files(out: Path) -> None:
    """Temporary files a killed run left; we hold the folder's lock, so their writer is gone."""
    for partial in [*out.glob(".*.tmp"), *(out / "models").glob(".*.tmp")]:
        partial.unlink(missing_ok=True)
