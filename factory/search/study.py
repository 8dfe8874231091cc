"""Run the Optuna study of a model's `search:`: ask a trial, train it as a task, tell its result.

The driver alone talks to the sampler (ask/tell), so the same loop serves every backend: each
round asks as many trials as the backend trains at once, hands them to it as tasks (each task
carries its own spec and reports its epochs to the study's journal file itself, for pruning), and
tells the results as they come. The study lives in the output folder (`study.journal`); killed and
run again with `--resume`, it continues to `trials` finished trials: a trial that was running at
the kill is marked failed and interrupted, and not counted.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path

from factory.build import keras_setup
from factory.errors import Issue, SpecError
from factory.search import space
from factory.search.pruning import JOURNAL, TrialLink, make_pruner, storage
from factory.spec.loader import Loaded
from factory.train import folder
from factory.train.backend import open_backend
from factory.train.progress import interruptible, say
from factory.train.task import Task, short_reason


def run_search(loaded: Loaded, out: Path, resume: bool = False, workers: int = 1, backend: str = "local",
               address: str | None = None, tensorboard: bool = False) -> int:
    """Search the model with `search:`, then write the outputs and confirm the best; the exit code.

    `tensorboard` (the `--tensorboard` flag) is refused: a search logs to no tracker (README).
    """
    name = space.searched(loaded)
    if tensorboard:
        raise SpecError([Issue("--tensorboard: a search does not log to TensorBoard (its trials and confirmation "
                               "are in search.json and report.html); run without it", source=str(loaded.path))])
    space.check(loaded, name)
    optuna = _import_optuna()
    search = loaded.experiment.models[name].search
    out = Path(out)
    if (out / JOURNAL).exists() and not resume:
        raise SpecError([Issue(f"{out} holds a search already ({JOURNAL}): --resume continues it; to start "
                               "again, remove it or choose another --out", source=str(loaded.path))])
    if not (out / JOURNAL).exists():  # a new study: the folder must hold nothing it would mix with
        folder.prepare(out)
    interrupted = False
    with folder.locked(out):
        study = _open_study(optuna, loaded, name, out, workers)
        try:
            with interruptible():
                _trials(optuna, study, loaded, name, out, workers, backend, address)
        except KeyboardInterrupt:
            interrupted = True
        from factory.search.outputs import write_outputs

        summary = write_outputs(study, loaded, name, out)
    if interrupted:
        say(f"interrupted: finished trials are kept in {out / JOURNAL}. Resume with:\n  python -m factory run "
            f"{loaded.path} --out {out} --resume")
        return 130
    if summary["best"] is None:
        say("no trial completed: nothing to confirm")
        return 1
    if search.confirm_seeds:
        from factory.search.confirm import confirm

        return confirm(loaded, name, summary, out, resume, workers, backend, address)
    return 0


def finished(optuna, study) -> list:
    """The trials that count towards `trials`: completed, pruned, or failed in training (not interrupted)."""
    states = optuna.trial.TrialState
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (states.COMPLETE, states.PRUNED)
            or (t.state == states.FAIL and not t.user_attrs.get("interrupted"))]


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise SpecError([Issue("search: needs Optuna: pip install 'factory[search]'")]) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours to print
    return optuna


def _open_study(optuna, loaded: Loaded, name: str, out: Path, workers: int = 1):
    """The study in `out`: a new one, or with `--resume` the one there, its interrupted trials marked.

    A resumed study must be the same search of the same experiment (model, data, training, space,
    objective, sampler, pruner; only `trials` and `confirm_seeds` may change), and its sampler is
    seeded from the seed and the trials already asked, so that it proposes new points instead of
    replaying the ones it proposed before the kill.
    """
    search = loaded.experiment.models[name].search
    journal = out / JOURNAL
    what = searched_experiment(loaded, name)
    study = optuna.create_study(study_name=name, storage=storage(str(journal)),
                                pruner=make_pruner(search.pruner, _epochs(loaded, name), search.trials),
                                direction=space.direction(search), load_if_exists=True)
    before = study.user_attrs.get("experiment")
    if before is None:
        study.set_user_attr("experiment", what)
    else:
        changes = folder.differences(before, what)
        if changes:
            raise SpecError([Issue(f"cannot resume in {out}: the experiment changed since that search: "
                                   + "; ".join(changes[:10]) + ". Run without --resume in another --out to start "
                                   "afresh (only trials and confirm_seeds may change)", source=str(loaded.path))])
    study.sampler = _sampler(optuna, search, len(study.get_trials(deepcopy=False)), workers)
    if search.sampler == "grid" and not study.get_trials(deepcopy=False):
        for point in itertools.product(*space.grid(search).values()):
            study.enqueue_trial(dict(zip(search.space, point)))
    running = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
    for t in running:  # its process was killed: the trial failed, and is asked again as a new one
        optuna.trial.Trial(study, t._trial_id).set_user_attr("interrupted", True)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        if search.sampler == "grid":
            study.enqueue_trial(t.params)
    done = finished(optuna, study)
    if done or running:
        say(f"resuming the search: {len(done)} finished trial(s) kept"
            + (f", {len(running)} interrupted trial(s) marked failed" if running else ""))
    return study


def searched_experiment(loaded: Loaded, name: str) -> dict:
    """The resolved experiment a study searches, as plain data: what `--resume` must find unchanged."""
    experiment = loaded.experiment.resolved().model_dump(mode="json", exclude_none=True)
    for key in ("trials", "confirm_seeds"):  # more trials, or other seeds to confirm over, change no trial
        experiment["models"][name]["search"].pop(key, None)
    return experiment


def _sampler(optuna, search, asked: int = 0, workers: int = 1):
    """The sampler of `search`, seeded from its seed and the `asked` trials the study holds already.

    The same seed in a new study proposes the same trials; a resumed study (asked > 0) gets a seed
    of its own, else it would replay the first proposals. With several trials at once, TPE's
    constant liar counts the running trials as bad ones, so that a round's trials are kept apart.
    """
    seed = search.seed if asked == 0 else (search.seed + 1_000_003 * asked) % 2**32
    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed, constant_liar=workers > 1),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed),
                "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
                # the grid's points are enqueued (`_enqueue_grid`): Optuna's GridSampler stops the study
                # from inside `tell`, which it allows only within `optimize`
                "grid": lambda: optuna.samplers.RandomSampler(seed=seed)}
    return samplers[search.sampler]()


def _epochs(loaded: Loaded, name: str) -> int:
    return loaded.experiment.resolved().models[name].training.epochs


def _trials(optuna, study, loaded: Loaded, name: str, out: Path, workers: int, backend: str,
            address: str | None) -> None:
    """Ask, train and tell trials until `trials` have finished."""
    search = loaded.experiment.models[name].search
    left = search.trials - len(finished(optuna, study))
    if search.sampler == "grid":
        left = min(left, math.prod(len(v) for v in space.grid(search).values()) - len(finished(optuna, study)))
    if left <= 0:
        return
    from factory.data import load_data
    from factory.train.runner import preflight_checks

    experiment = loaded.experiment.resolved()
    keras_backends, driver = _keras_backends(loaded, name)
    keras_setup.prefer(driver)  # a dataset download imports Keras: on the backend this process trains on
    try:
        data = load_data(experiment.data, loaded.path.parent)
    except SpecError as e:
        raise loaded.locate(e) from None
    say(f"data: {data.describe()}")
    pool = open_backend(backend, max(1, min(workers, left)), experiment, data, out / ".data", address,
                        keras_backends, driver)
    try:
        keras_setup.import_keras(driver)
        preflight_checks(loaded, experiment, data)  # the base model, before any trial
        say(f"search of model {name}: {left} trial(s) to go, {pool.workers} at once")
        while left > 0:
            tasks = []
            for _ in range(min(pool.workers, left)):
                left -= 1
                task = _ask(optuna, study, loaded, name, out, data)
                if task is not None:
                    tasks.append(task)
            for task, (record, _) in pool.run(tasks):
                _tell(optuna, study, task, record, search.metric)
    finally:
        pool.close()


def _keras_backends(loaded: Loaded, name: str) -> tuple[tuple[str, ...], str]:
    """The Keras backends the trials train on (the model's, or the space's choices), and the driver's.

    As `run` does it (`choose_keras_backends`): a backend not installed is a located error (at the
    space's value where the space chooses backends), and each trial trains on its own backend, in a
    worker process where it is not the driver's. Where the space chooses the backend, only its
    values count: the model's own backend gets no process of its own unless it is among them.
    """
    from factory.build.keras_backends import choose_keras_backends, not_installed

    spec = loaded.experiment.models[name].search.space.get("training.keras_backend")
    wanted = list(dict.fromkeys(v for v in getattr(spec, "values", []) if isinstance(v, str)))
    at = ("models", name, "search", "space", "training.keras_backend", "choice")
    missing = [Issue(not_installed(b), loc=(*at, spec.values.index(b)))
               for b in wanted if b in keras_setup.INSTALL and not keras_setup.installed(b)]
    if missing:
        raise loaded.locate(SpecError(missing))
    experiment = loaded.experiment.resolved()
    # one stand-in task per backend: what `choose_keras_backends` reads of a task is its name and backend
    chosen = wanted or [experiment.models[name].training.keras_backend]
    tasks = [Task(name, 0, "", 0, "", spec={"training": {"keras_backend": b}}) for b in chosen]
    try:
        return choose_keras_backends(experiment, loaded.experiment, tasks)
    except SpecError as e:
        raise loaded.locate(e) from None


def _ask(optuna, study, loaded: Loaded, name: str, out: Path, data) -> Task | None:
    """The next trial as a task, its spec validated and checked against the data; None if it failed so."""
    from factory.build.checks import check_models

    search = loaded.experiment.models[name].search
    trial = study.ask()
    values = space.suggest(trial, search)
    trial_name = f"{name}-t{trial.number:02d}"
    label = space.label(search, values)
    seed = loaded.experiment.resolved().models[name].training.seeds[0]
    trial.set_user_attr("name", trial_name)
    trial.set_user_attr("label", label)
    trial.set_user_attr("values", json.dumps(values))
    trial.set_user_attr("asked", time.time())  # a trial's wall time runs from here to its tell
    try:
        experiment = space.trial_experiment(loaded, name, values, trial_name, label, seed)
        issues = check_models(experiment, data)
        if issues:
            raise SpecError(issues)
    except SpecError as e:  # these values make a spec that cannot be: a failed trial, the study goes on
        trial.set_user_attr("error", str(e))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        say(f"trial {trial_name} ({label}): FAILED before training: {short_reason(str(e))}")
        return None
    spec = experiment.models[trial_name]
    trial.set_user_attr("spec", json.dumps(experiment.model_dump(mode="json", exclude_none=True)))
    link = TrialLink(str(out / JOURNAL), study.study_name, trial._trial_id, trial.number, search.metric,
                     search.pruner, spec.training.epochs, search.trials)
    return Task(trial_name, seed, label, spec.training.epochs, f"trial {trial_name}",
                spec=spec.model_dump(mode="json"), trial=link)


def _tell(optuna, study, task: Task, record: dict, metric: str) -> None:
    """Record a trained trial: completed with its final objective, pruned at an epoch, or failed."""
    states = optuna.trial.TrialState
    number, trial_id = task.trial.number, task.trial.trial_id
    history = record.get("history") or {}
    set_attr = optuna.trial.Trial(study, trial_id).set_user_attr
    set_attr("history", json.dumps(history))
    set_attr("seconds", (record.get("build_seconds") or 0.0) + (record.get("train_seconds") or 0.0)
             + (record.get("validation_seconds") or 0.0))
    set_attr("epochs", record.get("epochs_completed") or 0)
    set_attr("keras_backend", record.get("keras_backend"))  # the backend the trial's process really trained on
    set_attr("wall_seconds", time.time() - study.trials[number].user_attrs["asked"])
    value = (history.get(metric) or [None])[-1]
    if record["status"] == "failed" or value is None or not math.isfinite(value):
        set_attr("error", record.get("error") or f"{metric} was not recorded")
        study.tell(number, state=states.FAIL)
        say(f"{task.where} ({task.label}): FAILED: {short_reason(record.get('error') or '')}")
    elif record.get("pruned_epoch"):
        set_attr("pruned_epoch", record["pruned_epoch"])
        study.tell(number, state=states.PRUNED)
        say(f"{task.where} ({task.label}): pruned at epoch {record['pruned_epoch']} ({metric} {value:.4f})")
    else:
        study.tell(number, value)
        say(f"{task.where} ({task.label}): {metric} {value:.4f}")
