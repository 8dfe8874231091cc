"""Train every model of an experiment over its seeds into an output folder: the orchestration.

`run_experiment` plans the tasks, checks every model, hands the tasks to a backend, writes each
record as it arrives and then the tables, plots and report. Training one task is
`factory.train.task`; executing tasks is a backend's (`factory.train.backend`); the folder is
`factory.train.folder`; results.json is `factory.train.document`.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

from factory.build import keras_setup
from factory.build.keras_backends import choose_keras_backends
from factory.errors import SpecError
from factory.results.artifacts import summary_text, write_artifacts
from factory.spec.loader import Loaded
from factory.train import folder, tracking
from factory.train.backend import Backend, open_backend
from factory.train.document import RESULTS, Results, data_fingerprint, now, resumed_versions
from factory.train.folder import LOCK
from factory.train.progress import Timings, check_stop, interruptible, process_seconds, say
from factory.train.task import Task, short_reason

__all__ = ["run_experiment", "preflight_checks", "plan", "RESULTS", "LOCK"]


def run_experiment(loaded: Loaded, out: Path, resume: bool = False, fail_fast: bool = False,
                   profile: bool = False, workers: int = 1, backend: str = "local",
                   address: str | None = None, tensorboard: bool = False) -> int:
    """Train every (model, seed) of the experiment into `out`; return the exit code (0, 1 or 130).

    With `workers` > 1, independent runs train in that many processes (factory.train.workers); with
    `backend="ray"`, as Ray tasks (factory.train.ray_backend). Each run still calls
    `set_random_seed(seed)` before building, so the results are the same. No task starts before
    every model passed `preflight_checks`. `tensorboard` turns TensorBoard tracking on (`--tensorboard`).
    """
    wall_start, before_runner = time.perf_counter(), process_seconds()
    experiment = loaded.experiment.resolved()
    experiment = tracking.with_tensorboard(experiment) if tensorboard else experiment
    out = folder.prepare(_output_folder(loaded, experiment, out))
    timings = Timings()
    with folder.locked(out), interruptible():
        folder.remove_partial_files(out)
        results = Results(out, loaded.path, experiment.model_dump(mode="json"), plan(experiment))
        if resume:
            results.runs.extend(folder.previous_runs(out, results.data["experiment"]))
        tasks = tracking.with_log_dirs(_tasks(experiment, done={(r["model"], r["seed"]) for r in results.runs},
                                              out=out if backend != "ray" else None), experiment, out)
        tracker = tracking.open_tracker(loaded, experiment, out, resume, results.data)
        if results.runs:
            say(f"resuming: {len(results.runs)} finished run(s) kept, {len(tasks)} to train")
        try:
            keras_backends, driver = choose_keras_backends(experiment, loaded.experiment, tasks)
        except SpecError as e:
            raise loaded.locate(e) from None
        keras_setup.prefer(driver)  # a dataset download imports Keras before the checks do: on this backend
        pool, taken_over, interrupted = None, resume, False
        try:
            data = _load_data(loaded, experiment, timings)
            with timings.phase("fingerprint data"):
                results.data["data_fingerprint"] = data_fingerprint(data)
            if resume:
                folder.check_same_data(out, results.data["data_fingerprint"])
            with timings.phase("start workers"):  # they import their backend while this process checks
                pool = open_backend(backend if tasks else "local", _parallel(experiment, tasks, workers),
                                    experiment, data, out / ".data", address, keras_backends, driver,
                                    Counter(t.keras_backend(experiment) for t in tasks))
            with timings.phase(f"import Keras ({driver})"):
                _import_keras(experiment, driver)
                recorded = (folder.read_previous(out) or {}).get("versions") if resume else None
                results.data["versions"] = resumed_versions(
                    tuple(dict.fromkeys(t.keras_backend(experiment) for t in tasks)), results.runs, recorded)
            with timings.phase("build models (check)"):
                preflight_checks(loaded, experiment, data)
            tracker.start()  # a tracking store that cannot be used stops the run before the folder changes
            check_stop()
            if not resume:
                _keep_previous(out)
                folder.remove_resume_states(out)  # a run without --resume starts every model afresh
            taken_over = True
            for note in folder.match_resume_states(out, results.data["experiment"], results.data["data_fingerprint"],
                                                   [(t.name, t.seed) for t in tasks if t.backup]):
                say(note)
            _train(pool, tasks, backend, address, out, results, timings, fail_fast, tracker)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if pool is not None:
                pool.close()
        if not taken_over:  # interrupted before training: the folder is as it was
            say("interrupted before any training; nothing was written")
            return 130
        _write_outputs(out, results, timings, finished=not interrupted)
        tracker.close(finished=not interrupted)
        if profile:
            _print_profile(timings, wall_start, before_runner, getattr(pool, "workers", 1))
        if interrupted:
            say(f"interrupted: finished runs are kept. Resume with:\n  python -m factory run {loaded.path} "
                f"--out {out} --resume")
            return 130
    failed = [r for r in results.runs if r["status"] == "failed"]
    if failed:
        say(f"{len(failed)} run(s) failed: " + "; ".join(f"{r['model']} seed {r['seed']}" for r in failed))
    return 1 if failed else 0


def preflight_checks(loaded: Loaded, experiment, data) -> None:
    """Check every model before any task is submitted; raise one located SpecError with every issue.

    The one place for per-model checks: each model built without allocating a weight, against the
    data (input and output shapes, the loss against the labels) and for its size. It runs in the
    driver whatever the backend, so a bad spec fails in seconds, never in epoch 1.
    """
    from factory.build.checks import check_models

    issues = check_models(experiment, data)
    if issues:
        raise loaded.locate(SpecError(issues)) from None


def plan(experiment) -> list[tuple[str, int]]:
    """Every (model, seed) of the experiment, in the order they are trained and reported."""
    return [(name, seed) for name, m in experiment.models.items() for seed in m.training.seeds]


def _output_folder(loaded: Loaded, experiment, out: Path) -> Path:
    """Where this process writes: `out`, or a folder of its own for a multi-worker non-chief."""
    from factory.build import distribute

    try:
        distribute.check(experiment)
    except SpecError as e:
        raise loaded.locate(e) from None
    if distribute.uses_multi_worker(experiment) and not distribute.is_chief():
        out = Path(tempfile.mkdtemp(prefix="factory-worker-"))  # only the chief writes the output folder
        say(f"multi-worker: this worker is not the chief; its own results go to {out}")
    return Path(out)


def _tasks(experiment, done: set[tuple[str, int]], out: Path | None = None) -> list[Task]:
    """The runs still to train; with `out`, each keeps its mid-run resume state there."""
    models, order = list(experiment.models), plan(experiment)
    tasks = []
    for index, (name, seed) in enumerate(order, start=1):
        if (name, seed) not in done:
            spec = experiment.models[name]
            seeds = spec.training.seeds
            where = (f"[{index}/{len(order)}] model {name} ({models.index(name) + 1}/{len(models)}) "
                     f"seed {seed} ({seeds.index(seed) + 1}/{len(seeds)})")
            backup = str(folder.resume_state(out, name, seed)) if out is not None else None
            tasks.append(Task(name, seed, spec.label, spec.training.epochs, where, backup))
    return tasks


def _parallel(experiment, tasks: list[Task], workers: int) -> int:
    """Runs to train at once: at most one per task, and one when a run spans devices itself."""
    if any(m.training.distribute != "none" for m in experiment.models.values()):
        return 1  # a distributed run already spans devices or processes of its own
    return max(1, min(workers or 1, len(tasks)))


def _load_data(loaded: Loaded, experiment, timings: Timings):
    from factory.data import load_data

    with timings.phase("load data"):
        try:
            data = load_data(experiment.data, loaded.path.parent)
        except SpecError as e:
            raise loaded.locate(e) from None
    say(f"data: {data.describe()}")
    check_stop()
    return data


def _import_keras(experiment, driver: str) -> None:
    from factory.build import distribute
    from factory.build.keras_setup import import_keras

    import_keras(driver)
    if driver == "tensorflow":
        distribute.prepare(experiment)  # multi-worker strategies must come before other TF work


def _keep_previous(out: Path) -> None:
    moved = folder.keep_previous(out)
    if moved is not None:
        say(f"the previous results in {out}/ were moved to {moved}/ (--resume continues them instead)")
    tracking.keep_previous(out, moved)


def _train(pool: Backend, tasks: list[Task], backend: str, address: str | None, out: Path,
           results: Results, timings: Timings, fail_fast: bool, tracker: tracking.Tracker) -> None:
    """Hand every task to the backend; write each finished run as it arrives."""
    if not tasks:
        return
    if backend == "ray":
        say(f"training {len(tasks)} runs as Ray tasks ({address or f'local Ray, {pool.workers} CPUs'})")
    elif pool.workers > 1:
        processes = getattr(pool, "process_count", pool.workers)  # several backends: a pool of processes each
        say(f"training {len(tasks)} runs in {processes} worker processes"
            + (f", {pool.workers} at once" if processes != pool.workers else ""))
    for task, (record, blob) in pool.run(tasks):
        check_stop()
        timings.add_run(record)
        if record["status"] == "completed" and blob is not None:
            record["model_file"] = folder.write_model(out, task.name, task.seed, blob)
        results.runs.append(record)
        with timings.phase("write results.json"):
            results.save()
        folder.remove_resume_states(out, [(task.name, task.seed)])  # finished: nothing to resume
        tracker.finished(record)
        status = "completed" if record["status"] == "completed" else f"FAILED: {short_reason(record['error'])}"
        say(f"{task.where}: {status}")
        if record["status"] == "failed" and fail_fast:
            say("stopping at the first failure (--fail-fast)")
            return


def _write_outputs(out: Path, results: Results, timings: Timings, finished: bool) -> None:
    results.data["finished"] = now() if finished else None
    results.data["timings"] = dict(timings.phases)
    results.save()
    with timings.phase("write tables, plots, report"):
        written = write_artifacts(out, results.data)
        results.data["files"] = [p.name for p in written]  # what a later run may move aside as ours
        results.save()
    say("\n" + summary_text(results.data))
    names = [RESULTS] + [p.name for p in written] + (["models/"] if any(
        r.get("model_file") for r in results.runs) else [])
    say(f"\nresults in {out}/ ({', '.join(names)})")


def _print_profile(timings: Timings, wall_start: float, before_runner: float | None, workers: int) -> None:
    if before_runner is not None:
        timings.phases = {"start-up (Python, spec)": before_runner, **timings.phases}
    say(timings.report(time.perf_counter() - wall_start + (before_runner or 0.0), workers))
