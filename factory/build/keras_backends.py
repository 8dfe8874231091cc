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
    issues = [Issue(f"Keras backend {name} is not installed here: {keras_setup.INSTALL[name]}"
                    + (" (see README, Backends)" if name == "torch" else ""), loc=_where(written, model))
              for name, model in needed.items() if not keras_setup.installed(name)]
    if issues:
        raise SpecError(issues)
    # Keras imported already (the Python API in a notebook, tests) keeps its backend here; the
    # runs on any other train in worker processes.
    driver = keras_setup.imported_backend() or (default if default in needed else next(iter(needed)))
    return tuple(needed), driver


def _where(written, model: str | None) -> tuple:
    """Where a model's keras_backend is written: in the model, else the experiment's (or `--keras-backend`)."""
    own = written.models[model].training if model is not None else None
    if own is not None and "keras_backend" in own.model_fields_set:
        return ("models", model, "training", "keras_backend")
    return ("training", "keras_backend")
