"""Short forms of Keras objects spelled out: `Dense: 64` is `Dense: {units: 64}`, `Flatten` is `Flatten: {}`.

Overrides and edits that change one argument of an object written in a short form first spell it
out, using the class's own `main_argument` from `schemas` (TensorFlow-free).
"""

from __future__ import annotations

from typing import Any

from schemas import (INITIALIZER_ALIASES, INITIALIZERS, LAYERS, OPTIMIZER_ALIASES, OPTIMIZERS,
                     REGULARIZER_ALIASES, REGULARIZERS)

_CLASSES = {cls.__name__: cls for cls in (*LAYERS, *OPTIMIZERS, *INITIALIZERS, *REGULARIZERS)}
_CLASSES.update({alias: _CLASSES[name] for aliases in (OPTIMIZER_ALIASES, INITIALIZER_ALIASES, REGULARIZER_ALIASES)
                 for alias, name in aliases.items()})


def is_keras_name(name: Any) -> bool:
    """Whether `name` names a layer, optimizer, initializer or regularizer (or an alias of one)."""
    return isinstance(name, str) and name in _CLASSES


def spelled_out(name: str, value: Any) -> dict | None:
    """The arguments mapping that `{name: value}` stands for; None if there is none.

    `None` (a bare name) is no arguments; a scalar is the class's main argument; a class without a
    main argument has no scalar form.
    """
    cls = _CLASSES.get(name)
    if cls is None:
        return None
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) or cls.main_argument is None:
        return None
    return {cls.main_argument: value}


def main_argument(name: str) -> str | None:
    cls = _CLASSES.get(name)
    return cls.main_argument if cls is not None else None
