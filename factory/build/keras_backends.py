"""Which Keras backends an experiment's runs train on, whether they are installed, and the driver's own.

TensorFlow-free: it looks packages up without importing them, so a missing backend is a located
error before any data is loaded or any backend imported.
"""

from __future__ import annotations

from factory.build import keras_setup
from factory.errors import Issue, SpecError


def choose_keras_backends(resolved, written, tasks) -> tuple[tuple[str, ...], str]:
    """The backends `tasks` train on (plan order), and the one the driver process imports Keras on.

    `resolved` is the experiment with every model's training spelled out, `written` the same as
    the file has it (to point at the key that chose a backend). The driver builds every model once
    for the pre-flight checks, so it takes the backend Keras already runs on in this process, else
    the experiment's (`--keras-backend`) where a run uses it, else the first run's: an experiment
    on JAX never imports TensorFlow there. Raises a
    SpecError at each backend that is not installed.
    """
    default = resolved.training.keras_backend
    used: dict[str, str | None] = {}  # backend: the first model that trains on it
    for task in tasks:
        used.setdefault(task.keras_backend(resolved), task.name)
    needed = used or {default: None}  # nothing left to train: the driver still builds for the checks
    issues = [Issue(not_installed(name), loc=_where(written, model))
              for name, model in needed.items() if not keras_setup.installed(name)]
    if issues:
        raise SpecError(issues)
    # Keras imported already (the Python API in a notebook, tests) keeps its backend here; the
    # runs on any other train in worker processes.
    driver = keras_setup.imported_backend() or (default if default in needed else next(iter(needed)))
    return tuple(needed), driver


def not_installed(name: str) -> str:
    """The message for Keras backend `name` missing here, with how to install it."""
    return (f"Keras backend {name} is not installed here: {keras_setup.INSTALL[name]}"
            + (" (see README, Backends)" if name == "torch" else ""))


def _where(written, model: str | None) -> tuple:
    """Where a model's keras_backend is written: in the model, else the experiment's (or `--keras-backend`)."""
    own = written.models[model].training if model is not None else None
    if own is not None and "keras_backend" in own.model_fields_set:
        return ("models", model, "training", "keras_backend")
    return ("training", "keras_backend")


def backend_to_show(experiment) -> str:
    """The backend `show` builds the models of the resolved `experiment` on, as `run`'s driver would.

    Keras already imported keeps its backend; else the experiment's own where a model trains on
    it, else the first model's, where that is installed (a missing one is `run`'s error to give;
    `show` then builds on TensorFlow and says so beside each model).
    """
    imported = keras_setup.imported_backend()
    if imported is not None:
        return imported
    used = [m.training.keras_backend for m in experiment.models.values()]
    default = experiment.training.keras_backend
    wanted = default if default in used or not used else used[0]
    return wanted if keras_setup.installed(wanted) else keras_setup.DEFAULT_BACKEND


def backends_line(experiment, built_on: str) -> str:
    """`show`'s line saying which backend each model trains on and which one it was built on here."""
    others: dict[str, list[str]] = {}
    for name, model in experiment.models.items():
        if model.training.keras_backend != built_on:
            others.setdefault(model.training.keras_backend, []).append(name)
    if not others:
        return f"keras_backend: {built_on} (every model trains on it, and is built on it here)\n"
    elsewhere = "; ".join(f"on {backend}: {', '.join(names)}" for backend, names in others.items())
    return (f"keras_backend: built here on {built_on}; trained {elsewhere} "
            "(the layers, shapes and parameters are the same on every backend)\n")
