"""Short forms of Keras objects spelled out: `Dense: 64` is `Dense: {units: 64}`, `Flatten` is `Flatten: {}`.

Overrides and edits that change one argument of an object written in a short form first spell it
out, using the class's own `main_argument` from `schemas` (TensorFlow-free).
"""

from __future__ import annotations

from typing import Any

from schemas import (INITIALIZER_ALIASES, INITIALIZERS, OPTIMIZER_ALIASES, OPTIMIZERS,
                     REGULARIZER_ALIASES, REGULARIZERS, names)
from schemas.constraints import CONSTRAINT_ALIASES, CONSTRAINTS
from schemas.layers import LAYER_MAIN_ARGUMENTS
from schemas.losses import LOSS_CLASS_ALIASES, LOSS_CLASSES
from schemas.metrics import METRIC_CLASS_ALIASES, METRIC_CLASSES

_CLASSES = {cls.__name__: cls for cls in (*OPTIMIZERS, *INITIALIZERS, *REGULARIZERS, *CONSTRAINTS)}
_ALIASES = {**OPTIMIZER_ALIASES, **INITIALIZER_ALIASES, **REGULARIZER_ALIASES, **CONSTRAINT_ALIASES}
_CLASSES.update({alias: _CLASSES[name] for alias, name in _ALIASES.items()})
# What a scalar sets, by name; layers, losses and metrics come from their tables, so no class is built here
_MAIN = {**{name: cls.main_argument for name, cls in _CLASSES.items()}, **LAYER_MAIN_ARGUMENTS}
# Losses and metrics, by the kind of place they are written in: a class of both (CosineSimilarity) takes a
# scalar as a loss (its axis) and none as a metric
_MAIN_OF_KIND = {
    "loss": {**{n: entry[1] for n, entry in LOSS_CLASSES.items()},
             **{a: LOSS_CLASSES[n][1] for a, n in LOSS_CLASS_ALIASES.items()}},
    "metric": {**{n: entry[1] for n, entry in METRIC_CLASSES.items()},
               **{a: METRIC_CLASSES[n][1] for a, n in METRIC_CLASS_ALIASES.items()}},
}
# Bare names that stand for a class without arguments: `adam` for Adam, `max_norm` for MaxNorm
_NAMED_BY = dict(_ALIASES)


def _mains(kind: str | None) -> dict[str, str | None]:
    return {**_MAIN, **_MAIN_OF_KIND[kind]} if kind in _MAIN_OF_KIND else _MAIN


def is_keras_name(name: Any, kind: str | None = None) -> bool:
    """Whether `name` names a layer, optimizer, initializer, regularizer or constraint (or an alias of one);
    with `kind` "loss" or "metric", a class of that kind too."""
    return isinstance(name, str) and name in _mains(kind)


def names_class(text: Any, name: Any, kind: str | None = None) -> bool:
    """Whether the bare name `text` stands for class `name` without arguments: `MaxNorm`, `max_norm`, and
    as a loss (`kind` "loss") a loss function's name for its class (`huber`, `mse` for MeanSquaredError)."""
    if not isinstance(text, str) or not is_keras_name(name, kind):
        return False
    if kind == "loss" and text in names.LOSSES and name in names.LOSS_CLASS_FUNCTIONS:
        return names.loss_function(text) == names.LOSS_CLASS_FUNCTIONS[name]
    return text == name or _NAMED_BY.get(text) == name


def spelled_out(name: str, value: Any, kind: str | None = None) -> dict | None:
    """The arguments mapping that `{name: value}` stands for; None if there is none.

    `None` (a bare name) is no arguments; a scalar is the class's main argument; a class without a
    main argument has no scalar form. Losses and metrics count only with their `kind` ("loss" or
    "metric"), the place they are written in.
    """
    mains = _mains(kind)
    if name not in mains:
        return None
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) or mains[name] is None:
        return None
    return {mains[name]: value}


def main_argument(name: str, kind: str | None = None) -> str | None:
    return _mains(kind).get(name)
