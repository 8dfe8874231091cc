"""Short forms of Keras objects spelled out: `Dense: 64` is `Dense: {units: 64}`, `Flatten` is `Flatten: {}`.

Overrides and edits that change one argument of an object written in a short form first spell it
out, using the class's own `main_argument` from `schemas` (TensorFlow-free).
"""

from __future__ import annotations

from typing import Any

from schemas import (INITIALIZER_ALIASES, INITIALIZERS, OPTIMIZER_ALIASES, OPTIMIZERS,
                     REGULARIZER_ALIASES, REGULARIZERS)
from schemas.layers import LAYER_MAIN_ARGUMENTS

_CLASSES = {cls.__name__: cls for cls in (*OPTIMIZERS, *INITIALIZERS, *REGULARIZERS)}
_CLASSES.update({alias: _CLASSES[name] for aliases in (OPTIMIZER_ALIASES, INITIALIZER_ALIASES, REGULARIZER_ALIASES)
                 for alias, name in aliases.items()})
# What a scalar sets, by name; layers come from their table, so no layer class is built here
_MAIN = {**{name: cls.main_argument for name, cls in _CLASSES.items()}, **LAYER_MAIN_ARGUMENTS}


def is_keras_name(name: Any) -> bool:
    """Whether `name` names a layer, optimizer, initializer or regularizer (or an alias of one)."""
    return isinstance(name, str) and name in _MAIN


def spelled_out(name: str, value: Any) -> dict | None:
    """The arguments mapping that `{name: value}` stands for; None if there is none.

    `None` (a bare name) is no arguments; a scalar is the class's main argument; a class without a
    main argument has no scalar form.
    """
    if name not in _MAIN:
        return None
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) or _MAIN[name] is None:
        return None
    return {_MAIN[name]: value}


def main_argument(name: str) -> str | None:
    return _MAIN.get(name)
